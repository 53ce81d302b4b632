/**
 * The Store over better-sqlite3: the Node entry's store (Node only). The statements are
 * sql-store.ts's, shared with D1; this file opens the file, migrates it and keeps its WAL small.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { now, type SqlValue } from './rows.ts'
import { SqlStore, type SqlDriver } from './sql-store.ts'
import { packagePath } from '../../scripts/engine/package-root.ts'

const defaultMigrationsDir = packagePath('infra', 'migrations') + '/'

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
  db.exec('CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)')
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

/** better-sqlite3 under the SqlStore: each statement prepared once, on first use, and reused. */
class BetterSqliteDriver implements SqlDriver {
  /**
   * Preparing on every call costs CPU and leaves native statement objects for the GC, whose
   * scavenges then stall the event loop. Keyed by SQL text; the texts built at run time come only
   * from fixed fragments, so there are few of them.
   */
  readonly #statements = new Map<string, Database.Statement>()
  #closed = false

  constructor(
    readonly db: Database.Database,
    private readonly checkpointer: Checkpointer | undefined
  ) {}

  #sql(text: string): Database.Statement {
    let stmt = this.#statements.get(text)
    if (!stmt) this.#statements.set(text, (stmt = this.db.prepare(text)))
    return stmt
  }

  async all<T>(sql: string, args: SqlValue[]): Promise<T[]> {
    return this.#sql(sql).all(...args) as T[]
  }

  async first<T>(sql: string, args: SqlValue[]): Promise<T | null> {
    return (this.#sql(sql).get(...args) as T | undefined) ?? null
  }

  async run(sql: string, args: SqlValue[]): Promise<number> {
    const stmt = this.#sql(sql)
    // A statement that returns rows (INSERT … RETURNING) must be stepped with get().
    if (stmt.reader) return stmt.get(...args) === undefined ? 0 : 1
    return stmt.run(...args).changes
  }

  isConflict(err: unknown): boolean {
    const code = (err as { code?: unknown }).code
    return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.checkpointer?.stop()
    this.db.close()
  }
}

export class SqliteStore extends SqlStore {
  constructor(
    readonly db: Database.Database,
    checkpointer?: Checkpointer
  ) {
    super(new BetterSqliteDriver(db, checkpointer))
  }
}
