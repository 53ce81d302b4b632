/**
 * How the edge side hands a job to the host side and hears back. Runtime-neutral on purpose
 * (no node:* imports): the Worker build imports this file for the SSM dispatcher.
 */
import type { JobEvent, ResultEvent } from '../../scripts/engine/events.ts'
import type { ResultCode } from '../../scripts/engine/errors.ts'

export interface DispatchSpec {
  id: string
  kind: string
  cluster?: string
  [k: string]: unknown
}

export interface DispatchOptions {
  onEvent: (e: JobEvent) => void
  signal?: AbortSignal
  /** One host of a target of many (a job's log lives on the host that ran it); a dispatcher
   *  that reaches a single host ignores it. */
  host?: string
}

export interface Dispatcher {
  readonly name: string
  /** Runs the job to its end. Every event is passed to onEvent as it arrives, in order; the
   *  returned result is the job's result event (a synthetic one with ok:false when the transport
   *  failed or the output held none). Abort → cancel: SIGTERM, then SIGKILL after the grace
   *  period. */
  run(
    spec: DispatchSpec,
    opts: DispatchOptions
  ): Promise<{ result: ResultEvent; exitCode: number | null }>
}

/**
 * A dispatcher whose jobs outlive the request that starts them (SSM Run Command from a Worker):
 * started now, followed by later polls (another request, a cron tick) through the job's stored
 * `dispatchRef`. The same job contract: `berth job run` on the host, NDJSON events on stdout.
 */
export interface RemoteDispatcher {
  readonly name: string
  /** Sends the job (to `host` alone when given, one of the target's); the returned ref (opaque
   *  text) is what poll and cancel take. */
  start(spec: DispatchSpec, opts?: { host?: string }): Promise<{ ref: string }>
  /**
   * Where the job is now: every event its output holds so far, in order (the caller keeps those
   * past the ones it stored already), and, once it has ended, its result and exit code.
   */
  poll(
    ref: string,
    spec: DispatchSpec
  ): Promise<{ events: JobEvent[]; done?: { result: ResultEvent; exitCode: number | null } }>
  cancel(ref: string): Promise<void>
}

/**
 * Splits NDJSON that arrives in arbitrary chunks (a line may straddle two reads) and hands every
 * job event to `onEvent`. Lines that are not job events go to `onNoise`: a remote login banner or
 * a stray `console.log` must not break a job, but should not vanish either.
 */
export function ndjsonReader(onEvent: (e: JobEvent) => void, onNoise: (line: string) => void) {
  let rest = ''
  let last: ResultEvent | undefined
  const line = (raw: string) => {
    const text = raw.trim()
    if (!text) return
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      return onNoise(text)
    }
    if (!isJobEvent(value)) return onNoise(text)
    if (value.type === 'result') last = value
    onEvent(value)
  }
  return {
    push(chunk: string) {
      const lines = (rest + chunk).split('\n')
      rest = lines.pop() ?? ''
      for (const l of lines) line(l)
    },
    /** Flushes a last line that had no newline; returns the last result event seen. */
    end(): ResultEvent | undefined {
      line(rest)
      rest = ''
      return last
    },
  }
}

/**
 * A job's full log ($BERTH_HOME/jobs/<job>.log on the host that ran it), read from `from` one
 * chunk at a time through `readChunk` — a read-only `log` job whose answer fits SSM's 24,000
 * characters — until the end, or until `deadline` (epoch ms) has passed: `next` is then where
 * to go on from, null once the whole log is in `text`.
 */
export async function readLogVia(
  readChunk: (offset: number) => Promise<unknown>,
  from = 0,
  deadline = Infinity
): Promise<{ text: string; next: number | null }> {
  let text = ''
  let offset: number | null = from
  do {
    const chunk = (await readChunk(offset)) as { text?: unknown; next?: unknown } | undefined
    if (typeof chunk?.text !== 'string')
      throw new Error('the host answered a log read with no text')
    text += chunk.text
    // Always forward: a next that does not move on would loop for ever.
    offset = typeof chunk.next === 'number' && chunk.next > offset ? chunk.next : null
  } while (offset !== null && Date.now() < deadline)
  return { text, next: offset }
}

function isJobEvent(v: unknown): v is JobEvent {
  if (typeof v !== 'object' || v === null) return false
  const type = (v as { type?: unknown }).type
  return type === 'step' || type === 'log' || type === 'result'
}

/** The result a dispatcher reports when the job produced none (transport broke, job killed). */
export function syntheticResult(
  spec: DispatchSpec,
  startedAt: number,
  code: ResultCode,
  message: string
): ResultEvent {
  const now = Date.now()
  return {
    type: 'result',
    t: now,
    job: spec.id,
    kind: spec.kind,
    cluster: typeof spec.cluster === 'string' ? spec.cluster : '',
    ok: false,
    ms: now - startedAt,
    code,
    message,
  }
}
