/**
 * npm run bench:cli — how fast the berth command starts, as a user sees it (process wall time):
 * the compiled CLI (dist/, what bin/berth.mjs runs) against the TypeScript sources through tsx's
 * loader (what it ran before there was a build, and still runs while a source is newer than the
 * build). Interleaved, same process, medians:
 *   --help      spawn to exit
 *   --version   spawn to exit
 *   job run     spawn to the first event on stdout (a `clusters` job: the engine asked once)
 *
 *   npm run bench:cli -- [--runs 15] [--json]
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { minimist } from 'zx'
import { median } from './measure.ts'

const argv = minimist(process.argv.slice(2), { string: ['runs'], boolean: ['json'] })
const runs = Number(argv.runs ?? 15)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const home = mkdtempSync(join(tmpdir(), 'berth-bench-cli-'))

// The sources, started exactly as bin/berth.mjs starts them when the build is not current.
const sourcesEntry = join(home, 'sources.mjs')
writeFileSync(
  sourcesEntry,
  `process.umask(0o077)\nconst { register } = await import(${JSON.stringify(join(ROOT, 'node_modules/tsx/dist/esm/api/index.mjs'))})\nregister()\nawait import(${JSON.stringify(join(ROOT, 'scripts/berth.ts'))})\n`
)
const ENTRIES = { compiled: join(ROOT, 'bin/berth.mjs'), sources: sourcesEntry } as const

/** ms from spawn to the first stdout data (firstOutput) or to exit. */
function time(
  entry: string,
  args: string[],
  stdin: string | null,
  firstOutput: boolean
): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, [entry, ...args], {
      stdio: ['pipe', 'pipe', 'ignore'],
      env: { ...process.env, BERTH_HOME: home },
    })
    let first: number | null = null
    child.stdout.on('data', () => {
      if (first === null) first = performance.now() - t0
    })
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${entry} ${args.join(' ')}: exit ${code}`))
      resolve(firstOutput && first !== null ? first : performance.now() - t0)
    })
    child.stdin.end(stdin ?? undefined)
  })
}

const CASES = [
  { name: '--help', args: ['--help'], stdin: null, first: false, target: 150 },
  { name: '--version', args: ['--version'], stdin: null, first: false, target: 150 },
  {
    name: 'job run (start: first event)',
    args: ['job', 'run'],
    stdin: JSON.stringify({ kind: 'clusters' }),
    first: true,
    target: 200,
  },
]

const version = await new Promise<string>((resolve) => {
  const c = spawn(process.execPath, [ENTRIES.compiled, '--version'])
  let out = ''
  c.stdout.on('data', (d) => (out += d))
  c.on('close', () => resolve(out.trim()))
})
if (!version.endsWith('(compiled)')) {
  console.error(`bin/berth.mjs runs the ${version}: run npm run build first`)
  process.exit(2)
}

const results: Record<string, { compiled: number; sources: number; target: number }> = {}
try {
  for (const c of CASES) {
    const times = { compiled: [] as number[], sources: [] as number[] }
    // One warm-up each (the file cache), then interleaved.
    for (const which of ['compiled', 'sources'] as const)
      await time(ENTRIES[which], c.args, c.stdin, c.first)
    for (let i = 0; i < runs; i++) {
      for (const which of ['compiled', 'sources'] as const)
        times[which].push(await time(ENTRIES[which], c.args, c.stdin, c.first))
    }
    results[c.name] = {
      compiled: median(times.compiled),
      sources: median(times.sources),
      target: c.target,
    }
  }
} finally {
  rmSync(home, { recursive: true, force: true })
}

if (argv.json) {
  console.log(JSON.stringify({ runs, results }))
} else {
  console.log(`berth start-up, ${runs} runs each, medians (${version})`)
  console.log('| command | sources (tsx) | compiled | compiled ÷ sources | target |')
  console.log('| --- | --- | --- | --- | --- |')
  for (const [name, r] of Object.entries(results)) {
    const met = r.compiled <= r.target ? 'met' : 'not met'
    console.log(
      `| ${name} | ${r.sources.toFixed(0)} ms | ${r.compiled.toFixed(0)} ms | ${(r.compiled / r.sources).toFixed(2)} | ≤ ${r.target} ms — ${met} |`
    )
  }
}
