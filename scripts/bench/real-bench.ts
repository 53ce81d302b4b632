/**
 * npm run bench:real — the real Puppet install (examples/codenvy-puppet) against the seed-style
 * procedure (../shared/bench/seed-style/install.sh), both end to end, in one run, same image.
 *
 * The baseline starts the eight containers, appends every peer to every /etc/hosts, then runs the
 * same per-node bootstrap one node after another: node1 becomes the Puppet server (the example's
 * files unpacked, Puppet Server started, waited for on 8140), each other node runs the example's
 * `puppet agent --test` against it under its role's certname (the seed's hostnames are node1..8).
 * berth runs `berth job run` as a process (wall time as a user sees it) on the example under
 * another name and host port. Also printed: where berth's time goes, from its own step events,
 * and, after a snapshot, how long a restore over the running cluster leaves the site's published
 * port unanswered (the issue's target: under 2 s for this 8-node example).
 *
 *   npm run bench:real -- [--runs 1] [--json]
 */
import { spawn } from 'node:child_process'
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { $, minimist } from 'zx'
import { ensurePuppetImage, PUPPET_EXAMPLE, PUPPET_IMAGE } from '../cli/puppet-demo.ts'
import { createEngine } from '../engine/docker.ts'
import type { JobEvent, StepEvent } from '../engine/events.ts'
import { runJob } from '../engine/job.ts'
import { loadTopologyFile } from '../engine/topology-sources.ts'
import { baselineDir, median } from './measure.ts'

const argv = minimist<{ runs?: string; baseline?: string; json: boolean }>(process.argv.slice(2), {
  string: ['runs', 'baseline'],
  boolean: ['json'],
})
const runs = Number(argv.runs ?? 1)
const seedDir = baselineDir(argv.baseline, 'install.sh')
const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname
const engine = createEngine()
const quiet = $({ quiet: true })
const CLUSTER = 'bench-pp'
const PREFIX = 'bench-pp-seed'
const ROLES = ['master', 'data', 'api', 'site', 'builder1', 'runner1', 'datasource', 'analytics']

/** The master's files (the example's `files` on the master), as one base64 tar to unpack at /. */
async function masterArchive(): Promise<string> {
  const { topology } = loadTopologyFile(PUPPET_EXAMPLE)
  const master = topology.nodes.find((n) => n.name === 'master')!
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-pp-'))
  for (const f of master.files) {
    const path = join(dir, f.target)
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, Buffer.from(f.data, 'base64'), { mode: f.mode })
    chmodSync(path, f.mode)
  }
  const tops = readdirSync(dir)
  const tar = (await quiet`tar -C ${dir} -czf - ${tops} | base64 -w0`).stdout.trim()
  await quiet`rm -rf ${dir}`
  return tar
}

/** The per-node bootstrap of the baseline: the same work as berth's nodes do, by node number. */
function baselineBoot(archive: string, domain: string): string {
  const agent = readFileSync(PUPPET_EXAMPLE, 'utf8').match(
    /command: (puppet agent --test .*)$/m
  )![1]
  return [
    'set -e',
    `roles="${ROLES.join(' ')}"`,
    'n=$(hostname -s | tr -dc 0-9); role=$(echo $roles | cut -d" " -f$n)',
    `export BERTH_DOMAIN=${domain}`,
    'if [ "$role" = master ]; then',
    // Existing directories keep their owner and mode, as berth's archive upload leaves them.
    `  echo ${archive} | base64 -d | tar --no-overwrite-dir -xzf - -C /`,
    '  nohup /usr/local/sbin/berth-puppetserver >/var/log/puppetserver-bench.log 2>&1 &',
    '  until timeout 1 bash -c "</dev/tcp/127.0.0.1/8140" 2>/dev/null; do sleep 0.5; done',
    'else',
    // The seed's hostnames are node<N>: the role's certname tells the server what to make of it.
    `  rc=0; ${agent.replace('"master.$BERTH_DOMAIN"', `node1.${domain}`)} --certname $role.${domain} || rc=$?`,
    '  [ $rc = 0 ] || [ $rc = 2 ]',
    'fi',
  ].join('\n')
}

async function baseline(boot: string): Promise<number> {
  await quiet`bash ${seedDir}/cleanup.sh ${PREFIX}`
  const t0 = performance.now()
  await quiet`bash ${seedDir}/install.sh ${ROLES.length} ${PUPPET_IMAGE.tag} ${PREFIX} ${boot}`
  const s = (performance.now() - t0) / 1000
  await quiet`bash ${seedDir}/cleanup.sh ${PREFIX}`
  return s
}

interface BerthRun {
  seconds: number
  steps: StepEvent[]
  /** A restore over the running cluster after the install: how long the site's port went unanswered. */
  gapMs: number | null
}

/** A job in this process, nothing printed. */
const quietJob = (spec: object) => runJob(spec, { engine, emit: () => {}, logDir: null })

