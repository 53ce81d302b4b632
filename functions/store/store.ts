/**
 * The job service's records and the one interface over them. Runtime-neutral on purpose: the Node
 * entry implements it over better-sqlite3 (`sqlite.ts`), the Worker over D1, against one schema
 * (`infra/migrations/`). Every method is async because D1 is.
 */
import type { Channel } from '../channels.ts'

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted'

export interface JobRecord {
  id: string
  kind: string
  cluster: string
  /** The job spec JSON as submitted. */
  spec: unknown
  state: JobState
  createdAt: string
  startedAt: string | null
  finishedAt: string | null
  /** Token name, "slack:U123", "jira:…", "schedule:…". */
  requestedBy: string
  /** Remote address / user agent summary. */
  source: string | null
  idempotencyKey: string | null
  bodyHash: string | null
  /** The final result event; null until there is one. */
  result: unknown
  exitCode: number | null
  /** How many times a dispatcher started it (crash resume). */
  attempts: number
  /** A remote dispatcher's handle on the running job (SSM: command id), for later polls. */
  dispatchRef: string | null
}

export interface JobEventRecord {
  jobId: string
  seq: number
  at: string
  event: unknown
}

export interface TokenRecord {
  id: string
  name: string
  hash: string
  scopes: string[]
  /** Cluster names or globs the token may act on (`["*"]`: every cluster). */
  clusters: string[]
  /** Its host-policy level; null: the policy's default (privileged for admin tokens). */
  level: string | null
  createdAt: string
  revokedAt: string | null
  lastUsedAt: string | null
}

export interface AuditRecord {
  id: number
  at: string
  actor: string
  source: string | null
  action: string
  target: string | null
  outcome: string
  /** Anything more to record, or null. */
  detail: unknown
}

export interface TopologyRecord {
  name: string
  text: string
  updatedAt: string
  updatedBy: string
}

/** A dashboard sign-in: the token it stands for, until `expiresAt`. */
export interface SessionRecord {
  /** SHA-256 (hex) of the cookie's value: the cookie itself is never stored. */
  id: string
  tokenId: string
  /** What every form and cookie-authenticated write must carry back. */
  csrf: string
  createdAt: string
  expiresAt: string
}

export type NotificationStage = 'started' | 'finished'

export interface NotificationRecord {
  id: number
  jobId: string
  channel: Channel
  /** Slack: { responseUrl }; Jira: { issueKey }. */
  target: Record<string, string>
  /** Stages delivered so far. */
  sent: NotificationStage[]
  attempts: number
  lastError: string | null
  updatedAt: string
}

export interface ScheduleRecord {
  name: string
  cluster: string
  cron: string
  /** Snapshots kept after each run (older ones pruned); null keeps all. */
  keep: number | null
  /** IANA time zone the cron is read in. */
  tz: string
  enabled: boolean
  lastRunAt: string | null
}

export interface JobQuery {
  cluster?: string
  /** Only jobs on clusters matching one of these globs (a token's grants). */
  clusters?: string[]
  state?: JobState
  limit?: number
  before?: string
}

/** What a caller supplies to create a job; `state` defaults to queued, `createdAt` to now. */
export type NewJob = Omit<
  JobRecord,
  | 'startedAt'
  | 'finishedAt'
  | 'result'
  | 'exitCode'
  | 'attempts'
  | 'state'
  | 'createdAt'
  | 'dispatchRef'
> & { state?: JobState; createdAt?: string }

export type JobPatch = Partial<
  Pick<JobRecord, 'startedAt' | 'finishedAt' | 'result' | 'exitCode' | 'attempts' | 'dispatchRef'>
>

