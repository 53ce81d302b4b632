/**
 * `berth serve` configuration: defaults, then an optional file (`--config FILE` or BERTH_CONFIG,
 * YAML or JSON), then the environment — parsed once, validated once, every problem reported
 * with the key that holds it.
 */
import { readFileSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import YAML from 'yaml'
import { z } from 'zod'
import { berthHome } from '../scripts/engine/context.ts'
import { PolicyConfig } from '../scripts/engine/policy.ts'
import { formatPath, issueLines, rawIssues, type Path } from '../scripts/engine/zod-issues.ts'
import { HooksConfig, resolveSecrets } from './hooks/config.ts'

const argvWord = z.string().min(1).max(4096)

const Dispatch = z.discriminatedUnion('mode', [
  z.strictObject({
    mode: z.literal('local'),
    /** How berth is started on this host; default: the same node and berth as the server. */
    berth: z.array(argvWord).min(1).optional(),
  }),
  z.strictObject({
    mode: z.literal('ssh'),
    host: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*$/, 'is not a host name or address'),
    user: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*$/, 'is not a user name'),
    port: z.number().int().min(1).max(65535).default(22),
    identityFile: z.string().refine(isAbsolute, 'must be an absolute path'),
    knownHostsFile: z.string().refine(isAbsolute, 'must be an absolute path').optional(),
    /** berth on the Docker host, as argv. */
    berth: z.array(argvWord).min(1).default(['berth']),
  }),
  z.strictObject({
    /** AWS Systems Manager Run Command: credentials from the AWS SDK's usual chain (env, profile, role). */
    mode: z.literal('ssm'),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'is not an AWS region'),
    target: z.union([
      z.strictObject({
        instanceIds: z
          .array(z.string().regex(/^(i-(\w{8}|\w{17})|mi-\w{17})$/, 'is not an instance id'))
          .min(1),
      }),
      z.strictObject({
        tags: z
          .record(z.string().min(1), z.string())
          .refine((t) => Object.keys(t).length > 0, 'needs at least one tag'),
      }),
    ]),
    documentName: z.string().min(3).max(128).default('berth-job-run'),
    /** Another SSM endpoint (tests: the local one). */
    endpoint: z.url().optional(),
    maxConcurrency: z.union([z.string(), z.number()]).optional(),
    maxErrors: z.union([z.string(), z.number()]).optional(),
    timeoutSeconds: z.number().int().min(30).max(2_592_000).default(600),
    executionTimeoutSeconds: z.number().int().min(1).max(172_800).default(3600),
    pollMs: z.number().int().min(100).max(60_000).default(2000),
  }),
])

export const Limits = z.strictObject({
  /** Failed authentications per client address (and per presented token) in a window: 429 past it. */
  authFailures: z.number().int().min(1).max(100_000).default(30),
  authWindowSeconds: z.number().int().min(1).max(3600).default(60),
  /** Jobs one caller may have waiting at once. */
  maxQueuedPerActor: z.number().int().min(1).max(10_000).default(20),
  /** How long an answer read from the host (GET /v1/clusters…) is reused. */
  readCacheMs: z.number().int().min(0).max(60_000).default(2000),
  /** Different host reads running at once (the same read in flight is always shared). */
  hostReads: z.number().int().min(1).max(64).default(4),
  /** A job's log on the host is cut (its tail kept) past this size. */
  jobLogBytes: z
    .number()
    .int()
    .min(64 * 1024)
    .max(1024 ** 3)
    .default(20 * 1024 * 1024),
})

