/**
 * npm run bench:snapshot — snapshot and restore speed, measured in one run against the
 * seed-style baseline (../shared/bench/seed-style/snapshot.sh and restore.sh: stop, commit one
 * by one, start, re-append hosts; remove, run each from its image, re-append hosts). 8 nodes,
 * 20 MB written into each node's container layer, and for berth also 20 MB into a volume of
 * each node (the baseline ignores volumes: berth does strictly more work). Prints medians of
 * --runs runs, berth ÷ baseline against the targets (snapshot ≤ 0.6, restore ≤ 0.7), and the
 * consistency window: how long berth kept the cluster paused, beside the baseline's downtime.
 *
 * berth's restore is timed as `restore --as bench-snap-r` beside the running original: a whole
 * healthy cluster built from the snapshot (checksums verified, volumes loaded, nodes created
 * from the snapshot images, hosts verified). The copy is destroyed afterwards, untimed.
 *
 *   npm run bench:snapshot -- [--runs 3] [--nodes 8] [--mb 20] [--concurrency 8] [--steps] [--json]
 *   npm run bench:install -- [--sizes 8,32] [--runs 3] [--concurrency 8] [--json]
 *   npm run bench -- [--runs 3] [--json]   both, in turn; every flag goes to both benchmarks
 *                                          (each ignores the other's), --json prints two lines
 *
 * --steps also prints where berth's time goes: per job step, its first start and last end
 * (ms since the operation began, medians over the runs), its summed time and its count.
 *
 * Everything it makes is labelled (berth.cluster=bench-snap / bench-snap-r, baseline=
 * bench-seed-snap) and removed at the start, at the end and after a failure or Ctrl-C.
 * Snapshots go to a temporary BERTH_HOME, never into the user's store.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { $, minimist } from 'zx'
import { createContext } from '../engine/context.ts'
import { createEngine } from '../engine/docker.ts'
import type { JobEvent, StepEvent } from '../engine/events.ts'
import { installCluster } from '../engine/install.ts'
import { LABEL, clusterFilter } from '../engine/labels.ts'
import { destroyCluster } from '../engine/lifecycle.ts'
import { mapLimit } from '../engine/pool.ts'
import { restoreCluster } from '../engine/restore.ts'
import { removeSnapshot, snapshotCluster } from '../engine/snapshot.ts'
import { validateTopology } from '../engine/topology.ts'
import { buildDemoImage, DEMO_IMAGE } from '../image/demo-image.ts'
import { baselineDir, median, timeIt } from './measure.ts'

const argv = minimist<{
  runs?: string
  nodes?: string
  mb?: string
  concurrency?: string
  baseline?: string
  json: boolean
  steps: boolean
}>(process.argv.slice(2), {
  string: ['runs', 'nodes', 'mb', 'concurrency', 'baseline'],
  boolean: ['json', 'steps'],
})
const runs = Number(argv.runs ?? 3)
const nodes = Number(argv.nodes ?? 8)
const mb = Number(argv.mb ?? 20)
const concurrency = argv.concurrency ? Number(argv.concurrency) : undefined
const seedDir = baselineDir(argv.baseline, 'snapshot.sh')

const TARGET = { snapshot: 0.6, restore: 0.7 }
const CLUSTER = 'bench-snap'
const COPY = `${CLUSTER}-r`
const SEED = 'bench-seed-snap'

const engine = createEngine()
const quiet = $({ quiet: true })
// First Ctrl-C stops berth's jobs at their next checkpoint and lets the cleanup run; the baseline
// script gets the terminal's SIGINT itself. A second Ctrl-C kills the process as usual.
const abort = new AbortController()
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => abort.abort())

function stopIfAborted(): void {
  if (abort.signal.aborted) throw new Error('interrupted')
}

/**
 * Flushes the untimed writes before a timed step: otherwise the kernel writes back the blobs'
 * dirty pages on whichever contender's clock happens to be running.
 */
async function settle(): Promise<void> {
  stopIfAborted()
  await quiet`sync`
}

/** `mb` MB of random data into each path of a node (random: nothing compresses or dedups it). */
async function writeBlobs(id: string, paths: string[]): Promise<void> {
  const script =
    'n=$1; shift; for p; do dd if=/dev/urandom of="$p" bs=1M count=$n 2>/dev/null || exit; done'
  const r = await engine.exec(id, ['sh', '-c', script, 'write', String(mb), ...paths])
  if (r.exitCode !== 0) throw new Error(`writing ${paths.join(', ')} in ${id}: ${r.stderr}`)
}

/** After a restore (untimed): every blob is back at full size, so no contender skipped work. */
async function checkBlobs(id: string, paths: string[]): Promise<void> {
  const script = 'for p in "$@"; do wc -c < "$p"; done'
  const r = await engine.exec(id, ['sh', '-c', script, 'check', ...paths])
  const sizes = r.stdout.trim().split(/\s+/).map(Number)
  if (r.exitCode !== 0 || sizes.some((s) => s !== mb * 1024 * 1024)) {
    throw new Error(`after restore, ${id} has ${paths.join(', ')} of ${sizes.join(', ')} bytes`)
  }
}

