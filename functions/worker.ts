/**
 * The Workers entry: the same app as `berth serve` (createApp), over D1, with jobs sent to the
 * Docker host through a RemoteDispatcher (SSM Run Command) and followed by the per-minute cron
 * trigger, which also runs the snapshot schedules. Bindings are read once per isolate into a
 * typed config (worker-config.ts); a bad one answers every request with 503 naming the binding
 * at fault.
 */
import type { ExecutionContext } from 'hono'
import { createApp } from './app.ts'
import type { RemoteDispatcher } from './dispatch/dispatcher.ts'
import { EdgeQueue } from './edge-queue.ts'
import { internalError, JobError } from './errors.ts'
import { Notifier } from './notify.ts'
import { logRun, tickSchedules } from './schedules.ts'
import { D1Store } from './store/d1.ts'
import { StoreConflictError } from './store/store.ts'
import {
  readWorkerConfig,
  remoteDispatcherFor,
  workerLog,
  type Env,
  type ScheduledController,
  type WorkerConfig,
} from './worker-config.ts'
// The dashboard's script and style sheet, bundled as text (wrangler.toml's rules).
import appJs from './web/assets/app.js'
import appCss from './web/assets/app.css'

export type { Env, ScheduledController }

interface Runtime {
  store: D1Store
  queue: EdgeQueue
  notifier: Notifier
  app: ReturnType<typeof createApp>
  config: WorkerConfig
  /** Set once a token is known to exist: the bootstrap is never looked at again. */
  bootstrapped: boolean
}

const runtimes = new WeakMap<Env, Runtime>()

function runtimeFor(env: Env): Runtime {
  let rt = runtimes.get(env)
  if (rt) return rt
  const config = readWorkerConfig(env)
  const store = new D1Store(env.DB)
  const log = workerLog
  const jira = config.hooks.jira
  const notifier = new Notifier({
    store,
    jira:
      jira?.baseUrl && jira.authorization
        ? { baseUrl: jira.baseUrl, authorization: jira.authorization }
        : undefined,
    // Reports run in waitUntil, which ends 30 s after the response: two short retries fit.
    backoffMs: [1000, 4000],
    log,
  })
  let dispatcher: RemoteDispatcher | undefined
  const queue = new EdgeQueue({
    store,
    dispatcher: () => (dispatcher ??= remoteDispatcherFor(env)),
    maxClusters: config.maxClusters,
    log,
    onChange: (job, stage) => notifier.jobChanged(job, stage),
  })
  // Cloudflare sets CF-Connecting-IP to the client's address on every request it passes on.
  const app = createApp({
    store,
    queue,
    hooks: config.hooks,
    policy: config.policy,
    peer: (c) => c.req.header('cf-connecting-ip'),
    log,
    web: { assets: { js: appJs, css: appCss } },
  })
  rt = { store, queue, notifier, app, config, bootstrapped: !config.adminTokenHash }
  runtimes.set(env, rt)
  return rt
}

/**
 * The first admin token, on a Worker that has none: the operator generates a token, keeps it, and
 * sets only its SHA-256 as BERTH_ADMIN_TOKEN_SHA256 (the Node server prints a new one instead;
 * a Worker has nobody to print it to). Only while no token was ever created, revoked ones
 * included, so revoking it never brings it back.
 */
async function bootstrapAdmin(rt: Runtime): Promise<void> {
  if (rt.bootstrapped || !rt.config.adminTokenHash) return
  if ((await rt.store.countTokens()) === 0) {
    try {
      await rt.store.createToken({
        id: crypto.randomUUID(),
        name: 'admin',
        hash: rt.config.adminTokenHash,
        scopes: ['admin'],
      })
      await rt.store.audit({
        actor: 'berth',
        source: null,
        action: 'token.create',
        target: 'admin',
        outcome: 'bootstrap (BERTH_ADMIN_TOKEN_SHA256)',
        detail: null,
      })
    } catch (err) {
      // Another isolate made it first.
      if (!(err instanceof StoreConflictError)) throw err
    }
  }
  rt.bootstrapped = true
}

const errorResponse = (err: unknown) => {
  if (err instanceof JobError) return err.getResponse()
  workerLog.error(`internal error: ${(err as Error)?.stack ?? String(err)}`)
  return internalError()
}

export default {
  async fetch(req: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    let rt: Runtime
    try {
      rt = runtimeFor(env)
      await bootstrapAdmin(rt)
    } catch (err) {
      return errorResponse(err)
    }
    const res = await rt.app.fetch(req, env, ctx)
    // Jobs a request queued are sent to the host, and their reports posted, after the response
    // (in that order: starting a job is what asks for its "started" post). Everything begun here
    // ends here: workerd cancels what a finished request leaves behind.
    ctx.waitUntil(rt.queue.idle().then(() => rt.notifier.idle()))
    return res
  },

  async scheduled(controller: ScheduledController, env: Env, ctx: ExecutionContext): Promise<void> {
    const rt = runtimeFor(env)
    const runs = await tickSchedules(
      { store: rt.store, queue: rt.queue, policy: rt.config.policy },
      new Date(controller.scheduledTime),
      rt.config.scheduleGraceSeconds * 1000
    )
    for (const r of runs) logRun(workerLog, r)
    await rt.queue.poll()
    ctx.waitUntil(rt.queue.idle().then(() => rt.notifier.idle()))
  },
}
