/**
 * npm run bench:swarm — a cluster across hosts against the same cluster on one host, on this
 * machine's lab (scripts/host/swarm-lab.sh: Docker daemons in network namespaces of their own,
 * joined into one swarm), so it shows the overhead of the overlay and of driving several engines,
 * not capacity. Each job is `berth …` as a process (wall time, as a user sees it) — install,
 * snapshot, restore (after a destroy): one host — the static cluster on lab1 alone; across hosts —
 * `network.mode: swarm`, every node spread over the lab's hosts (the snapshot gathers every image
 * on the manager; the restore copies each back to its node's host). Prints the medians of --runs
 * runs, swarm ÷ one host, and where the time goes (the median of each step's per-node time, from
 * the job's events).
 *
 *   npm run bench:swarm -- [--nodes 32] [--hosts 3] [--runs 3] [--json] [--keep-lab]
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { minimist } from 'zx'
import type { JobEvent, ResultEvent } from '../engine/events.ts'
import { median } from './measure.ts'

const argv = minimist<{
  nodes?: string
  hosts?: string
  runs?: string
  json: boolean
  'keep-lab': boolean
}>(process.argv.slice(2), { string: ['nodes', 'hosts', 'runs'], boolean: ['json', 'keep-lab'] })
const NODES = Number(argv.nodes ?? 32)
const HOSTS = Number(argv.hosts ?? 3)
const RUNS = Number(argv.runs ?? 3)
const LAB = new URL('../host/swarm-lab.sh', import.meta.url).pathname
const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname
const home = mkdtempSync(join(tmpdir(), 'berth-bench-swarm-'))

function lab(...args: string[]): string {
  const r = spawnSync('bash', [LAB, ...args], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`swarm-lab.sh ${args.join(' ')}: ${r.stderr}`)
  return r.stdout.trim()
}

/** The per-node bootstrap work of every install bench: a little CPU and a file. */
const BOOT = 'i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; echo ok > /tmp/booted'

function topologyFile(name: string, mode: 'static' | 'swarm'): string {
  const file = join(home, `${name}.json`)
  const node = {
    name: 'node',
    count: NODES,
    bootstrap: BOOT,
    ...(mode === 'swarm' ? { placement: { spread: true } } : {}),
  }
  writeFileSync(
    file,
    JSON.stringify({
      name,
      image: 'berth/demo:1',
      domain: 'bench.local',
      network: { mode },
      nodes: [node],
    })
  )
  return file
}

interface Run {
  ms: number
  steps: Map<string, number[]>
}

function berth(env: Record<string, string>, ...args: string[]): Run {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(process.execPath, [BIN, ...args, '--json'], {
    encoding: 'utf8',
    env: { ...process.env, BERTH_HOME: home, ...env },
    maxBuffer: 64 * 1024 * 1024,
  })
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  const events = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as JobEvent)
  const result = events.find((e): e is ResultEvent => e.type === 'result')
  if (!result?.ok)
    throw new Error(`berth ${args.join(' ')}: ${result?.code}: ${result?.message}\n${r.stderr}`)
  const steps = new Map<string, number[]>()
  for (const e of events) {
    if (e.type !== 'step' || e.state !== 'done' || !e.node || e.ms === undefined) continue
    steps.set(e.step, [...(steps.get(e.step) ?? []), e.ms])
  }
  return { ms, steps }
}

const JOBS = ['install', 'snapshot', 'restore'] as const
type Cycle = Record<(typeof JOBS)[number], Run>

/** install → snapshot → destroy → restore, then everything removed (the snapshot too). */
function cycles(
  label: string,
  env: Record<string, string>,
  file: string,
  cluster: string
): Cycle[] {
  const out: Cycle[] = []
  for (let i = 0; i < RUNS; i++) {
    const install = berth(env, 'install', file)
    const snapshot = berth(env, 'snapshot', cluster, '--tag', `b${i}`)
    berth(env, 'destroy', cluster, '--volumes')
    const restore = berth(env, 'restore', cluster, `b${i}`)
    berth(env, 'destroy', cluster, '--volumes')
    berth(env, 'snapshot', 'rm', cluster, `b${i}`)
    out.push({ install, snapshot, restore })
    if (!argv.json)
      process.stderr.write(
        `${label} ${i + 1}/${RUNS}: ${JOBS.map((j) => `${j} ${(out[i][j].ms / 1000).toFixed(2)} s`).join(', ')}\n`
      )
  }
  return out
}

const stepMedians = (runs: Run[]) => {
  const all = new Map<string, number[]>()
  for (const r of runs) for (const [s, xs] of r.steps) all.set(s, [...(all.get(s) ?? []), ...xs])
  return Object.fromEntries([...all].map(([s, xs]) => [s, Math.round(median(xs))]))
}

lab('up', String(HOSTS))
lab('swarm', String(HOSTS))
lab('load', String(HOSTS), 'berth/demo:1')
writeFileSync(join(home, 'lab-engines.yaml'), lab('engines', String(HOSTS)) + '\n')
try {
  const one = cycles(
    'one host',
    { DOCKER_HOST: `unix://${lab('sock', '1')}` },
    topologyFile('bench-one', 'static'),
    'bench-one'
  )
  const across = cycles(
    `${HOSTS} hosts`,
    { BERTH_ENGINES: join(home, 'lab-engines.yaml') },
    topologyFile('bench-swarm', 'swarm'),
    'bench-swarm'
  )
  const seconds = (runs: Cycle[], job: (typeof JOBS)[number]) =>
    +(median(runs.map((r) => r[job].ms)) / 1000).toFixed(2)
  const jobs = Object.fromEntries(
    JOBS.map((j) => {
      const o = seconds(one, j)
      const a = seconds(across, j)
      return [j, { oneHostSeconds: o, acrossHostsSeconds: a, ratio: +(a / o).toFixed(2) }]
    })
  )
  const report = {
    nodes: NODES,
    hosts: HOSTS,
    runs: RUNS,
    ...jobs,
    target: { install: 1.5 },
    perNodeStepMs: Object.fromEntries(
      JOBS.map((j) => [
        j,
        {
          oneHost: stepMedians(one.map((c) => c[j])),
          acrossHosts: stepMedians(across.map((c) => c[j])),
        },
      ])
    ),
  }
  if (argv.json) console.log(JSON.stringify(report))
  else {
    for (const j of JOBS) {
      const r = jobs[j]
      console.log(
        `${j} ${NODES} nodes: one host ${r.oneHostSeconds} s, over ${HOSTS} hosts ${r.acrossHostsSeconds} s → ${r.ratio}×${j === 'install' ? ' (target ≤ 1.5×)' : ''}`
      )
      console.log('  median per-node step (ms)  one host → across hosts')
      const steps = report.perNodeStepMs[j]
      for (const step of Object.keys(steps.acrossHosts)) {
        console.log(
          `    ${step.padEnd(12)} ${String(steps.oneHost[step] ?? '-').padStart(6)} → ${steps.acrossHosts[step]}`
        )
      }
    }
  }
} finally {
  if (!argv['keep-lab']) lab('down')
}
