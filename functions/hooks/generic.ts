/**
 * POST /hooks/<name>: any sender that signs GitHub's way (`X-Hub-Signature-256: sha256=<HMAC of
 * the raw body>`) with the hook's own secret starts the hook's own job. The job is fixed in the
 * config (hooks.generic.<name>.job): nothing in the payload reaches it, so the body is never parsed.
 *
 * A delivery id (`X-GitHub-Delivery`, else `Idempotency-Key`) makes redeliveries answer 200 with
 * the job already made. A sender that sends neither gets a job for every delivery it makes.
 */
import { Hono } from 'hono'
import { invalid, notFound, unauthorized } from '../errors.ts'
import { hashToken as sha256Hex } from '../middleware/auth.ts'
import { view } from '../routes/jobs.ts'
import { submitJob, type JobRequestBody } from '../submit.ts'
import type { HookDeps } from './routes.ts'
import { verifyHubSignature } from './signatures.ts'

const DELIVERY_ID = /^[\x21-\x7e]{1,200}$/

export function genericRoutes(deps: HookDeps) {
  const { store } = deps
  const app = new Hono()

  app.post('/:name', async (c) => {
    const name = c.req.param('name')
    // Own keys only: "constructor" or "__proto__" must not find Object's.
    const hook = Object.hasOwn(deps.hooks.generic, name) ? deps.hooks.generic[name] : undefined
    if (!hook) throw notFound(`no hook named "${name.slice(0, 60)}"`)
    const raw = await c.req.text()
    const verdict = await verifyHubSignature(hook.secret, c.req.header('x-hub-signature-256'), raw)
    if (!verdict.ok) throw unauthorized(`X-Hub-Signature-256: ${verdict.reason}`)

    const [header, id] = deliveryId(c.req.header('x-github-delivery'), c.req.header('idempotency-key'))
    if (id !== undefined && !DELIVERY_ID.test(id)) throw invalid(`${header}: must be 1 to 200 printable characters without spaces`)
    const idempotencyKey = id === undefined ? null : `hook:${name}:${id}`
    if (idempotencyKey) {
      const seen = await store.findJobByIdempotencyKey(idempotencyKey)
      if (seen) return c.json({ ok: true, duplicate: true, job: view(seen) }, 200)
    }
    const { kind, cluster, topologyRef, snapshot, options } = hook.job
    const req: JobRequestBody = {
      kind,
      cluster,
      // An install needs a topology: the stored one named in the template, else the cluster's own.
      ...(topologyRef || kind === 'install' ? { topologyRef: topologyRef ?? cluster } : {}),
      ...(snapshot ? { snapshot } : {}),
      ...(options ? { options } : {}),
    }
    const { job, existing } = await submitJob(deps, req, {
      actor: `hook:${name}`,
      source: id ?? null,
      idempotencyKey,
      bodyHash: await sha256Hex(raw),
    })
    if (existing) return c.json({ ok: true, duplicate: true, job: view(job) }, 200)
    return c.json({ ok: true, job: view(job) }, 202)
  })

  return app
}

/** GitHub's own delivery id first; any other sender may send a standard Idempotency-Key. */
function deliveryId(github: string | undefined, key: string | undefined): [header: string, id: string | undefined] {
  if (github !== undefined) return ['X-GitHub-Delivery', github]
  return ['Idempotency-Key', key]
}
