/**
 * D1Store against real D1 (workerd through wrangler's platform proxy), on a database whose schema
 * `wrangler d1 migrations apply` made from infra/migrations: the store contract the SQLite store
 * keeps too (test/support/store.case.ts), plus wrangler's own migrations table.
 */
import { rmSync } from 'node:fs'
import * as assert from 'uvu/assert'
import { D1Store, type D1Database } from '../../functions/store/d1.ts'
import { withTimeout } from '../helpers/async.ts'
import { storeContract } from '../support/store.case.ts'
import { localD1, migratedPersistDir } from './wrangler.ts'

const ctx: { dir?: string; db?: D1Database; dispose?: () => Promise<void> } = {}

storeContract('d1', {
  // Several isolates write to one D1 without a common order.
  serialWrites: false,
  before: async () => {
    ctx.dir = await withTimeout(migratedPersistDir(), 60_000, 'wrangler d1 migrations apply')
    Object.assign(ctx, await withTimeout(localD1(ctx.dir), 30_000, 'the local D1 proxy'))
  },
  after: async () => {
    await ctx.dispose?.()
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true })
  },
  // Every test starts from empty tables (children first: job_events and notifications refer to
  // jobs, sessions to tokens).
  fresh: async () => {
    for (const t of [
      'sessions',
      'job_events',
      'notifications',
      'jobs',
      'tokens',
      'audit',
      'topologies',
      'schedules',
    ]) {
      await ctx.db!.prepare(`DELETE FROM ${t}`).run()
    }
    return {
      store: new D1Store(ctx.db!),
      other: async () => new D1Store(ctx.db!),
      close: async () => {},
    }
  },
  extra: (test) => {
    test('wrangler applied every migration in infra/migrations, in order, to D1', async () => {
      const { results } = await ctx
        .db!.prepare('SELECT name FROM d1_migrations ORDER BY id')
        .all<{ name: string }>()
      assert.equal(
        results.map((r) => r.name),
        [
          '0001_init.sql',
          '0002_notifications.sql',
          '0003_dispatch_ref.sql',
          '0004_grants.sql',
          '0005_dashboard.sql',
        ]
      )
    })
  },
})
