import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { openSqliteStore, type SqliteStore } from '../../functions/store/sqlite.ts'
import { StoreConflictError, type NewJob } from '../../functions/store/store.ts'
import { rejects } from '../helpers/async.ts'

const dirs: string[] = []

/** A fresh store on a real file; each test gets its own directory. */
async function fresh(): Promise<{ store: SqliteStore; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-store-'))
  dirs.push(dir)
  const file = join(dir, 'nested', 'berth.db')
  return { store: await openSqliteStore(file), file }
}

let n = 0
function job(over: Partial<NewJob> = {}): NewJob {
  n += 1
  return {
    id: `job-${n}`,
    kind: 'install',
    cluster: 'codenvy',
    spec: { kind: 'install', cluster: 'codenvy', options: { n } },
    requestedBy: 'admin',
    source: '127.0.0.1',
    idempotencyKey: null,
    bodyHash: null,
    ...over,
  }
}

test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

test('migrations apply once and are listed in the migrations table', async () => {
  const { store, file } = await fresh()
  const first = store.db.prepare('SELECT name, applied_at FROM migrations').all() as {
    name: string
    applied_at: string
  }[]
  assert.equal(
    first.map((r) => r.name),
    ['0001_init.sql', '0002_notifications.sql', '0003_dispatch_ref.sql']
  )
  assert.is(store.db.pragma('journal_mode', { simple: true }), 'wal')
  assert.is(store.db.pragma('foreign_keys', { simple: true }), 1)
  await store.close()

  const again = await openSqliteStore(file)
  const second = again.db.prepare('SELECT name, applied_at FROM migrations').all()
  assert.equal(second, first, 'reopening applied nothing again')
  await again.close()
})

test('createJob stores the record and getJob reads it back with JSON intact', async () => {
  const { store } = await fresh()
  const created = await store.createJob(job({ id: 'a', idempotencyKey: 'k', bodyHash: 'h' }))
  assert.is(created.state, 'queued')
  assert.is(created.attempts, 0)
  assert.ok(created.createdAt)
  const got = await store.getJob('a')
  assert.equal(got, created)
  assert.equal((got!.spec as { options: { n: number } }).options.n, n)
  assert.is(await store.getJob('missing'), null)
  assert.equal(await store.findJobByIdempotencyKey('k'), created)
  assert.is(await store.findJobByIdempotencyKey('other'), null)
  await store.close()
})

test('listJobs filters by cluster and state, newest first, and pages with before', async () => {
  const { store } = await fresh()
  const t = (i: number) => new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString()
  for (let i = 0; i < 5; i++) await store.createJob(job({ id: `c${i}`, createdAt: t(i) }))
  await store.createJob(job({ id: 'other', cluster: 'che', createdAt: t(10) }))
  await store.createJob(job({ id: 'done', state: 'succeeded', createdAt: t(11) }))

  const all = await store.listJobs({})
  assert.equal(
    all.map((j) => j.id),
    ['done', 'other', 'c4', 'c3', 'c2', 'c1', 'c0']
  )
  const codenvy = await store.listJobs({ cluster: 'codenvy', state: 'queued' })
  assert.equal(
    codenvy.map((j) => j.id),
    ['c4', 'c3', 'c2', 'c1', 'c0']
  )
  assert.equal(
    (await store.listJobs({ cluster: 'che' })).map((j) => j.id),
    ['other']
  )
  assert.equal(
    (await store.listJobs({ state: 'succeeded' })).map((j) => j.id),
    ['done']
  )

  const page1 = await store.listJobs({ cluster: 'codenvy', state: 'queued', limit: 2 })
  const page2 = await store.listJobs({
    cluster: 'codenvy',
    state: 'queued',
    limit: 2,
    before: page1[1].createdAt,
  })
  const page3 = await store.listJobs({
    cluster: 'codenvy',
    state: 'queued',
    limit: 2,
    before: page2[1].createdAt,
  })
  assert.equal(
    [page1, page2, page3].map((p) => p.map((j) => j.id)),
    [['c4', 'c3'], ['c2', 'c1'], ['c0']]
  )
  await store.close()
})

test('jobsInState returns the queue oldest first', async () => {
  const { store } = await fresh()
  const t = (i: number) => new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString()
  await store.createJob(job({ id: 'late', createdAt: t(3) }))
  await store.createJob(job({ id: 'early', createdAt: t(1) }))
  await store.createJob(job({ id: 'run', createdAt: t(2), state: 'running' }))
  assert.equal(
    (await store.jobsInState(['queued'])).map((j) => j.id),
    ['early', 'late']
  )
  assert.equal(
    (await store.jobsInState(['queued', 'running'])).map((j) => j.id),
    ['early', 'run', 'late']
  )
  assert.equal(await store.jobsInState([]), [])
  await store.close()
})

