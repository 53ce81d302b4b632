import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { $ } from 'zx'
import { createApp } from '../../functions/app.ts'
import { ZxDispatcher } from '../../functions/dispatch/zx.ts'
import { sha256Hex } from '../../functions/sha256.ts'
import { JobQueue } from '../../functions/queue.ts'
import { Scheduler } from '../../functions/scheduler.ts'
import { addSchedule, parseSchedule, snapshotTag } from '../../functions/schedules.ts'
import { openSqliteStore } from '../../functions/store/sqlite.ts'
import type { AuditRecord, JobRecord, Store } from '../../functions/store/store.ts'
import { DEFAULT_POLICY } from '../../scripts/engine/policy.ts'
import { adminWho } from '../helpers/principals.ts'
import { submitJob } from '../../functions/submit.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { finishedJob } from '../helpers/jobs.ts'
import { caller } from '../helpers/app-request.ts'
import { mintToken } from '../helpers/tokens.ts'
import { hook, withTimeout, until } from '../helpers/async.ts'
import { ensureDemoImage, removeTestClusters, docker } from '../helpers/docker.ts'

const bin = fileURLToPath(new URL('../../bin/berth.mjs', import.meta.url))
const H = 3600_000
/** Two nodes of the demo image, one with a volume (archived with every snapshot). */
const PAIR = 't-sched-pair'
/** One node whose install holds the cluster for a while (its bootstrap sleeps). */
const SLOW = 't-sched-slow'

let home: string
let homeBefore: string | undefined
let store: Store
let queue: JobQueue
let app: ReturnType<typeof createApp>
const tokens: Record<string, string> = {}

const token = (name: string, scopes: string[]) => mintToken(store, name, scopes)

const call = caller(() => app)

/** `berth …` as a user runs it, on this suite's data directory. */
function cli(...args: string[]) {
  return $({
    env: { ...process.env, BERTH_HOME: home },
    quiet: true,
    nothrow: true,
  })`${process.execPath} ${bin} ${args}`
}

const finished = (id: string) => finishedJob(store, id, 90_000)

const jobsOf = async (schedule: string, cluster: string) =>
  (await store.listJobs({ cluster }))
    .filter((j) => j.requestedBy === `schedule:${schedule}`)
    .reverse()

const skipsOf = async (schedule: string) =>
  (await store.listAudit({ limit: 500 })).filter(
    (a) =>
      a.actor === `schedule:${schedule}` && a.action === 'schedule.run' && a.outcome === 'skipped'
  )

async function install(topology: Record<string, unknown> & { name: string }): Promise<JobRecord> {
  const body = { kind: 'install' as const, cluster: topology.name, topology }
  const { job } = await submitJob({ store, queue, policy: DEFAULT_POLICY }, body, {
    who: adminWho(),
    source: null,
    idempotencyKey: null,
    bodyHash: await sha256Hex(JSON.stringify(body)),
  })
  return job
}

const Sched = suite('snapshot schedules (real SQLite, real zx dispatcher, real engine)')

Sched.before(
  hook(async () => {
    // Set here, not at import: every file of the tier is imported before any suite runs.
    homeBefore = process.env.BERTH_HOME
    home = mkdtempSync(join(tmpdir(), 'berth-sched-'))
    process.env.BERTH_HOME = home
    await withTimeout(removeTestClusters('t-sched'), 60_000, 'cleanup')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
    store = await openSqliteStore(join(home, 'berth.db'))
    const dispatcher = new ZxDispatcher({
      mode: 'local',
      berth: [process.execPath, bin],
      graceMs: 10_000,
    })
    queue = new JobQueue({ store, dispatcher, maxClusters: 4 })
    app = createApp({ store, queue })
    tokens.read = await token('sched-reader', ['read'])
    tokens.snapshot = await token('sched-snapshotter', ['snapshot'])
    tokens.pruner = await token('sched-pruner', ['snapshot', 'restore'])
    const pair = await install({
      name: PAIR,
      image: 'berth/demo:1',
      domain: 'sched.local',
      defaults: { resources: { memory: '64m' } },
      nodes: [{ name: 'app', volumes: ['data:/srv/data'] }, { name: 'db' }],
    })
    const done = await finished(pair.id)
    assert.is(done.state, 'succeeded', JSON.stringify(done.result))
  })
)

