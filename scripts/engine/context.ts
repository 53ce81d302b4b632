import { appendFileSync, mkdirSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { DockerEngine } from './docker.ts'
import { BerthError } from './errors.ts'
import { stepper, type Emit, type Steps } from './events.ts'
import { newJobId } from './labels.ts'

/** Everything one job needs, passed down explicitly (no module-level singletons). */
export interface JobContext {
  engine: DockerEngine
  job: string
  steps: Steps
  /** Engine calls in flight at once for fan-outs (create, start, exec). */
  concurrency: number
  signal?: AbortSignal
  /** One line for the per-job log (full bootstrap output lives there, not in events). */
  log: (line: string, node?: string) => void
  logFile?: string
}

export const DEFAULT_CONCURRENCY = 8

export function berthHome(): string {
  return process.env.BERTH_HOME || join(homedir(), '.berth')
}

export function createContext(opts: {
  engine: DockerEngine
  job?: string
  emit: Emit
  concurrency?: number
  signal?: AbortSignal
  /** Also copy log lines to this writer (stderr for `berth job run`). */
  echo?: (line: string) => void
  logDir?: string | null
}): JobContext {
  const job = opts.job ?? newJobId()
  const dir = opts.logDir === null ? null : (opts.logDir ?? join(berthHome(), 'jobs'))
  let logFile: string | undefined
  if (dir) {
    mkdirSync(dir, { recursive: true })
    logFile = join(dir, `${job}.log`)
  }
  const log = (line: string, node?: string) => {
    const text = `${new Date().toISOString()} ${node ? `[${node}] ` : ''}${line}\n`
    if (logFile) appendFileSync(logFile, text)
    opts.echo?.(text)
  }
  return {
    engine: opts.engine,
    job,
    steps: stepper(job, opts.emit),
    concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY,
    signal: opts.signal,
    log,
    logFile,
  }
}

/** A safe point: stop here if the job was cancelled. */
export function checkpoint(ctx: JobContext): void {
  if (ctx.signal?.aborted) throw new BerthError('cancelled', 'the job was cancelled')
}
