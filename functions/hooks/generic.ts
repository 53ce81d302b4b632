/**
 * POST /hooks/<name>: a signed delivery starts the hook's own job. The job is fixed in the config
 * (hooks.generic.<name>.job): nothing in the payload reaches it, so the body is never parsed.
 *
 * Signatures (hooks.generic.<name>.signature):
 * - `timestamped` (the default): `X-Berth-Signature: v1=<HMAC of "v1:<X-Berth-Timestamp>:<body>">`,
 *   refused once the timestamp is five minutes away from now. A captured delivery replays as the
 *   same job within the window (its key is its signed timestamp and body) and not at all after.
 * - `github`: `X-Hub-Signature-256: sha256=<HMAC of the body>`, as GitHub signs. Nothing time-bound
 *   is signed: a captured delivery stays valid for ever. A delivery id (`X-GitHub-Delivery`, else
 *   `Idempotency-Key`) makes a redelivery the job already made; a body seen within five minutes is
 *   the same job too. Past that, a replay makes a new job: use this mode only where the sender
 *   cannot sign a timestamp.
 */
import { Hono } from 'hono'
import { invalid, notFound, unauthorized } from '../errors.ts'
import { sha256Hex } from '../sha256.ts'
import { fixedPrincipal, type Right } from '../principal.ts'
import { view } from '../routes/jobs.ts'
import { submitJob, type JobRequestBody } from '../submit.ts'
import type { HookDeps } from './deps.ts'
import { SLACK_WINDOW_SECONDS, verifyBerthSignature, verifyHubSignature } from './signatures.ts'

const DELIVERY_ID = /^[\x21-\x7e]{1,200}$/

export function genericRoutes(deps: HookDeps) {
  const { store } = deps
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000))
  const app = new Hono()

  app.post('/:name', async (c) => {
    const name = c.req.param('name')
    // Own keys only: "constructor" or "__proto__" must not find Object's.
    const hook = Object.hasOwn(deps.hooks.generic, name) ? deps.hooks.generic[name] : undefined
    if (!hook) throw notFound(`no hook named "${name.slice(0, 60)}"`)
    const address = [`address ${deps.client?.(c) ?? 'unknown'}`]
    deps.limiter?.check(address)
    const raw = await c.req.text()
    const timestamp = c.req.header('x-berth-timestamp')
    const verdict =
      hook.signature === 'github'
        ? await verifyHubSignature(hook.secret, c.req.header('x-hub-signature-256'), raw)
        : await verifyBerthSignature(
            hook.secret,
            { signature: c.req.header('x-berth-signature'), timestamp },
            raw,
            now()
          )
    if (!verdict.ok) {
      deps.limiter?.fail(address)
      throw unauthorized(
        `${hook.signature === 'github' ? 'X-Hub-Signature-256' : 'X-Berth-Signature'}: ${verdict.reason}`
      )
    }

    const actor = `hook:${name}`
    const bodyHash = await sha256Hex(raw)
    let idempotencyKey: string | null
    let source: string | null = null
    if (hook.signature === 'github') {
      const [header, id] = deliveryId(
        c.req.header('x-github-delivery'),
        c.req.header('idempotency-key')
      )
      if (id !== undefined && !DELIVERY_ID.test(id))
        throw invalid(`${header}: must be 1 to 200 printable characters without spaces`)
      idempotencyKey = id === undefined ? null : `${actor}:${id}`
      source = id ?? null
    } else {
      // The signed timestamp and body: the same delivery, however often it is replayed.
      idempotencyKey = `${actor}:t:${await sha256Hex(`${timestamp}:${raw}`)}`
      source = `t=${timestamp}`
    }
    const duplicate = idempotencyKey ? await store.findJobByIdempotencyKey(idempotencyKey) : null
    const since = new Date((now() - SLACK_WINDOW_SECONDS) * 1000).toISOString()
    const seen = duplicate ?? (await store.findRecentJob({ requestedBy: actor, bodyHash, since }))
    if (seen) return c.json({ ok: true, duplicate: true, job: view(seen) }, 200)

    const { kind, cluster, topologyRef, snapshot, options } = hook.job
    const req: JobRequestBody = {
      kind,
      cluster,
      // An install needs a topology: the stored one named in the template, else the cluster's own.
      ...(topologyRef || kind === 'install' ? { topologyRef: topologyRef ?? cluster } : {}),
      ...(snapshot ? { snapshot } : {}),
      ...(options ? { options } : {}),
    }
    // The configuration is the grant: this hook's job on its cluster, and the pruning its own
    // `keep` asks for (written by whoever wrote the server's configuration).
    const rights: Right[] = [kind, ...(options?.keep ? (['prune'] as const) : [])]
    const who = fixedPrincipal({ actor, level: hook.level ?? deps.policy.default, cluster, rights })
    const { job, existing } = await submitJob(deps, req, { who, source, idempotencyKey, bodyHash })
    if (existing) return c.json({ ok: true, duplicate: true, job: view(job) }, 200)
    return c.json({ ok: true, job: view(job) }, 202)
  })

  return app
}

/** GitHub's own delivery id first; any other sender may send a standard Idempotency-Key. */
function deliveryId(
  github: string | undefined,
  key: string | undefined
): [header: string, id: string | undefined] {
  if (github !== undefined) return ['X-GitHub-Delivery', github]
  return ['Idempotency-Key', key]
}