test('transitionJob is a compare-and-set: of two concurrent starts only one wins', async () => {
  const { store, file } = await fresh()
  await store.createJob(job({ id: 'x' }))
  // A second connection to the same file, as a second process would have.
  const other = await openSqliteStore(file)
  const startedAt = new Date().toISOString()
  const wins = await Promise.all([
    store.transitionJob('x', ['queued'], 'running', { startedAt, attempts: 1 }),
    other.transitionJob('x', ['queued'], 'running', { startedAt, attempts: 1 }),
  ])
  assert.equal(wins.filter(Boolean).length, 1)
  const running = await other.getJob('x')
  assert.is(running!.state, 'running')
  assert.is(running!.startedAt, startedAt)
  assert.is(running!.attempts, 1)

  assert.is(await store.transitionJob('x', ['queued'], 'cancelled'), false, 'not queued any more')
  assert.is((await store.getJob('x'))!.state, 'running', 'a failed transition changes nothing')
  assert.is(await store.transitionJob('missing', ['queued'], 'running'), false)

  const finishedAt = new Date().toISOString()
  const result = { type: 'result', ok: false, code: 'bootstrap_failed' }
  assert.ok(
    await store.transitionJob('x', ['running'], 'failed', { finishedAt, result, exitCode: 2 })
  )
  const done = await store.getJob('x')
  assert.equal(
    [done!.state, done!.finishedAt, done!.result, done!.exitCode, done!.startedAt],
    ['failed', finishedAt, result, 2, startedAt]
  )
  await other.close()
  await store.close()
})

test('a second createJob with the same idempotency key rejects with a conflict', async () => {
  const { store } = await fresh()
  await store.createJob(job({ id: 'first', idempotencyKey: 'delivery-1' }))
  const err = await rejects(store.createJob(job({ id: 'second', idempotencyKey: 'delivery-1' })))
  assert.instance(err, StoreConflictError)
  assert.is(await store.getJob('second'), null)
  // Jobs without a key are not constrained by each other.
  await store.createJob(job({ id: 'n1' }))
  await store.createJob(job({ id: 'n2' }))
  assert.instance(await rejects(store.createJob(job({ id: 'n1' }))), StoreConflictError)
  await store.close()
})

test('claimJob starts a queued job only while no job of its cluster runs, even when two claim at once', async () => {
  const { store } = await fresh()
  const a = await store.createJob(job({ cluster: 'c1' }))
  const b = await store.createJob(job({ cluster: 'c1' }))
  const other = await store.createJob(job({ cluster: 'c2' }))
  const [x, y] = await Promise.all([store.claimJob(a.id, { attempts: 1 }), store.claimJob(b.id, { attempts: 1 })])
  assert.equal([x, y], [true, false], 'one job of c1 runs, the other waits')
  assert.is((await store.getJob(a.id))!.attempts, 1)
  assert.is((await store.getJob(b.id))!.state, 'queued')
  assert.ok(await store.claimJob(other.id, {}), 'another cluster is not held back')
  assert.not.ok(await store.claimJob(a.id, {}), 'a running job is not claimed again')
  await store.transitionJob(a.id, ['running'], 'succeeded')
  assert.ok(await store.claimJob(b.id, {}), 'once c1 is free its next job starts')
  await store.close()
})

test('putEvent stores an event at its seq once: a second poller with the same events adds nothing', async () => {
  const { store } = await fresh()
  const j = await store.createJob(job())
  assert.ok(await store.putEvent(j.id, 1, { type: 'log', msg: 'first' }))
  assert.not.ok(await store.putEvent(j.id, 1, { type: 'log', msg: 'again' }))
  assert.ok(await store.putEvent(j.id, 2, { type: 'log', msg: 'second' }))
  assert.equal((await store.listEvents(j.id)).map((e) => [e.seq, (e.event as { msg: string }).msg]), [[1, 'first'], [2, 'second']])
  await store.close()
})

test('appendEvent numbers events 1, 2, 3… per job and listEvents replays the tail', async () => {
  const { store } = await fresh()
  await store.createJob(job({ id: 'a' }))
  await store.createJob(job({ id: 'b' }))
  const appended = await Promise.all(
    Array.from({ length: 5 }, (_, i) => store.appendEvent('a', { step: 'node', i }))
  )
  assert.equal(
    appended.map((e) => e.seq),
    [1, 2, 3, 4, 5]
  )
  const b1 = await store.appendEvent('b', { type: 'result', ok: true })
  assert.is(b1.seq, 1, 'seq counts per job')
  assert.equal(b1.event, { type: 'result', ok: true })

  const tail = await store.listEvents('a', 3)
  assert.equal(
    tail.map((e) => [e.seq, (e.event as { i: number }).i]),
    [
      [4, 3],
      [5, 4],
    ]
  )
  assert.is((await store.listEvents('a')).length, 5)
  assert.equal(await store.listEvents('a', 5), [])
  assert.ok(await rejects(store.appendEvent('missing', {})), 'events need a job')
  await store.close()
})

