/**
 * /v1/clusters: what is on the Docker host now — asked of the host through the dispatcher
 * (a read-only `berth job run` beside whatever runs), with the service's own view of each
 * cluster's jobs alongside.
 */
import { Hono } from 'hono'
import type { ResultEvent } from '../../scripts/engine/events.ts'
import { CLUSTER_NAME } from '../../scripts/engine/labels.ts'
import { JobError, notFound } from '../errors.ts'
import { requireScope, type Caller } from '../middleware/auth.ts'
import type { Queue } from '../queue.ts'
import type { Store } from '../store/store.ts'
import { view } from './jobs.ts'

/** A failed read becomes the right status: 404 for no such cluster, 503 when the host is down. */
function answer(result: ResultEvent): unknown {
  if (result.ok) return result.data
  if (result.code === 'not_found') throw notFound(result.message ?? 'not found')
  if (result.code === 'preflight') throw new JobError(503, 'host_unavailable', result.message ?? 'the Docker host is not reachable')
  throw new JobError(502, 'host_failed', `the Docker host answered: ${result.message ?? result.code}`)
}

export function clusterRoutes(deps: { store: Store; queue: Queue }) {
  const { store, queue } = deps
  const app = new Hono<{ Variables: { caller: Caller } }>()

  app.use('*', async (c, next) => {
    requireScope(c.get('caller'), 'read')
    await next()
  })

  app.get('/', async (c) => {
    const { clusters } = answer(await queue.inspect({ kind: 'clusters' })) as { clusters: { cluster: string }[] }
    const out = await Promise.all(
      clusters.map(async (x) => {
        const [last] = await store.listJobs({ cluster: x.cluster, limit: 1 })
        return { ...x, busy: await queue.isBusy(x.cluster), lastJob: last ? view(last) : null }
      })
    )
    return c.json({ ok: true, clusters: out })
  })

  app.get('/:name', async (c) => {
    const name = param(c.req.param('name'))
    const status = answer(await queue.inspect({ kind: 'status', cluster: name }))
    const jobs = await store.listJobs({ cluster: name, limit: 10 })
    return c.json({ ok: true, cluster: status, busy: await queue.isBusy(name), jobs: jobs.map(view) })
  })

  app.get('/:name/snapshots', async (c) => {
    const name = param(c.req.param('name'))
    const { snapshots } = answer(await queue.inspect({ kind: 'snapshots', cluster: name })) as { snapshots: unknown[] }
    return c.json({ ok: true, snapshots })
  })

  return app
}

function param(name: string): string {
  if (!CLUSTER_NAME.test(name)) throw new JobError(422, 'invalid_request', `name: "${name}" is not a valid cluster name`)
  return name
}
