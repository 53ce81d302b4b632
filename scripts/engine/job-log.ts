/**
 * The job's log on the host, $BERTH_HOME/jobs/<job>.log: every log line and every job event, so
 * whatever stdout leaves out (`berth job run --compact`, for SSM's 24,000 characters) is still
 * on the host — read with `berth job log <id>`, or in chunks through the `log` job kind.
 */
import {
  appendFileSync,
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { berthHome } from './context.ts'
import { BerthError } from './errors.ts'
import type { Emit, JobEvent, Step } from './events.ts'
import { JOB_ID } from './job-spec.ts'

export function jobLogFile(job: string): string {
  if (!JOB_ID.test(job)) throw new BerthError('invalid_job', `"${job}" is not a valid job id`)
  return join(berthHome(), 'jobs', `${job}.log`)
}

/** The line an event adds to the log, in the shape of `ctx.log` lines (time, [node], text). */
export function eventLine(e: JobEvent): string {
  const head = `${new Date(e.t).toISOString()} ${'node' in e && e.node ? `[${e.node}] ` : ''}`
  if (e.type === 'log') return `${head}${e.msg}\n`
  if (e.type === 'result') return `${head}result ${JSON.stringify(e)}\n`
  const ms = e.ms === undefined ? '' : ` ${e.ms} ms`
  return `${head}step ${e.step} ${e.state}${ms}${e.msg ? `: ${e.msg}` : ''}\n`
}

/** The default cap on one job's log; BERTH_JOB_LOG_MAX_BYTES on the host changes it. */
export const DEFAULT_LOG_MAX_BYTES = 20 * 1024 * 1024

export function logCapFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.BERTH_JOB_LOG_MAX_BYTES)
  return Number.isInteger(n) && n >= 64 * 1024 ? n : DEFAULT_LOG_MAX_BYTES
}

/**
 * Appends to a job's log, keeping it under `maxBytes`: past the cap the oldest half goes and a
 * line says so, so a bootstrap printing without end (50 MB in 3 s) costs the disk a bounded size
 * and the end of the story — the part that says why a job failed — is always there.
 */
export class JobLogWriter {
  #size: number
  constructor(
    readonly file: string,
    private readonly maxBytes: number = logCapFromEnv()
  ) {
    this.#size = existsSync(file) ? statSync(file).size : 0
  }

  /** Why writing failed, once it has (a full disk): the job goes on and cleans up regardless. */
  failed: Error | null = null

  /** Never throws: a log that cannot be written must not stop a job before it has cleaned up. */
  append(text: string): void {
    if (this.failed) return
    try {
      appendFileSync(this.file, text, { mode: 0o600 })
      this.#size += Buffer.byteLength(text)
      if (this.#size > this.maxBytes) this.#cut()
    } catch (err) {
      this.failed = err as Error
      process.stderr.write(
        `berth: the job's log ${this.file} cannot be written from here on: ${(err as Error).message}\n`
      )
    }
  }

  #cut(): void {
    const keep = Math.floor(this.maxBytes / 2)
    const fd = openSync(this.file, 'r')
    let tail: Buffer
    let size: number
    try {
      size = fstatSync(fd).size
      tail = Buffer.alloc(Math.min(keep, size))
      readSync(fd, tail, 0, tail.length, size - tail.length)
    } finally {
      closeSync(fd)
    }
    // From the first whole line on.
    const start = tail.indexOf(0x0a) + 1
    const kept = tail.subarray(start)
    const cut = size - kept.length
    const note = `${new Date().toISOString()} … ${cut} bytes of this log were cut here: a job's log is kept under ${this.maxBytes} bytes (BERTH_JOB_LOG_MAX_BYTES), its end is kept\n`
    writeFileSync(`${this.file}.cut`, Buffer.concat([Buffer.from(note), kept]), { mode: 0o600 })
    renameSync(`${this.file}.cut`, this.file)
    this.#size = Buffer.byteLength(note) + kept.length
  }
}

/**
 * The text of one chunk stays under this many characters once JSON-escaped, so the `log` job's
 * result event, with its envelope and the job's two step lines, fits in SSM's 24,000.
 */
export const LOG_CHUNK_CHARS = 20_000

export interface LogChunk {
  text: string
  /** The byte offset of the next chunk, or null when this one reached the end of the file. */
  next: number | null
  /** The file's size in bytes when it was read. */
  size: number
}

/** Reads the log of `job` from byte `offset`: as much as fits in `maxChars` escaped characters. */
export function readJobLog(job: string, offset = 0, maxChars = LOG_CHUNK_CHARS): LogChunk {
  const file = jobLogFile(job)
  if (!existsSync(file))
    throw new BerthError('not_found', `no log for job "${job}" on this host (${file})`)
  const fd = openSync(file, 'r')
  try {
    const size = fstatSync(fd).size
    let want = maxChars
    for (;;) {
      const buf = Buffer.alloc(want)
      const got = readSync(fd, buf, 0, want, offset)
      const end = got === want ? wholeUtf8(buf, got) : got
      const text = buf.subarray(0, end).toString('utf8')
      const escaped = JSON.stringify(text).length
      // Control characters (colour codes in bootstrap output) escape to six characters each.
      if (escaped > maxChars && end > 1) {
        want = Math.max(1, Math.floor((end * maxChars) / escaped) - 8)
        continue
      }
      return { text, next: offset + end < size ? offset + end : null, size }
    }
  } finally {
    closeSync(fd)
  }
}

/** How many of the first `got` bytes end on a whole UTF-8 sequence (a chunk never splits one). */
function wholeUtf8(buf: Buffer, got: number): number {
  let lead = got - 1
  while (lead > 0 && got - lead < 4 && (buf[lead] & 0xc0) === 0x80) lead--
  const b = buf[lead]
  const len = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1
  return lead + len > got ? lead : got
}

/**
 * `berth job run --compact`: what a dispatcher that sees only the start of stdout needs, in a
 * size that does not grow with the cluster but for failures and the result. Kept: every step of
 * the job as a whole (no node), every failed step, the first start of each per-node phase, and
 * one `done` line per per-node phase (counting nodes), told before the next job-level step or
 * the result. Dropped: the other per-node steps, and log events. Everything stays in the log.
 */
export function compactEvents(emit: Emit): Emit {
  type Phase = {
    job: string
    first: number
    last: number
    done: number
    skipped: number
    failed: number
  }
  const phases = new Map<Step, Phase>()
  const flush = (t: number) => {
    for (const [step, p] of phases) {
      const counts = [
        `${p.done} done`,
        p.skipped && `${p.skipped} skipped`,
        p.failed && `${p.failed} failed`,
      ]
      emit({
        type: 'step',
        t,
        job: p.job,
        step,
        state: p.failed ? 'fail' : 'done',
        ms: p.last - p.first,
        msg: `${counts.filter(Boolean).join(', ')} (nodes)`,
      })
    }
    phases.clear()
  }
  return (e) => {
    if (e.type === 'log') return
    if (e.type === 'result' || !e.node) {
      flush(e.t)
      return emit(e)
    }
    let p = phases.get(e.step)
    if (!p) {
      p = { job: e.job, first: e.t, last: e.t, done: 0, skipped: 0, failed: 0 }
      phases.set(e.step, p)
      if (e.state === 'start') emit(e)
    }
    p.last = e.t
    if (e.state === 'done') p.done++
    else if (e.state === 'skip') p.skipped++
    else if (e.state === 'fail') {
      p.failed++
      emit(e)
    }
  }
}
