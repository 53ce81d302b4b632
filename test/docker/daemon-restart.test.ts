/**
 * The Docker daemon restarts under running clusters whose nodes have a restart policy: a lab
 * daemon of its own (scripts/host/swarm-lab.sh, in a network namespace this process cannot reach),
 * so berth's tcp and http probes go through a helper container on each cluster's network. Static
 * mode comes back right by itself (pinned addresses, hosts from ExtraHosts); dynamic mode is
 * rewired by `berth watch --rewire`, run as systemd runs it (started again whenever it exits).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { DockerEngine } from '../../scripts/engine/docker.ts'
import { engineInThisNetns } from '../../scripts/engine/host-ports.ts'
import type { RewireReport } from '../../scripts/cli/rewire-daemon.ts'
import { runJob } from '../../scripts/engine/job.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { buildDemoImage } from '../../scripts/image/demo-image.ts'
import { hook, until, withTimeout } from '../helpers/async.ts'

const LAB = new URL('../../scripts/host/swarm-lab.sh', import.meta.url).pathname
const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname
const home = mkdtempSync(join(tmpdir(), 'berth-daemon-restart-'))
const lab = (...args: string[]) => {
  const r = spawnSync('bash', [LAB, ...args], { encoding: 'utf8' })
  assert.is(r.status, 0, `swarm-lab.sh ${args.join(' ')}: ${r.stderr}`)
  return r.stdout.trim()
}
let socket = ''
let engine: DockerEngine
const run = (spec: object) => runJob(spec, { engine, emit: () => {}, logDir: null })

const cluster = (
  name: string,
  mode: 'static' | 'dynamic',
  extra: Record<string, unknown> = {}
) => ({
  name,
  image: 'berth/demo:1',
  domain: 'restart.local',
  network: { mode },
  defaults: {
    restart: 'always',
    init: true,
    resources: { memory: '32m' },
    command: ['httpd', '-f', '-p', '8080', '-h', '/www'],
    files: [{ target: '/www/index.html', content: 'up\n' }],
  },
  nodes: [
    { name: 'master', healthcheck: { tcp: 8080, timeoutSeconds: 2 } },
    { name: 'api', phase: 1, healthcheck: { http: 'http://:8080/', expect: 200 } },
    { name: 'site', phase: 1 },
  ],
  ...extra,
})

/** Every node of `name` resolves every peer to the address the lab daemon reports. */
async function resolvesEveryPeer(name: string): Promise<Map<string, string>> {
  const containers = await engine.listContainers([`${LABEL.cluster}=${name}`])
  const ips = new Map<string, string>()
  for (const c of containers) {
    const info = await engine.inspectContainer(c.Id)
    ips.set(
      info.Config.Labels[LABEL.node],
      Object.values(info.NetworkSettings.Networks)[0].IPAddress
    )
  }
  for (const c of containers) {
    for (const [peer, ip] of ips) {
      const r = await engine.exec(c.Id, ['ping', '-c1', '-W1', `${peer}.restart.local`])
      assert.match(r.stdout, `(${ip})`, `${c.Labels[LABEL.node]} resolves ${peer} to ${ip}`)
    }
  }
  return ips
}

const Restart = suite('the Docker daemon restarts: restart policies bring the nodes back, wired')
let watcher: ChildProcess | undefined
let watching = true
const reports: RewireReport[] = []

Restart.before(
  hook(async () => {
    process.env.BERTH_HOME = home
    lab('up', '2')
    socket = lab('sock', '2')
    engine = new DockerEngine({ socketPath: socket })
    await withTimeout(buildDemoImage(engine), 120_000, 'demo image on the lab daemon')
  })
)
Restart.after(
  hook(() => {
    watching = false
    watcher?.kill('SIGTERM')
    lab('down')
  })
)

Restart(
  'tcp and http health are probed from the cluster network when this machine cannot reach it',
  async () => {
    for (const [name, mode] of [
      ['t-dr-s', 'static'],
      ['t-dr-d', 'dynamic'],
    ] as const) {
      const r = await run({ kind: 'install', cluster: name, topology: cluster(name, mode) })
      assert.ok(r.result.ok, r.result.message)
    }
    assert.is(
      await engineInThisNetns(engine),
      false,
      'the lab daemon lives in a network namespace of its own'
    )
    const bad = cluster('t-dr-bad', 'static', {
      nodes: [{ name: 'deaf', timeoutSeconds: 5, healthcheck: { tcp: 9999, timeoutSeconds: 1 } }],
    })
    bad.defaults = { ...bad.defaults, restart: 'no' }
    const r = await runJob(
      { kind: 'install', cluster: 't-dr-bad', topology: bad },
      { engine, emit: () => {}, logDir: null }
    )
    assert.is(r.result.code, 'health_failed')
    assert.match(
      r.result.message ?? '',
      /node "deaf" is not healthy after \d+ s: [\d.]+:9999 \(from the cluster network\)/
    )
    assert.is((await engine.listContainers([`${LABEL.cluster}=t-dr-bad`])).length, 0)
  }
)

Restart(
  'after a daemon restart: static nodes come back wired by themselves, dynamic ones rewired by berth watch --rewire',
  async () => {
    // As systemd runs it (Restart=always): started again, a second later, whenever it exits.
    const env = { ...process.env, BERTH_HOME: home, DOCKER_HOST: `unix://${socket}` }
    const start = () => {
      watcher = spawn(process.execPath, [BIN, 'watch', '--rewire'], {
        env,
        stdio: ['ignore', 'pipe', 'ignore'],
      })
      let rest = ''
      watcher.stdout!.on('data', (b: Buffer) => {
        const lines = (rest + b.toString()).split('\n')
        rest = lines.pop() ?? ''
        for (const l of lines) if (l.trim()) reports.push(JSON.parse(l))
      })
      watcher.on('exit', () => watching && setTimeout(start, 1000))
    }
    start()
    await until(
      'the first catch-up',
      async () => reports.find((r) => r.cluster === 't-dr-d'),
      30_000
    )
    const before = { s: await resolvesEveryPeer('t-dr-s'), d: await resolvesEveryPeer('t-dr-d') }
    const seen = reports.length

    lab('stop', '2')
    lab('start', '2')
    const running = async (name: string) => {
      const cs = await engine.listContainers([`${LABEL.cluster}=${name}`]).catch(() => [])
      return cs.length === 3 && cs.every((c) => c.State === 'running') ? true : undefined
    }
    await until('static nodes running again', () => running('t-dr-s'), 60_000)
    await until('dynamic nodes running again', () => running('t-dr-d'), 60_000)
    assert.equal(
      await resolvesEveryPeer('t-dr-s'),
      before.s,
      'static: the same addresses, every peer resolved, nothing done by berth'
    )

    const rewired = await until(
      'a rewire of the dynamic cluster after the restart',
      async () => reports.slice(seen).find((r) => r.cluster === 't-dr-d' && r.ok),
      60_000
    )
    assert.is(rewired.reason, 'start')
    const after = await resolvesEveryPeer('t-dr-d')
    assert.equal([...after.keys()].sort(), [...before.d.keys()].sort())
    for (const name of ['t-dr-s', 't-dr-d']) {
      const status = await run({ kind: 'status', cluster: name })
      const nodes = (status.result.data as { nodes: { name: string; health: string }[] }).nodes
      assert.equal(
        [status.exitCode, nodes.map((n) => n.health)],
        [0, nodes.map((n) => (n.name === 'site' ? 'none' : 'healthy'))],
        `${name}: ${status.result.message}`
      )
    }
  }
)

Restart.run()
