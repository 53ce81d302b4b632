/**
 * scripts/engine/retry.ts with real timers: the waits last about what they say, an abort ends a
 * sleep, a retry or a poll within a few milliseconds, and each gives up with what it should.
 */
import { getEventListeners } from 'node:events'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { retry, sleep, waitFor } from '../../scripts/engine/retry.ts'
import { rejects } from '../helpers/async.ts'

/**
 * Timers fire no sooner than asked (give or take a millisecond of rounding); how much later
 * depends on the machine's load, so the upper bounds are loose: the waits themselves are checked
 * through onRetry. An abort is answered in the same turn of the event loop: PROMPT_MS is ample.
 */
const SLACK_MS = 500
const PROMPT_MS = 20

const since = (t0: number) => performance.now() - t0
/** A controller aborted after `ms`; `at` is when (performance.now()). */
const abortAfter = (ms: number, reason?: unknown) => {
  const ac = new AbortController()
  const out = { signal: ac.signal, at: Infinity }
  setTimeout(() => ((out.at = performance.now()), ac.abort(reason)), ms)
  return out
}
/** fn failing `failures` times (Error "fail N"), then resolving 'ok'; counts its calls. */
const flaky = (failures: number) => {
  const calls: number[] = []
  const fn = async (attempt: number) => {
    calls.push(attempt)
    if (calls.length <= failures) throw new Error(`fail ${calls.length}`)
    return 'ok'
  }
  return { fn, calls }
}

const test = suite('retry')

test('sleep waits about ms', async () => {
  const t0 = performance.now()
  await sleep(50)
  const ms = since(t0)
  assert.ok(ms >= 49 && ms < 50 + SLACK_MS, `${ms} ms`)
})

test('sleep ends within a few ms of an abort, and at once on a signal already aborted', async () => {
  const ac = abortAfter(20)
  await sleep(5000, ac.signal)
  const ms = since(ac.at)
  assert.ok(ms < PROMPT_MS, `${ms} ms after the abort`)
  const t0 = performance.now()
  await sleep(5000, ac.signal)
  assert.ok(since(t0) < PROMPT_MS, `already aborted: ${since(t0)} ms`)
})

test('sleep leaves no listener on the signal', async () => {
  const ac = new AbortController()
  await sleep(1, ac.signal)
  await Promise.all([sleep(1, ac.signal), sleep(2, ac.signal)])
  assert.is(getEventListeners(ac.signal, 'abort').length, 0)
})

test('retry: a list of delays, waited in turn; the value once fn resolves', async () => {
  const { fn, calls } = flaky(2)
  const told: [string, number, number][] = []
  const t0 = performance.now()
  const value = await retry(fn, {
    delays: [30, 60, 90],
    onRetry: (err, attempt, ms) => told.push([(err as Error).message, attempt, ms]),
  })
  const ms = since(t0)
  assert.is(value, 'ok')
  assert.equal(calls, [1, 2, 3])
  assert.equal(told, [
    ['fail 1', 1, 30],
    ['fail 2', 2, 60],
  ])
  assert.ok(ms >= 89 && ms < 90 + SLACK_MS, `${ms} ms`)
})

test('retry: the first attempt is made at once, with no wait', async () => {
  const t0 = performance.now()
  assert.is(await retry(async () => 1, { delays: [1000] }), 1)
  assert.ok(since(t0) < PROMPT_MS)
})

test('retry: the last error is thrown once the list is used up (its length + 1 attempts)', async () => {
  const { fn, calls } = flaky(10)
  const err = (await rejects(retry(fn, { delays: [5, 5, 5] }))) as Error
  assert.is(err.message, 'fail 4')
  assert.equal(calls, [1, 2, 3, 4])
})

test('retry: a backoff grows by its factor up to maxMs; attempts caps it; then the last error', async () => {
  const { fn, calls } = flaky(10)
  const waits: number[] = []
  const t0 = performance.now()
  const err = (await rejects(
    retry(fn, {
      delays: { initialMs: 10, factor: 2, maxMs: 40 },
      attempts: 5,
      onRetry: (_, __, ms) => waits.push(ms),
    })
  )) as Error
  const ms = since(t0)
  assert.is(err.message, 'fail 5')
  assert.equal(calls, [1, 2, 3, 4, 5])
  assert.equal(waits, [10, 20, 40, 40])
  assert.ok(ms >= 109 && ms < 110 + SLACK_MS, `${ms} ms`)
})

test('retry: retryIf false throws that error at once, without a wait or another attempt', async () => {
  const { fn, calls } = flaky(10)
  const seen: [string, number][] = []
  const t0 = performance.now()
  const err = (await rejects(
    retry(fn, {
      delays: [50, 1000],
      retryIf: (e, attempt) => (seen.push([(e as Error).message, attempt]), attempt < 2),
    })
  )) as Error
  const ms = since(t0)
  assert.ok(ms >= 49 && ms < 50 + SLACK_MS, `one wait, after the first failure: ${ms} ms`)
  assert.is(err.message, 'fail 2')
  assert.equal(calls, [1, 2])
  assert.equal(seen, [
    ['fail 1', 1],
    ['fail 2', 2],
  ])
  const never = flaky(10)
  const t1 = performance.now()
  const first = (await rejects(retry(never.fn, { delays: [1000], retryIf: () => false }))) as Error
  assert.is(first.message, 'fail 1')
  assert.equal(never.calls, [1])
  assert.ok(since(t1) < PROMPT_MS)
})