Sched.after(
  hook(async () => {
    await queue?.drain(30_000)
    await removeTestClusters('t-sched')
    await store?.close()
    if (homeBefore === undefined) delete process.env.BERTH_HOME
    else process.env.BERTH_HOME = homeBefore
  })
)

Sched(
  'the API lists with read and adds or removes with snapshot; 403, 409, and 422 naming the field',
  async () => {
    assert.equal(
      (await (await call('GET', '/v1/schedules', { token: tokens.read })).json()).schedules,
      []
    )
    const body = { cluster: 't-sched-api', cron: '0 2 * * *', keep: 7, tz: 'Europe/Berlin' }
    const denied = await call('POST', '/v1/schedules', { token: tokens.read, body })
    assert.is(denied.status, 403)
    assert.match((await denied.json()).error.message, /lacks the "snapshot" scope/)
    assert.is((await call('POST', '/v1/schedules', { body })).status, 401)

    // A retention prunes snapshots: whoever sets one must be allowed to remove them.
    const prune = await call('POST', '/v1/schedules', { token: tokens.snapshot, body })
    assert.is(prune.status, 403)
    assert.is(
      (await prune.json()).error.message,
      'the token "sched-snapshotter" lacks the "restore" scope (options.keep prunes snapshots, which is removal)'
    )
    assert.is(
      (
        await call('POST', '/v1/schedules', {
          token: tokens.snapshot,
          body: { ...body, keep: undefined, name: 't-sched-nokeep' },
        })
      ).status,
      201
    )
    assert.is(
      (await call('DELETE', '/v1/schedules/t-sched-nokeep', { token: tokens.snapshot })).status,
      200
    )

    const t0 = Date.now()
    const added = await call('POST', '/v1/schedules', { token: tokens.pruner, body })
    assert.is(added.status, 201)
    const { schedule } = await added.json()
    assert.equal(
      { ...schedule, lastRunAt: undefined, nextRunAt: undefined },
      {
        name: 't-sched-api',
        cluster: 't-sched-api',
        cron: '0 2 * * *',
        keep: 7,
        tz: 'Europe/Berlin',
        enabled: true,
        lastRunAt: undefined,
        nextRunAt: undefined,
      }
    )
    assert.ok(Date.parse(schedule.lastRunAt) >= t0 - 5, 'runs count from its creation')
    // 02:00 in Berlin is 00:00 or 01:00 UTC, whichever the season.
    assert.match(schedule.nextRunAt, /T0[01]:00:00\.000Z$/)

    const dup = await call('POST', '/v1/schedules', { token: tokens.pruner, body })
    assert.is(dup.status, 409)
    assert.match((await dup.json()).error.message, /^name: a schedule named "t-sched-api" exists/)
    const badCron = await call('POST', '/v1/schedules', {
      token: tokens.pruner,
      body: { ...body, name: 't-sched-x', cron: '0 2 * *' },
    })
    assert.is(badCron.status, 422)
    assert.match((await badCron.json()).error.message, /^cron: "0 2 \* \*" has 4 field/)
    const badTz = await call('POST', '/v1/schedules', {
      token: tokens.pruner,
      body: { ...body, name: 't-sched-x', tz: 'Mars/Olympus' },
    })
    assert.is(badTz.status, 422)
    assert.match((await badTz.json()).error.message, /^tz: is not an IANA time zone/)
    const badName = await call('POST', '/v1/schedules', {
      token: tokens.pruner,
      body: { ...body, name: '../x' },
    })
    assert.match((await badName.json()).error.message, /^name: /)
    assert.is(
      (await call('POST', '/v1/schedules', { token: tokens.pruner, body: '{nope' })).status,
      422
    )

    const { schedules } = await (await call('GET', '/v1/schedules', { token: tokens.read })).json()
    assert.equal(
      schedules.map((s: { name: string }) => s.name),
      ['t-sched-api'],
      'only the one added'
    )

    assert.is(
      (await call('DELETE', '/v1/schedules/t-sched-api', { token: tokens.read })).status,
      403
    )
    assert.is(
      (await call('DELETE', '/v1/schedules/Bad_Name', { token: tokens.snapshot })).status,
      422
    )
    const rm = await call('DELETE', '/v1/schedules/t-sched-api', { token: tokens.snapshot })
    assert.is(rm.status, 200)
    assert.equal(await rm.json(), { ok: true, deleted: 't-sched-api' })
    const again = await call('DELETE', '/v1/schedules/t-sched-api', { token: tokens.snapshot })
    assert.is(again.status, 404)
    assert.match((await again.json()).error.message, /no schedule named "t-sched-api"/)
    assert.equal(await store.listSchedules(), [])

    const audit = (await store.listAudit({ limit: 50 })).filter((a) =>
      a.action.startsWith('schedule.')
    )
    assert.equal(audit.map((a) => [a.action, a.actor, a.target]).reverse(), [
      ['schedule.add', 'sched-snapshotter', 't-sched-nokeep'],
      ['schedule.rm', 'sched-snapshotter', 't-sched-nokeep'],
      ['schedule.add', 'sched-pruner', 't-sched-api'],
      ['schedule.rm', 'sched-snapshotter', 't-sched-api'],
    ])
    assert.equal(await store.listJobs({ cluster: 't-sched-api' }), [], 'adding makes no job')
  }
)

