/**
 * Configuration of the inbound hooks (Slack, Jira, generic signed webhooks). Pure zod, so the
 * Node server (from its config file) and the Worker (from its bindings) validate it alike.
 * A secret may be written `env:NAME` to be read from the environment instead of the file.
 */
import { z } from 'zod'
import { clusterName, JobOptions } from '../../scripts/engine/job-spec.ts'
import { SNAPSHOT_ID } from '../../scripts/engine/labels.ts'
import { CLUSTER_PATTERN } from '../../scripts/engine/patterns.ts'
import { SHARED_LEVELS } from '../../scripts/engine/policy.ts'
import { SLACK_VERBS } from './slack-command.ts'
import { HOOK_KINDS, optionIssues } from '../../scripts/engine/job-kinds.ts'

const secret = z.string().min(8, 'must be at least 8 characters (or env:NAME)')

const clusterPatterns = z
  .array(z.string().regex(CLUSTER_PATTERN, 'is not a cluster name or glob'))
  .min(1)
/** The host-policy level of what an entry installs; privileged is for admin tokens only. */
const level = z
  .enum(SHARED_LEVELS, {
    error: 'must be restricted or baseline (privileged is for admin tokens only)',
  })
  .optional()

const SlackRule = z.strictObject({
  users: z.array(z.string().regex(/^[UW][A-Z0-9]{2,20}$/, 'is not a Slack user id')).optional(),
  channels: z
    .array(z.string().regex(/^[CGD][A-Z0-9]{2,20}$/, 'is not a Slack channel id'))
    .optional(),
  kinds: z.array(z.enum(SLACK_VERBS)).min(1),
  clusters: clusterPatterns,
  level,
})

/** Who may install what from Jira: every field given must match; `clusters` is required. */
const JiraRule = z.strictObject({
  /** Project keys (the issue key's prefix: OPS of OPS-17). */
  projects: z
    .array(z.string().regex(/^[A-Z][A-Z0-9_]{0,49}$/, 'is not a Jira project key'))
    .optional(),
  /** Account ids of who made the change (the event's user: who created or labelled the issue). */
  users: z.array(z.string().min(1).max(128)).optional(),
  /** Account ids of the issue's reporter. */
  reporters: z.array(z.string().min(1).max(128)).optional(),
  /** Jira groups of the event's user (asked of Jira's REST API: needs baseUrl and authorization). */
  groups: z.array(z.string().min(1).max(255)).optional(),
  /** The cluster names an issue may ask for. */
  clusters: clusterPatterns,
  /** The stored topologies an issue may install from (names or globs); default: the cluster's own. */
  templates: z
    .array(z.string().regex(CLUSTER_PATTERN, 'is not a topology name or glob'))
    .optional(),
  level,
})

export const SlackConfig = z.strictObject({
  signingSecret: secret,
  /** response_url must start with this (Slack's own host): nothing else is ever posted to. */
  responseUrlPrefix: z.url().default('https://hooks.slack.com/'),
  /** Who may do what; nobody may do anything but `help` without a rule. */
  allow: z.array(SlackRule).default([]),
})

export const JiraConfig = z
  .strictObject({
    secret,
    /** For comments back on the issue: https://<site>.atlassian.net */
    baseUrl: z.url().optional(),
    /** The Authorization header for the REST API: `Basic <base64 email:token>` or `Bearer <token>`. */
    authorization: z.string().optional(),
    /** Only issues carrying this label start an install. */
    label: z.string().min(1).default('berth-install'),
    /** The issue field holding the cluster name (e.g. customfield_10050). */
    clusterField: z.string().min(1),
    /** The issue field naming the stored topology; without it, the cluster's own name. */
    topologyField: z.string().min(1).optional(),
    /** Who may install what; nothing is installed from Jira without a rule that allows it. */
    allow: z.array(JiraRule).default([]),
  })
  .refine((j) => !j.allow.some((r) => r.groups) || (j.baseUrl && j.authorization), {
    error: 'allow: a rule naming groups needs baseUrl and authorization (groups are asked of Jira)',
    path: ['allow'],
  })

export const GenericHook = z.strictObject({
  secret,
  /**
   * timestamped (default): X-Berth-Signature over the body and X-Berth-Timestamp, refused once five
   * minutes old. github: X-Hub-Signature-256 over the body alone, as GitHub signs; nothing
   * time-bound is signed, so a captured delivery can be replayed later (berth folds replays of one
   * body within five minutes, and a repeated delivery id, into one job).
   */
  signature: z.enum(['timestamped', 'github']).default('timestamped'),
  level,
  /** The job this hook starts: fixed here, nothing is taken from the payload. */
  job: z
    .strictObject({
      kind: z.enum(HOOK_KINDS),
      cluster: clusterName,
      topologyRef: clusterName.optional(),
      snapshot: z.string().regex(SNAPSHOT_ID).optional(),
      options: JobOptions.omit({ file: true }).optional(),
    })
    .superRefine((job, ctx) => {
      // Refused when the config is read, not at the first delivery.
      for (const issue of optionIssues(job.kind, job.options))
        ctx.addIssue({ code: 'custom', ...issue })
    }),
})

export const HooksConfig = z.strictObject({
  slack: SlackConfig.optional(),
  jira: JiraConfig.optional(),
  /** POST /hooks/<name>; `slack` and `jira` are taken. */
  generic: z
    .record(
      z
        .string()
        .regex(
          /^(?!(slack|jira)$)[a-z0-9][a-z0-9-]{0,40}$/,
          'is not a hook name (a-z, 0-9, -; not slack or jira)'
        ),
      GenericHook
    )
    .default({}),
})
export type HooksConfig = z.infer<typeof HooksConfig>

/** Replaces every `env:NAME` string with that variable's value; a missing one is an error. */
export function resolveSecrets<T>(
  value: T,
  env: Record<string, string | undefined>,
  path = 'hooks'
): T {
  if (typeof value === 'string' && value.startsWith('env:')) {
    const name = value.slice(4)
    const v = env[name]
    if (!v) throw new Error(`${path}: the environment variable ${name} is not set`)
    return v as T
  }
  if (Array.isArray(value))
    return (value as unknown[]).map((v, i) => resolveSecrets(v, env, `${path}[${i}]`)) as T
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, resolveSecrets(v, env, `${path}.${k}`)])
    ) as T
  }
  return value
}
