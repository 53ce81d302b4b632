/**
 * /v1/schedules: nightly (or any cron) snapshots with retention. The server's scheduler reads the
 * store, so what is added or removed here is picked up within seconds, as from the CLI.
 */
import { Hono, type Context } from 'hono'
import { BerthError } from '../../scripts/engine/errors.ts'
import { CLUSTER_NAME } from '../../scripts/engine/labels.ts'
import { conflict, invalid, notFound } from '../errors.ts'
import { requireScope, type Caller } from '../middleware/auth.ts'
import type { Queue } from '../queue.ts'
import { addSchedule, nextRun, parseSchedule, type NewSchedule } from '../schedules.ts'
import { StoreConflictError, type ScheduleRecord, type Store } from '../store/store.ts'

/** A schedule as the API shows it: the record and when it runs next. */
export function scheduleView(s: ScheduleRecord, now = new Date()) {
  return { ...s, nextRunAt: s.enabled ? nextRun(s, now) : null }
}

type Env = { Variables: { caller: Caller } }

export function scheduleRoutes(deps: { store: Store; queue: Queue }) {
  const { store } = deps
  const app = new Hono<Env>()
  const audit = (c: Context<Env>, action: string, target: string, detail: unknown) => {
    const source = c.req.header('x-forwarded-for') ?? null
    return store.audit({ actor: c.get('caller').name, source, action, target, outcome: 'ok', detail })
  }

  app.get('/', async (c) => {
    requireScope(c.get('caller'), 'read')
    const now = new Date()
    return c.json({ ok: true, schedules: (await store.listSchedules()).map((s) => scheduleView(s, now)) })
  })

  app.post('/', async (c) => {
    requireScope(c.get('caller'), 'snapshot')
    let body: unknown
    try {
      body = JSON.parse(await c.req.text())
    } catch {
      throw invalid('the body is not JSON')
    }
    let spec: NewSchedule
    try {
      spec = parseSchedule(body)
    } catch (err) {
      if (err instanceof BerthError) throw invalid(err.message)
      throw err
    }
    let saved: ScheduleRecord
    try {
      saved = await addSchedule(store, spec)
    } catch (err) {
      if (!(err instanceof StoreConflictError)) throw err
      throw conflict(`name: a schedule named "${spec.name}" exists; remove it first or give another name`)
    }
    const { name, cluster, cron, tz, keep } = saved
    await audit(c, 'schedule.add', name, { cluster, cron, tz, keep })
    return c.json({ ok: true, schedule: scheduleView(saved) }, 201)
  })

  app.delete('/:name', async (c) => {
    requireScope(c.get('caller'), 'snapshot')
    const name = c.req.param('name')
    if (!CLUSTER_NAME.test(name)) throw invalid(`name: "${name.slice(0, 60)}" is not a valid schedule name`)
    if (!(await store.deleteSchedule(name))) throw notFound(`no schedule named "${name}"`)
    await audit(c, 'schedule.rm', name, null)
    return c.json({ ok: true, deleted: name })
  })

  return app
}
