/**
 * EdgeQueue on real D1 (workerd through wrangler's platform proxy). The host side is a scripted
 * RemoteDispatcher: the test says what each command has printed so far and whether it ended, as
 * SSM's GetCommandInvocation would (the SSM dispatcher has its own contract test).
 */
import { rmSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { JobEvent, ResultEvent } from '../../scripts/engine/events.ts'
import type { DispatchSpec, RemoteDispatcher } from '../../functions/dispatch/dispatcher.ts'
import { EdgeQueue } from '../../functions/edge-queue.ts'
import { JobError } from '../../functions/errors.ts'
import { D1Store, type D1Database } from '../../functions/store/d1.ts'
import type { JobRecord } from '../../functions/store/store.ts'
import { hook, rejects, until, withTimeout } from '../helpers/async.ts'
import { localD1, migratedPersistDir } from './wrangler.ts'

class ScriptedDispatcher implements RemoteDispatcher {
  readonly name = 'scripted'
  readonly started: DispatchSpec[] = []
  readonly cancelled: string[] = []
  readonly commands = new Map<
    string,
    {
      spec: DispatchSpec
      events: JobEvent[]
      done?: { result: ResultEvent; exitCode: number | null }
    }
  >()
  failStart: Error | null = null

  async start(spec: DispatchSpec) {
    if (this.failStart) throw this.failStart
    const ref = `cmd-${this.started.length + 1}`
    this.started.push(spec)
    this.commands.set(ref, { spec, events: [] })
    return { ref }
  }
  async poll(ref: string) {
    const c = this.commands.get(ref)
    if (!c) throw new Error(`no command ${ref}`)
    return { events: [...c.events], ...(c.done ? { done: c.done } : {}) }
  }
  async cancel(ref: string) {
    this.cancelled.push(ref)
  }
  /** The command of a job prints a step. */
  step(ref: string, step: string) {
    const c = this.commands.get(ref)!
    c.events.push({
      type: 'step',
      t: Date.now(),
      job: c.spec.id,
      step,
      state: 'done',
    } as unknown as JobEvent)
  }
  /** The command ends with this result line and exit code. */
  end(ref: string, ok: boolean, code?: string, exitCode = ok ? 0 : 1) {
    const c = this.commands.get(ref)!
    const result = {
      type: 'result',
      t: Date.now(),
      job: c.spec.id,
      kind: c.spec.kind,
      cluster: c.spec.cluster,
      ok,
      ms: 5,
      ...(code ? { code, message: code } : {}),
    } as ResultEvent
    c.events.push(result)
    c.done = { result, exitCode }
  }
}

const ctx: { dir?: string; db?: D1Database; dispose?: () => Promise<void> } = {}

test.before(
  hook(async () => {
    ctx.dir = await withTimeout(migratedPersistDir(), 60_000, 'wrangler d1 migrations apply')
    Object.assign(ctx, await withTimeout(localD1(ctx.dir), 30_000, 'the local D1 proxy'))
  })
)
test.before.each(
  hook(async () => {
    for (const t of ['job_events', 'notifications', 'jobs', 'audit'])
      await ctx.db!.prepare(`DELETE FROM ${t}`).run()
  })
)
test.after(
  hook(async () => {
    await ctx.dispose?.()
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true })
  })
)

function setup(
  o: { maxClusters?: number; dispatcher?: () => RemoteDispatcher; passWaitMs?: number } = {}
) {
  const store = new D1Store(ctx.db!)
  const d = new ScriptedDispatcher()
  const changes: [string, string, string][] = []
  const queue = new EdgeQueue({
    store,
    dispatcher: o.dispatcher ?? (() => d),
    maxClusters: o.maxClusters ?? 4,
    onChange: (job, stage) => changes.push([job.id, stage, job.state]),
    inspectEveryMs: 20,
    inspectTimeoutMs: 300,
    passWaitMs: o.passWaitMs,
  })
  const submit = async (cluster: string, kind = 'snapshot') => {
    const job = await queue.submit({
      kind,
      cluster,
      spec: { kind, cluster, options: { tag: 't1' } },
      requestedBy: 'test',
      source: null,
      idempotencyKey: null,
      bodyHash: null,
    })
    await queue.idle()
    return job
  }
  return { store, d, queue, changes, submit }
}

const state = async (store: D1Store, id: string): Promise<JobRecord> => (await store.getJob(id))!

