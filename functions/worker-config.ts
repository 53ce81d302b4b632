/**
 * The Worker's bindings, read once per isolate into a typed config (a bad one is a 503 naming the
 * binding at fault), and the dispatcher to the Docker host they describe. Apart from worker.ts,
 * the entry, so that Node can load it (the entry imports the dashboard's assets as text, which
 * only wrangler's bundle knows how to).
 */
import { z } from 'zod'
import type { RemoteDispatcher } from './dispatch/dispatcher.ts'
import { SsmDispatcher, type SsmTarget } from './dispatch/ssm.ts'
import { JobError } from './errors.ts'
import { PolicyConfig } from '../scripts/engine/policy.ts'
import { formatPath, issueLines, rawIssues } from '../scripts/engine/zod-issues.ts'
import { HooksConfig, resolveSecrets } from './hooks/config.ts'
import type { D1Database } from './store/d1.ts'
import { createLogger } from '../scripts/engine/logger.ts'

/** The Worker's log: JSON lines, which Cloudflare's logs index by field (`job`, `level`). */
export const workerLog = createLogger({ format: 'json', write: (line) => console.log(line) })

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
export type WorkerConfig = z.infer<typeof WorkerConfig>

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
