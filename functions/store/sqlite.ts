/**
 * The Store over better-sqlite3: the Node entry's store (Node only). better-sqlite3 is synchronous;
 * the methods are async anyway so callers are written once for this and for D1.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
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

const defaultMigrationsDir = fileURLToPath(new URL('../../infra/migrations/', import.meta.url))

export async function openSqliteStore(
  file: string,
  opts: { migrationsDir?: string } = {}
): Promise<SqliteStore> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
  const db = new Database(file)
  try {
    // WAL lets `berth status` read while `berth serve` writes; the timeout makes a second
    // process wait for the write lock instead of failing with SQLITE_BUSY at once.
    db.pragma('journal_mode = WAL')
    db.pragma('foreign_keys = ON')
    db.pragma('busy_timeout = 5000')
    migrate(db, opts.migrationsDir ?? defaultMigrationsDir)
  } catch (err) {
    db.close()
    throw err
  }
  // ':memory:' and '' (a temporary file) are private to this connection: nothing to share.
  const shared = file !== ':memory:' && file !== ''
  return new SqliteStore(db, shared ? startCheckpointer(db, resolve(file)) : undefined)
}

/**
 * WAL checkpoints on a thread of their own. SQLite's automatic checkpoint runs inside whichever
 * commit crosses 1000 pages of WAL, copying them back and fsyncing on the event loop: 5–10 ms
 * every ~150 POST /v1/jobs, most of the accept p99. Here a second connection, in a worker, runs a
 * PASSIVE checkpoint every CHECKPOINT_EVERY_MS, which never blocks the writer; the writer's own
 * automatic checkpoint stays as a backstop at a larger size, and at the usual size again if the
 * worker fails. The worker starts only once the store has been open CHECKPOINTER_AFTER_MS, so a
 * short-lived CLI command never pays for it. close() stops it first, so the main connection is
 * still the last one and removes the WAL on close as before.
 */
const CHECKPOINTER_AFTER_MS = 1000
const CHECKPOINT_EVERY_MS = 200
const BACKSTOP_PAGES = 10_000
const checkpointerSource = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.driver)
const db = new Database(workerData.file, { fileMustExist: true })
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)')
  } catch {
    // Next time, then; meanwhile the writer's backstop bounds the WAL.
  }
}, workerData.everyMs)
parentPort.once('message', () => {
  clearInterval(timer)
  db.close()
  parentPort.close()
})
`

interface Checkpointer {
  stop(): Promise<void>
}

function startCheckpointer(db: Database.Database, file: string): Checkpointer {
  let worker: Worker | undefined
  let exited: Promise<void> = Promise.resolve()
  let failed = false
  const start = () => {
    worker = new Worker(checkpointerSource, {
      eval: true,
      execArgv: [],
      workerData: {
        driver: createRequire(import.meta.url).resolve('better-sqlite3'),
        file,
        everyMs: CHECKPOINT_EVERY_MS,
      },
    })
    worker.unref()
    exited = new Promise<void>((r) => worker!.once('exit', () => r()))
    worker.once('error', () => {
      failed = true
      if (db.open) db.pragma('wal_autocheckpoint = 1000')
    })
    db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`)
  }
  const timer = setTimeout(start, CHECKPOINTER_AFTER_MS).unref()
  return {
    async stop() {
      clearTimeout(timer)
      if (!worker) return
      // Held by the process until it has gone, or a caller awaiting close() could see it exit.
      worker.ref()
      if (!failed) worker.postMessage('stop')
      await exited
    },
  }
}