async function berth(): Promise<BerthRun> {
  const { data } = loadTopologyFile(PUPPET_EXAMPLE)
  const topology = { ...data, name: CLUSTER } as { name: string; nodes: { ports?: string[] }[] }
  for (const n of topology.nodes) if (n.ports) n.ports = ['18980:80']
  await quietJob({ kind: 'destroy', cluster: CLUSTER, options: { volumes: true } })
  const t0 = performance.now()
  const events = await new Promise<JobEvent[]>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'job', 'run'], {
      stdio: ['pipe', 'pipe', 'ignore'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.on('error', reject)
    child.on('close', (code) => {
      const events = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as JobEvent)
      const result = events.find((e) => e.type === 'result') as
        { ok: boolean; message?: string } | undefined
      if (code !== 0 || !result?.ok)
        reject(new Error(`berth install failed (exit ${code}): ${result?.message}`))
      else resolve(events)
    })
    child.stdin.end(JSON.stringify({ kind: 'install', cluster: CLUSTER, topology }))
  })
  const seconds = (performance.now() - t0) / 1000
  const snap = await quietJob({ kind: 'snapshot', cluster: CLUSTER, options: { tag: 'bench' } })
  if (!snap.result.ok) throw new Error(`snapshot: ${snap.result.message}`)
  const restore = await quietJob({ kind: 'restore', cluster: CLUSTER, snapshot: 'bench' })
  if (!restore.result.ok)
    throw new Error(`restore over the running cluster: ${restore.result.message}`)
  const gapMs =
    (restore.result.data as { ports?: { unansweredMs: number | null }[] }).ports?.[0]
      ?.unansweredMs ?? null
  await quietJob({ kind: 'destroy', cluster: CLUSTER, options: { volumes: true } })
  await quietJob({ kind: 'snapshot-rm', cluster: CLUSTER, snapshot: 'bench' })
  return { seconds, steps: events.filter((e): e is StepEvent => e.type === 'step'), gapMs }
}

/** Where berth's time went: first create → last start, the master's warm-up, each phase's agent runs. */
function breakdown(run: BerthRun, t0: number): Record<string, string> {
  const at = (pred: (s: StepEvent) => boolean, pick: 'min' | 'max') => {
    const ts = run.steps.filter(pred).map((s) => s.t)
    return ts.length ? (pick === 'min' ? Math.min(...ts) : Math.max(...ts)) : NaN
  }
  const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`
  const created = at((s) => s.step === 'create' && s.state === 'start', 'min')
  const started = at((s) => s.step === 'start' && s.state === 'done', 'max')
  const warm = run.steps.find(
    (s) => s.step === 'health' && s.node === 'master' && s.state === 'done'
  )
  const boots = run.steps.filter(
    (s) => s.step === 'bootstrap' && s.state === 'done'
  ) as (StepEvent & { ms?: number })[]
  const first = at((s) => s.step === 'bootstrap' && s.state === 'start', 'min')
  const last = at((s) => s.step === 'bootstrap' && s.state === 'done', 'max')
  return {
    'before the first create (preflight, plan, network)': sec(created - t0),
    'create, files and start of 8 nodes': sec(started - created),
    'master warm-up (Puppet Server until 8140 answers)': warm?.ms ? sec(warm.ms) : '?',
    'agent runs, phase 1 (7 in parallel): wall': sec(last - first),
    'agent runs, each': boots.length
      ? `${sec(Math.min(...boots.map((b) => b.ms ?? 0)))} – ${sec(Math.max(...boots.map((b) => b.ms ?? 0)))}`
      : '?',
  }
}

const t0 = performance.now()
const image = await ensurePuppetImage(engine, (line) => console.error(`image: ${line}`))
const imageSeconds = (performance.now() - t0) / 1000
const boot = baselineBoot(await masterArchive(), `${PREFIX}.local`)
const seeds: number[] = []
const berths: BerthRun[] = []
for (let i = 0; i < runs; i++) {
  seeds.push(await baseline(boot))
  const start = Date.now()
  const b = await berth()
  berths.push(b)
  if (!argv.json) {
    console.log(
      `run ${i + 1}: seed-style ${seeds[i].toFixed(1)} s, berth ${b.seconds.toFixed(1)} s (${(b.seconds / seeds[i]).toFixed(2)}×)`
    )
    for (const [k, v] of Object.entries(breakdown(b, start))) console.log(`  berth: ${k}: ${v}`)
    console.log(
      `  berth: restore over the running cluster: the site's port unanswered ${b.gapMs === null ? '?' : `${(b.gapMs / 1000).toFixed(2)} s`} (target < 2 s)`
    )
  }
}
const seed = median(seeds)
const mine = median(berths.map((b) => b.seconds))
const out = {
  image: { tag: PUPPET_IMAGE.tag, built: image.built, seconds: Number(imageSeconds.toFixed(1)) },
  runs,
  seedStyle: Number(seed.toFixed(1)),
  berth: Number(mine.toFixed(1)),
  ratio: Number((mine / seed).toFixed(2)),
  target: 0.4,
  restoreGapMs: median(berths.map((b) => b.gapMs ?? Infinity)),
}
console.log(
  argv.json
    ? JSON.stringify(out)
    : `median: seed-style ${out.seedStyle} s, berth ${out.berth} s: ${out.ratio}× (target ≤ ${out.target}×: ${out.ratio <= out.target ? 'met' : 'not met'})`
)
