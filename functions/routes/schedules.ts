/**
 * /v1/schedules: nightly (or any cron) snapshots with retention. The server's scheduler reads the
 * store, so what is added or removed here is picked up within seconds, as from the CLI.
 */
import { Hono, type Context } from 'hono'
import { BerthError } from '../../scripts/engine/errors.ts'
import { CLUSTER_NAME } from '../../scripts/engine/labels.ts'
import { anyMatch } from '../../scripts/engine/patterns.ts'
import { conflict, forbidden, invalid, notFound } from '../errors.ts'
import { requireScope, type AuthEnv } from '../middleware/auth.ts'
import type { Principal, Right } from '../principal.ts'
import { addSchedule, nextRun, parseSchedule, type NewSchedule } from '../schedules.ts'
import { StoreConflictError, type ScheduleRecord, type Store } from '../store/store.ts'
import type { SubmitDeps } from '../submit.ts'

/** A schedule as the API shows it: the record and when it runs next. */
export function scheduleView(s: ScheduleRecord, now = new Date()) {
  return { ...s, nextRunAt: s.enabled ? nextRun(s, now) : null }
}

type Env = AuthEnv

/** 403 unless the caller holds every right on the cluster. */
function allow(c: Context<Env>, cluster: string, ...rights: Right[]): void {
  for (const right of rights) {
    const denied = c.get('who').denies(right, cluster)
    if (denied) throw forbidden(denied)
  }
}

/**
 * A schedule added for `who`, as POST /v1/schedules and the dashboard add it: checked (422 naming
 * each path), the right to snapshot its cluster — and to prune, when it keeps a number (403) —, a
 * name not taken (409), audited.
 */
export async function addScheduleAs(
  store: Store,
  who: Principal,
  source: string | null,
  input: unknown
): Promise<ScheduleRecord> {
  let spec: NewSchedule
  try {
    spec = parseSchedule(input)
  } catch (err) {
    if (err instanceof BerthError) throw invalid(err.message, err.info.issues)
    throw err
  }
  // A schedule's retention prunes snapshots: set only by whoever may remove them.
  for (const right of ['snapshot', ...(spec.keep ? ['prune'] : [])] as Right[]) {
    const denied = who.denies(right, spec.cluster)
    if (denied) throw forbidden(denied)
  }
  let saved: ScheduleRecord
  try {
    saved = await addSchedule(store, spec)
  } catch (err) {
    if (!(err instanceof StoreConflictError)) throw err
    throw conflict(
      `name: a schedule named "${spec.name}" exists; remove it first or give another name`
    )
  }
  const { name, cluster, cron, tz, keep } = saved
  await store.audit({
    actor: who.actor,
    source,
    action: 'schedule.add',
    target: name,
    outcome: 'ok',
    detail: { cluster, cron, tz, keep },
  })
  return saved
}

export function scheduleRoutes(deps: SubmitDeps) {
  const { store } = deps
  const app = new Hono<Env>()
  const audit = (c: Context<Env>, action: string, target: string, detail: unknown) =>
    store.audit({
      actor: c.get('who').actor,
      source: c.get('client'),
      action,
      target,
      outcome: 'ok',
      detail,
    })

  app.get('/', async (c) => {
    const caller = c.get('caller')
    requireScope(caller, 'read')
    const now = new Date()
    const mine = (await store.listSchedules()).filter((s) => anyMatch(caller.clusters, s.cluster))
    return c.json({ ok: true, schedules: mine.map((s) => scheduleView(s, now)) })
  })

  app.post('/', async (c) => {
    requireScope(c.get('caller'), 'snapshot')
    let body: unknown
    try {
      body = JSON.parse(await c.req.text())
    } catch {
      throw invalid('the body is not JSON')
    }
    const saved = await addScheduleAs(store, c.get('who'), c.get('client'), body)
    return c.json({ ok: true, schedule: scheduleView(saved) }, 201)
  })

  app.delete('/:name', async (c) => {
    requireScope(c.get('caller'), 'snapshot')
    const name = c.req.param('name')
    if (!CLUSTER_NAME.test(name))
      throw invalid(`name: "${name.slice(0, 60)}" is not a valid schedule name`)
    const schedule = (await store.listSchedules()).find((s) => s.name === name)
    if (!schedule) throw notFound(`no schedule named "${name}"`)
    allow(c, schedule.cluster, 'snapshot')
    if (!(await store.deleteSchedule(name))) throw notFound(`no schedule named "${name}"`)
    await audit(c, 'schedule.rm', name, null)
    return c.json({ ok: true, deleted: name })
  })

  return app
}
