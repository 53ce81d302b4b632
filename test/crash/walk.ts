/**
 * The crash walk: a job run as `berth job run` (its own process) is SIGKILLed right after one of
 * its events (BERTH_FAULT=kill-after:<step>:<state>:<n>, which berth honours only for tests); then
 * the user's next command runs — the same command again, and, from another kill at the same
 * point, `status` — and the cluster is checked whole: no paused node, nothing left over
 * (containers, networks, volumes, images, partial directories, locks, journals), the hosts right,
 * no bootstrap run twice at once, and what each scenario asks of its data.
 *
 * Which points: every event boundary with BERTH_CRASH_FULL=1 (`npm run test:crash-full`);
 * otherwise the first of each distinct (step, state, phase), where the phase is that of the event's
 * node (`-` for the job's own steps).
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import type { JobEvent, ResultEvent } from '../../scripts/engine/events.ts'
import { runJob } from '../../scripts/engine/job.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { listSnapshots } from '../../scripts/engine/snapshot.ts'
import { hostsProblems } from '../../scripts/engine/hosts.ts'
import { validateTopology, type Topology } from '../../scripts/engine/topology.ts'
import type { Engine } from '../../scripts/engine/docker.ts'
import { withTimeout } from '../helpers/async.ts'
import { engine, docker } from '../helpers/docker.ts'

/** The engine the walk checks through, and what the killed process is told of it. */
let on: { engine: Engine; env: Record<string, string> } = { engine, env: {} }

/** Walks on another engine (a swarm's: the lab's engines, BERTH_ENGINES for the processes). */
export function walkOn(walkEngine: Engine, env: Record<string, string>): void {
  on = { engine: walkEngine, env }
}

export const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname
export const FULL = process.env.BERTH_CRASH_FULL === '1'

export interface KillPoint {
  step: string
  state: string
  /** The n-th event of this step and state. */
  n: number
  /** For the report: the node's phase, or '-'. */
  phase: string
}

/** Runs a job in its own process; resolves with its events, exit code and signal. */
export function runProcess(
  spec: object,
  env: Record<string, string>
): Promise<{
  events: JobEvent[]
  code: number | null
  signal: NodeJS.Signals | null
  stderr: string
}> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'job', 'run'], {
      env: { ...process.env, ...on.env, ...env },
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      const events = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as JobEvent)
      resolve({ events, code, signal, stderr: err })
    })
    child.stdin.end(JSON.stringify(spec))
  })
}

/** A job in this process (what the next command is; recovery runs in it). */
export async function run(spec: object): Promise<{ result: ResultEvent; exitCode: number }> {
  return runJob(spec, { engine: on.engine, emit: () => {}, logDir: null })
}

/** The kill points of a job, from one run of it that was not killed. */
export function pointsOf(
  events: JobEvent[],
  phaseOf: (node: string) => number | undefined
): KillPoint[] {
  const seen = new Map<string, number>()
  const distinct = new Set<string>()
  const out: KillPoint[] = []
  for (const e of events) {
    if (e.type !== 'step') continue
    const s = e
    const key = `${s.step}:${s.state}`
    const n = (seen.get(key) ?? 0) + 1
    seen.set(key, n)
    const phase = s.node ? String(phaseOf(s.node) ?? '?') : '-'
    const group = `${key}:${phase}`
    if (!FULL && distinct.has(group)) continue
    distinct.add(group)
    out.push({ step: s.step, state: s.state, n, phase })
  }
  return out
}

const mine = (cluster: string) => (labels?: Record<string, string>) =>
  labels?.[LABEL.cluster] === cluster

/**
 * What every kill point must leave, whatever the command after it: nothing paused, nothing but
 * the cluster's own nodes, network and volumes, no snapshot image outside a whole snapshot, no
 * partial directory, no lock, no journal, no bootstrap run beside another.
 */
