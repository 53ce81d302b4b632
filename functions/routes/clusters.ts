/**
 * /v1/clusters: what is on the Docker host now — asked of the host through the dispatcher
 * (a read-only `berth job run` beside whatever runs), with the service's own view of each
 * cluster's jobs alongside.
 */
import { Hono } from 'hono'
import { CLUSTER_NAME } from '../../scripts/engine/labels.ts'
import { fromHost, JobError } from '../errors.ts'
import { requireScope, type Caller } from '../middleware/auth.ts'
import type { Queue } from '../queue.ts'
import type { Store } from '../store/store.ts'
import { view } from './jobs.ts'

export function clusterRoutes(deps: { store: Store; queue: Queue }) {
  const { store, queue } = deps
  const app = new Hono<{ Variables: { caller: Caller } }>()

  app.use('*', async (c, next) => {
    requireScope(c.get('caller'), 'read')
    await next()
  })

  app.get('/', async (c) => {
    const { clusters } = fromHost(await queue.inspect({ kind: 'clusters' })) as { clusters: { cluster: string }[] }
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
    const status = fromHost(await queue.inspect({ kind: 'status', cluster: name }))
    const jobs = await store.listJobs({ cluster: name, limit: 10 })
    return c.json({ ok: true, cluster: status, busy: await queue.isBusy(name), jobs: jobs.map(view) })
  })

  app.get('/:name/snapshots', async (c) => {
    const name = param(c.req.param('name'))
    const { snapshots } = fromHost(await queue.inspect({ kind: 'snapshots', cluster: name })) as { snapshots: unknown[] }
    return c.json({ ok: true, snapshots })
  })

  return app
}

function param(name: string): string {
  if (!CLUSTER_NAME.test(name)) throw new JobError(422, 'invalid_request', `name: "${name}" is not a valid cluster name`)
  return name
}
