/**
 * `berth watch --rewire`, the auto-rewire daemon of SSM hosts, as systemd runs it: a process with
 * stdin on /dev/null, a real dynamic-mode cluster, nodes restarted outside berth with new IPs.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { $ } from 'zx'
import { parseTopology } from '../../scripts/engine/topology.ts'
import type { RewireReport } from '../../scripts/cli/rewire-daemon.ts'
import { hook, until, withTimeout } from '../helpers/async.ts'
import {
  assertHostsMatchInspect,
  cheLike,
  engine,
  ensureDemoImage,
  hostsOf,
  removeTestClusters,
} from '../helpers/docker.ts'

const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname
const CLUSTER = 't-rwd'
const NETWORK = `berth.${CLUSTER}`
const home = mkdtempSync(join(tmpdir(), 'berth-rwd-'))
const env = { ...process.env, BERTH_HOME: home }
const yaml = JSON.stringify({
  ...cheLike(CLUSTER),
  network: { mode: 'dynamic' },
  nodes: [{ name: 'master' }, { name: 'node' }],
})
const topology = parseTopology(yaml)

const Daemon = suite('berth watch --rewire')
let daemon: ChildProcess | undefined
const reports: RewireReport[] = []

Daemon.before(
  hook(async () => {
    await removeTestClusters(CLUSTER)
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
    writeFileSync(join(home, 'dyn.yaml'), yaml)
    await $({ quiet: true, env })`node ${BIN} install ${join(home, 'dyn.yaml')} --json`
  })
)
Daemon.after(
  hook(async () => {
    daemon?.kill('SIGKILL')
    await $({ quiet: true, nothrow: true })`docker rm -f ${CLUSTER}-filler-1 ${CLUSTER}-filler-2`
    await removeTestClusters(CLUSTER)
  })
)

const ipOf = async (node: string) =>
  (await engine.inspectContainer(`${CLUSTER}.${node}`)).NetworkSettings.Networks[NETWORK].IPAddress

/** Restarts `node` outside berth with another address: a filler takes the one it frees. */
async function restartWithNewIp(node: string, filler: number) {
  const before = await ipOf(node)
  await $({ quiet: true })`docker stop -t 1 ${CLUSTER}.${node}`
  await $({
    quiet: true,
  })`docker run -d --name ${CLUSTER}-filler-${filler} --label berth.cluster=${CLUSTER}-filler --network ${NETWORK} berth/demo:1 sleep 600`
  await $({ quiet: true })`docker start ${CLUSTER}.${node}`
  assert.is.not(await ipOf(node), before, `${node} came back with a new IP`)
}

Daemon('on start it rewires a cluster whose nodes restarted while nobody watched', async () => {
  await restartWithNewIp('master', 1)
  assert.not.match(
    await hostsOf(`${CLUSTER}.master`),
    /node\.che\.local/,
    'Docker rebuilt its /etc/hosts: the peer is gone'
  )

  // As systemd runs it: stdin is /dev/null, which must not end it.
  daemon = spawn(process.execPath, [BIN, 'watch', '--rewire'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let rest = ''
  daemon.stdout!.on('data', (b: Buffer) => {
    const lines = (rest + b.toString()).split('\n')
    rest = lines.pop() ?? ''
    for (const l of lines) if (l.trim()) reports.push(JSON.parse(l))
  })
  const first = await until('the catch-up rewire', async () => reports[0], 30_000)
  assert.equal(
    [first.type, first.cluster, first.reason, first.ok],
    ['rewire', CLUSTER, 'start', true],
    JSON.stringify(first)
  )
  await assertHostsMatchInspect(topology)
  assert.ok(existsSync(join(home, 'jobs', `${first.job}.log`)), 'the rewire is a job with its log')
})

Daemon(
  'a node restarted outside berth with a new IP is rewired within seconds, as a job with its log',
  async () => {
    const t0 = Date.now()
    await restartWithNewIp('node', 2)
    const r = await until(
      'a rewire for the restart',
      async () => reports.find((x) => Array.isArray(x.reason)),
      20_000
    )
    assert.equal([r.cluster, r.reason, r.ok], [CLUSTER, ['node'], true], JSON.stringify(r))
    const ms = Date.now() - t0
    assert.ok(ms < 15_000, `rewired in ${ms} ms`)
    console.log(`  restart (stop, filler, start) to rewired: ${ms} ms`)
    await assertHostsMatchInspect(topology)
    assert.ok(existsSync(join(home, 'jobs', `${r.job}.log`)))
  }
)

Daemon(
  "berth's own starts are berth's business: no rewire for them; SIGTERM stops it cleanly",
  async () => {
    const seen = reports.length
    await $({ quiet: true, env })`node ${BIN} stop ${CLUSTER} --json`
    await $({ quiet: true, env })`node ${BIN} start ${CLUSTER} --json`
    await new Promise((r) => setTimeout(r, 2000))
    assert.is(reports.length, seen, JSON.stringify(reports.slice(seen)))
    await assertHostsMatchInspect(topology)
    const exited = new Promise<number | null>((r) => daemon!.once('exit', r))
    daemon!.kill('SIGTERM')
    assert.is(await withTimeout(exited, 10_000, 'the daemon to stop'), 0)
  }
)

Daemon.run()
