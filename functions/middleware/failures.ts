/**
 * A cap on failed authentication (a bad bearer token, a bad webhook signature), per client address
 * and per presented credential: past `max` failures in a window, that key gets 429 with
 * Retry-After until the window ends, and the first refusal of a window is logged and audited once.
 * In memory, per process (per isolate on Workers: each has its own count).
 */
import { JobError } from '../errors.ts'

export interface FailureLimits {
  /** Failures allowed per key in one window. */
  max: number
  windowMs: number
}

export const DEFAULT_FAILURE_LIMITS: FailureLimits = { max: 30, windowMs: 60_000 }

interface Window {
  start: number
  count: number
  /** The refusal of this window has been told. */
  told: boolean
}

export class FailureLimiter {
  readonly #windows = new Map<string, Window>()

  constructor(
    private readonly limits: FailureLimits,
    /** Told once per key and window, when it starts to be refused. */
    private readonly onLimit: (key: string, failures: number, until: Date) => void = () => {},
    private readonly now: () => number = Date.now
  ) {}

  #window(key: string): Window | undefined {
    const w = this.#windows.get(key)
    if (w && this.now() - w.start >= this.limits.windowMs) {
      this.#windows.delete(key)
      return undefined
    }
    return w
  }

  /** Throws 429 (with Retry-After) when any of the keys is over its limit. */
  check(keys: string[]): void {
    for (const key of keys) {
      const w = this.#window(key)
      if (!w || w.count < this.limits.max) continue
      const until = w.start + this.limits.windowMs
      if (!w.told) {
        w.told = true
        this.onLimit(key, w.count, new Date(until))
      }
      const seconds = Math.max(1, Math.ceil((until - this.now()) / 1000))
      throw new JobError(
        'too_many_failures',
        `too many failed authentications from ${key}; try again in ${seconds} s`,
        undefined,
        {
          'retry-after': String(seconds),
        }
      )
    }
  }

  /** Counts one failure against each key. */
  fail(keys: string[]): void {
    if (this.#windows.size > 10_000) this.#sweep()
    for (const key of keys) {
      const w = this.#window(key)
      if (w) w.count++
      else this.#windows.set(key, { start: this.now(), count: 1, told: false })
    }
  }

  #sweep(): void {
    for (const key of [...this.#windows.keys()]) this.#window(key)
  }
}