test('retry: an abort during a wait rejects within a few ms with signal.reason; no attempt after it', async () => {
  const { fn, calls } = flaky(10)
  const reason = new Error('stop')
  const ac = abortAfter(30, reason)
  const err = await rejects(retry(fn, { delays: { initialMs: 5000 }, signal: ac.signal }))
  const ms = since(ac.at)
  assert.is(err, reason)
  assert.equal(calls, [1])
  assert.ok(ms < PROMPT_MS, `${ms} ms after the abort`)
  // No reason given: the AbortError DOMException the signal holds.
  const ac2 = abortAfter(10)
  const err2 = (await rejects(
    retry(flaky(10).fn, { delays: [5000], signal: ac2.signal })
  )) as DOMException
  assert.is(err2, ac2.signal.reason)
  assert.is(err2.name, 'AbortError')
})

test('retry: with the signal already aborted, fn still has its first attempt; a failure is not retried', async () => {
  const ac = new AbortController()
  ac.abort()
  assert.is(await retry(async () => 'done', { delays: [5000], signal: ac.signal }), 'done')
  const { fn, calls } = flaky(10)
  const told: number[] = []
  const t0 = performance.now()
  assert.is(
    await rejects(
      retry(fn, { delays: [5000], signal: ac.signal, onRetry: (_, a) => told.push(a) })
    ),
    ac.signal.reason
  )
  assert.equal(calls, [1])
  assert.equal(told, [], 'onRetry is told of no wait that does not come')
  assert.ok(since(t0) < PROMPT_MS)
  // A failure retryIf refuses is thrown as it is, abort or not.
  const refused = (await rejects(
    retry(flaky(10).fn, { delays: [5000], signal: ac.signal, retryIf: () => false })
  )) as Error
  assert.is(refused.message, 'fail 1')
})

test('retry: no wait that would end past the deadline is begun; the last error then', async () => {
  // Checked against the clock as it went (a loaded machine makes timers late, and so fewer attempts).
  const at: number[] = []
  const deadline = Date.now() + 250
  const fn = async () => {
    at.push(Date.now())
    throw new Error(`fail ${at.length}`)
  }
  const err = (await rejects(
    retry(fn, { delays: { initialMs: 100, factor: 1 }, deadline, attempts: 10 })
  )) as Error
  const end = Date.now()
  // Without load: attempts at 0, 100, 200; a third wait would end at 300, past 250.
  assert.ok(at.length >= 2, `${at.length} attempts`)
  assert.is(err.message, `fail ${at.length}`)
  for (const t of at.slice(0, -1))
    assert.ok(t + 100 <= deadline, 'each wait begun ends by the deadline')
  assert.ok(at[at.length - 1] + 100 > deadline, 'and the one after the last attempt would not')
  assert.ok(end <= Math.max(deadline, at[at.length - 1] + 5), 'none was begun past it')
})

test('waitFor: the first truthy value of check', async () => {
  let n = 0
  const t0 = performance.now()
  const value = await waitFor(() => (++n >= 3 ? { n } : null), {
    deadline: Date.now() + 5000,
    every: 20,
  })
  assert.equal(value, { n: 3 })
  const ms = since(t0)
  assert.ok(ms >= 39 && ms < 40 + SLACK_MS, `${ms} ms`)
})

test('waitFor: undefined when the next wait would end past the deadline, never waiting past it', async () => {
  const at: number[] = []
  const deadline = Date.now() + 200
  const value = await waitFor(async () => (at.push(Date.now()), false), {
    deadline,
    every: { initialMs: 20, factor: 2 },
  })
  const end = Date.now()
  // Without load: checks at 0, 20, 60, 140; a wait of 160 more would end at 300, past 200.
  assert.is(value, undefined)
  assert.ok(at.length >= 2, `${at.length} checks`)
  at.slice(0, -1).forEach((t, i) =>
    assert.ok(t + 20 * 2 ** i <= deadline, 'each wait begun ends by the deadline')
  )
  assert.ok(
    at[at.length - 1] + 20 * 2 ** (at.length - 1) > deadline,
    'and the one after the last check would not'
  )
  assert.ok(end <= Math.max(deadline, at[at.length - 1] + 5), 'none was begun past it')
})

test('waitFor: an abort ends it within a few ms, undefined; an error of check is thrown', async () => {
  const ac = abortAfter(30)
  let n = 0
  const value = await waitFor(() => (n++, 0), {
    deadline: Date.now() + 60_000,
    every: 5000,
    signal: ac.signal,
  })
  const ms = since(ac.at)
  assert.is(value, undefined)
  assert.is(n, 1)
  assert.ok(ms < PROMPT_MS, `${ms} ms after the abort`)
  const boom = new Error('boom')
  assert.is(
    await rejects(
      waitFor(
        () => {
          throw boom
        },
        { deadline: Date.now() + 1000, every: 10 }
      )
    ),
    boom
  )
})

test.run()