test('a submitted job is recorded, sent to the host and its dispatchRef stored', async () => {
  const { store, d, queue, changes } = setup()
  const notify = [
    {
      channel: 'slack' as const,
      target: { responseUrl: 'https://hooks.slack.com/x', issuedAt: new Date().toISOString() },
    },
  ]
  const job = await queue.submit(
    {
      kind: 'snapshot',
      cluster: 'codenvy',
      spec: { kind: 'snapshot', cluster: 'codenvy' },
      requestedBy: 'test',
      source: null,
      idempotencyKey: null,
      bodyHash: null,
    },
    notify
  )
  assert.is(job.state, 'queued', 'the response shows the job as recorded')
  assert.equal(
    (await store.notificationsFor(job.id)).map((n) => n.channel),
    ['slack']
  )
  await queue.idle()
  const running = await state(store, job.id)
  assert.equal([running.state, running.attempts, running.dispatchRef], ['running', 1, 'cmd-1'])
  assert.ok(running.startedAt)
  assert.equal(
    d.started[0],
    { kind: 'snapshot', cluster: 'codenvy', id: job.id },
    'the spec goes out with the job id'
  )
  assert.equal(changes, [[job.id, 'started', 'running']])
  assert.ok(await queue.isBusy('codenvy'))
  assert.not.ok(await queue.isBusy('che'))
})

test('one job per cluster, up to maxClusters clusters: the rest wait, queued', async () => {
  const { store, d, submit } = setup({ maxClusters: 2 })
  const a1 = await submit('a')
  const a2 = await submit('a')
  const b1 = await submit('b')
  const c1 = await submit('c')
  assert.equal(
    await Promise.all([a1, a2, b1, c1].map(async (j) => (await state(store, j.id)).state)),
    ['running', 'queued', 'running', 'queued']
  )
  assert.is(d.started.length, 2)
})

test('poll stores only the events it has not stored, finishes the job and starts the next', async () => {
  const { store, d, queue, changes, submit } = setup()
  const first = await submit('codenvy')
  const second = await submit('codenvy')
  d.step('cmd-1', 'pause')
  await queue.poll()
  d.step('cmd-1', 'commit')
  await queue.poll()
  await queue.poll()
  assert.equal(
    (await store.listEvents(first.id)).map((e) => [e.seq, (e.event as { step: string }).step]),
    [
      [1, 'pause'],
      [2, 'commit'],
    ]
  )
  assert.is((await state(store, second.id)).state, 'queued')

  d.end('cmd-1', true)
  await queue.poll()
  const done = await state(store, first.id)
  assert.equal([done.state, done.exitCode, (done.result as ResultEvent).ok], ['succeeded', 0, true])
  assert.ok(done.finishedAt)
  assert.is((await store.listEvents(first.id)).length, 3, 'the result line is an event too')
  const next = await state(store, second.id)
  assert.equal([next.state, next.dispatchRef], ['running', 'cmd-2'])
  assert.equal(
    changes.map(([id, stage]) => [id === first.id ? 'first' : 'second', stage]),
    [
      ['first', 'started'],
      ['first', 'finished'],
      ['second', 'started'],
    ]
  )
  await queue.poll()
  assert.is(changes.length, 3, 'a finished job is reported once')
})

test('a failed command fails the job; one that says cancelled is cancelled', async () => {
  const { store, d, queue, submit } = setup()
  const a = await submit('a')
  const b = await submit('b')
  d.end('cmd-1', false, 'bootstrap_failed', 3)
  d.end('cmd-2', false, 'cancelled', 143)
  await queue.poll()
  const [fa, cb] = [await state(store, a.id), await state(store, b.id)]
  assert.equal(
    [fa.state, fa.exitCode, (fa.result as ResultEvent).code],
    ['failed', 3, 'bootstrap_failed']
  )
  assert.equal([cb.state, cb.exitCode], ['cancelled', 143])
})

test('a start the dispatcher refuses fails the job with its code and frees the cluster', async () => {
  const { store, d, queue, changes, submit } = setup()
  d.failStart = new JobError('dispatch_not_configured', 'dispatch not configured')
  const job = await submit('codenvy')
  const failed = await state(store, job.id)
  assert.equal([failed.state, failed.attempts, failed.dispatchRef], ['failed', 1, null])
  assert.equal(failed.result, {
    type: 'result',
    ok: false,
    code: 'dispatch_not_configured',
    message: 'not sent to the host: dispatch not configured',
  })
  assert.equal(changes, [[job.id, 'finished', 'failed']], 'never reported as started')
  d.failStart = new Error('socket hang up')
  const second = await submit('codenvy')
  assert.is(((await state(store, second.id)).result as ResultEvent).code, 'dispatch_failed')
  assert.not.ok(await queue.isBusy('codenvy'))
})

test('a poll that throws leaves the job running for the next tick', async () => {
  const { store, d, queue, submit } = setup()
  const job = await submit('codenvy')
  d.commands.delete('cmd-1')
  await queue.poll()
  assert.is((await state(store, job.id)).state, 'running')
})

test('a pass that never ends (its request gone) holds up the next one only for passWaitMs', async () => {
  const { store, d, queue, submit } = setup({ passWaitMs: 200 })
  const first = await submit('codenvy')
  d.poll = () => new Promise(() => {}) // I/O of an ended request: never settles
  void queue.poll()
  const other = await store.createJob({
    id: 'j-other',
    kind: 'install',
    cluster: 'che',
    spec: { kind: 'install', cluster: 'che' },
    requestedBy: 't',
    source: null,
    idempotencyKey: null,
    bodyHash: null,
  })
  const t0 = Date.now()
  await withTimeout(queue.startQueued(), 5000, 'a start behind a hung pass')
  assert.ok(Date.now() - t0 >= 150, 'it did wait for the pass before it')
  assert.equal(
    [(await state(store, other.id)).state, (await state(store, first.id)).state],
    ['running', 'running']
  )
  assert.is(d.started.length, 2)
})

