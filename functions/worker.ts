/**
 * The Workers entry: the same app as `berth serve` (createApp), over D1, with jobs sent to the
 * Docker host through a RemoteDispatcher (SSM Run Command) and followed by the per-minute cron
 * trigger, which also runs the snapshot schedules. Bindings are read once per isolate into a
 * typed config; a bad one answers every request with 503 naming the binding at fault.
 */
import type { ExecutionContext } from 'hono'
import { z } from 'zod'
import { createApp } from './app.ts'
import type { RemoteDispatcher } from './dispatch/dispatcher.ts'
import { SsmDispatcher, type SsmTarget } from './dispatch/ssm.ts'
import { EdgeQueue } from './edge-queue.ts'
import { internalError, JobError } from './errors.ts'
import { PolicyConfig } from '../scripts/engine/policy.ts'
import { formatPath, issueLines, rawIssues } from '../scripts/engine/zod-issues.ts'
import { HooksConfig, resolveSecrets } from './hooks/config.ts'
import { Notifier } from './notify.ts'
import { logRun, tickSchedules } from './schedules.ts'
import { createLogger } from '../scripts/engine/logger.ts'

/** The Worker's log: JSON lines, which Cloudflare's logs index by field (`job`, `level`). */
const workerLog = createLogger({ format: 'json', write: (line) => console.log(line) })
import { D1Store, type D1Database } from './store/d1.ts'
import { StoreConflictError } from './store/store.ts'

export interface Env {
  DB: D1Database
  /** Inbound hooks as JSON text (the Node config's `hooks:`); secrets as `env:NAME`. */
  HOOKS?: string
  /** The host policy as JSON text (the Node config's `policy:`); the defaults without it. */
  POLICY?: string
  /** SHA-256 (hex) of the first admin token, which the operator generated and keeps. */
  BERTH_ADMIN_TOKEN_SHA256?: string
  BERTH_MAX_CLUSTERS?: string
  BERTH_SCHEDULE_GRACE_SECONDS?: string
  /** For the SSM dispatcher: SSM_ENDPOINT (tests), AWS_REGION, AWS_ACCESS_KEY_ID,
   *  AWS_SECRET_ACCESS_KEY, SSM_DOCUMENT, SSM_TARGETS (JSON). */
  [binding: string]: unknown
}

/** The part of the Workers runtime's `controller` used here. */
export interface ScheduledController {
  scheduledTime: number
  cron: string
}

const misconfigured = (message: string) => new JobError('misconfigured', message)

/** A configuration problem said without the value at fault (berth's messages quote values). */
const withoutValues = (message: string) => message.replace(/"[^"]*"/g, 'the value')

const WorkerConfig = z.object({
  hooks: HooksConfig,
  policy: PolicyConfig.prefault({}),
  adminTokenHash: z
    .string()
    .transform((s) => s.trim().toLowerCase())
    .pipe(z.string().regex(/^[0-9a-f]{64}$/, 'must be the SHA-256 of the token in hex (64 digits)'))
    .optional(),
  maxClusters: z.coerce.number().int().min(1).max(64).default(4),
  scheduleGraceSeconds: z.coerce
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3600)
    .default(6 * 3600),
})
type WorkerConfig = z.infer<typeof WorkerConfig>

/** The bindings, parsed and checked once; throws a 503 naming what is wrong. */
/**
 * A binding's JSON. The parser's own message quotes the text around the fault, and a binding can
 * hold secrets: the 503 says where, never what.
 */
function bindingJson(env: Env, name: string): unknown {
  const text = typeof env[name] === 'string' && env[name].trim() ? env[name] : '{}'
  try {
    return JSON.parse(text)
  } catch (err) {
    const at = /position (\d+)/.exec((err as Error).message)?.[1]
    throw misconfigured(`${name} is not valid JSON${at ? ` (at character ${at})` : ''}`)
  }
}

export function readWorkerConfig(env: Env): WorkerConfig {
  const parsed = WorkerConfig.safeParse({
    hooks: bindingJson(env, 'HOOKS'),
    policy: bindingJson(env, 'POLICY'),
    adminTokenHash: env.BERTH_ADMIN_TOKEN_SHA256 || undefined,
    maxClusters: env.BERTH_MAX_CLUSTERS || undefined,
    scheduleGraceSeconds: env.BERTH_SCHEDULE_GRACE_SECONDS || undefined,
  })
  if (!parsed.success) {
    const names: Record<string, string> = {
      hooks: 'HOOKS',
      policy: 'POLICY',
      adminTokenHash: 'BERTH_ADMIN_TOKEN_SHA256',
      maxClusters: 'BERTH_MAX_CLUSTERS',
      scheduleGraceSeconds: 'BERTH_SCHEDULE_GRACE_SECONDS',
    }
    const issues = rawIssues(parsed.error.issues).map((i) => ({
      path: formatPath([names[String(i.path[0])], ...i.path.slice(1)]),
      message: withoutValues(i.message),
    }))
    throw misconfigured(issueLines(issues, '; '))
  }
  const strings = Object.fromEntries(
    Object.entries(env).filter(([, v]) => typeof v === 'string')
  ) as Record<string, string>
  try {
    return { ...parsed.data, hooks: resolveSecrets(parsed.data.hooks, strings, 'HOOKS') }
  } catch (err) {
    throw misconfigured((err as Error).message)
  }
}

const notConfigured = (message: string) =>
  new JobError('dispatch_not_configured', `dispatch not configured: ${message}`)

/**
 * The dispatcher that sends jobs to the Docker host: SSM Run Command, from the bindings. Asked
 * for only when a job starts (not per request), so a Worker without it still serves reads and
 * records jobs; each job then fails at its start with this 503's code and message.
 */
export function remoteDispatcherFor(env: Env): RemoteDispatcher {
  const text = (name: string) =>
    typeof env[name] === 'string' && env[name].trim() ? env[name].trim() : undefined
  const missing = [
    'AWS_REGION',
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'SSM_TARGETS',
  ].filter((n) => !text(n))
  if (missing.length)
    throw notConfigured(`set ${missing.join(', ')} to reach the Docker host through SSM`)
  let target: SsmTarget
  try {
    target = JSON.parse(text('SSM_TARGETS')!) as SsmTarget
  } catch {
    throw notConfigured('SSM_TARGETS is not valid JSON ({"instanceIds":["i-…"]} or {"tags":{…}})')
  }
  try {
    return new SsmDispatcher({
      region: text('AWS_REGION'),
      // Explicit: a Worker has no credential chain (files, instance metadata) to fall back on.
      credentials: {
        accessKeyId: text('AWS_ACCESS_KEY_ID')!,
        secretAccessKey: text('AWS_SECRET_ACCESS_KEY')!,
      },
      endpoint: text('SSM_ENDPOINT'),
      ...(text('SSM_DOCUMENT') ? { documentName: text('SSM_DOCUMENT') } : {}),
      target,
      log: workerLog,
    })
  } catch (err) {
    throw notConfigured(withoutValues((err as Error).message))
  }
}

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
