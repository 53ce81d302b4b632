/**
 * The Store over Cloudflare D1: the Worker's store, on the same schema as the Node one
 * (infra/migrations/, applied by `wrangler d1 migrations apply`) and with the same statements
 * (sql-store.ts). No node:* imports: this runs in workerd.
 */
import type { SqlValue } from './rows.ts'
import { SqlStore, type SqlDriver } from './sql-store.ts'

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

export type D1Value = SqlValue

/** D1 under the SqlStore. */
class D1Driver implements SqlDriver {
  constructor(readonly db: D1Database) {}

  #sql(text: string, args: SqlValue[]): D1PreparedStatement {
    return args.length ? this.db.prepare(text).bind(...args) : this.db.prepare(text)
  }

  async all<T>(sql: string, args: SqlValue[]): Promise<T[]> {
    return (await this.#sql(sql, args).all<T>()).results
  }

  first<T>(sql: string, args: SqlValue[]): Promise<T | null> {
    return this.#sql(sql, args).first<T>()
  }

  async run(sql: string, args: SqlValue[]): Promise<number> {
    return (await this.#sql(sql, args).run()).meta.changes
  }

  /**
   * D1 has no error codes, only text ("D1_ERROR: UNIQUE constraint failed: tokens.name:
   * SQLITE_CONSTRAINT"); a primary key clash reads the same.
   */
  isConflict(err: unknown): boolean {
    return /UNIQUE constraint failed|SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)/.test(
      String((err as Error)?.message ?? err)
    )
  }

  /** The binding belongs to the runtime: nothing to close. */
  async close(): Promise<void> {}
}

export class D1Store extends SqlStore {
  constructor(db: D1Database) {
    super(new D1Driver(db))
  }
}
