/**
 * The Store over SQL: one statement per operation, for both runtimes. A small driver runs them —
 * better-sqlite3 on Node (sqlite.ts), D1 on Workers (d1.ts) — against one schema
 * (infra/migrations/). Statements use `?` only (D1 binds no named parameters) and bind only null,
 * numbers and strings (D1 refuses undefined and booleans). Runtime-neutral.
 */
import { READ_ONLY } from '../../scripts/engine/job-spec.ts'
import {
  StoreConflictError,
  type AuditRecord,
  type JobEventRecord,
  type JobPatch,
  type JobQuery,
  type JobRecord,
  type JobState,
  type NewJob,
  type NotificationRecord,
  type NotificationStage,
  type ScheduleRecord,
  type SessionRecord,
  type Store,
  type TokenRecord,
  type TopologyRecord,
} from './store.ts'
import {
  type AuditRow,
  type EventRow,
  type JobRow,
  type NotificationRow,
  type ScheduleRow,
  type SqlValue,
  type TokenRow,
  type TopologyRow,
  now,
  patchSets,
  toAudit,
  toEvent,
  toJob,
  toJson,
  toNotification,
  toSchedule,
  toToken,
  toTopology,
} from './rows.ts'

export interface SqlDriver {
  /** The rows of a SELECT (or of an INSERT … RETURNING). */
  all<T>(sql: string, args: SqlValue[]): Promise<T[]>
  first<T>(sql: string, args: SqlValue[]): Promise<T | null>
  /** Runs a statement; how many rows it changed. */
  run(sql: string, args: SqlValue[]): Promise<number>
  /** Whether the driver's error says a UNIQUE or PRIMARY KEY constraint said no. */
  isConflict(err: unknown): boolean
  close(): Promise<void>
}

const READ_ONLY_KINDS = [...READ_ONLY]
const inList = (n: number) => Array.from({ length: n }, () => '?').join(', ')

export class SqlStore implements Store {
  constructor(protected readonly driver: SqlDriver) {}