export async function assertNothingLeft(
  home: string,
  cluster: string,
  what: string,
  engine: Engine = on.engine
): Promise<void> {
  const containers = (await engine.listContainers([`${LABEL.cluster}=${cluster}`])).filter((c) =>
    mine(cluster)(c.Labels)
  )
  const paused = containers.filter((c) => c.State === 'paused')
  assert.equal(
    paused.map((c) => c.Names[0]),
    [],
    `${what}: paused nodes`
  )
  const strays = containers.filter((c) => !c.Names.includes(`/${cluster}.${c.Labels[LABEL.node]}`))
  assert.equal(
    strays.map((c) => c.Names[0]),
    [],
    `${what}: containers that are not nodes`
  )
  const labelled = (await engine.listNetworks([`${LABEL.cluster}=${cluster}`])).filter((n) =>
    mine(cluster)(n.Labels)
  )
  // A network with no node is a leftover — unless Docker refuses to remove it for endpoints it
  // no longer has (moby#42119, Docker 20.10): then berth leaves it, and so may the job.
  const nets: typeof labelled = []
  for (const n of labelled) {
    const attached = Object.keys((await engine.inspectNetwork(n.Id)).Containers ?? {})
    if (!containers.length && !attached.length && (await engine.removeNetwork(n.Id)) === 'stuck')
      console.log(`  ${what}: network ${n.Name} is stuck in Docker (moby#42119), not counted`)
    else nets.push(n)
  }
  assert.ok(
    nets.length <= 1,
    `${what}: ${nets.length} networks (${nets.map((n) => n.Name).join(',')})`
  )
  if (!containers.length) assert.is(nets.length, 0, `${what}: a network without nodes`)
  const mounted = new Set(containers.flatMap((c) => (c.Mounts ?? []).map((m) => m.Name)))
  const volumes = (await engine.listVolumes([`${LABEL.cluster}=${cluster}`])).filter((v) =>
    mine(cluster)(v.Labels)
  )
  assert.equal(
    volumes.filter((v) => !mounted.has(v.Name)).map((v) => v.Name),
    [],
    `${what}: volumes no node mounts`
  )
  // The images a restore commits for nodes with published ports: only while a node runs on one.
  const used = new Set(containers.map((c) => c.ImageID))
  const swapImages = (
    await docker.listImages({
      filters: { label: [`${LABEL.cluster}=${cluster}`, LABEL.restore] },
    })
  ).map((i) => i.Id)
  assert.equal(
    swapImages.filter((id) => !used.has(id)),
    [],
    `${what}: a restore's images no node uses`
  )
  const whole = new Set(
    (await listSnapshots(cluster)).flatMap((m) => m.nodes.map((n) => n.image.ref))
  )
  const images = (
    await docker.listImages({
      filters: { label: [`${LABEL.cluster}=${cluster}`, LABEL.snapshot] },
    })
  )
    .filter((i) => i.Labels?.[LABEL.snapshot])
    .flatMap((i) => (i.RepoTags?.length && i.RepoTags[0] !== '<none>:<none>' ? i.RepoTags : [i.Id]))
  assert.equal(
    images.filter((ref) => !whole.has(ref)),
    [],
    `${what}: snapshot images outside a whole snapshot`
  )
  const root = join(home, 'snapshots', cluster)
  const partial = existsSync(root)
    ? readdirSync(root).filter((n) => n.startsWith('.') && !n.startsWith('.in-use'))
    : []
  assert.equal(partial, [], `${what}: partial snapshot directories`)
  assert.not.ok(existsSync(join(home, 'locks', `${cluster}.lock`)), `${what}: a lock is left`)
  assert.not.ok(existsSync(join(home, 'journal', `${cluster}.jsonl`)), `${what}: a journal is left`)
  for (const c of containers.filter((c) => c.State === 'running')) {
    const r = await engine.exec(c.Id, ['sh', '-c', 'cat /tmp/boot.overlap 2>/dev/null; true'])
    assert.is(r.stdout, '', `${what}: ${c.Names[0]} ran two bootstraps at once`)
  }
}

/**
 * A bootstrap that says so if another runs in the same node at the same time (the first left its
 * pid, and that process is alive), and takes a moment, so that kills land inside it.
 */
export const GUARDED_BOOTSTRAP = [
  'sh',
  '-c',
  'if [ -f /tmp/boot.pid ] && kill -0 "$(cat /tmp/boot.pid)" 2>/dev/null; then echo overlap >> /tmp/boot.overlap; fi; echo $$ > /tmp/boot.pid; sleep 0.3; rm -f /tmp/boot.pid',
]

