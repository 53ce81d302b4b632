import { mkdirSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { Engine } from './docker.ts'
import { BerthError } from './errors.ts'
import { stepper, type Emit, type JobEvent, type Steps } from './events.ts'
import type { Admission } from './job-spec.ts'
import type { Journal, JournalRecord } from './journal.ts'
import { eventLine, JobLogWriter } from './job-log.ts'
import { newJobId } from './labels.ts'

/** Everything one job needs, passed down explicitly (no module-level singletons). */
export interface JobContext {
  engine: Engine
  job: string
  steps: Steps
  /** Every event of the job goes through here: secrets redacted, then the log and the caller. */
  emit: Emit
  /** Engine calls in flight at once for fan-outs (create, start, exec). */
  concurrency: number
  signal?: AbortSignal
  /** One line for the per-job log (full bootstrap output lives there, not in events). */
  log: (line: string, node?: string) => void
  logFile?: string
  /** What the service admitted the job as; absent for a person at the host's shell. */
  admission?: Admission
  /** Secret values this job has read (reference → value): never written anywhere as they are. */
  secrets: Map<string, string>
  /** The event with every secret value this job has read replaced by `[secret]`. */
  redact<E extends JobEvent>(e: E): E
  /** The cluster's journal, while this job holds the cluster's lock (journal.ts). */
  journal?: Journal
  /** What this job left for the next command to finish (the engine went away): its journal stays. */
  left: string[]
}

/** Records what the job is about to change, if it keeps a journal. */
export function note(ctx: JobContext, record: JournalRecord): void {
  ctx.journal?.write(record)
}

/**
 * BERTH_FAULT=kill-after:<step>:<state>:<n> — for the crash tests only, inert otherwise: the job
 * SIGKILLs itself right after its n-th event of that step and state (`*` for any), once that
 * event is in its log. Nothing in berth sets it.
 */
function faultOf(env: NodeJS.ProcessEnv): ((e: JobEvent) => void) | null {
  const m = /^kill-after:([a-z*-]+):([a-z*]+):(\d+)$/.exec(env.BERTH_FAULT ?? '')
  if (!m) return null
  const [, step, state, n] = m
  let seen = 0
  return (e) => {
    if (e.type !== 'step') return
    if (
      (step === '*' || e.step === step) &&
      (state === '*' || e.state === state) &&
      ++seen === Number(n)
    ) {
      process.kill(process.pid, 'SIGKILL')
    }
  }
}

export const DEFAULT_CONCURRENCY = 8

export function berthHome(): string {
  return process.env.BERTH_HOME || join(homedir(), '.berth')
}

/** Secrets shorter than this are not looked for in output (a "1" would blot out every number). */
const REDACT_MIN = 4

export function createContext(opts: {
  engine: Engine
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
  let writer: JobLogWriter | undefined
  if (dir) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    writer = new JobLogWriter(join(dir, `${job}.log`))
  }
  const secrets = new Map<string, string>()
  const redact = (text: string) => {
    for (const value of secrets.values()) {
      if (value.length >= REDACT_MIN) text = text.replaceAll(value, '[secret]')
    }
    return text
  }
  const log = (line: string, node?: string) => {
    const text = redact(`${new Date().toISOString()} ${node ? `[${node}] ` : ''}${line}\n`)
    writer?.append(text)
    opts.echo?.(text)
  }
  // Events are small: look for a secret in their JSON, where it would stand escaped.
  const redactEvent = <E extends JobEvent>(e: E): E =>
    secrets.size ? (JSON.parse(redactJson(JSON.stringify(e), secrets)) as E) : e
  const fault = faultOf(process.env)
  const emit: Emit = (e) => {
    const out = redactEvent(e)
    // Every event goes to the job's log too: a compact stdout may leave some out.
    writer?.append(eventLine(out))
    opts.emit(out)
    fault?.(out)
  }
  return {
    engine: opts.engine,
    job,
    steps: stepper(job, emit),
    emit,
    concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY,
    signal: opts.signal,
    log,
    logFile: writer?.file,
    secrets,
    redact: redactEvent,
    left: [],
  }
}

function redactJson(json: string, secrets: Map<string, string>): string {
  for (const value of secrets.values()) {
    if (value.length < REDACT_MIN) continue
    json = json.replaceAll(JSON.stringify(value).slice(1, -1), '[secret]')
  }
  return json
}

/** A safe point: stop here if the job was cancelled. */
export function checkpoint(ctx: JobContext): void {
  if (ctx.signal?.aborted) throw new BerthError('cancelled', 'the job was cancelled')
}
