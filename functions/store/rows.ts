/**
 * The tables' rows as SQLite and D1 both return them, and their records: one mapping for both
 * stores. Runtime-neutral.
 */
import type { Channel } from '../channels.ts'
import type {
  AuditRecord,
  JobEventRecord,
  JobPatch,
  JobRecord,
  JobState,
  NotificationRecord,
  ScheduleRecord,
  TokenRecord,
  TopologyRecord,
} from './store.ts'

/** What a statement binds. */
export type SqlValue = string | number | null

export const now = () => new Date().toISOString()
export const toJson = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v))
export const fromJson = (s: string | null): unknown => (s === null ? null : JSON.parse(s))

export interface JobRow {
  id: string
  kind: string
  cluster: string
  spec: string
  state: JobState
  created_at: string
  started_at: string | null
  finished_at: string | null
  requested_by: string
  source: string | null
  idempotency_key: string | null
  body_hash: string | null
  result: string | null
  exit_code: number | null
  attempts: number
  dispatch_ref: string | null
}

export const toJob = (r: JobRow): JobRecord => ({
  id: r.id,
  kind: r.kind,
  cluster: r.cluster,
  spec: fromJson(r.spec),
  state: r.state,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  requestedBy: r.requested_by,
  source: r.source,
  idempotencyKey: r.idempotency_key,
  bodyHash: r.body_hash,
  result: fromJson(r.result),
  exitCode: r.exit_code,
  attempts: r.attempts,
  dispatchRef: r.dispatch_ref,
})

export interface TokenRow {
  id: string
  name: string
  hash: string
  scopes: string
  clusters: string
  level: string | null
  created_at: string
  revoked_at: string | null
  last_used_at: string | null
}

export const toToken = (r: TokenRow): TokenRecord => ({
  id: r.id,
  name: r.name,
  hash: r.hash,
  scopes: JSON.parse(r.scopes) as string[],
  clusters: JSON.parse(r.clusters) as string[],
  level: r.level,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
})

/** An audit row as SQLite returns it: the record, with its detail still JSON text. */
export type AuditRow = Omit<AuditRecord, 'detail'> & { detail: string | null }

export const toAudit = (r: AuditRow): AuditRecord => ({ ...r, detail: fromJson(r.detail) })

export interface EventRow {
  job_id: string
  seq: number
  at: string
  event: string
}

export const toEvent = (r: EventRow): JobEventRecord => ({
  jobId: r.job_id,
  seq: r.seq,
  at: r.at,
  event: JSON.parse(r.event),
})

export interface NotificationRow {
  id: number
  job_id: string
  channel: Channel
  target: string
  sent: string
  attempts: number
  last_error: string | null
  updated_at: string
}

export const toNotification = (r: NotificationRow): NotificationRecord => ({
  id: r.id,
  jobId: r.job_id,
  channel: r.channel,
  target: JSON.parse(r.target) as NotificationRecord['target'],
  sent: JSON.parse(r.sent) as NotificationRecord['sent'],
  attempts: r.attempts,
  lastError: r.last_error,
  updatedAt: r.updated_at,
})

export interface ScheduleRow {
  name: string
  cluster: string
  cron: string
  keep: number | null
  tz: string | null
  enabled: number
  last_run_at: string | null
}

export const toSchedule = (r: ScheduleRow): ScheduleRecord => ({
  name: r.name,
  cluster: r.cluster,
  cron: r.cron,
  keep: r.keep,
  tz: r.tz ?? 'UTC',
  enabled: r.enabled === 1,
  lastRunAt: r.last_run_at,
})

export interface TopologyRow {
  name: string
  text: string
  updated_at: string
  updated_by: string
}

export const toTopology = (r: TopologyRow): TopologyRecord => ({
  name: r.name,
  text: r.text,
  updatedAt: r.updated_at,
  updatedBy: r.updated_by,
})

/** Patch keys → columns, so only known names ever reach the SQL text. */
export const patchColumns: Record<keyof JobPatch, string> = {
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  result: 'result',
  exitCode: 'exit_code',
  attempts: 'attempts',
  dispatchRef: 'dispatch_ref',
}

/** The SET clauses (and their values) for the fields a patch gives. */
export function patchSets(patch: JobPatch): { sets: string[]; args: SqlValue[] } {
  const sets: string[] = []
  const args: SqlValue[] = []
  for (const [key, column] of Object.entries(patchColumns) as [keyof JobPatch, string][]) {
    if (!(key in patch) || patch[key] === undefined) continue
    sets.push(`${column} = ?`)
    args.push(key === 'result' ? toJson(patch.result) : patch[key])
  }
  return { sets, args }
}
