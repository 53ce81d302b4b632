/**
 * /v1/clusters: what is on the Docker host now — asked of the host through the dispatcher
 * (a read-only `berth job run` beside whatever runs, shared between readers: host-reads.ts), with
 * the service's own view of each cluster's jobs alongside. A token sees only the clusters it may
 * read.
 */
import { Hono, type Context } from 'hono'
import { CLUSTER_NAME } from '../../scripts/engine/labels.ts'
import { anyMatch } from '../../scripts/engine/patterns.ts'
import { forbidden, fromHost, invalid } from '../errors.ts'
import { requireScope, type AuthEnv } from '../middleware/auth.ts'
import type { SubmitDeps } from '../submit.ts'
import { view } from './jobs.ts'

export function clusterRoutes(deps: SubmitDeps) {
  const { store, queue } = deps
  const app = new Hono<AuthEnv>()

  app.get('/', async (c) => {
    const caller = c.get('caller')
    requireScope(caller, 'read')
    const { clusters } = fromHost(await queue.inspect({ kind: 'clusters' })) as {
      clusters: { cluster: string }[]
    }
    const out = await Promise.all(
      clusters
        .filter((x) => anyMatch(caller.clusters, x.cluster))
        .map(async (x) => {
          const [last] = await store.listJobs({ cluster: x.cluster, limit: 1 })
          return { ...x, busy: await queue.isBusy(x.cluster), lastJob: last ? view(last) : null }
        })
    )
    return c.json({ ok: true, clusters: out })
  })

  app.get('/:name', async (c) => {
    const name = readable(c)
    const status = fromHost(await queue.inspect({ kind: 'status', cluster: name }))
    const jobs = await store.listJobs({ cluster: name, limit: 10 })
    return c.json({
      ok: true,
      cluster: status,
      busy: await queue.isBusy(name),
      jobs: jobs.map(view),
    })
  })

  app.get('/:name/snapshots', async (c) => {
    const name = readable(c)
    const { snapshots } = fromHost(await queue.inspect({ kind: 'snapshots', cluster: name })) as {
      snapshots: unknown[]
    }
    return c.json({ ok: true, snapshots })
  })

  return app
}

/** The route's cluster name, once valid and readable by the caller. */
function readable(c: Context<AuthEnv>): string {
  const name = c.req.param('name') as string
  if (!CLUSTER_NAME.test(name))
    throw invalid(`name: "${name.slice(0, 60)}" is not a valid cluster name`)
  const denied = c.get('who').denies('read', name)
  if (denied) throw forbidden(denied)
  return name
}