Sched(
  'berth schedule add/list/rm work on $BERTH_HOME/berth.db; errors name the flag, exit codes say which',
  async () => {
    const add = await cli(
      'schedule',
      'add',
      't-sched-cli',
      '--cron',
      '30 1 * * 1-5',
      '--keep',
      '3',
      '--tz',
      'America/New_York',
      '--json'
    )
    assert.is(add.exitCode, 0, add.stderr)
    assert.is(JSON.parse(add.stdout).name, 't-sched-cli')
    const [stored] = await store.listSchedules()
    assert.equal(
      [stored.name, stored.cluster, stored.cron, stored.keep, stored.tz],
      ['t-sched-cli', 't-sched-cli', '30 1 * * 1-5', 3, 'America/New_York']
    )

    const [list, dup, badCron, badKeep, missing] = await Promise.all([
      cli('schedule', 'list'),
      cli('schedule', 'add', 't-sched-cli', '--cron', '0 2 * * *'),
      cli('schedule', 'add', 't-sched-cli', '--name', 't-sched-other', '--cron', '0 25 * * *'),
      cli(
        'schedule',
        'add',
        't-sched-cli',
        '--name',
        't-sched-other',
        '--cron',
        '0 2 * * *',
        '--keep',
        'all'
      ),
      cli('schedule', 'rm', 't-sched-none'),
    ])
    assert.is(list.exitCode, 0, list.stderr)
    assert.match(list.stdout, /^NAME +CLUSTER +CRON +TZ +KEEP/)
    assert.match(list.stdout, /t-sched-cli +t-sched-cli +30 1 \* \* 1-5 +America\/New_York +3 /)
    assert.equal([dup.exitCode, badCron.exitCode, badKeep.exitCode, missing.exitCode], [4, 2, 2, 5])
    assert.match(dup.stderr, /--name: a schedule named "t-sched-cli" exists/)
    assert.match(badCron.stderr, /--cron: Invalid value for hour: 25/)
    assert.match(badKeep.stderr, /--keep: must be a whole number from 1 to 1000/)
    assert.match(missing.stderr, /no schedule named "t-sched-none"/)
    assert.is((await store.listSchedules()).length, 1, 'no failed add left anything')

    const rm = await cli('schedule', 'rm', 't-sched-cli')
    assert.is(rm.exitCode, 0, rm.stderr)
    assert.equal(await store.listSchedules(), [])
  }
)