/** A small cluster of the seed's shape: a master first, two nodes after it, one volume. */
export function smallTopology(
  name: string,
  mode: 'static' | 'dynamic',
  extra: Record<string, unknown> = {}
) {
  return {
    name,
    image: 'berth/demo:1',
    domain: 'crash.local',
    network: { mode },
    defaults: { bootstrap: GUARDED_BOOTSTRAP },
    nodes: [
      { name: 'master', phase: 0 },
      { name: 'data', phase: 1, volumes: ['data:/data'] },
      { name: 'api', phase: 1 },
    ],
    ...extra,
  }
}

export const phaseIn =
  (t: Topology | { nodes: { name: string; phase?: number }[] }) => (node: string) =>
    t.nodes.find((n) => n.name === node)?.phase ?? 0

export interface WalkReport {
  scenario: string
  points: number
  runs: number
  ms: number
}

export const reports: WalkReport[] = []

export type Next = 'again' | 'status'

export interface Scenario {
  /** For the report: `restore (over a running cluster)`. */
  name: string
  /** The cluster the job locks (a restore's target). */
  cluster: string
  spec: object
  phaseOf: (node: string) => number | undefined
  /** Brings the host to what it was before the job, for each kill. */
  prepare(): Promise<void>
  /** After the same command ran again (it succeeded): what it must have made. */
  again(): Promise<void>
  /** Whether the command run again answered as it should (default: it succeeded). */
  acceptAgain?: (result: ResultEvent) => boolean
  /** After `status` (it recovered first): the cluster as it was, or as the job would make it. */
  status(exitCode: number, result: ResultEvent): Promise<void>
  /** The read to run as "status", when not `status` of the cluster (e.g. `snapshots`). */
  statusSpec?: object
}

/**
 * Walks a scenario: a clean run gives the kill points; at each, the job is killed and the next
 * command run, both of them (full walk), or one, alternately (CI). Returns the report.
 */
export async function walkScenario(home: string, s: Scenario): Promise<WalkReport> {
  const t0 = Date.now()
  // The kill points come from a clean run that met no race: one whose step failed and was retried
  // (a subnet a parallel test had just taken) gives points another run need not repeat.
  let clean: Awaited<ReturnType<typeof runProcess>>
  for (let attempt = 1; ; attempt++) {
    await s.prepare()
    clean = await runProcess(s.spec, { BERTH_HOME: home })
    assert.is(clean.code, 0, `${s.name}: the clean run: ${clean.stderr.slice(-2000)}`)
    if (attempt === 3 || !clean.events.some((e) => e.type === 'step' && e.state === 'fail')) break
  }
  const points = pointsOf(clean.events, s.phaseOf)
  let runs = 0
  const unreached: string[] = []
  for (const [i, p] of points.entries()) {
    const nexts: Next[] = FULL ? ['again', 'status'] : [i % 2 ? 'status' : 'again']
    for (const next of nexts) {
      const what = `${s.name}, killed after ${p.step} ${p.state} #${p.n} (phase ${p.phase}), then ${next}`
      // A kill point that hangs fails here, naming itself, instead of stalling the tier.
      const outcome = await withTimeout(
        killAndRecover(s, home, p, next, what),
        KILL_POINT_TIMEOUT_MS,
        what
      )
      if (outcome === 'unreached') unreached.push(`${p.step} ${p.state} #${p.n}`)
      else runs++
    }
  }
  // An event of the clean run that another run need not repeat (a subnet taken meanwhile by a
  // parallel test makes a `network fail`, its cleanup and a retry) is not reached; a few such.
  assert.ok(
    unreached.length <= Math.max(3, Math.floor(points.length / 10)),
    `${s.name}: kill points not reached: ${unreached.join(', ')}`
  )
  const report = { scenario: s.name, points: points.length, runs, ms: Date.now() - t0 }
  reports.push(report)
  const missed = unreached.length
    ? `; not reached (the clean run's event came from a race): ${unreached.join(', ')}`
    : ''
  console.log(
    `  ${s.name}: ${points.length} kill points, ${runs} kills, every one recovered (${(report.ms / 1000).toFixed(0)} s)${missed}`
  )
  return report
}