  /** Turns a uniqueness violation into the store's own error; anything else passes through. */
  async #unique<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (this.driver.isConflict(err))
        throw new StoreConflictError(`${what} already exists`, { cause: err })
      throw err
    }
  }

  async createJob(job: NewJob): Promise<JobRecord> {
    const row: JobRow = {
      id: job.id,
      kind: job.kind,
      cluster: job.cluster,
      spec: JSON.stringify(job.spec ?? null),
      state: job.state ?? 'queued',
      created_at: job.createdAt ?? now(),
      started_at: null,
      finished_at: null,
      requested_by: job.requestedBy,
      source: job.source ?? null,
      idempotency_key: job.idempotencyKey ?? null,
      body_hash: job.bodyHash ?? null,
      result: null,
      exit_code: null,
      attempts: 0,
      dispatch_ref: null,
    }
    await this.#unique(`job "${job.id}" or idempotency key "${job.idempotencyKey}"`, () =>
      this.driver.run(
        `INSERT INTO jobs (id, kind, cluster, spec, state, created_at, requested_by, source,
           idempotency_key, body_hash, attempts)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
        [
          row.id,
          row.kind,
          row.cluster,
          row.spec,
          row.state,
          row.created_at,
          row.requested_by,
          row.source,
          row.idempotency_key,
          row.body_hash,
        ]
      )
    )
    return toJob(row)
  }

  async getJob(id: string): Promise<JobRecord | null> {
    const r = await this.driver.first<JobRow>('SELECT * FROM jobs WHERE id = ?', [id])
    return r ? toJob(r) : null
  }

  async findJobByIdempotencyKey(key: string): Promise<JobRecord | null> {
    const r = await this.driver.first<JobRow>('SELECT * FROM jobs WHERE idempotency_key = ?', [key])
    return r ? toJob(r) : null
  }

  async findRecentJob(q: {
    requestedBy: string
    bodyHash: string
    since: string
  }): Promise<JobRecord | null> {
    const r = await this.driver.first<JobRow>(
      `SELECT * FROM jobs WHERE requested_by = ? AND body_hash = ? AND created_at >= ?
       ORDER BY created_at DESC, rowid DESC LIMIT 1`,
      [q.requestedBy, q.bodyHash, q.since]
    )
    return r ? toJob(r) : null
  }

  async listJobs(q: JobQuery): Promise<JobRecord[]> {
    const filters: [string, SqlValue[]][] = []
    if (q.cluster !== undefined) filters.push(['cluster = ?', [q.cluster]])
    // Cluster patterns are [a-z0-9*-]: as GLOB patterns they mean what they mean to berth.
    if (q.clusters !== undefined && !q.clusters.includes('*')) {
      filters.push([
        q.clusters.length ? `(${q.clusters.map(() => 'cluster GLOB ?').join(' OR ')})` : '0',
        q.clusters,
      ])
    }
    if (q.state !== undefined) filters.push(['state = ?', [q.state]])
    if (q.before !== undefined) filters.push(['created_at < ?', [q.before]])
    const where = filters.map(([clause]) => clause)
    // rowid breaks ties between jobs created in the same millisecond; LIMIT -1 is "no limit".
    const rows = await this.driver.all<JobRow>(
      `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at DESC, rowid DESC LIMIT ?`,
      [...filters.flatMap(([, values]) => values), q.limit ?? -1]
    )
    return rows.map(toJob)
  }

  async countJobs(q: { requestedBy: string; states: JobState[] }): Promise<number> {
    if (!q.states.length) return 0
    const r = await this.driver.first<{ n: number }>(
      `SELECT COUNT(*) AS n FROM jobs WHERE requested_by = ? AND state IN (${inList(q.states.length)})`,
      [q.requestedBy, ...q.states]
    )
    return r?.n ?? 0
  }

  async transitionJob(
    id: string,
    from: JobState[],
    to: JobState,
    patch: JobPatch = {}
  ): Promise<boolean> {
    if (from.length === 0) return false
    const { sets, args } = patchSets(patch)
    // One UPDATE guarded by the current state: the check and the write cannot be separated,
    // whichever connection, process or isolate runs it.
    const changes = await this.driver.run(
      `UPDATE jobs SET ${['state = ?', ...sets].join(', ')} WHERE id = ? AND state IN (${inList(from.length)})`,
      [to, ...args, id, ...from]
    )
    return changes === 1
  }

  async claimJob(id: string, patch: JobPatch): Promise<boolean> {
    const { sets, args } = patchSets(patch)
    // Only while no changing job of its cluster runs (read-only ones never hold a cluster).
    const changes = await this.driver.run(
      `UPDATE jobs SET ${["state = 'running'", ...sets].join(', ')}
       WHERE id = ? AND state = 'queued'
         AND NOT EXISTS (SELECT 1 FROM jobs AS other WHERE other.cluster = jobs.cluster AND other.state = 'running'
           AND other.kind NOT IN (${inList(READ_ONLY_KINDS.length)}))`,
      [...args, id, ...READ_ONLY_KINDS]
    )
    return changes === 1
  }

  async putEvent(jobId: string, seq: number, event: unknown): Promise<boolean> {
    const changes = await this.driver.run(
      'INSERT INTO job_events (job_id, seq, at, event) VALUES (?, ?, ?, ?) ON CONFLICT (job_id, seq) DO NOTHING',
      [jobId, seq, now(), JSON.stringify(event ?? null)]
    )
    return changes === 1
  }

  async jobsInState(states: JobState[]): Promise<JobRecord[]> {
    if (states.length === 0) return []
    const rows = await this.driver.all<JobRow>(
      `SELECT * FROM jobs WHERE state IN (${inList(states.length)}) ORDER BY created_at ASC, rowid ASC`,
      states
    )
    return rows.map(toJob)
  }

  async appendEvent(jobId: string, event: unknown): Promise<JobEventRecord> {
    // The next seq is computed inside the INSERT itself, so no other writer can take it between.
    const row = await this.driver.first<EventRow>(
      `INSERT INTO job_events (job_id, seq, at, event)
       SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ? FROM job_events WHERE job_id = ?
       RETURNING *`,
      [jobId, now(), JSON.stringify(event ?? null), jobId]
    )
    if (!row) throw new Error(`event of job "${jobId}" not stored: the INSERT returned no row`)
    return toEvent(row)
  }

  async listEvents(jobId: string, afterSeq = 0): Promise<JobEventRecord[]> {
    const rows = await this.driver.all<EventRow>(
      'SELECT * FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq',
      [jobId, afterSeq]
    )
    return rows.map(toEvent)
  }

  async putTopology(t: { name: string; text: string; updatedBy: string }): Promise<TopologyRecord> {
    const row = await this.driver.first<TopologyRow>(
      `INSERT INTO topologies (name, text, updated_at, updated_by) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET
         text = excluded.text, updated_at = excluded.updated_at, updated_by = excluded.updated_by
       RETURNING *`,
      [t.name, t.text, now(), t.updatedBy]
    )
    return toTopology(row!)
  }

  async listTopologies(): Promise<Omit<TopologyRecord, 'text'>[]> {
    const rows = await this.driver.all<Omit<TopologyRow, 'text'>>(
      'SELECT name, updated_at, updated_by FROM topologies ORDER BY name',
      []
    )
    return rows.map((r) => ({ name: r.name, updatedAt: r.updated_at, updatedBy: r.updated_by }))
  }

  async getTopology(name: string): Promise<TopologyRecord | null> {
    const r = await this.driver.first<TopologyRow>('SELECT * FROM topologies WHERE name = ?', [
      name,
    ])
    return r ? toTopology(r) : null
  }

  async createToken(t: {
    id: string
    name: string
    hash: string
    scopes: string[]
    clusters?: string[]
    level?: string | null
  }): Promise<TokenRecord> {
    const row: TokenRow = {
      id: t.id,
      name: t.name,
      hash: t.hash,
      scopes: JSON.stringify(t.scopes),
      clusters: JSON.stringify(t.clusters ?? ['*']),
      level: t.level ?? null,
      created_at: now(),
      revoked_at: null,
      last_used_at: null,
    }
    await this.#unique(`token "${t.name}"`, () =>
      this.driver.run(
        'INSERT INTO tokens (id, name, hash, scopes, clusters, level, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [row.id, row.name, row.hash, row.scopes, row.clusters, row.level, row.created_at]
      )
    )
    return toToken(row)
  }

  async getToken(id: string): Promise<TokenRecord | null> {
    const r = await this.driver.first<TokenRow>('SELECT * FROM tokens WHERE id = ?', [id])
    return r ? toToken(r) : null
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | null> {
    const r = await this.driver.first<TokenRow>('SELECT * FROM tokens WHERE hash = ?', [hash])
    return r ? toToken(r) : null
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (
      await this.driver.all<TokenRow>('SELECT * FROM tokens ORDER BY created_at, rowid', [])
    ).map(toToken)
  }

  async revokeToken(idOrName: string): Promise<boolean> {
    const changes = await this.driver.run(
      'UPDATE tokens SET revoked_at = ? WHERE (id = ? OR name = ?) AND revoked_at IS NULL',
      [now(), idOrName, idOrName]
    )
    return changes > 0
  }

  async touchToken(id: string): Promise<void> {
    await this.driver.run('UPDATE tokens SET last_used_at = ? WHERE id = ?', [now(), id])
  }

  async countTokens(): Promise<number> {
    const r = await this.driver.first<{ n: number }>('SELECT COUNT(*) AS n FROM tokens', [])
    return r?.n ?? 0
  }

  async createSession(s: Omit<SessionRecord, 'createdAt'>): Promise<SessionRecord> {
    const at = now()
    await this.driver.run('DELETE FROM sessions WHERE expires_at <= ?', [at])
    await this.driver.run(
      'INSERT INTO sessions (id, token_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
      [s.id, s.tokenId, s.csrf, at, s.expiresAt]
    )
    return { ...s, createdAt: at }
  }

  async getSession(id: string): Promise<SessionRecord | null> {
    const r = await this.driver.first<{
      id: string
      token_id: string
      csrf: string
      created_at: string
      expires_at: string
    }>('SELECT * FROM sessions WHERE id = ? AND expires_at > ?', [id, now()])
    return r
      ? {
          id: r.id,
          tokenId: r.token_id,
          csrf: r.csrf,
          createdAt: r.created_at,
          expiresAt: r.expires_at,
        }
      : null
  }

  async deleteSession(id: string): Promise<void> {
    await this.driver.run('DELETE FROM sessions WHERE id = ?', [id])
  }

  async addNotification(n: {
    jobId: string
    channel: NotificationRecord['channel']
    target: Record<string, string>
  }): Promise<NotificationRecord> {
    const row = await this.driver.first<NotificationRow>(
      'INSERT INTO notifications (job_id, channel, target, updated_at) VALUES (?, ?, ?, ?) RETURNING *',
      [n.jobId, n.channel, JSON.stringify(n.target), now()]
    )
    return toNotification(row!)
  }

  async notificationsFor(jobId: string): Promise<NotificationRecord[]> {
    return (
      await this.driver.all<NotificationRow>(
        'SELECT * FROM notifications WHERE job_id = ? ORDER BY id',
        [jobId]
      )
    ).map(toNotification)
  }

  async updateNotification(
    id: number,
    patch: { sent?: NotificationStage[]; attempts?: number; lastError?: string | null }
  ): Promise<void> {
    await this.driver.run(
      `UPDATE notifications SET sent = COALESCE(?, sent), attempts = COALESCE(?, attempts),
         last_error = CASE WHEN ? THEN ? ELSE last_error END, updated_at = ? WHERE id = ?`,
      [
        patch.sent ? JSON.stringify(patch.sent) : null,
        patch.attempts ?? null,
        patch.lastError !== undefined ? 1 : 0,
        patch.lastError ?? null,
        now(),
        id,
      ]
    )
  }

  async createSchedule(s: Omit<ScheduleRecord, 'lastRunAt'>): Promise<ScheduleRecord> {
    const row = await this.#unique(`schedule "${s.name}"`, () =>
      this.driver.first<ScheduleRow>(
        `INSERT INTO schedules (name, cluster, cron, keep, tz, enabled, last_run_at)
         VALUES (?, ?, ?, ?, ?, ?, NULL) RETURNING *`,
        [s.name, s.cluster, s.cron, s.keep, s.tz, s.enabled ? 1 : 0]
      )
    )
    return toSchedule(row!)
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    return (await this.driver.all<ScheduleRow>('SELECT * FROM schedules ORDER BY name', [])).map(
      toSchedule
    )
  }

  async deleteSchedule(name: string): Promise<boolean> {
    return (await this.driver.run('DELETE FROM schedules WHERE name = ?', [name])) === 1
  }

  async markScheduleRun(name: string, from: string | null, to: string): Promise<boolean> {
    return (
      (await this.driver.run(
        'UPDATE schedules SET last_run_at = ? WHERE name = ? AND last_run_at IS ?',
        [to, name, from]
      )) === 1
    )
  }

  async audit(a: Omit<AuditRecord, 'id' | 'at'>): Promise<void> {
    await this.driver.run(
      'INSERT INTO audit (at, actor, source, action, target, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [now(), a.actor, a.source ?? null, a.action, a.target ?? null, a.outcome, toJson(a.detail)]
    )
  }

  async listAudit(q: { limit?: number; before?: number }): Promise<AuditRecord[]> {
    const rows =
      q.before !== undefined
        ? await this.driver.all<AuditRow>(
            'SELECT * FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?',
            [q.before, q.limit ?? -1]
          )
        : await this.driver.all<AuditRow>('SELECT * FROM audit ORDER BY id DESC LIMIT ?', [
            q.limit ?? -1,
          ])
    return rows.map(toAudit)
  }

  close(): Promise<void> {
    return this.driver.close()
  }
}
