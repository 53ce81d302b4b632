/**
 * createApp(deps) → the HTTP API, the same on Node and on Workers: nothing here imports node:*,
 * dockerode or zx. Runtime-specific parts (store, dispatcher, queue) come in as deps.
 */
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { secureHeaders } from 'hono/secure-headers'
import { BerthError } from '../scripts/engine/errors.ts'
import { parseTopology } from '../scripts/engine/topology.ts'
import { invalid, JobError, notFound } from './errors.ts'
import type { HooksConfig } from './hooks/config.ts'
import { hookRoutes } from './hooks/routes.ts'
import { bearerAuth, requireScope, type Caller } from './middleware/auth.ts'
import type { Queue } from './queue.ts'
import { openApiDocument } from './openapi.ts'
import { clusterRoutes } from './routes/clusters.ts'
import { jobRoutes } from './routes/jobs.ts'
import { scheduleRoutes } from './routes/schedules.ts'
import type { Store } from './store/store.ts'

export interface AppDeps {
  store: Store
  queue: Queue
  /** Largest request body accepted (bytes). */
  maxBody?: number
  /** Inbound webhooks (Slack, Jira, generic); none configured by default. */
  hooks?: HooksConfig
  /** Seconds since the epoch, for signature windows (tests move it). */
  now?: () => number
}

export function createApp(deps: AppDeps) {
  const { store, queue } = deps
  const app = new Hono<{ Variables: { caller: Caller } }>()

  app.use(secureHeaders())
  app.use(
    bodyLimit({
      maxSize: deps.maxBody ?? 1024 * 1024,
      onError: () => {
        throw new JobError(413, 'body_too_large', `the body is larger than ${deps.maxBody ?? 1024 * 1024} bytes`)
      },
    })
  )
  app.get('/healthz', (c) => c.json({ ok: true }))

  const openapi = openApiDocument()
  app.get('/v1/openapi.json', (c) => c.json(openapi))

  const v1 = new Hono<{ Variables: { caller: Caller } }>()
  v1.use(bearerAuth(store))
  v1.route('/jobs', jobRoutes({ store, queue }))
  v1.route('/clusters', clusterRoutes({ store, queue }))
  v1.route('/schedules', scheduleRoutes({ store, queue }))

  v1.put('/topologies/:name', async (c) => {
    const caller = c.get('caller')
    requireScope(caller, 'install')
    const name = c.req.param('name')
    const text = await c.req.text()
    try {
      const t = parseTopology(text, { file: `${name}.yaml` })
      if (t.name !== name) throw invalid(`name: the topology is named "${t.name}", the URL says "${name}"`)
    } catch (err) {
      if (err instanceof BerthError) throw invalid(err.message)
      throw err
    }
    const saved = await store.putTopology({ name, text, updatedBy: caller.name })
    await store.audit({ actor: caller.name, source: null, action: 'topology.put', target: name, outcome: 'ok', detail: null })
    return c.json({ ok: true, topology: saved })
  })

  v1.get('/topologies/:name', async (c) => {
    requireScope(c.get('caller'), 'read')
    const t = await store.getTopology(c.req.param('name'))
    if (!t) throw notFound(`no stored topology named "${c.req.param('name')}"`)
    return c.json({ ok: true, topology: t })
  })

  v1.get('/audit', async (c) => {
    requireScope(c.get('caller'), 'admin')
    const limit = Math.min(Number(c.req.query('limit') ?? 100) || 100, 1000)
    const before = c.req.query('before') ? Number(c.req.query('before')) : undefined
    return c.json({ ok: true, audit: await store.listAudit({ limit, before }) })
  })

  app.route('/v1', v1)
  app.route('/hooks', hookRoutes({ store, queue, hooks: deps.hooks ?? { generic: {} }, now: deps.now }))
  app.notFound(() => notFound('no such route').getResponse())
  app.onError((err) => {
    if (err instanceof JobError) return err.getResponse()
    if ('getResponse' in err) return (err as { getResponse(): Response }).getResponse()
    console.error(err)
    return Response.json({ ok: false, error: { code: 'internal', message: 'internal error' } }, { status: 500 })
  })
  return app
}
