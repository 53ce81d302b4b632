/**
 * The Store over Cloudflare D1: the Worker's store, on the same schema as the Node one
 * (infra/migrations/, applied by `wrangler d1 migrations apply`). The statements are sqlite.ts's,
 * written with `?` only (D1 binds no named parameters) and with every value bound as null, a
 * number or a string (D1 refuses undefined and booleans). No node:* imports: this runs in workerd.
 */
import {
  StoreConflictError,
  type AuditRecord,
  type JobEventRecord,
  type JobPatch,
  type JobRecord,
  type JobState,
  type NewJob,
  type NotificationRecord,
  type NotificationStage,
  type ScheduleRecord,
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

/** The part of the D1 binding berth uses (so the build needs no @cloudflare/workers-types). */
export interface D1Database {
  prepare(query: string): D1PreparedStatement
}

export interface D1PreparedStatement {
  bind(...values: D1Value[]): D1PreparedStatement
  first<T = Record<string, unknown>>(): Promise<T | null>
  all<T = Record<string, unknown>>(): Promise<{ results: T[] }>
  run(): Promise<{ meta: { changes: number } }>
}

export type D1Value = string | number | null

/**
 * D1 has no error codes, only text ("D1_ERROR: UNIQUE constraint failed: tokens.name:
 * SQLITE_CONSTRAINT"); a primary key clash reads the same. Anything else passes through.
 */
function translate(err: unknown, what: string): unknown {
  const message = String((err as Error)?.message ?? err)
  if (/UNIQUE constraint failed|SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)/.test(message)) {
    return new StoreConflictError(`${what} already exists`, { cause: err })
  }
  return err
}

export class D1Store implements Store {
  constructor(readonly db: D1Database) {}

