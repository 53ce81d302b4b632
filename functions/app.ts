/**
 * createApp(deps) → the HTTP API, the same on Node and on Workers: nothing here imports node:*,
 * dockerode or zx. Runtime-specific parts (store, dispatcher, queue, the peer's address) come in
 * as deps.
 */
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { secureHeaders } from 'hono/secure-headers'
import { DEFAULT_POLICY, type Policy } from '../scripts/engine/policy.ts'
import { forbidden, internalError, invalid, JobError, notFound } from './errors.ts'
import type { HooksConfig } from './hooks/config.ts'
import { hookRoutes } from './hooks/routes.ts'
import { storeTopology } from './stored-topology.ts'
import { DEFAULT_HOST_READS, withSharedReads, type HostReadLimits } from './host-reads.ts'
import { bearerAuth, requireScope, type AuthEnv } from './middleware/auth.ts'
import { clientAddress, isTrustedPeer, type PeerAddress } from './middleware/client.ts'
import {
  DEFAULT_FAILURE_LIMITS,
  FailureLimiter,
  type FailureLimits,
} from './middleware/failures.ts'
import { openApiDocument } from './openapi.ts'
import type { Queue } from './queue.ts'
import { listLimit } from './routes/paging.ts'
import { clusterRoutes } from './routes/clusters.ts'
import { jobRoutes } from './routes/jobs.ts'
import { scheduleRoutes } from './routes/schedules.ts'
import type { Store } from './store/store.ts'
import { DEFAULT_MAX_QUEUED_PER_ACTOR, type SubmitDeps } from './submit.ts'
import { silentLogger, type Logger } from '../scripts/engine/logger.ts'
import { apiSession } from './web/session.ts'
import { webRoutes, type WebOptions } from './web/routes.tsx'

export interface AppDeps {
  store: Store
  queue: Queue
  /** Largest request body accepted (bytes). */
  maxBody?: number
  /** Inbound webhooks (Slack, Jira, generic); none configured by default. */
  hooks?: HooksConfig
  /** Seconds since the epoch, for signature windows (tests move it). */
  now?: () => number
  /** The host policy every job passes; the defaults when not given. */
  policy?: Policy
  /** How the runtime tells the connection's address. */
  peer?: PeerAddress
  /** Addresses whose X-Forwarded-For is believed. */
  trustedProxies?: string[]
  authFailures?: FailureLimits
  hostReads?: HostReadLimits
  maxQueuedPerActor?: number
  /** Where the service says what it refuses (the failure limits). */
  log?: Logger
  /** The dashboard (web/routes.tsx): its script and style sheet, and how long a sign-in lasts. */
  web?: WebOptions
}

/** What every route and hook builds jobs with. */
export type ServiceDeps = SubmitDeps

