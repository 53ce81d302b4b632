/**
 * The contract every Store keeps, run against each implementation: the SQLite store on a real
 * file (test/unit/store.test.ts) and the D1 store on real D1 in workerd (test/worker/
 * d1-store.test.ts), so the two cannot drift apart. What only one of them has (SQLite's pragmas
 * and reopening a file, wrangler's migrations table) is added by its file through `extra`.
 */
import { suite, type Test } from 'uvu'
import * as assert from 'uvu/assert'
import { StoreConflictError, type NewJob, type Store } from '../../functions/store/store.ts'
import { hook, rejects } from '../helpers/async.ts'

export interface StoreFixture {
  store: Store
  /** Another handle on the same data, as a second process (SQLite) or isolate (D1) has. */
  other(): Promise<Store>
  /** Closes what the fixture opened. */
  close(): Promise<void>
}

export interface StoreContractOptions {
  /** A store with no data in it, for each test. */
  fresh(): Promise<StoreFixture>
  /** Writes are applied in the order they are made (SQLite is synchronous; D1 is not). */
  serialWrites: boolean
  before?: () => Promise<void>
  after?: () => Promise<void>
  /** Tests of what only this implementation has, in the same suite. */
  extra?: (test: Test) => void
}

let n = 0
export function job(over: Partial<NewJob> = {}): NewJob {
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

const t = (i: number) => new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString()

export function storeContract(name: string, o: StoreContractOptions): void {
  const test = suite(`store contract: ${name}`)
  if (o.before) test.before(hook(o.before))
  if (o.after) test.after(hook(o.after))

  /** Runs `fn` on a fresh store, closed afterwards whatever happens. */
  const withStore = (fn: (store: Store, f: StoreFixture) => Promise<void>) => async () => {
    const f = await o.fresh()
    try {
      await fn(f.store, f)
    } finally {
      await f.close()
    }
  }

  test(
    'createJob stores the record and getJob reads it back with JSON intact',
    withStore(async (store) => {
      const created = await store.createJob(job({ id: 'a', idempotencyKey: 'k', bodyHash: 'h' }))
      assert.equal([created.state, created.attempts, created.dispatchRef], ['queued', 0, null])
      assert.ok(created.createdAt)
      const got = await store.getJob('a')
      assert.equal(got, created)
      assert.equal((got!.spec as { options: { n: number } }).options.n, n)
      assert.is(await store.getJob('missing'), null)
      assert.equal(await store.findJobByIdempotencyKey('k'), created)
      assert.is(await store.findJobByIdempotencyKey('other'), null)
    })
  )

  test(
    'a taken id or idempotency key is a StoreConflictError, and nothing is written',
    withStore(async (store) => {
      await store.createJob(job({ id: 'first', idempotencyKey: 'delivery-1' }))
      assert.instance(
        await rejects(store.createJob(job({ id: 'second', idempotencyKey: 'delivery-1' }))),
        StoreConflictError
      )
      assert.is(await store.getJob('second'), null)
      // Jobs without a key are not constrained by each other.
      await store.createJob(job({ id: 'n1' }))
      await store.createJob(job({ id: 'n2' }))
      assert.instance(await rejects(store.createJob(job({ id: 'n1' }))), StoreConflictError)
      // Not every failure is a conflict: a job in no known state is refused by the schema.
      const bad = await rejects(store.createJob(job({ id: 'bad', state: 'exploded' as never })))
      assert.not.instance(bad, StoreConflictError)
    })
  )

  test(
    'listJobs filters by cluster and state, newest first, and pages with before',
    withStore(async (store) => {
      for (let i = 0; i < 5; i++) await store.createJob(job({ id: `c${i}`, createdAt: t(i) }))
      await store.createJob(job({ id: 'other', cluster: 'che', createdAt: t(10) }))
      await store.createJob(job({ id: 'done', state: 'succeeded', createdAt: t(11) }))
      assert.equal(
        (await store.listJobs({})).map((j) => j.id),
        ['done', 'other', 'c4', 'c3', 'c2', 'c1', 'c0']
      )
      assert.equal(
        (await store.listJobs({ cluster: 'codenvy', state: 'queued' })).map((j) => j.id),
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
      const q = { cluster: 'codenvy', state: 'queued' as const, limit: 2 }
      const page1 = await store.listJobs(q)
      const page2 = await store.listJobs({ ...q, before: page1[1].createdAt })
      const page3 = await store.listJobs({ ...q, before: page2[1].createdAt })
      assert.equal(
        [page1, page2, page3].map((p) => p.map((j) => j.id)),
        [['c4', 'c3'], ['c2', 'c1'], ['c0']]
      )
    })
  )

  test(
    'jobsInState returns the queue oldest first',
    withStore(async (store) => {
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
    })
  )

  test(
    'transitionJob is a guarded compare-and-set: of two concurrent starts only one wins',
    withStore(async (store, f) => {
      const other = await f.other()
      await store.createJob(job({ id: 'x' }))
      const startedAt = new Date().toISOString()
      const wins = await Promise.all([
        store.transitionJob('x', ['queued'], 'running', { startedAt, attempts: 1 }),
        other.transitionJob('x', ['queued'], 'running', { startedAt, attempts: 1 }),
      ])
      assert.equal(wins.filter(Boolean).length, 1)
      assert.ok(
        await store.transitionJob('x', ['running'], 'running', { dispatchRef: 'cmd-1/i-0abc' })
      )
      const running = await other.getJob('x')
      assert.equal(
        [running!.state, running!.startedAt, running!.attempts, running!.dispatchRef],
        ['running', startedAt, 1, 'cmd-1/i-0abc']
      )

      assert.is(
        await store.transitionJob('x', ['queued'], 'cancelled'),
        false,
        'not queued any more'
      )
      assert.is((await store.getJob('x'))!.state, 'running', 'a refused transition changes nothing')
      assert.is(await store.transitionJob('missing', ['queued'], 'running'), false)
      assert.is(await store.transitionJob('x', [], 'failed'), false)

      const finishedAt = new Date().toISOString()
      const result = {
        type: 'result',
        ok: false,
        code: 'bootstrap_failed',
        nodes: [{ hostname: 'master.codenvy' }],
      }
      assert.ok(
        await store.transitionJob('x', ['running'], 'failed', { finishedAt, result, exitCode: 2 })
      )
      const done = await store.getJob('x')
      assert.equal(
        [
          done!.state,
          done!.finishedAt,
          done!.result,
          done!.exitCode,
          done!.startedAt,
          done!.dispatchRef,
        ],
        ['failed', finishedAt, result, 2, startedAt, 'cmd-1/i-0abc']
      )
    })
  )

  test(
    'claimJob starts a queued job only while no job of its cluster runs, even when two claim at once',
    withStore(async (store) => {
      const a = await store.createJob(job({ cluster: 'c1' }))
      const b = await store.createJob(job({ cluster: 'c1' }))
      const other = await store.createJob(job({ cluster: 'c2' }))
      const [x, y] = await Promise.all([
        store.claimJob(a.id, { attempts: 1 }),
        store.claimJob(b.id, { attempts: 1 }),
      ])
      assert.equal([x, y], [true, false], 'one job of c1 runs, the other waits')
      assert.is((await store.getJob(a.id))!.attempts, 1)
      assert.is((await store.getJob(b.id))!.state, 'queued')
      assert.ok(await store.claimJob(other.id, {}), 'another cluster is not held back')
      assert.not.ok(await store.claimJob(a.id, {}), 'a running job is not claimed again')
      await store.transitionJob(a.id, ['running'], 'succeeded')
      assert.ok(await store.claimJob(b.id, {}), 'once c1 is free its next job starts')
    })
  )

  test(
    'claimJob: a read-only job holds no cluster (a changing one starts beside it) and waits for a changing one',
    withStore(async (store) => {
      const status = await store.createJob(job({ kind: 'status', cluster: 'c1' }))
      const stop = await store.createJob(job({ kind: 'stop', cluster: 'c1' }))
      const status2 = await store.createJob(job({ kind: 'status', cluster: 'c1' }))
      assert.ok(await store.claimJob(status.id, {}))
      assert.ok(await store.claimJob(stop.id, {}), 'the stop does not wait for the running status')
      assert.not.ok(await store.claimJob(status2.id, {}), 'a status waits for the running stop')
    })
  )

  test(
    "countJobs counts one actor's jobs by state; findRecentJob finds its latest with a body since a time",
    withStore(async (store) => {
      await store.createJob(job({ requestedBy: 'ci', bodyHash: 'b1', createdAt: t(1) }))
      const later = await store.createJob(
        job({ requestedBy: 'ci', bodyHash: 'b1', createdAt: t(5) })
      )
      const done = await store.createJob(
        job({ requestedBy: 'ci', bodyHash: 'b2', createdAt: t(6) })
      )
      await store.createJob(job({ requestedBy: 'other', bodyHash: 'b1', createdAt: t(7) }))
      await store.transitionJob(done.id, ['queued'], 'succeeded')
      assert.is(await store.countJobs({ requestedBy: 'ci', states: ['queued'] }), 2)
      assert.is(await store.countJobs({ requestedBy: 'ci', states: ['queued', 'succeeded'] }), 3)
      assert.is(await store.countJobs({ requestedBy: 'nobody', states: ['queued'] }), 0)
      assert.is(
        (await store.findRecentJob({ requestedBy: 'ci', bodyHash: 'b1', since: t(2) }))?.id,
        later.id
      )
      assert.is(
        await store.findRecentJob({ requestedBy: 'ci', bodyHash: 'b1', since: t(6) }),
        null,
        'too old'
      )
      assert.is(await store.findRecentJob({ requestedBy: 'ci', bodyHash: 'b9', since: t(0) }), null)
    })
  )

  test(
    "listJobs keeps to a token's cluster globs",
    withStore(async (store) => {
      for (const cluster of ['team-a-web', 'team-a-db', 'team-b-web', 'shared'])
        await store.createJob(job({ cluster }))
      const clusters = async (globs: string[]) =>
        (await store.listJobs({ clusters: globs })).map((j) => j.cluster).sort()
      assert.equal(await clusters(['team-a-*']), ['team-a-db', 'team-a-web'])
      assert.equal(await clusters(['team-a-web', 'shared']), ['shared', 'team-a-web'])
      assert.equal(await clusters(['*']), ['shared', 'team-a-db', 'team-a-web', 'team-b-web'])
      assert.equal(await clusters([]), [])
    })
  )

  test(
    'putEvent stores an event at its seq once: a second poller with the same events adds nothing',
    withStore(async (store) => {
      const j = await store.createJob(job())
      assert.ok(await store.putEvent(j.id, 1, { type: 'log', msg: 'first' }))
      assert.not.ok(await store.putEvent(j.id, 1, { type: 'log', msg: 'again' }))
      assert.ok(await store.putEvent(j.id, 2, { type: 'log', msg: 'second' }))
      assert.equal(
        (await store.listEvents(j.id)).map((e) => [e.seq, (e.event as { msg: string }).msg]),
        [
          [1, 'first'],
          [2, 'second'],
        ]
      )
    })
  )

  test(
    'appendEvent numbers events 1, 2, 3… per job, even when appended at once, and listEvents replays the tail',
    withStore(async (store) => {
      await store.createJob(job({ id: 'a' }))
      await store.createJob(job({ id: 'b' }))
      const appended = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.appendEvent('a', { step: 'node', i }))
      )
      const seqs = appended.map((e) => e.seq)
      // Where writes apply in call order, the numbers follow it too.
      assert.equal(o.serialWrites ? seqs : seqs.sort((x, y) => x - y), [1, 2, 3, 4, 5, 6, 7, 8])
      const b1 = await store.appendEvent('b', { type: 'result', ok: true })
      assert.equal(
        [b1.seq, b1.jobId, b1.event],
        [1, 'b', { type: 'result', ok: true }],
        'seq counts per job'
      )
      const tail = await store.listEvents('a', 6)
      assert.equal(
        tail.map((e) => e.seq),
        [7, 8]
      )
      if (o.serialWrites)
        assert.equal(
          tail.map((e) => (e.event as { i: number }).i),
          [6, 7]
        )
      assert.is((await store.listEvents('a')).length, 8)
      assert.equal(await store.listEvents('a', 8), [])
      assert.ok(
        await rejects(store.appendEvent('missing', {})),
        'events need a job (the foreign key)'
      )
    })
  )

  test(
    'sessions are found until they expire or are deleted; expired ones go as new ones come',
    withStore(async (store) => {
      await store.createToken({ id: 't1', name: 'admin', hash: 'h1', scopes: ['admin'] })
      const later = new Date(Date.now() + 3_600_000).toISOString()
      const s = await store.createSession({ id: 's1', tokenId: 't1', csrf: 'c1', expiresAt: later })
      assert.equal(await store.getSession('s1'), s)
      assert.is(s.tokenId, 't1')
      const past = new Date(Date.now() - 1000).toISOString()
      await store.createSession({ id: 's2', tokenId: 't1', csrf: 'c2', expiresAt: past })
      assert.is(await store.getSession('s2'), null, 'an expired session is not found')
      assert.is(await store.getSession('nope'), null)
      await store.deleteSession('s1')
      assert.is(await store.getSession('s1'), null, 'signed out')
      // s2 (expired) is removed by the next sign-in: a new one under its id is accepted.
      await store.createSession({ id: 's2', tokenId: 't1', csrf: 'c3', expiresAt: later })
      assert.is((await store.getSession('s2'))!.csrf, 'c3')
    })
  )

  test(
    'tokens are found by hash, revoked by id or name, and names and hashes are unique',
    withStore(async (store) => {
      assert.is(await store.countTokens(), 0)
      const admin = await store.createToken({
        id: 't1',
        name: 'admin',
        hash: 'h1',
        scopes: ['admin'],
      })
      await store.createToken({ id: 't2', name: 'ci', hash: 'h2', scopes: ['read', 'install'] })
      assert.equal(await store.findTokenByHash('h1'), admin)
      assert.equal((await store.findTokenByHash('h2'))!.scopes, ['read', 'install'])
      assert.equal([admin.clusters, admin.level], [['*'], null], 'every cluster, the default level')
      const scoped = await store.createToken({
        id: 't5',
        name: 'team-a',
        hash: 'h5',
        scopes: ['install'],
        clusters: ['team-a-*'],
        level: 'baseline',
      })
      assert.equal(await store.getToken('t5'), scoped)
      assert.equal([scoped.clusters, scoped.level], [['team-a-*'], 'baseline'])
      assert.is(await store.getToken('nope'), null)
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
      assert.ok(
        (await store.findTokenByHash('h1'))!.revokedAt,
        'revoked tokens are still found; the caller checks revokedAt'
      )
      assert.equal(
        (await store.listTokens()).map((x) => [x.name, x.revokedAt !== null]),
        [
          ['admin', true],
          ['ci', true],
          ['team-a', false],
        ]
      )
      assert.is(await store.countTokens(), 3, 'revoked tokens still count')
    })
  )

  test(
    'notifications keep their target, stages sent, attempts and last error',
    withStore(async (store) => {
      await store.createJob(job({ id: 'j' }))
      const n1 = await store.addNotification({
        jobId: 'j',
        channel: 'slack',
        target: { responseUrl: 'https://hooks.slack.com/x', issuedAt: t(0) },
      })
      await store.addNotification({ jobId: 'j', channel: 'jira', target: { issueKey: 'OPS-1' } })
      assert.equal([n1.sent, n1.attempts, n1.lastError], [[], 0, null])
      await store.updateNotification(n1.id, {
        attempts: 1,
        lastError: 'started: HTTP 500 from slack (attempt 1)',
      })
      await store.updateNotification(n1.id, { sent: ['started'], attempts: 2 })
      const [slack, jira] = await store.notificationsFor('j')
      assert.equal(
        [slack.sent, slack.attempts, slack.lastError, slack.target.responseUrl],
        [['started'], 2, 'started: HTTP 500 from slack (attempt 1)', 'https://hooks.slack.com/x']
      )
      await store.updateNotification(n1.id, { lastError: null })
      assert.is(
        (await store.notificationsFor('j'))[0].lastError,
        null,
        'an explicit null clears it'
      )
      assert.equal(jira.target, { issueKey: 'OPS-1' })
    })
  )

  test(
    'schedules: names are unique, a run is claimed once, deleting reports whether one was there',
    withStore(async (store) => {
      const s = await store.createSchedule({
        name: 'nightly',
        cluster: 'codenvy',
        cron: '0 2 * * *',
        keep: 7,
        tz: 'Europe/Berlin',
        enabled: true,
      })
      assert.equal([s.enabled, s.keep, s.tz, s.lastRunAt], [true, 7, 'Europe/Berlin', null])
      assert.instance(await rejects(store.createSchedule({ ...s })), StoreConflictError)
      const claims = await Promise.all([
        store.markScheduleRun('nightly', null, t(1)),
        store.markScheduleRun('nightly', null, t(2)),
      ])
      assert.equal(claims.filter(Boolean).length, 1, 'of two claims from "no run yet", one wins')
      const last = (await store.listSchedules())[0].lastRunAt!
      assert.ok(await store.markScheduleRun('nightly', last, t(3)))
      assert.is(await store.markScheduleRun('nightly', last, t(4)), false, 'a stale claim loses')
      assert.ok(await store.deleteSchedule('nightly'))
      assert.is(await store.deleteSchedule('nightly'), false)
    })
  )

  test(
    'audit lists newest first and pages by id',
    withStore(async (store) => {
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
      assert.equal([all[3].detail, all[2].detail], [{ job: 'j1' }, null])
      assert.equal(
        (await store.listAudit({ limit: 2, before: all[1].id })).map((a) => a.target),
        ['c2', 'c1']
      )
    })
  )

  test(
    'topologies are upserted by name',
    withStore(async (store) => {
      await store.putTopology({ name: 'codenvy', text: 'name: codenvy\n', updatedBy: 'admin' })
      const second = await store.putTopology({ name: 'codenvy', text: 'v2', updatedBy: 'ci' })
      assert.equal(await store.getTopology('codenvy'), second)
      assert.equal([second.text, second.updatedBy], ['v2', 'ci'])
      assert.is(await store.getTopology('che'), null)
      await store.putTopology({ name: 'che', text: 'name: che\n', updatedBy: 'ci' })
      assert.equal(
        (await store.listTopologies()).map((t) => [t.name, t.updatedBy, 'text' in t]),
        [
          ['che', 'ci', false],
          ['codenvy', 'ci', false],
        ]
      )
    })
  )

  o.extra?.(test)
  test.run()
}