test('cancel: a queued job at once, a running one through the dispatcher', async () => {
  const { store, d, queue, changes, submit } = setup()
  const running = await submit('codenvy')
  const queued = await submit('codenvy')
  assert.is(await queue.cancel(queued.id), 'cancelled')
  const c = await state(store, queued.id)
  assert.equal([c.state, (c.result as ResultEvent).code], ['cancelled', 'cancelled'])
  assert.ok(changes.some(([id, stage]) => id === queued.id && stage === 'finished'))
  assert.is(await queue.cancel(running.id), 'stopping')
  assert.equal(d.cancelled, ['cmd-1'])
  assert.is((await state(store, running.id)).state, 'running', 'until the host says it stopped')
  assert.is(await queue.cancel(queued.id), 'finished')
  assert.is(await queue.cancel('j-none'), 'finished')
})

test('a job cancelled while it is being sent is cancelled, and the command it sent is stopped', async () => {
  const { store, d, queue, changes } = setup()
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const start = d.start.bind(d)
  d.start = async (spec) => (await gate, start(spec))
  const job = await queue.submit({
    kind: 'install',
    cluster: 'codenvy',
    spec: { kind: 'install', cluster: 'codenvy' },
    requestedBy: 't',
    source: null,
    idempotencyKey: null,
    bodyHash: null,
  })
  await until(
    'the job running',
    async () => ((await state(store, job.id)).state === 'running' ? true : undefined),
    5000,
    10
  )
  assert.is(await queue.cancel(job.id), 'cancelled')
  release()
  await queue.idle()
  assert.equal(d.cancelled, ['cmd-1'])
  const done = await state(store, job.id)
  assert.equal([done.state, done.dispatchRef], ['cancelled', null])
  assert.equal(changes, [[job.id, 'finished', 'cancelled']], 'never reported as started')
})

test('two isolates starting at once send a job once', async () => {
  const one = setup()
  const two = setup()
  const job = await one.store.createJob({
    id: 'j-race',
    kind: 'install',
    cluster: 'codenvy',
    spec: { kind: 'install', cluster: 'codenvy' },
    requestedBy: 't',
    source: null,
    idempotencyKey: null,
    bodyHash: null,
  })
  await Promise.all([one.queue.startQueued(), two.queue.startQueued()])
  assert.is(one.d.started.length + two.d.started.length, 1)
  assert.is((await state(one.store, job.id)).attempts, 1)
})

test('a running job whose start never stored a ref is failed after the start timeout', async () => {
  const { store, queue } = setup()
  const old = new Date(Date.now() - 10 * 60_000).toISOString()
  await store.createJob({
    id: 'j-lost',
    kind: 'install',
    cluster: 'codenvy',
    spec: {},
    requestedBy: 't',
    source: null,
    idempotencyKey: null,
    bodyHash: null,
    state: 'running',
  })
  await store.transitionJob('j-lost', ['running'], 'running', { startedAt: old })
  await store.createJob({
    id: 'j-fresh',
    kind: 'install',
    cluster: 'che',
    spec: {},
    requestedBy: 't',
    source: null,
    idempotencyKey: null,
    bodyHash: null,
    state: 'running',
  })
  await store.transitionJob('j-fresh', ['running'], 'running', {
    startedAt: new Date().toISOString(),
  })
  await queue.poll()
  assert.equal(
    [
      (await state(store, 'j-lost')).state,
      ((await state(store, 'j-lost')).result as ResultEvent).code,
    ],
    ['failed', 'dispatch_lost']
  )
  assert.is(
    (await state(store, 'j-fresh')).state,
    'running',
    'a start under way elsewhere is left alone'
  )
})

test('inspect answers from the host, and gives up (cancelling) when it takes too long', async () => {
  const d = new ScriptedDispatcher()
  const { queue } = setup({ dispatcher: () => d })
  const answer = queue.inspect({ kind: 'status', cluster: 'codenvy' })
  setTimeout(() => d.end('cmd-1', true), 50)
  const result = await answer
  assert.equal([result.ok, result.kind, d.started[0].kind], [true, 'status', 'status'])
  assert.is(
    (await ctx.db!.prepare('SELECT COUNT(*) AS n FROM jobs').first<{ n: number }>())!.n,
    0,
    'an inspection is not a job'
  )
  const err = await rejects(queue.inspect({ kind: 'status', cluster: 'codenvy' }))
  assert.instance(err, JobError)
  assert.is((err as JobError).status, 504)
  assert.equal(d.cancelled, ['cmd-2'])
})

test.run()
