/**
 * Waiting, retrying and polling, one way for the whole codebase: the engine, `berth serve` and
 * the Worker (pure: timers and AbortSignal only, nothing Node-only).
 *
 * - `sleep(ms, signal?)` waits `ms`; resolves at once when `signal` aborts (or already has).
 * - `retry(fn, opts)` calls `fn` until it resolves; between failures it waits the next of
 *   `opts.delays`: a list (one attempt more than it has waits) or a `Backoff`. It stops at the
 *   first of: `retryIf` says no, `attempts` made, the list used up, a wait that would end past
 *   `deadline` — each throws fn's last error — or `signal` aborting, which throws
 *   `signal.reason` instead of beginning or finishing a wait.
 * - `waitFor(check, opts)` calls `check` until it returns something truthy and resolves with
 *   that; `undefined` once the next wait would end past `deadline`, or when `signal` aborts
 *   (`signal.aborted` tells which). An error `check` throws ends it, thrown as it is.
 *
 * `fn` and `check` always run at least once, and are never interrupted: an attempt under way
 * is theirs to end (pass them the signal). The first call is made at once; a wait only ever
 * follows a failure (or a falsy check).
 *
 * The timers are not unref'd: a wait that someone awaits is work in progress, and a CLI whose
 * only pending thing is that wait would otherwise exit mid-job (status 0, silently). A wait
 * that must not hold a process up is given a signal, aborted when it stops.
 */

/** Waits that grow: `initialMs`, then × `factor` (default 2) each time, at most `maxMs`. */
export interface Backoff {
  initialMs: number
  factor?: number
  maxMs?: number
}

export interface RetryOptions {
  /** Waits between attempts: a list (attempts = its length + 1, at most), or a backoff. */
  delays: readonly number[] | Backoff
  /** Attempts in all, at most (with a backoff and no deadline: unbounded if not given). */
  attempts?: number
  /** Date.now() time: no wait that would end after it is begun. */
  deadline?: number
  /** Ends the retrying: the wait under way, and any further attempt. */
  signal?: AbortSignal
  /** Whether this failure may be retried (default: every one); false throws it at once. */
  retryIf?: (err: unknown, attempt: number) => boolean
  /** Told before each wait: the failure, the attempt it ended (from 1), the wait to come. */
  onRetry?: (err: unknown, attempt: number, waitMs: number) => void
}

export interface WaitForOptions {
  /** Date.now() time: no wait that would end after it is begun. */
  deadline: number
  /** The wait between checks: fixed, or a backoff. */
  every: number | Backoff
  /** Ends the waiting (waitFor resolves undefined). */
  signal?: AbortSignal
}

/** Waits `ms`, or less: resolves as soon as `signal` aborts (at once if it has). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    // Past 2^31-1 ms a timer would fire at once (and warn): the longest wait a timer takes.
    const timer = setTimeout(done, Math.min(ms, 2 ** 31 - 1))
    signal?.addEventListener('abort', done, { once: true })
  })
}

/** The successive waits of a list (then none), a fixed wait or a backoff (forever). */
function* waits(delays: number | readonly number[] | Backoff): Generator<number> {
  if (typeof delays === 'number') for (;;) yield delays
  if (Array.isArray(delays)) return yield* delays
  const { initialMs, factor = 2, maxMs = Infinity } = delays as Backoff
  for (let ms = initialMs; ; ms *= factor) yield Math.min(ms, maxMs)
}

/** `fn` until it resolves (its value), within the limits of `opts` (see the header). */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  opts: RetryOptions
): Promise<T> {
  const { attempts = Infinity, deadline = Infinity, signal, retryIf = () => true } = opts
  const next = waits(opts.delays)
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (err) {
      if (!retryIf(err, attempt) || attempt >= attempts) throw err
      const wait = next.next()
      if (wait.done || Date.now() + wait.value > deadline) throw err
      if (signal?.aborted) throw signal.reason
      opts.onRetry?.(err, attempt, wait.value)
      await sleep(wait.value, signal)
      if (signal?.aborted) throw signal.reason
    }
  }
}

/** `check` until it returns something truthy (that), or undefined (see the header). */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  opts: WaitForOptions
): Promise<T | undefined> {
  const { deadline, signal } = opts
  for (const wait of waits(opts.every)) {
    const value = await check()
    if (value) return value
    if (signal?.aborted || Date.now() + wait > deadline) return undefined
    await sleep(wait, signal)
    if (signal?.aborted) return undefined
  }
  return undefined
}