export interface Store {
  /** Rejects with StoreConflictError when the id or the idempotency key is taken. */
  createJob(job: NewJob): Promise<JobRecord>
  getJob(id: string): Promise<JobRecord | null>
  findJobByIdempotencyKey(key: string): Promise<JobRecord | null>
  /** The newest job `requestedBy` made with this body since then (a replayed delivery). */
  findRecentJob(q: {
    requestedBy: string
    bodyHash: string
    since: string
  }): Promise<JobRecord | null>
  /** Newest first; `before` is a createdAt cursor (exclusive). */
  listJobs(q: JobQuery): Promise<JobRecord[]>
  /** How many jobs one actor has in these states (a per-caller cap on waiting jobs). */
  countJobs(q: { requestedBy: string; states: JobState[] }): Promise<number>
  /**
   * Atomic compare-and-set of the state: returns false (and changes nothing) when the job is not
   * in `from`.
   */
  transitionJob(id: string, from: JobState[], to: JobState, patch?: JobPatch): Promise<boolean>
  /** Oldest first (queue order). */
  jobsInState(states: JobState[]): Promise<JobRecord[]>
  /**
   * queued → running (with the patch) only if no changing job of its cluster is running (read-only
   * ones hold no cluster): one UPDATE, so two pollers (Worker isolates) can never run two changing
   * jobs of one cluster at once.
   */
  claimJob(id: string, patch: JobPatch): Promise<boolean>
  /** The event at this seq, unless one is stored there already (a second poller): false then. */
  putEvent(jobId: string, seq: number, event: unknown): Promise<boolean>
  /** seq = 1, 2, 3… per job, assigned atomically. */
  appendEvent(jobId: string, event: unknown): Promise<JobEventRecord>
  /** In seq order, only those after `afterSeq` (a replay of the tail). */
  listEvents(jobId: string, afterSeq?: number): Promise<JobEventRecord[]>
  putTopology(t: { name: string; text: string; updatedBy: string }): Promise<TopologyRecord>
  getTopology(name: string): Promise<TopologyRecord | null>
  /** By name, without their text. */
  listTopologies(): Promise<Omit<TopologyRecord, 'text'>[]>
  /** Rejects with StoreConflictError when the id, name or hash is taken (revoked ones too). */
  createToken(t: {
    id: string
    name: string
    hash: string
    scopes: string[]
    clusters?: string[]
    level?: string | null
  }): Promise<TokenRecord>
  getToken(id: string): Promise<TokenRecord | null>
  /** Revoked ones too: the caller checks revokedAt. */
  findTokenByHash(hash: string): Promise<TokenRecord | null>
  listTokens(): Promise<TokenRecord[]>
  /** False when no live token has that id or name (already revoked counts as none). */
  revokeToken(idOrName: string): Promise<boolean>
  touchToken(id: string): Promise<void>
  /** All tokens ever created, revoked ones included. */
  countTokens(): Promise<number>
  /** Removes the expired sessions as it goes. */
  createSession(s: Omit<SessionRecord, 'createdAt'>): Promise<SessionRecord>
  /** Null when there is none or it has expired. */
  getSession(id: string): Promise<SessionRecord | null>
  deleteSession(id: string): Promise<void>
  addNotification(n: {
    jobId: string
    channel: Channel
    target: Record<string, string>
  }): Promise<NotificationRecord>
  notificationsFor(jobId: string): Promise<NotificationRecord[]>
  updateNotification(
    id: number,
    patch: { sent?: NotificationStage[]; attempts?: number; lastError?: string | null }
  ): Promise<void>
  /** Rejects with StoreConflictError when the name is taken. */
  createSchedule(s: Omit<ScheduleRecord, 'lastRunAt'>): Promise<ScheduleRecord>
  listSchedules(): Promise<ScheduleRecord[]>
  /** False when there was none by that name. */
  deleteSchedule(name: string): Promise<boolean>
  /** Compare-and-set of last_run_at, so two pollers cannot both take one run. */
  markScheduleRun(name: string, from: string | null, to: string): Promise<boolean>
  audit(a: Omit<AuditRecord, 'id' | 'at'>): Promise<void>
  /** Newest first; `before` is an id cursor (exclusive). */
  listAudit(q: { limit?: number; before?: number }): Promise<AuditRecord[]>
  close(): Promise<void>
}

/**
 * A uniqueness constraint said no (idempotency key, token name…). Each implementation translates
 * its driver's error into this once, so callers never see a SqliteError or a D1 message.
 */
export class StoreConflictError extends Error {
  override name = 'StoreConflictError'
}
