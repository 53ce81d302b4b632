/**
 * npm run bench:swarm — a cluster across hosts against the same cluster on one host, on this
 * machine's lab (scripts/host/swarm-lab.sh: Docker daemons in network namespaces of their own,
 * joined into one swarm), so it shows the overhead of the overlay and of driving several engines,
 * not capacity. Each install is `berth install` as a process (wall time, as a user sees it): one
 * host — the static cluster on lab1 alone; across hosts — `network.mode: swarm`, every node spread
 * over the lab's hosts. Prints the medians of --runs runs, swarm ÷ one host, and where the time
 * goes (the median of each step's per-node time, from the job's events).
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

function installs(
  label: string,
  env: Record<string, string>,
  file: string,
  cluster: string
): Run[] {
  const out: Run[] = []
  for (let i = 0; i < RUNS; i++) {
    out.push(berth(env, 'install', file))
    berth(env, 'destroy', cluster, '--volumes')
    if (!argv.json)
      process.stderr.write(`${label} ${i + 1}/${RUNS}: ${(out[i].ms / 1000).toFixed(2)} s\n`)
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
  const one = installs(
    'one host',
    { DOCKER_HOST: `unix://${lab('sock', '1')}` },
    topologyFile('bench-one', 'static'),
    'bench-one'
  )
  const across = installs(
    `${HOSTS} hosts`,
    { BERTH_ENGINES: join(home, 'lab-engines.yaml') },
    topologyFile('bench-swarm', 'swarm'),
    'bench-swarm'
  )
  const oneMs = median(one.map((r) => r.ms))
  const acrossMs = median(across.map((r) => r.ms))
  const report = {
    nodes: NODES,
    hosts: HOSTS,
    runs: RUNS,
    oneHostSeconds: +(oneMs / 1000).toFixed(2),
    acrossHostsSeconds: +(acrossMs / 1000).toFixed(2),
    ratio: +(acrossMs / oneMs).toFixed(2),
    target: 1.5,
    perNodeStepMs: { oneHost: stepMedians(one), acrossHosts: stepMedians(across) },
  }
  if (argv.json) console.log(JSON.stringify(report))
  else {
    console.log(
      `install ${NODES} nodes: one host ${report.oneHostSeconds} s, over ${HOSTS} hosts ${report.acrossHostsSeconds} s → ${report.ratio}× (target ≤ 1.5×)`
    )
    console.log('median per-node step (ms)  one host → across hosts')
    for (const step of Object.keys(report.perNodeStepMs.acrossHosts)) {
      console.log(
        `  ${step.padEnd(12)} ${String(report.perNodeStepMs.oneHost[step] ?? '-').padStart(6)} → ${report.perNodeStepMs.acrossHosts[step]}`
      )
    }
  }
} finally {
  if (!argv['keep-lab']) lab('down')
}
