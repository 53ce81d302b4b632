/**
 * The contract every Dispatcher must keep, run against each implementation (as hono runs one
 * router suite against every router). Needs the Docker engine and the berth/demo:1 image.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { $ } from 'zx'
import type { JobEvent } from '../../scripts/engine/events.ts'
import type { Dispatcher, DispatchSpec } from '../../functions/dispatch/dispatcher.ts'
import { hook, withTimeout } from '../helpers/async.ts'

const CLUSTER = 't-disp'
const sh = $({ quiet: true, nothrow: true })

async function leftovers(): Promise<string[]> {
  const r = await sh`docker ps -aq --filter ${`label=berth.cluster=${CLUSTER}`}`
  return r.stdout.split('\n').filter(Boolean)
}

async function removeLeftovers(): Promise<void> {
  const ids = await leftovers()
  if (ids.length) await sh`docker rm -f ${ids}`
  const nets = await sh`docker network ls -q --filter ${`label=berth.cluster=${CLUSTER}`}`
  const netIds = nets.stdout.split('\n').filter(Boolean)
  if (netIds.length) await sh`docker network rm ${netIds}`
}

const longInstall = (): DispatchSpec => ({
  id: `c-${randomBytes(3).toString('hex')}`,
  kind: 'install',
  cluster: CLUSTER,
  topology: {
    name: CLUSTER,
    image: 'berth/demo:1',
    domain: 'd.local',
    nodes: [{ name: 'slow', bootstrap: 'sleep 30' }],
  },
})

export function dispatcherContract(
  name: string,
  make: () => Promise<{ dispatcher: Dispatcher; cleanup(): Promise<void> }>
): void {
  const test = suite(`dispatcher contract: ${name}`)
  let made: { dispatcher: Dispatcher; cleanup(): Promise<void> } | undefined
  const dispatcher = () => {
    if (!made) throw new Error('the dispatcher was not made (see the before hook)')
    return made.dispatcher
  }
  const run = (spec: DispatchSpec, signal?: AbortSignal) => {
    const events: JobEvent[] = []
    const done = dispatcher().run(spec, { onEvent: (e) => events.push(e), signal })
    return { events, done: withTimeout(done, 60_000, `${name} run ${spec.kind}`) }
  }

  test.before(
    hook(async () => {
      const image = await sh`docker image inspect -f {{.Id}} berth/demo:1`
      if (image.exitCode !== 0) throw new Error('the berth/demo:1 image is missing')
      await removeLeftovers()
      made = await withTimeout(make(), 30_000, `make ${name}`)
    })
  )
  test.after(
    hook(async () => {
      await made?.cleanup()
      await removeLeftovers()
    })
  )

  test('passes every event in order and returns the last one, the result', async () => {
    const { events, done } = run({ id: 'd-order', kind: 'status', cluster: 'no-such-cluster' })
    const { result } = await done
    assert.ok(events.length >= 2, `expected a step and a result, got ${JSON.stringify(events)}`)
    assert.equal(events.at(-1), result, 'the returned result is the last event passed on')
    assert.is(events.filter((e) => e.type === 'result').length, 1)
    assert.ok(events.every((e) => e.job === 'd-order'))
    const ts = events.map((e) => e.t)
    assert.equal(
      ts,
      [...ts].sort((a, b) => a - b),
      'events arrive in the order they were emitted'
    )
  })

  test('reports a missing cluster as not_found with exit code 5', async () => {
    const spec = { id: 'd-nf', kind: 'status', cluster: 'no-such-cluster' }
    const { result, exitCode } = await run(spec).done
    assert.is(result.ok, false)
    assert.is(result.code, 'not_found')
    assert.is(exitCode, 5)
  })

  test('reports an invalid spec as invalid_job with exit code 2', async () => {
    const { result, exitCode } = await run({ id: 'd-bad', kind: 'explode' }).done
    assert.is(result.ok, false)
    assert.is(result.code, 'invalid_job')
    assert.is(exitCode, 2)
  })

  test('passes shell metacharacters as data: nothing runs, validation refuses it', async () => {
    const marker = `/tmp/pwned-${randomBytes(6).toString('hex')}`
    const evil = `x; touch ${marker}; echo '$(touch ${marker})' "\`touch ${marker}\`" >${marker}`
    const { result, exitCode } = await run({ id: 'd-meta', kind: 'status', cluster: evil }).done
    assert.is(existsSync(marker), false, `${marker} was created`)
    assert.is(result.code, 'invalid_job')
    assert.is(result.cluster, evil, 'the cluster string arrived intact')
    assert.is(exitCode, 2)
  })

  test('cancels a running install within seconds and leaves no container behind', async () => {
    const ac = new AbortController()
    let abortedAt = 0
    const events: JobEvent[] = []
    const done = dispatcher().run(longInstall(), {
      signal: ac.signal,
      onEvent: (e) => {
        events.push(e)
        // Cancel once the node exists and its 30-second bootstrap runs: cleanup has work to do.
        if (e.type === 'step' && e.step === 'bootstrap' && e.state === 'start') {
          abortedAt = Date.now()
          ac.abort()
        }
      },
    })
    const { result, exitCode } = await withTimeout(done, 60_000, `${name} cancel`)
    assert.ok(abortedAt > 0, `the bootstrap never started: ${JSON.stringify(result)}`)
    const took = Date.now() - abortedAt
    assert.ok(took < 10_000, `cancel took ${took} ms`)
    assert.ok(result.code === 'cancelled' || exitCode === 130, JSON.stringify({ result, exitCode }))
    assert.equal(await leftovers(), [], 'containers labelled berth.cluster=t-disp remain')
  })

  test.run()
}