test('tokens are found by hash, revoked by id or name, and names are unique', async () => {
  const { store } = await fresh()
  assert.is(await store.countTokens(), 0)
  const admin = await store.createToken({ id: 't1', name: 'admin', hash: 'h1', scopes: ['admin'] })
  await store.createToken({ id: 't2', name: 'ci', hash: 'h2', scopes: ['read', 'install'] })
  assert.equal(await store.findTokenByHash('h1'), admin)
  assert.equal((await store.findTokenByHash('h2'))!.scopes, ['read', 'install'])
  assert.is(await store.findTokenByHash('nope'), null)

  assert.instance(
    await rejects(store.createToken({ id: 't3', name: 'ci', hash: 'h3', scopes: [] })),
    StoreConflictError
  )
  assert.instance(
    await rejects(store.createToken({ id: 't4', name: 'other', hash: 'h1', scopes: [] })),
    StoreConflictError
  )

  await store.touchToken('t1')
  assert.ok((await store.findTokenByHash('h1'))!.lastUsedAt)

  assert.ok(await store.revokeToken('t1'), 'by id')
  assert.ok(await store.revokeToken('ci'), 'by name')
  assert.is(await store.revokeToken('ci'), false, 'already revoked')
  assert.is(await store.revokeToken('ghost'), false)
  const revoked = await store.findTokenByHash('h1')
  assert.ok(revoked!.revokedAt, 'revoked tokens are still found; the caller checks revokedAt')
  assert.equal(
    (await store.listTokens()).map((t) => [t.name, t.revokedAt !== null]),
    [
      ['admin', true],
      ['ci', true],
    ]
  )
  assert.is(await store.countTokens(), 2, 'revoked tokens still count')
  await store.close()
})

test('audit lists newest first and pages by id', async () => {
  const { store } = await fresh()
  for (let i = 1; i <= 4; i++) {
    await store.audit({
      actor: 'admin',
      source: null,
      action: 'job.install',
      target: `c${i}`,
      outcome: 'accepted',
      detail: i % 2 ? { job: `j${i}` } : null,
    })
  }
  const all = await store.listAudit({})
  assert.equal(
    all.map((a) => a.target),
    ['c4', 'c3', 'c2', 'c1']
  )
  assert.equal(all[3].detail, { job: 'j1' })
  assert.is(all[2].detail, null)
  const page = await store.listAudit({ limit: 2, before: all[1].id })
  assert.equal(
    page.map((a) => a.target),
    ['c2', 'c1']
  )
  await store.close()
})

test('topologies are upserted by name', async () => {
  const { store } = await fresh()
  await store.putTopology({ name: 'codenvy', text: 'name: codenvy\n', updatedBy: 'admin' })
  const second = await store.putTopology({ name: 'codenvy', text: 'v2', updatedBy: 'ci' })
  assert.equal(await store.getTopology('codenvy'), second)
  assert.equal([second.text, second.updatedBy], ['v2', 'ci'])
  assert.is(await store.getTopology('che'), null)
  await store.close()
})

test('data survives close and reopen', async () => {
  const { store, file } = await fresh()
  await store.createJob(job({ id: 'keep', idempotencyKey: 'k1' }))
  await store.transitionJob('keep', ['queued'], 'running', { attempts: 1 })
  await store.appendEvent('keep', { step: 'pull' })
  await store.createToken({ id: 't', name: 'admin', hash: 'h', scopes: ['admin'] })
  await store.audit({
    actor: 'a',
    source: null,
    action: 'x',
    target: null,
    outcome: 'ok',
    detail: null,
  })
  await store.putTopology({ name: 'che', text: 'name: che', updatedBy: 'a' })
  await store.close()
  await store.close() // closing twice is harmless (shutdown paths overlap)

  const again = await openSqliteStore(file)
  assert.is((await again.getJob('keep'))!.state, 'running')
  assert.is((await again.findJobByIdempotencyKey('k1'))!.id, 'keep')
  assert.equal((await again.listEvents('keep'))[0].event, { step: 'pull' })
  assert.is((await again.appendEvent('keep', { step: 'next' })).seq, 2)
  assert.is((await again.findTokenByHash('h'))!.name, 'admin')
  assert.is((await again.listAudit({})).length, 1)
  assert.is((await again.getTopology('che'))!.text, 'name: che')
  await again.close()
})

test.run()