/** Applies, in name order, each `*.sql` not yet listed in `migrations`, each in a transaction. */
function migrate(db: Database.Database, dir: string): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)'
  )
  const applied = new Set(
    (db.prepare('SELECT name FROM migrations').all() as { name: string }[]).map((r) => r.name)
  )
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
  const record = db.prepare('INSERT INTO migrations (name, applied_at) VALUES (?, ?)')
  for (const name of files) {
    if (applied.has(name)) continue
    const sql = readFileSync(join(dir, name), 'utf8')
    // IMMEDIATE takes the write lock first, so two processes starting together cannot both
    // apply the same file; the loser re-checks inside the lock.
    db.transaction(() => {
      if (db.prepare('SELECT 1 FROM migrations WHERE name = ?').get(name)) return
      db.exec(sql)
      record.run(name, now())
    }).immediate()
  }
}

/** Turns a uniqueness violation into the store's own error; anything else passes through. */
function translate(err: unknown, what: string): unknown {
  const code = (err as { code?: unknown }).code
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    return new StoreConflictError(`${what} already exists`, { cause: err })
  }
  return err
}

export class SqliteStore implements Store {
  #closed = false
  /**
   * Each statement is prepared once, on first use, and reused: preparing on every call costs CPU
   * and leaves native statement objects for the GC, whose scavenges then stall the event loop.
   * Keyed by SQL text; the texts built at run time (listJobs, transitionJob, jobsInState,
   * listAudit) come only from fixed fragments, so there are few of them.
   */
  readonly #statements = new Map<string, Database.Statement>()
  readonly #checkpointer: Checkpointer | undefined

  constructor(readonly db: Database.Database, checkpointer?: Checkpointer) {
    this.#checkpointer = checkpointer
  }