Sched(
  'a seconds cron added with the CLI is picked up by a running scheduler, fires on time and keeps the newest 2 snapshots',
  async () => {
    // Reloads every 2.5 s: a run made by a reload instead of its timer would be up to 2.5 s late.
    const scheduler = new Scheduler({
      store,
      queue,
      policy: DEFAULT_POLICY,
      graceMs: H,
      reloadMs: 2500,
    })
    await scheduler.start()
    try {
      const add = await cli(
        'schedule',
        'add',
        PAIR,
        '--cron',
        '*/3 * * * * *',
        '--keep',
        '2',
        '--name',
        't-sched-every3'
      )
      assert.is(add.exitCode, 0, add.stderr)
      await until('3 scheduled snapshots succeeded', async () => {
        const done = (await jobsOf('t-sched-every3', PAIR)).filter((j) => j.state === 'succeeded')
        return done.length >= 3 ? true : undefined
      })
    } finally {
      await scheduler.stop()
      await store.deleteSchedule('t-sched-every3')
    }
    const runs = await Promise.all(
      (await jobsOf('t-sched-every3', PAIR)).map((j) => finished(j.id))
    )
    for (const [i, j] of runs.entries()) {
      const slot = Date.parse(j.idempotencyKey!.replace('schedule:t-sched-every3:', ''))
      assert.is(new Date(slot).getUTCSeconds() % 3, 0, `${j.idempotencyKey} is a run of */3`)
      // The first run may fall before the reload that saw the schedule: made by that reload, late.
      const lag = Date.parse(j.createdAt) - slot
      assert.ok(
        lag >= 0 && lag < (i === 0 ? 3000 : 300),
        `run ${i} (job ${j.id}) queued ${lag} ms after its time`
      )
      const admission = { owner: 'schedule:t-sched-every3', level: 'restricted', remove: false }
      assert.equal(j.spec, {
        kind: 'snapshot',
        cluster: PAIR,
        options: { tag: snapshotTag(PAIR, new Date(slot)), keep: 2 },
        admission,
      })
      assert.is(j.state, 'succeeded', JSON.stringify(j.result))
    }
    const made = runs.map(
      (j) => (j.result as { data: { snapshot: { id: string } } }).data.snapshot.id
    )
    assert.ok(
      made.length >= 3 && new Set(made).size === made.length,
      `one snapshot per run: ${made.join(',')}`
    )

    const listed = await queue.inspect({ kind: 'snapshots', cluster: PAIR })
    const ids = (listed.data as { snapshots: { id: string }[] }).snapshots.map((s) => s.id)
    assert.equal(ids.sort(), made.slice(-2).sort(), 'the newest two are kept, the rest pruned')
    const images = await docker.listImages({
      filters: { label: [`${LABEL.cluster}=${PAIR}`, LABEL.snapshot] },
    })
    assert.equal(
      [...new Set(images.map((i) => i.Labels[LABEL.snapshot]))].sort(),
      ids.sort(),
      'and so are their images'
    )
    assert.is(images.length, 4, 'one image per node per snapshot')
  }
)

