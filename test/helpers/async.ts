/** uvu has no per-test timeout and a synchronous `assert.throws`: these two fill the gaps. */
export async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what = 'operation'
): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves with the rejection of `promise`; fails when it resolves. */
export async function rejects(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection, got a value')
}

/**
 * uvu's runner returns from a `finally`, which swallows an error thrown by a before/after hook:
 * the suite just shows (0 / N). Wrapping hooks with this prints the error first.
 */
export function hook<T>(fn: (state: T) => Promise<void> | void): (state: T) => Promise<void> {
  return async (state) => {
    try {
      await fn(state)
    } catch (err) {
      console.error('hook failed:', err)
      throw err
    }
  }
}

/** Polls `fn` until it returns something other than undefined; fails after `ms`. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  ms = 60_000,
  everyMs = 100
): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