/** Removes whatever a run (this one, or a crashed earlier one) left behind, by label. */
async function sweep(): Promise<void> {
  await quiet`bash ${seedDir}/cleanup.sh ${SEED}`.nothrow()
  for (const cluster of [COPY, CLUSTER]) {
    const filter = clusterFilter(cluster)
    const containers = await engine.listContainers(filter)
    await Promise.all(containers.map((c) => engine.removeContainer(c.Id)))
    for (const n of await engine.listNetworks(filter)) await engine.removeNetwork(n.Id)
    for (const v of await engine.listVolumes(filter)) await engine.removeVolume(v.Name)
    // Snapshot images carry the cluster label; the copy's nodes use them, so they go last.
    for (const ref of await engine.listImages([...filter, LABEL.snapshot]))
      await engine.removeImage(ref)
  }
}

interface StepRow {
  step: string
  /** ms since the operation began: first start, last end. */
  from: number
  to: number
  /** Summed ms over nodes, and how many nodes (or 1 for a whole-cluster step). */
  sum: number
  n: number
}

/** Per step, when it ran and how long it took in all, from the job's step events. */
function breakdown(events: StepEvent[], t0: number): StepRow[] {
  const rows = new Map<string, StepRow>()
  for (const e of events.filter((e) => e.state === 'done' && e.ms !== undefined)) {
    // A step without a node is a whole-cluster one: `verify` is the snapshot's checksums then,
    // and one node's /etc/hosts otherwise.
    const key = e.node ? e.step : `${e.step} (cluster)`
    const from = e.t - (e.ms as number) - t0
    const row = rows.get(key) ?? { step: key, from, to: e.t - t0, sum: 0, n: 0 }
    row.from = Math.min(row.from, from)
    row.to = Math.max(row.to, e.t - t0)
    row.sum += e.ms as number
    row.n++
    rows.set(key, row)
  }
  return [...rows.values()].sort((a, b) => a.from - b.from)
}

/** Median of each field per step over the runs (a step missing from a run counts as absent). */
function medianSteps(perRun: StepRow[][]): StepRow[] {
  const keys = [...new Set(perRun.flat().map((r) => r.step))]
  return keys
    .map((step) => {
      const rs = perRun.flatMap((run) => run.filter((r) => r.step === step))
      const m = (f: (r: StepRow) => number) => median(rs.map(f))
      return {
        step,
        from: m((r) => r.from),
        to: m((r) => r.to),
        sum: m((r) => r.sum),
        n: m((r) => r.n),
      }
    })
    .sort((a, b) => a.from - b.from)
}

const topology = validateTopology({
  name: CLUSTER,
  image: DEMO_IMAGE,
  domain: 'bench.local',
  nodes: [{ name: 'node', count: nodes, bootstrap: 'true', volumes: ['data:/data'] }],
})

async function baseline(tag: string): Promise<{ snapshot: number; restore: number }> {
  await quiet`bash ${seedDir}/install.sh ${nodes} ${DEMO_IMAGE} ${SEED}`
  const names = Array.from({ length: nodes }, (_, i) => `${SEED}-node${i + 1}`)
  await mapLimit(names, nodes, (n) => writeBlobs(n, ['/opt/blob']))
  await settle()
  const snapshot = await timeIt(() => quiet`bash ${seedDir}/snapshot.sh ${SEED} ${tag}`)
  await settle()
  const restore = await timeIt(() => quiet`bash ${seedDir}/restore.sh ${SEED} ${tag}`)
  await mapLimit(names, nodes, (n) => checkBlobs(n, ['/opt/blob']))
  await quiet`bash ${seedDir}/cleanup.sh ${SEED}`
  return { snapshot, restore }
}

interface BerthSample {
  snapshot: number
  restore: number
  window: number
  steps: { snapshot: StepRow[]; restore: StepRow[] }
}

async function berth(tag: string): Promise<BerthSample> {
  const events: StepEvent[] = []
  const emit = (e: JobEvent) => void (e.type === 'step' && events.push(e))
  // One context per operation, as each would be its own job.
  const job = () => createContext({ engine, emit, logDir: null, concurrency, signal: abort.signal })
  const installed = await installCluster(job(), topology)
  await mapLimit(installed.nodes, nodes, (n) => writeBlobs(n.id, ['/opt/blob', '/data/blob']))
  await settle()

  events.length = 0
  let t0 = Date.now()
  let window = 0
  const snapshot = await timeIt(async () => {
    window = (await snapshotCluster(job(), CLUSTER, { tag, topology })).window.ms
  })
  const snapshotSteps = breakdown(events.splice(0), t0)
  await settle()

  t0 = Date.now()
  let copy: { id: string }[] = []
  const restore = await timeIt(async () => {
    copy = (await restoreCluster(job(), CLUSTER, tag, { as: COPY })).nodes
  })
  const restoreSteps = breakdown(events.splice(0), t0)
  await mapLimit(copy, nodes, (n) => checkBlobs(n.id, ['/opt/blob', '/data/blob']))

  const ctx = job()
  await destroyCluster(ctx, COPY, { volumes: true })
  await destroyCluster(ctx, CLUSTER, { volumes: true })
  await removeSnapshot(ctx, CLUSTER, tag)
  return { snapshot, restore, window, steps: { snapshot: snapshotSteps, restore: restoreSteps } }
}