Sched(
  'a run while a snapshot of the cluster is queued or running is skipped, audited, and makes no job',
  async () => {
    const blocker = await install({
      name: SLOW,
      image: 'berth/demo:1',
      domain: 'sched.local',
      defaults: { resources: { memory: '64m' } },
      nodes: [{ name: 'slow', bootstrap: 'sleep 8' }],
    })
    await until('the install holds the cluster', async () =>
      (await store.getJob(blocker.id))?.state === 'running' ? true : undefined
    )
    await addSchedule(
      store,
      parseSchedule({ cluster: SLOW, cron: '*/2 * * * * *', name: 't-sched-overlap' })
    )
    const scheduler = new Scheduler({
      store,
      queue,
      policy: DEFAULT_POLICY,
      graceMs: H,
      reloadMs: 500,
    })
    await scheduler.start()
    let skipped: AuditRecord[] = []
    try {
      skipped = await until(
        'two runs skipped',
        async () =>
          (await skipsOf('t-sched-overlap')).length >= 2 ? skipsOf('t-sched-overlap') : undefined,
        20_000
      )
    } finally {
      await scheduler.stop()
      await store.deleteSchedule('t-sched-overlap')
    }
    const jobs = await jobsOf('t-sched-overlap', SLOW)
    assert.is(jobs.length, 1, 'one job, however many runs fired')
    for (const row of skipped) {
      assert.is(
        (row.detail as { blockedBy: string }).blockedBy,
        jobs[0].id,
        'skipped for the snapshot already queued'
      )
      assert.is(row.target, SLOW)
    }
    // An install holding the cluster is no overlap: the first run queued its snapshot behind it.
    const [installed, snap] = [await finished(blocker.id), await finished(jobs[0].id)]
    assert.is(installed.state, 'succeeded', JSON.stringify(installed.result))
    assert.ok(jobs[0].createdAt < installed.finishedAt!, 'queued while the install ran')
    assert.is(snap.state, 'succeeded', JSON.stringify(snap.result))
    assert.ok(snap.startedAt! >= installed.finishedAt!, 'and ran after it')
  }
)

Sched(
  'at start a run missed within the grace is made once; one older than the grace is not; a second start makes none',
  async () => {
    const now = Date.now()
    const minute = (t: number) => new Date(t - (t % 60_000))
    const dailyAt = (d: Date) => `${d.getUTCMinutes()} ${d.getUTCHours()} * * *`
    const recentRun = minute(now - 10 * 60_000)
    const threeDaysAgo = new Date(now - 72 * H).toISOString()
    const schedule = async (name: string, cron: string, lastRunAt: string | null) => {
      await store.createSchedule({
        name,
        cluster: SLOW,
        cron,
        keep: null,
        tz: 'UTC',
        enabled: true,
      })
      if (lastRunAt) await store.markScheduleRun(name, null, lastRunAt)
    }
    // Down for three days: three runs of each missed.
    await schedule('t-sched-recent', dailyAt(recentRun), threeDaysAgo)
    await schedule('t-sched-stale', dailyAt(minute(now - 3 * H)), threeDaysAgo)
    // A row with no last run (not added through berth) is adopted from now: nothing to catch up.
    await schedule('t-sched-adopted', dailyAt(recentRun), null)

    for (let i = 0; i < 2; i++) {
      const scheduler = new Scheduler({
        store,
        queue,
        policy: DEFAULT_POLICY,
        graceMs: H,
        reloadMs: 60_000,
      })
      await scheduler.start()
      await scheduler.stop()
    }
    const recent = await jobsOf('t-sched-recent', SLOW)
    assert.is(recent.length, 1, 'exactly one job for three missed runs, over two starts')
    assert.is(
      recent[0].idempotencyKey,
      `schedule:t-sched-recent:${recentRun.toISOString()}`,
      'the latest missed run'
    )
    assert.equal(await jobsOf('t-sched-stale', SLOW), [], 'missed 3 h ago, grace 1 h: none')
    assert.equal(await jobsOf('t-sched-adopted', SLOW), [])
    const byName = new Map((await store.listSchedules()).map((s) => [s.name, s]))
    assert.is(byName.get('t-sched-recent')!.lastRunAt, recentRun.toISOString())
    assert.is(byName.get('t-sched-stale')!.lastRunAt, threeDaysAgo)
    assert.ok(
      Date.parse(byName.get('t-sched-adopted')!.lastRunAt!) >= now,
      'adopted from the start'
    )
    for (const name of byName.keys()) await store.deleteSchedule(name)
    const done = await finished(recent[0].id)
    assert.is(done.state, 'succeeded', JSON.stringify(done.result))
  }
)

Sched.run()