export function createApp(deps: AppDeps) {
  const { store } = deps
  const service: ServiceDeps = {
    store,
    queue: withSharedReads(deps.queue, deps.hostReads ?? DEFAULT_HOST_READS),
    policy: deps.policy ?? DEFAULT_POLICY,
    maxQueuedPerActor: deps.maxQueuedPerActor ?? DEFAULT_MAX_QUEUED_PER_ACTOR,
  }
  const log = deps.log ?? silentLogger
  const limiter = new FailureLimiter(
    deps.authFailures ?? DEFAULT_FAILURE_LIMITS,
    (key, failures, until) => {
      log.warn(
        `auth: ${failures} failed authentications from ${key}; refusing it with 429 until ${until.toISOString()}`
      )
      void store
        .audit({
          actor: key,
          source: null,
          action: 'auth.limit',
          target: null,
          outcome: 'refused',
          detail: { failures, until: until.toISOString() },
        })
        .catch(() => {})
    }
  )
  const client = (c: Parameters<PeerAddress>[0]) =>
    clientAddress(c, deps.peer, deps.trustedProxies ?? [])
  const app = new Hono<AuthEnv>()

  // The dashboard's pages load only berth's own script and style sheet: no inline script or
  // style, no other origin, no framing.
  app.use(
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'"],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"],
      },
      xFrameOptions: 'DENY',
      // Not no-referrer: under it a browser sends `Origin: null` with a form post, which the
      // dashboard's CSRF check must refuse (a sandboxed frame's posts say null too).
      referrerPolicy: 'same-origin',
    })
  )
  app.use(
    bodyLimit({
      maxSize: deps.maxBody ?? 1024 * 1024,
      onError: () => {
        throw new JobError(
          'body_too_large',
          `the body is larger than ${deps.maxBody ?? 1024 * 1024} bytes`
        )
      },
    })
  )
  app.get('/healthz', (c) => c.json({ ok: true }))

  const openapi = openApiDocument()
  app.get('/v1/openapi.json', (c) => c.json(openapi))

  const v1 = new Hono<AuthEnv>()
  // A dashboard session stands for its token on /v1 too (its writes carry the CSRF header).
  v1.use(
    bearerAuth(store, {
      defaultLevel: service.policy.default,
      limiter,
      client,
      session: apiSession(store),
    })
  )
  v1.route('/jobs', jobRoutes(service))
  v1.route('/clusters', clusterRoutes(service))
  v1.route('/schedules', scheduleRoutes(service))

  // A stored topology is read and written by whoever may install it (its name is its cluster's):
  // it holds bootstrap commands and environment values that a reader of the cluster need not see.
  v1.put('/topologies/:name', async (c) => {
    const who = c.get('who')
    const name = c.req.param('name')
    const denied = who.denies('install', name)
    if (denied) throw forbidden(denied)
    const saved = await storeTopology(store, {
      name,
      text: await c.req.text(),
      actor: who.actor,
      source: c.get('client'),
    })
    return c.json({ ok: true, topology: saved })
  })

  v1.get('/topologies/:name', async (c) => {
    const denied = c.get('who').denies('install', c.req.param('name'))
    if (denied) throw forbidden(denied)
    const t = await store.getTopology(c.req.param('name'))
    if (!t) throw notFound(`no stored topology named "${c.req.param('name')}"`)
    return c.json({ ok: true, topology: t })
  })

  v1.get('/audit', async (c) => {
    requireScope(c.get('caller'), 'admin')
    const limit = listLimit(c.req.query('limit'), 100, 1000)
    const raw = c.req.query('before')
    if (raw !== undefined && !/^\d{1,15}$/.test(raw))
      throw invalid(`before: "${raw.slice(0, 40)}" is not an audit id`)
    return c.json({
      ok: true,
      audit: await store.listAudit({ limit, before: raw === undefined ? undefined : Number(raw) }),
    })
  })

  app.route('/v1', v1)
  app.route(
    '/hooks',
    hookRoutes({ ...service, hooks: deps.hooks ?? { generic: {} }, now: deps.now, limiter, client })
  )
  const https = (c: Parameters<PeerAddress>[0]) =>
    new URL(c.req.url).protocol === 'https:' ||
    (c.req.header('x-forwarded-proto') === 'https' &&
      isTrustedPeer(c, deps.peer, deps.trustedProxies ?? []))
  const web = deps.web
    ? webRoutes({ ...service, web: deps.web, limiter, client, https, log })
    : null
  if (web) app.route('/', web.routes)
  app.notFound((c) => web?.notFoundPage(c) ?? notFound('no such route').getResponse())
  app.onError((err, c) => {
    if (err instanceof JobError) return err.getResponse()
    if ('getResponse' in err) return (err as { getResponse(): Response }).getResponse()
    // A client that went away in the middle of its upload: one line, not a stack.
    if (isAborted(err)) {
      log.info(`request aborted by the client: ${c.req.method} ${c.req.path} (${err.message})`)
      return new JobError('aborted', 'the request body was not received whole').getResponse()
    }
    log.error(`internal error: ${c.req.method} ${c.req.path}: ${err.stack ?? err}`)
    return internalError()
  })
  return app
}

function isAborted(err: Error): boolean {
  const code = (err as { code?: unknown }).code
  return (
    err.name === 'AbortError' ||
    code === 'ECONNRESET' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    /aborted|terminated|premature close/i.test(err.message)
  )
}
