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
import type { JobEvent, ResultEvent, StepEvent } from '../../scripts/engine/events.ts'
import { runJob } from '../../scripts/engine/job.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { listSnapshots } from '../../scripts/engine/snapshot.ts'
import type { Topology } from '../../scripts/engine/topology.ts'
import { engine } from '../helpers/docker.ts'

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
export function runProcess(spec: object, env: Record<string, string>): Promise<{ events: JobEvent[]; code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'job', 'run'], { env: { ...process.env, ...env } })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      const events = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as JobEvent)
      resolve({ events, code, signal, stderr: err })
    })
    child.stdin.end(JSON.stringify(spec))
  })
}

/** A job in this process (what the next command is; recovery runs in it). */
export async function run(spec: object): Promise<{ result: ResultEvent; exitCode: number }> {
  return runJob(spec, { engine, emit: () => {}, logDir: null })
}

/** The kill points of a job, from one run of it that was not killed. */
export function pointsOf(events: JobEvent[], phaseOf: (node: string) => number | undefined): KillPoint[] {
  const seen = new Map<string, number>()
  const distinct = new Set<string>()
  const out: KillPoint[] = []
  for (const e of events) {
    if (e.type !== 'step') continue
    const s = e as StepEvent
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

const mine = (cluster: string) => (labels?: Record<string, string>) => labels?.[LABEL.cluster] === cluster

/**
 * What every kill point must leave, whatever the command after it: nothing paused, nothing but
 * the cluster's own nodes, network and volumes, no snapshot image outside a whole snapshot, no
 * partial directory, no lock, no journal, no bootstrap run beside another.
 */
export async function assertNothingLeft(home: string, cluster: string, what: string): Promise<void> {
  const containers = (await engine.listContainers([`${LABEL.cluster}=${cluster}`])).filter((c) => mine(cluster)(c.Labels))
  const paused = containers.filter((c) => c.State === 'paused')
  assert.equal(paused.map((c) => c.Names[0]), [], `${what}: paused nodes`)
  const strays = containers.filter((c) => !c.Names.includes(`/${cluster}.${c.Labels[LABEL.node]}`))
  assert.equal(strays.map((c) => c.Names[0]), [], `${what}: containers that are not nodes`)
  const nets = (await engine.listNetworks([`${LABEL.cluster}=${cluster}`])).filter((n) => mine(cluster)(n.Labels))
  assert.ok(nets.length <= 1, `${what}: ${nets.length} networks (${nets.map((n) => n.Name)})`)
  if (!containers.length) assert.is(nets.length, 0, `${what}: a network without nodes`)
  const mounted = new Set(containers.flatMap((c) => (c.Mounts ?? []).map((m) => m.Name)))
  const volumes = (await engine.listVolumes([`${LABEL.cluster}=${cluster}`])).filter((v) => mine(cluster)(v.Labels))
  assert.equal(volumes.filter((v) => !mounted.has(v.Name)).map((v) => v.Name), [], `${what}: volumes no node mounts`)
  const whole = new Set((await listSnapshots(cluster)).flatMap((m) => m.nodes.map((n) => n.image.ref)))
  const images = await engine.listImages([`${LABEL.cluster}=${cluster}`, LABEL.snapshot])
  assert.equal(images.filter((ref) => !whole.has(ref)), [], `${what}: snapshot images outside a whole snapshot`)
  const root = join(home, 'snapshots', cluster)
  const partial = existsSync(root) ? readdirSync(root).filter((n) => n.startsWith('.') && !n.startsWith('.in-use')) : []
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
export function smallTopology(name: string, mode: 'static' | 'dynamic', extra: Record<string, unknown> = {}) {
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

export const phaseIn = (t: Topology | { nodes: { name: string; phase?: number }[] }) => (node: string) =>
  t.nodes.find((n) => n.name === node)?.phase ?? 0

export interface WalkReport {
  scenario: string
  points: number
  runs: number
  ms: number
}

export const reports: WalkReport[] = []
