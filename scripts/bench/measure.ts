/** Timing helpers shared by the benchmarks. */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The seed-style baseline's folder (`--baseline DIR`, or ../shared/bench/seed-style); exits 2 without `script`. */
export function baselineDir(given: string | undefined, script: string): string {
  const dir = given ?? fileURLToPath(new URL('../../../shared/bench/seed-style/', import.meta.url))
  if (!existsSync(`${dir}/${script}`)) {
    console.error(`baseline not found at ${dir} (pass --baseline DIR)`)
    process.exit(2)
  }
  return dir
}
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

/** Seconds `fn` took. */
export async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now()
  await fn()
  return (performance.now() - t0) / 1000
}
