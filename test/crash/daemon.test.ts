/**
 * The Docker daemon stopped under a job — as a host shutting down does — and started again: on a
 * daemon of its own (scripts/host/swarm-lab.sh, in a network namespace), so that stopping it
 * disturbs no other test. The job stops issuing changes and says what it left (exit 9); the daemon
 * starts again cleanly (berth never removed a network while it stopped); the next command
 * finishes the job.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { DockerEngine } from '../../scripts/engine/docker.ts'
import type { JobEvent, ResultEvent } from '../../scripts/engine/events.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { buildDemoImage } from '../../scripts/image/demo-image.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import { assertNothingLeft, BIN, smallTopology } from './walk.ts'

const LAB = new URL('../../scripts/host/swarm-lab.sh', import.meta.url).pathname
const home = mkdtempSync(join(tmpdir(), 'berth-crash-daemon-'))
const lab = (...args: string[]) => {
  const r = spawnSync('bash', [LAB, ...args], { encoding: 'utf8' })
  assert.is(r.status, 0, `swarm-lab.sh ${args.join(' ')}: ${r.stderr}`)
  return r.stdout.trim()
}
let socket = ''
let engine: DockerEngine
const env = () => ({ ...process.env, BERTH_HOME: home, DOCKER_HOST: `unix://${socket}` })

/**
 * Runs a job on the lab daemon; `stopAt` stops the daemon once an event matches (and waits for it
 * to have exited).
 */
function job(
  spec: object,
  stopAt?: (e: JobEvent) => boolean,
  extraEnv: Record<string, string> = {}
): Promise<{ code: number | null; result: ResultEvent; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now()
    const child = spawn(process.execPath, [BIN, 'job', 'run'], { env: { ...env(), ...extraEnv } })
    let out = ''
    let stopped = false
    child.stdout.on('data', (d) => {
      out += d
      if (stopped || !stopAt) return
      const events = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as JobEvent)
      if (events.some(stopAt)) {
        stopped = true
        lab('stop', '1')
      }
    })
    child.on('error', reject)
    child.on('close', (code) => {
      const lines = out.split('\n').filter((l) => l.startsWith('{'))
      resolve({
        code,
        result: JSON.parse(lines[lines.length - 1] ?? '{}') as ResultEvent,
        ms: Date.now() - t0,
      })
    })
    child.stdin.end(JSON.stringify(spec))
  })
}

const Daemon = suite('crash: the Docker daemon stops under a job, and starts again')
Daemon.before(
  hook(async () => {
    process.env.BERTH_HOME = home
    lab('up', '1')
    socket = lab('sock', '1')
    engine = new DockerEngine({ socketPath: socket })
    await withTimeout(buildDemoImage(engine), 120_000, 'demo image on the lab daemon')
  })
)
Daemon.after(
  hook(() => {
    lab('down')
  })
)

const C = 't-crash-dd'
const slow = smallTopology(C, 'static', {
  nodes: [
    { name: 'master', phase: 0 },
    { name: 'data', phase: 1, volumes: ['data:/data'], bootstrap: 'sleep 5' },
    { name: 'api', phase: 1 },
  ],
})

Daemon(
  'install: the daemon stopped mid-bootstrap — exit 9 naming what is left, a clean restart, and the install run again converges',
  async () => {
    const first = await job(
      { kind: 'install', cluster: C, topology: slow },
      (e) => e.type === 'step' && e.step === 'bootstrap' && e.state === 'start' && e.node === 'data'
    )
    assert.is(first.code, 9, JSON.stringify(first.result))
    assert.is(first.result.code, 'engine_gone')
    assert.match(
      first.result.message ?? '',
      /the Docker engine went away during the job .*; berth stopped there.*the next berth command on "t-crash-dd" finishes the job/
    )
    // It starts again, and cleanly: no network was removed while it was stopping.
    lab('start', '1')
    assert.is((await engine.version()).Version.length > 0, true)
    const again = await job({ kind: 'install', cluster: C, topology: slow })
    assert.is(again.code, 0, JSON.stringify(again.result))
    assert.ok(again.result.recovered?.length, 'it recovered first, and says so')
    const nodes = await engine.listContainers([`${LABEL.cluster}=${C}`])
    assert.equal(nodes.map((c) => c.Labels[LABEL.node]).sort(), ['api', 'data', 'master'])
    assert.ok(nodes.every((c) => c.State === 'running'))
    await assertNothingLeft(home, C, 'install after the daemon came back', engine)
  }
)

Daemon(
  'snapshot: the daemon stopped while the cluster is paused — the snapshot is whole or gone, nothing stays paused; start, then a snapshot, works',
  async () => {
    // Enough volume data, read through the daemon (as from a remote engine), that archiving it takes
    // a while: the daemon goes while the nodes are paused.
    const [data] = await engine.listContainers([`${LABEL.cluster}=${C}`, `${LABEL.node}=data`])
    assert.is(
      (
        await engine.exec(data.Id, [
          'sh',
          '-c',
          'dd if=/dev/urandom of=/data/big bs=1M count=300 2>/dev/null; sync',
        ])
      ).exitCode,
      0
    )
    const stopAt = (e: JobEvent) => e.type === 'step' && e.step === 'archive' && e.state === 'start'
    const taking = await job({ kind: 'snapshot', cluster: C, options: { tag: 's1' } }, stopAt, {
      BERTH_DIRECT_FILES: '0',
    })
    // Docker serves its API while it stops paused containers (up to their stop timeout): the
    // snapshot may get done first. Either way it must be whole or gone.
    assert.ok([0, 9, 1].includes(taking.code ?? -1), JSON.stringify(taking.result))
    lab('start', '1')
    // The daemon stopped the nodes on its way out; status recovers first (the half-made snapshot).
    const status = await job({ kind: 'status', cluster: C })
    assert.ok([0, 8].includes(status.code ?? -1), JSON.stringify(status.result))
    assert.ok(
      (await engine.listContainers([`${LABEL.cluster}=${C}`])).every((c) => c.State !== 'paused'),
      'nothing paused'
    )
    const listed = await job({ kind: 'snapshots', cluster: C })
    const ids = (listed.result.data as { snapshots: { id: string; damaged?: string }[] }).snapshots
    assert.ok(
      ids.every((m) => !m.damaged),
      `no damaged snapshot: ${JSON.stringify(ids)}`
    )
    assert.equal(
      ids.map((m) => m.id),
      taking.code === 0 ? ['s1'] : [],
      'whole if it finished, gone if not'
    )
    assert.is((await job({ kind: 'start', cluster: C })).code, 0)
    const snap = await job({ kind: 'snapshot', cluster: C, options: { tag: 's2' } })
    assert.is(snap.code, 0, JSON.stringify(snap.result))
    await assertNothingLeft(home, C, 'snapshot after the daemon came back', engine)
  }
)

Daemon.run()
