import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mapLimit } from '../../scripts/engine/pool.ts'
import { rejects } from '../helpers/async.ts'

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms))

test('never runs more than the limit at once and keeps result order', async () => {
  let running = 0
  let peak = 0
  const out = await mapLimit([5, 1, 4, 2, 3, 0], 2, async (x) => {
    running++
    peak = Math.max(peak, running)
    await tick(x * 3)
    running--
    return x * 10
  })
  assert.is(peak, 2)
  assert.equal(out, [50, 10, 40, 20, 30, 0])
})

test('settles the calls in flight, starts no new ones, then throws the first failure', async () => {
  const started: number[] = []
  let settled = 0
  const err = await rejects(
    mapLimit([0, 1, 2, 3, 4], 2, async (x) => {
      started.push(x)
      await tick(x === 0 ? 1 : 15)
      settled++
      if (x === 0) throw new Error('boom')
    })
  )
  assert.is((err as Error).message, 'boom')
  assert.equal(started, [0, 1], 'no call started after the failure')
  assert.is(settled, 2, 'the call in flight finished before the throw')
})

test.run()