  #sql(text: string, ...args: D1Value[]): D1PreparedStatement {
    return args.length ? this.db.prepare(text).bind(...args) : this.db.prepare(text)
  }

  async #all<T>(text: string, ...args: D1Value[]): Promise<T[]> {
    return (await this.#sql(text, ...args).all<T>()).results
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
    try {
      await this.#sql(
        `INSERT INTO jobs (id, kind, cluster, spec, state, created_at, requested_by, source,
           idempotency_key, body_hash, attempts)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
        row.id, row.kind, row.cluster, row.spec, row.state, row.created_at, row.requested_by,
        row.source, row.idempotency_key, row.body_hash
      ).run()
    } catch (err) {
      throw translate(err, `job "${job.id}" or idempotency key "${job.idempotencyKey}"`)
    }
    return toJob(row)
  }

  async getJob(id: string): Promise<JobRecord | null> {
    const r = await this.#sql('SELECT * FROM jobs WHERE id = ?', id).first<JobRow>()
    return r ? toJob(r) : null
  }

  async findJobByIdempotencyKey(key: string): Promise<JobRecord | null> {
    const r = await this.#sql('SELECT * FROM jobs WHERE idempotency_key = ?', key).first<JobRow>()
    return r ? toJob(r) : null
  }

  async listJobs(q: { cluster?: string; state?: JobState; limit?: number; before?: string }): Promise<JobRecord[]> {
    const filters: [string, D1Value][] = []
    if (q.cluster !== undefined) filters.push(['cluster = ?', q.cluster])
    if (q.state !== undefined) filters.push(['state = ?', q.state])
    if (q.before !== undefined) filters.push(['created_at < ?', q.before])
    const where = filters.map(([clause]) => clause)
    // rowid breaks ties between jobs created in the same millisecond; LIMIT -1 is "no limit".
    const rows = await this.#all<JobRow>(
      `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at DESC, rowid DESC LIMIT ?`,
      ...filters.map(([, value]) => value),
      q.limit ?? -1
    )
    return rows.map(toJob)
  }

  async transitionJob(id: string, from: JobState[], to: JobState, patch: JobPatch = {}): Promise<boolean> {
    if (from.length === 0) return false
    const { sets: patched, args: patchArgs } = patchSets(patch)
    const sets = ['state = ?', ...patched]
    const args: D1Value[] = [to, ...patchArgs]
    // One UPDATE guarded by the current state: two isolates (a request and a cron tick) cannot
    // both take the same job.
    const states = from.map(() => '?').join(', ')
    const { meta } = await this.#sql(
      `UPDATE jobs SET ${sets.join(', ')} WHERE id = ? AND state IN (${states})`,
      ...args,
      id,
      ...from
    ).run()
    return meta.changes === 1
  }

  async claimJob(id: string, patch: JobPatch): Promise<boolean> {
    const { sets, args } = patchSets(patch)
    const { meta } = await this.#sql(
      `UPDATE jobs SET ${["state = 'running'", ...sets].join(', ')}
       WHERE id = ? AND state = 'queued'
         AND NOT EXISTS (SELECT 1 FROM jobs AS other WHERE other.cluster = jobs.cluster AND other.state = 'running')`,
      ...args,
      id
    ).run()
    return meta.changes === 1
  }

  async putEvent(jobId: string, seq: number, event: unknown): Promise<boolean> {
    const { meta } = await this.#sql(
      `INSERT INTO job_events (job_id, seq, at, event) VALUES (?, ?, ?, ?) ON CONFLICT (job_id, seq) DO NOTHING`,
      jobId, seq, now(), JSON.stringify(event ?? null)
    ).run()
    return meta.changes === 1
  }

  async jobsInState(states: JobState[]): Promise<JobRecord[]> {
    if (states.length === 0) return []
    const rows = await this.#all<JobRow>(
      `SELECT * FROM jobs WHERE state IN (${states.map(() => '?').join(', ')})
       ORDER BY created_at ASC, rowid ASC`,
      ...states
    )
    return rows.map(toJob)
  }

  async appendEvent(jobId: string, event: unknown): Promise<JobEventRecord> {
    // The next seq is computed inside the INSERT itself, so no other writer can take it between.
    const row = await this.#sql(
      `INSERT INTO job_events (job_id, seq, at, event)
       SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ? FROM job_events WHERE job_id = ?
       RETURNING *`,
      jobId, now(), JSON.stringify(event ?? null), jobId
    ).first<EventRow>()
    if (!row) throw new Error(`event of job "${jobId}" not stored: the INSERT returned no row`)
    return toEvent(row)
  }

  async listEvents(jobId: string, afterSeq = 0): Promise<JobEventRecord[]> {
    const rows = await this.#all<EventRow>('SELECT * FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq', jobId, afterSeq)
    return rows.map(toEvent)
  }

  async putTopology(t: { name: string; text: string; updatedBy: string }): Promise<TopologyRecord> {
    const row = await this.#sql(
      `INSERT INTO topologies (name, text, updated_at, updated_by) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET
         text = excluded.text, updated_at = excluded.updated_at, updated_by = excluded.updated_by
       RETURNING *`,
      t.name, t.text, now(), t.updatedBy
    ).first<TopologyRow>()
    return toTopology(row!)
  }

  async getTopology(name: string): Promise<TopologyRecord | null> {
    const r = await this.#sql('SELECT * FROM topologies WHERE name = ?', name).first<TopologyRow>()
    return r ? toTopology(r) : null
  }

  async createToken(t: { id: string; name: string; hash: string; scopes: string[] }): Promise<TokenRecord> {
    const row: TokenRow = {
      id: t.id,
      name: t.name,
      hash: t.hash,
      scopes: JSON.stringify(t.scopes),
      created_at: now(),
      revoked_at: null,
      last_used_at: null,
    }
    try {
      await this.#sql(
        'INSERT INTO tokens (id, name, hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)',
        row.id, row.name, row.hash, row.scopes, row.created_at
      ).run()
    } catch (err) {
      throw translate(err, `token "${t.name}"`)
    }
    return toToken(row)
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | null> {
    const r = await this.#sql('SELECT * FROM tokens WHERE hash = ?', hash).first<TokenRow>()
    return r ? toToken(r) : null
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (await this.#all<TokenRow>('SELECT * FROM tokens ORDER BY created_at, rowid')).map(toToken)
  }

  async revokeToken(idOrName: string): Promise<boolean> {
    const { meta } = await this.#sql(
      'UPDATE tokens SET revoked_at = ? WHERE (id = ? OR name = ?) AND revoked_at IS NULL',
      now(), idOrName, idOrName
    ).run()
    return meta.changes > 0
  }

  async touchToken(id: string): Promise<void> {
    await this.#sql('UPDATE tokens SET last_used_at = ? WHERE id = ?', now(), id).run()
  }

  async countTokens(): Promise<number> {
    const r = await this.#sql('SELECT COUNT(*) AS n FROM tokens').first<{ n: number }>()
    return r?.n ?? 0
  }

  async addNotification(n: { jobId: string; channel: 'slack' | 'jira'; target: Record<string, string> }): Promise<NotificationRecord> {
    const row = await this.#sql(
      'INSERT INTO notifications (job_id, channel, target, updated_at) VALUES (?, ?, ?, ?) RETURNING *',
      n.jobId, n.channel, JSON.stringify(n.target), now()
    ).first<NotificationRow>()
    return toNotification(row!)
  }

  async notificationsFor(jobId: string): Promise<NotificationRecord[]> {
    return (await this.#all<NotificationRow>('SELECT * FROM notifications WHERE job_id = ? ORDER BY id', jobId)).map(toNotification)
  }

  async updateNotification(id: number, patch: { sent?: NotificationStage[]; attempts?: number; lastError?: string | null }): Promise<void> {
    await this.#sql(
      `UPDATE notifications SET sent = COALESCE(?, sent), attempts = COALESCE(?, attempts),
         last_error = CASE WHEN ? THEN ? ELSE last_error END, updated_at = ? WHERE id = ?`,
      patch.sent ? JSON.stringify(patch.sent) : null,
      patch.attempts ?? null,
      patch.lastError !== undefined ? 1 : 0,
      patch.lastError ?? null,
      now(),
      id
    ).run()
  }

  async createSchedule(s: Omit<ScheduleRecord, 'lastRunAt'>): Promise<ScheduleRecord> {
    try {
      const row = await this.#sql(
        `INSERT INTO schedules (name, cluster, cron, keep, tz, enabled, last_run_at)
         VALUES (?, ?, ?, ?, ?, ?, NULL) RETURNING *`,
        s.name, s.cluster, s.cron, s.keep, s.tz, s.enabled ? 1 : 0
      ).first<ScheduleRow>()
      return toSchedule(row!)
    } catch (err) {
      throw translate(err, `schedule "${s.name}"`)
    }
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    return (await this.#all<ScheduleRow>('SELECT * FROM schedules ORDER BY name')).map(toSchedule)
  }

  async deleteSchedule(name: string): Promise<boolean> {
    return (await this.#sql('DELETE FROM schedules WHERE name = ?', name).run()).meta.changes === 1
  }

  async markScheduleRun(name: string, from: string | null, to: string): Promise<boolean> {
    const { meta } = await this.#sql('UPDATE schedules SET last_run_at = ? WHERE name = ? AND last_run_at IS ?', to, name, from).run()
    return meta.changes === 1
  }

  async audit(a: Omit<AuditRecord, 'id' | 'at'>): Promise<void> {
    await this.#sql(
      'INSERT INTO audit (at, actor, source, action, target, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?)',
      now(), a.actor, a.source ?? null, a.action, a.target ?? null, a.outcome, toJson(a.detail)
    ).run()
  }

  async listAudit(q: { limit?: number; before?: number }): Promise<AuditRecord[]> {
    const rows =
      q.before !== undefined
        ? await this.#all<AuditRow>('SELECT * FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?', q.before, q.limit ?? -1)
        : await this.#all<AuditRow>('SELECT * FROM audit ORDER BY id DESC LIMIT ?', q.limit ?? -1)
    return rows.map(toAudit)
  }

  /** The binding belongs to the runtime: nothing to close. */
  async close(): Promise<void> {}
}