const home = await mkdtemp(join(tmpdir(), 'berth-bench-'))
process.env.BERTH_HOME = home
const base: { snapshot: number; restore: number }[] = []
const ours: BerthSample[] = []
let failed = false
try {
  await buildDemoImage(engine)
  await sweep()
  for (let r = 0; r < runs; r++) {
    // Interleaved, so drift on a shared machine hits both contenders alike.
    const tag = `run${r + 1}`
    base.push(await baseline(tag))
    stopIfAborted()
    ours.push(await berth(tag))
    if (!argv.json) {
      const [b, o] = [base[r], ours[r]]
      const s = (x: number) => `${x.toFixed(2)}s`
      process.stderr.write(
        `  run ${r + 1}/${runs}: baseline snapshot ${s(b.snapshot)} restore ${s(b.restore)}, ` +
          `berth snapshot ${s(o.snapshot)} (window ${o.window} ms) restore ${s(o.restore)}\n`
      )
    }
  }
} catch (err) {
  failed = true
  console.error(abort.signal.aborted ? 'interrupted: cleaning up' : err)
} finally {
  await sweep().catch((e) => console.error(`cleanup: ${e}`))
  await rm(home, { recursive: true, force: true })
}
if (failed) process.exit(abort.signal.aborted ? 130 : 1)

const baseSnap = median(base.map((b) => b.snapshot))
const baseRestore = median(base.map((b) => b.restore))
const berthSnap = median(ours.map((o) => o.snapshot))
const berthRestore = median(ours.map((o) => o.restore))
const result = {
  runs,
  nodes,
  mb,
  concurrency: concurrency ?? 'default',
  baseline_snapshot_s: +baseSnap.toFixed(2),
  berth_snapshot_s: +berthSnap.toFixed(2),
  snapshot_vs_baseline: +(berthSnap / baseSnap).toFixed(2),
  snapshot_target: TARGET.snapshot,
  baseline_restore_s: +baseRestore.toFixed(2),
  berth_restore_s: +berthRestore.toFixed(2),
  restore_vs_baseline: +(berthRestore / baseRestore).toFixed(2),
  restore_target: TARGET.restore,
  berth_window_ms: median(ours.map((o) => o.window)),
  // The baseline's cluster is stopped from `docker stop` to `docker start`, and its /etc/hosts
  // are Docker's fresh ones until re-appended: its whole snapshot is its downtime.
  baseline_downtime_ms: Math.round(baseSnap * 1000),
  steps: {
    snapshot: medianSteps(ours.map((o) => o.steps.snapshot)),
    restore: medianSteps(ours.map((o) => o.steps.restore)),
  },
}

const row = (cells: (string | number)[]) => console.log(`| ${cells.join(' | ')} |`)
if (argv.json) {
  console.log(JSON.stringify(result))
} else {
  console.log(
    `\nsnapshot and restore, ${nodes} nodes, ${mb} MB per layer (+${mb} MB per volume for ` +
      `berth), median of ${runs} runs (seconds; ratio: berth ÷ baseline)`
  )
  row(['operation', 'baseline', 'berth', 'berth/base', 'target', 'met'])
  row(Array<string>(6).fill('---'))
  const ops = [
    ['snapshot', result.baseline_snapshot_s, result.berth_snapshot_s, result.snapshot_vs_baseline],
    ['restore', result.baseline_restore_s, result.berth_restore_s, result.restore_vs_baseline],
  ] as const
  for (const [op, b, o, ratio] of ops) {
    const met = ratio <= TARGET[op] ? 'yes' : 'no'
    row([op, b.toFixed(2), o.toFixed(2), ratio.toFixed(2), `≤ ${TARGET[op]}`, met])
  }
  console.log(
    `\nconsistency window: berth ${result.berth_window_ms} ms paused (first pause → last ` +
      `unpause); baseline ${result.baseline_downtime_ms} ms down (stop → start → hosts ` +
      're-appended)'
  )
  if (argv.steps) {
    for (const op of ['snapshot', 'restore'] as const) {
      console.log(`\nberth ${op}, per step (ms since it began; medians)`)
      row(['step', 'from', 'to', 'Σ ms', 'n'])
      row(Array<string>(5).fill('---'))
      for (const s of result.steps[op]) row([s.step, s.from, s.to, s.sum, s.n])
    }
  }
}
