/**
 * npm run bench — install speed, measured in one run against the seed-style baseline
 * (../shared/bench/seed-style/install.sh: docker CLI, one step after another) and the floor
 * (parallel create+start through the Engine API, nothing else). Same image, same per-node
 * bootstrap work. Prints berth ÷ baseline and berth ÷ floor (medians of --runs runs).
 *
 *   npm run bench -- [--sizes 8,32] [--runs 3] [--concurrency 8] [--json]
 */
import { $, minimist } from 'zx'
import { createContext } from '../engine/context.ts'
import { createEngine } from '../engine/docker.ts'
import { installCluster } from '../engine/install.ts'
import { LABEL } from '../engine/labels.ts'
import { destroyCluster } from '../engine/lifecycle.ts'
import { mapLimit } from '../engine/pool.ts'
import { validateTopology } from '../engine/topology.ts'
import { buildDemoImage, DEMO_IMAGE } from '../image/demo-image.ts'
import { baselineDir, median, timeIt } from './measure.ts'

const argv = minimist<{
  sizes?: string
  runs?: string
  concurrency?: string
  baseline?: string
  json: boolean
}>(process.argv.slice(2), {
  string: ['sizes', 'runs', 'concurrency', 'baseline'],
  boolean: ['json'],
})
const sizes = (argv.sizes ?? '8,32').split(',').map(Number)
const runs = Number(argv.runs ?? 3)
const concurrency = argv.concurrency ? Number(argv.concurrency) : undefined
const seedDir = baselineDir(argv.baseline, 'install.sh')

/** The per-node bootstrap work, identical for berth and the baseline: a little CPU and a file. */
const BOOT = 'i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; echo ok > /tmp/booted'

const engine = createEngine()
const quiet = $({ quiet: true })

function topology(n: number, mode: 'static' | 'dynamic') {
  return validateTopology({
    name: `bench-${mode}-${n}`,
    image: DEMO_IMAGE,
    domain: 'bench.local',
    network: { mode },
    nodes: [{ name: 'node', count: n, bootstrap: BOOT }],
  })
}

async function baseline(n: number): Promise<number> {
  const prefix = `bench-seed-${n}`
  await quiet`bash ${seedDir}/cleanup.sh ${prefix}`
  const s = await timeIt(
    () => quiet`bash ${seedDir}/install.sh ${n} ${DEMO_IMAGE} ${prefix} ${BOOT}`
  )
  await quiet`bash ${seedDir}/cleanup.sh ${prefix}`
  return s
}

async function berth(n: number, mode: 'static' | 'dynamic'): Promise<number> {
  const t = topology(n, mode)
  const ctx = createContext({ engine, emit: () => {}, logDir: null, concurrency })
  await destroyCluster(ctx, t.name, { volumes: true }).catch(() => {})
  const s = await timeIt(() => installCluster(ctx, t))
  await destroyCluster(ctx, t.name, { volumes: true })
  return s
}

/**
 * The floor: N containers created and started in parallel, nothing else — on Docker's default
 * bridge (the issue's floor), or on a user-defined bridge like the one each berth cluster gets
 * (Docker sets up its embedded DNS in every container there, which costs ~25% per start here).
 */
async function floor(n: number, own: boolean): Promise<number> {
  const label = `${LABEL.cluster}=bench-floor`
  const net = own
    ? await engine.createNetwork({
        Name: 'bench-floor',
        IPAM: {
          Driver: 'default',
          Config: [{ Subnet: '10.249.250.0/24', IPRange: '10.249.250.128/25' }],
        },
        Labels: { [LABEL.cluster]: 'bench-floor' },
      })
    : null
  const s = await timeIt(() =>
    mapLimit(
      Array.from({ length: n }, (_, i) => i),
      n,
      async (i) => {
        const id = await engine.createContainer({
          name: `bench-floor.node${i + 1}`,
          Image: DEMO_IMAGE,
          Labels: { [LABEL.cluster]: 'bench-floor' },
          ...(net
            ? {
                HostConfig: { NetworkMode: 'bench-floor' },
                NetworkingConfig: {
                  EndpointsConfig: {
                    'bench-floor': { IPAMConfig: { IPv4Address: `10.249.250.${10 + i}` } },
                  },
                },
              }
            : {}),
        })
        await engine.startContainer(id)
      }
    )
  )
  const left = await engine.listContainers([label])
  await Promise.all(left.map((c) => engine.removeContainer(c.Id)))
  if (net) await engine.removeNetwork(net)
  return s
}

await buildDemoImage(engine)
const rows: Record<string, number | string>[] = []
for (const n of sizes) {
  const m: Record<string, number[]> = {
    baseline: [],
    static: [],
    dynamic: [],
    floor: [],
    floorNet: [],
  }
  for (let r = 0; r < runs; r++) {
    // Interleaved, so drift on a shared machine hits every contender alike.
    m.baseline.push(await baseline(n))
    m.static.push(await berth(n, 'static'))
    m.dynamic.push(await berth(n, 'dynamic'))
    m.floor.push(await floor(n, false))
    m.floorNet.push(await floor(n, true))
    if (!argv.json)
      process.stderr.write(
        `  n=${n} run ${r + 1}/${runs}: ${Object.entries(m)
          .map(([k, v]) => `${k} ${v[r].toFixed(2)}s`)
          .join(', ')}\n`
      )
  }
  const b = median(m.baseline),
    st = median(m.static),
    dy = median(m.dynamic),
    f = median(m.floor)
  const fn = median(m.floorNet)
  rows.push({
    nodes: n,
    baseline_s: +b.toFixed(2),
    static_s: +st.toFixed(2),
    dynamic_s: +dy.toFixed(2),
    floor_s: +f.toFixed(2),
    floor_net_s: +fn.toFixed(2),
    static_vs_baseline: +(st / b).toFixed(2),
    dynamic_vs_baseline: +(dy / b).toFixed(2),
    static_vs_floor: +(st / f).toFixed(2),
    dynamic_vs_floor: +(dy / f).toFixed(2),
    static_vs_floor_net: +(st / fn).toFixed(2),
    dynamic_vs_floor_net: +(dy / fn).toFixed(2),
  })
}

if (argv.json) {
  console.log(JSON.stringify({ runs, concurrency: concurrency ?? 'default', rows }))
} else {
  const cols: [string, string][] = [
    ['nodes', 'nodes'],
    ['baseline_s', 'baseline'],
    ['static_s', 'static'],
    ['dynamic_s', 'dynamic'],
    ['floor_s', 'floor'],
    ['floor_net_s', 'floor(net)'],
    ['static_vs_baseline', 'static/base'],
    ['dynamic_vs_baseline', 'dyn/base'],
    ['static_vs_floor', 'static/floor'],
    ['dynamic_vs_floor', 'dyn/floor'],
    ['static_vs_floor_net', 'static/floor(net)'],
    ['dynamic_vs_floor_net', 'dyn/floor(net)'],
  ]
  console.log(
    `\ninstall, median of ${runs} runs (seconds; ratios: berth ÷ baseline, berth ÷ floor)`
  )
  console.log('| ' + cols.map(([, h]) => h).join(' | ') + ' |')
  console.log('|' + cols.map(() => ' --- ').join('|') + '|')
  for (const r of rows) console.log('| ' + cols.map(([k]) => String(r[k])).join(' | ') + ' |')
}