/** How long one kill point may take: prepare, the killed run, the next command, the checks. */
const KILL_POINT_TIMEOUT_MS = 180_000

async function killAndRecover(
  s: Scenario,
  home: string,
  p: KillPoint,
  next: Next,
  what: string
): Promise<'recovered' | 'unreached'> {
  await s.prepare()
  const killed = await runProcess(s.spec, {
    BERTH_HOME: home,
    BERTH_FAULT: `kill-after:${p.step}:${p.state}:${p.n}`,
  })
  const seen = killed.events.filter(
    (e) => e.type === 'step' && e.step === p.step && e.state === p.state
  ).length
  if (killed.signal === null && killed.code === 0 && seen < p.n) return 'unreached'
  assert.is(
    killed.signal,
    'SIGKILL',
    `${what}: the job was killed (exit ${killed.code}: ${killed.stderr.slice(-500)})`
  )
  if (next === 'again') {
    const again = await run(s.spec)
    assert.ok((s.acceptAgain ?? ((r) => r.ok))(again.result), `${what}: ${again.result.message}`)
    await s.again()
  } else {
    const status = await run(s.statusSpec ?? { kind: 'status', cluster: s.cluster })
    await s.status(status.exitCode, status.result)
  }
  await assertNothingLeft(home, s.cluster, what)
  return 'recovered'
}

/** The node's own /etc/hosts names every peer at the address Docker gives it, on every node. */
export async function assertWired(cluster: string, what: string): Promise<void> {
  const containers = await on.engine.listContainers([`${LABEL.cluster}=${cluster}`])
  const entries = containers.map((c) => ({
    ip: Object.values(c.NetworkSettings.Networks)[0]?.IPAddress,
    hostname: c.Labels[LABEL.hostname],
    short: c.Labels[LABEL.node],
  }))
  for (const c of containers) {
    const hosts = (await on.engine.exec(c.Id, ['cat', '/etc/hosts'])).stdout
    const wrong = hostsProblems(hosts, entries)
    assert.equal(wrong, [], `${what}: /etc/hosts of ${c.Labels[LABEL.node]}`)
  }
}

/** The cluster is exactly the topology: its nodes, running, bootstrapped, wired, no drift. */
export async function assertCluster(raw: object, what: string): Promise<void> {
  const t = validateTopology(raw)
  const containers = await on.engine.listContainers([`${LABEL.cluster}=${t.name}`])
  assert.equal(
    containers.map((c) => c.Labels[LABEL.node]).sort(),
    t.nodes.map((n) => n.name).sort(),
    `${what}: the nodes`
  )
  assert.ok(
    containers.every((c) => c.State === 'running'),
    `${what}: all running`
  )
  await assertWired(t.name, what)
  const status = await run({ kind: 'status', cluster: t.name })
  const s = status.result.data as { drift: unknown[]; nodes: { bootstrap: string }[] }
  assert.equal(s.drift, [], `${what}: no drift`)
  assert.ok(
    s.nodes.every((n) => n.bootstrap === 'done'),
    `${what}: every node bootstrapped`
  )
}

/** Writes `value` into every node: its container layer (/etc/crash-mark) and, if it has one, /data. */
export async function mark(cluster: string, value: string): Promise<void> {
  for (const c of await on.engine.listContainers([`${LABEL.cluster}=${cluster}`])) {
    const r = await on.engine.exec(c.Id, [
      'sh',
      '-c',
      'echo "$1" > /etc/crash-mark; if [ -d /data ]; then echo "$1" > /data/mark; fi; sync',
      'mark',
      value,
    ])
    assert.is(r.exitCode, 0, r.stderr)
  }
}

/** What every node holds (layer and volume), as one value, or a list when they disagree. */
export async function marks(cluster: string): Promise<string[]> {
  const seen = new Set<string>()
  for (const c of await on.engine.listContainers([`${LABEL.cluster}=${cluster}`])) {
    const r = await on.engine.exec(c.Id, [
      'sh',
      '-c',
      'cat /etc/crash-mark; if [ -d /data ]; then cat /data/mark; fi',
    ])
    for (const line of r.stdout.split('\n').filter(Boolean)) seen.add(line)
  }
  return [...seen].sort()
}