  #sql(text: string): Database.Statement {
    let stmt = this.#statements.get(text)
    if (!stmt) this.#statements.set(text, (stmt = this.db.prepare(text)))
    return stmt
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
      source: job.source,
      idempotency_key: job.idempotencyKey,
      body_hash: job.bodyHash,
      result: null,
      exit_code: null,
      attempts: 0,
      dispatch_ref: null,
    }
    try {
      this.#sql(
        `INSERT INTO jobs (id, kind, cluster, spec, state, created_at, started_at, finished_at,
           requested_by, source, idempotency_key, body_hash, result, exit_code, attempts, dispatch_ref)
         VALUES (@id, @kind, @cluster, @spec, @state, @created_at, @started_at, @finished_at,
           @requested_by, @source, @idempotency_key, @body_hash, @result, @exit_code, @attempts, @dispatch_ref)`
      ).run(row)
    } catch (err) {
      throw translate(err, `job "${job.id}" or idempotency key "${job.idempotencyKey}"`)
    }
    return toJob(row)
  }

  async getJob(id: string): Promise<JobRecord | null> {
    const r = this.#sql('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined
    return r ? toJob(r) : null
  }

  async findJobByIdempotencyKey(key: string): Promise<JobRecord | null> {
    const r = this.#sql('SELECT * FROM jobs WHERE idempotency_key = ?').get(key) as
      | JobRow
      | undefined
    return r ? toJob(r) : null
  }

  async listJobs(q: {
    cluster?: string
    state?: JobState
    limit?: number
    before?: string
  }): Promise<JobRecord[]> {
    const filters: [string, unknown][] = []
    if (q.cluster !== undefined) filters.push(['cluster = ?', q.cluster])
    if (q.state !== undefined) filters.push(['state = ?', q.state])
    if (q.before !== undefined) filters.push(['created_at < ?', q.before])
    const where = filters.map(([clause]) => clause)
    const args = filters.map(([, value]) => value)
    // rowid breaks ties between jobs created in the same millisecond; LIMIT -1 is "no limit".
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY created_at DESC, rowid DESC LIMIT ?`
    const rows = this.#sql(sql).all(...args, q.limit ?? -1) as JobRow[]
    return rows.map(toJob)
  }

  async transitionJob(
    id: string,
    from: JobState[],
    to: JobState,
    patch: JobPatch = {}
  ): Promise<boolean> {
    if (from.length === 0) return false
    const { sets: patched, args: patchArgs } = patchSets(patch)
    const sets = ['state = ?', ...patched]
    const args: unknown[] = [to, ...patchArgs]
    // One UPDATE guarded by the current state: the check and the write cannot be separated,
    // whichever connection or process runs it.
    const states = from.map(() => '?').join(', ')
    const info = this.#sql(
      `UPDATE jobs SET ${sets.join(', ')} WHERE id = ? AND state IN (${states})`
    ).run(...args, id, ...from)
    return info.changes === 1
  }

  async claimJob(id: string, patch: JobPatch): Promise<boolean> {
    const { sets, args } = patchSets(patch)
    const info = this.#sql(
      `UPDATE jobs SET ${['state = \'running\'', ...sets].join(', ')}
       WHERE id = ? AND state = 'queued'
         AND NOT EXISTS (SELECT 1 FROM jobs AS other WHERE other.cluster = jobs.cluster AND other.state = 'running')`
    ).run(...args, id)
    return info.changes === 1
  }

  async putEvent(jobId: string, seq: number, event: unknown): Promise<boolean> {
    const info = this.#sql(
      `INSERT INTO job_events (job_id, seq, at, event) VALUES (?, ?, ?, ?) ON CONFLICT (job_id, seq) DO NOTHING`
    ).run(jobId, seq, now(), JSON.stringify(event ?? null))
    return info.changes === 1
  }

  async jobsInState(states: JobState[]): Promise<JobRecord[]> {
    if (states.length === 0) return []
    const rows = this.#sql(
      `SELECT * FROM jobs WHERE state IN (${states.map(() => '?').join(', ')})
       ORDER BY created_at ASC, rowid ASC`
    ).all(...states) as JobRow[]
    return rows.map(toJob)
  }

  async appendEvent(jobId: string, event: unknown): Promise<JobEventRecord> {
    // The next seq is computed inside the INSERT itself, so no other writer can take it in
    // between; the same statement works on D1.
    const row = this.#sql(
      `INSERT INTO job_events (job_id, seq, at, event)
       SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ? FROM job_events WHERE job_id = ?
       RETURNING *`
    ).get(jobId, now(), JSON.stringify(event ?? null), jobId) as EventRow
    return toEvent(row)
  }

  async listEvents(jobId: string, afterSeq = 0): Promise<JobEventRecord[]> {
    const rows = this.#sql(
      'SELECT * FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq'
    ).all(jobId, afterSeq) as EventRow[]
    return rows.map(toEvent)
  }

  async putTopology(t: { name: string; text: string; updatedBy: string }): Promise<TopologyRecord> {
    const row = this.#sql(
      `INSERT INTO topologies (name, text, updated_at, updated_by) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET
         text = excluded.text, updated_at = excluded.updated_at, updated_by = excluded.updated_by
       RETURNING *`
    ).get(t.name, t.text, now(), t.updatedBy) as TopologyRow
    return toTopology(row)
  }

  async getTopology(name: string): Promise<TopologyRecord | null> {
    const r = this.#sql('SELECT * FROM topologies WHERE name = ?').get(name) as
      | TopologyRow
      | undefined
    return r ? toTopology(r) : null
  }

  async createToken(t: {
    id: string
    name: string
    hash: string
    scopes: string[]
  }): Promise<TokenRecord> {
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
      this.#sql(
        `INSERT INTO tokens (id, name, hash, scopes, created_at, revoked_at, last_used_at)
         VALUES (@id, @name, @hash, @scopes, @created_at, @revoked_at, @last_used_at)`
      ).run(row)
    } catch (err) {
      throw translate(err, `token "${t.name}"`)
    }
    return toToken(row)
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | null> {
    const r = this.#sql('SELECT * FROM tokens WHERE hash = ?').get(hash) as TokenRow | undefined
    return r ? toToken(r) : null
  }

  async listTokens(): Promise<TokenRecord[]> {
    const rows = this.#sql('SELECT * FROM tokens ORDER BY created_at, rowid').all()
    return (rows as TokenRow[]).map(toToken)
  }

  async revokeToken(idOrName: string): Promise<boolean> {
    const info = this.#sql(
      'UPDATE tokens SET revoked_at = ? WHERE (id = ? OR name = ?) AND revoked_at IS NULL'
    ).run(now(), idOrName, idOrName)
    return info.changes > 0
  }

  async touchToken(id: string): Promise<void> {
    this.#sql('UPDATE tokens SET last_used_at = ? WHERE id = ?').run(now(), id)
  }

  async countTokens(): Promise<number> {
    const r = this.#sql('SELECT COUNT(*) AS n FROM tokens').get() as { n: number }
    return r.n
  }

  async addNotification(n: { jobId: string; channel: 'slack' | 'jira'; target: Record<string, string> }): Promise<NotificationRecord> {
    const row = this.#sql(
      `INSERT INTO notifications (job_id, channel, target, updated_at) VALUES (?, ?, ?, ?) RETURNING *`
    ).get(n.jobId, n.channel, JSON.stringify(n.target), now()) as NotificationRow
    return toNotification(row)
  }

  async notificationsFor(jobId: string): Promise<NotificationRecord[]> {
    const rows = this.#sql('SELECT * FROM notifications WHERE job_id = ? ORDER BY id').all(jobId) as NotificationRow[]
    return rows.map(toNotification)
  }

  async updateNotification(id: number, patch: { sent?: NotificationStage[]; attempts?: number; lastError?: string | null }): Promise<void> {
    this.#sql(
      `UPDATE notifications SET sent = COALESCE(?, sent), attempts = COALESCE(?, attempts),
         last_error = CASE WHEN ? THEN ? ELSE last_error END, updated_at = ? WHERE id = ?`
    ).run(
      patch.sent ? JSON.stringify(patch.sent) : null,
      patch.attempts ?? null,
      patch.lastError !== undefined ? 1 : 0,
      patch.lastError ?? null,
      now(),
      id
    )
  }

  async createSchedule(s: Omit<ScheduleRecord, 'lastRunAt'>): Promise<ScheduleRecord> {
    try {
      const row = this.#sql(
        `INSERT INTO schedules (name, cluster, cron, keep, tz, enabled, last_run_at)
         VALUES (?, ?, ?, ?, ?, ?, NULL) RETURNING *`
      ).get(s.name, s.cluster, s.cron, s.keep, s.tz, s.enabled ? 1 : 0) as ScheduleRow
      return toSchedule(row)
    } catch (err) {
      throw translate(err, `schedule "${s.name}"`)
    }
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    return (this.#sql('SELECT * FROM schedules ORDER BY name').all() as ScheduleRow[]).map(toSchedule)
  }

  async deleteSchedule(name: string): Promise<boolean> {
    return this.#sql('DELETE FROM schedules WHERE name = ?').run(name).changes === 1
  }

  async markScheduleRun(name: string, from: string | null, to: string): Promise<boolean> {
    return (
      this.#sql('UPDATE schedules SET last_run_at = ? WHERE name = ? AND last_run_at IS ?').run(to, name, from).changes === 1
    )
  }

  async audit(a: Omit<AuditRecord, 'id' | 'at'>): Promise<void> {
    this.#sql(
      `INSERT INTO audit (at, actor, source, action, target, outcome, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?)`
    ).run(now(), a.actor, a.source, a.action, a.target, a.outcome, toJson(a.detail))
  }

  async listAudit(q: { limit?: number; before?: number }): Promise<AuditRecord[]> {
    const rows = this.#sql(
      `SELECT * FROM audit ${q.before !== undefined ? 'WHERE id < @before' : ''}
       ORDER BY id DESC LIMIT @limit`
    ).all({ limit: q.limit ?? -1, ...(q.before !== undefined ? { before: q.before } : {}) })
    return (rows as AuditRow[]).map(toAudit)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#checkpointer?.stop()
    this.db.close()
  }
}