export const ServerConfigSchema = z.strictObject({
  home: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(8470),
  host: z.string().min(1).default('127.0.0.1'),
  maxClusters: z.number().int().min(1).max(64).default(4),
  drainSeconds: z.number().int().min(0).max(3600).default(30),
  /** How long a cancelled job may clean up before it is killed. */
  graceSeconds: z.number().int().min(1).max(3600).default(10),
  maxBodyBytes: z
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  autoRewire: z.boolean().default(true),
  dispatch: Dispatch.default({ mode: 'local' }),
  /** Slack, Jira and generic signed webhooks; secrets may be written `env:NAME`. */
  hooks: HooksConfig.default({ generic: {} }),
  /** A scheduled run missed while the server was down is run once at start if at most this old. */
  scheduleGraceSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3600)
    .default(6 * 3600),
  /** What jobs may ask of the Docker host, by level (scripts/engine/policy.ts). */
  policy: PolicyConfig.prefault({}),
  /** Proxies whose X-Forwarded-For is believed (their own addresses). */
  trustedProxies: z
    .array(z.string().regex(/^[0-9A-Fa-f:.]{2,45}$/, 'is not an IP address'))
    .default([]),
  limits: Limits.prefault({}),
  /** How long a dashboard sign-in lasts (the cookie and the server's session), in hours. */
  sessionHours: z.number().min(0.01).max(720).default(12),
})
export type ServerConfig = z.infer<typeof ServerConfigSchema>

/** Environment variables and the key each one sets (numbers and booleans parsed). */
const ENV: Record<string, [keyof ServerConfig, 'string' | 'number' | 'boolean']> = {
  BERTH_HOME: ['home', 'string'],
  PORT: ['port', 'number'],
  HOST: ['host', 'string'],
  BERTH_MAX_CLUSTERS: ['maxClusters', 'number'],
  BERTH_DRAIN_SECONDS: ['drainSeconds', 'number'],
  BERTH_GRACE_SECONDS: ['graceSeconds', 'number'],
  BERTH_AUTO_REWIRE: ['autoRewire', 'boolean'],
  BERTH_SCHEDULE_GRACE_SECONDS: ['scheduleGraceSeconds', 'number'],
  BERTH_SESSION_HOURS: ['sessionHours', 'number'],
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export function readConfig(opts: { file?: string; env?: NodeJS.ProcessEnv } = {}): ServerConfig {
  const env = opts.env ?? process.env
  const file = opts.file ?? env.BERTH_CONFIG
  let fromFile: Record<string, unknown> = {}
  if (file) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      throw new ConfigError(`config file ${file}: ${(err as Error).message}`)
    }
    let parsed: unknown
    try {
      parsed = YAML.parse(text)
    } catch (err) {
      throw new ConfigError(
        `config file ${file}: not valid YAML or JSON: ${(err as Error).message}`
      )
    }
    if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new ConfigError(`config file ${file}: expected a mapping of settings`)
    }
    fromFile = (parsed ?? {}) as Record<string, unknown>
  }
  const fromEnv: Record<string, unknown> = {}
  for (const [name, [key, type]] of Object.entries(ENV)) {
    const raw = env[name]
    if (raw === undefined || raw === '') continue
    fromEnv[key] =
      type === 'number' ? Number(raw) : type === 'boolean' ? !/^(0|false|no|off)$/i.test(raw) : raw
  }
  const r = ServerConfigSchema.safeParse({ home: berthHome(), ...fromFile, ...fromEnv })
  if (!r.success) {
    const where = (path: Path) => {
      const key = formatPath(path)
      const envName = Object.entries(ENV).find(([, [k]]) => k === path[0])?.[0]
      return envName && fromEnv[path[0] as string] !== undefined
        ? `${envName} (${key})`
        : file
          ? `${file}: ${key || '(file)'}`
          : key
    }
    throw new ConfigError(
      issueLines(
        rawIssues(r.error.issues, {
          knownKeys: (path) => (path.length === 0 ? Object.keys(ServerConfigSchema.shape) : []),
        }).map((i) => ({ path: where(i.path), message: i.message }))
      )
    )
  }
  try {
    return { ...r.data, hooks: resolveSecrets(r.data.hooks, env) }
  } catch (err) {
    throw new ConfigError(`${file ? `${file}: ` : ''}${(err as Error).message}`)
  }
}
