/**
 * The SQLite store on real files: the store contract (test/support/store.case.ts, which the D1
 * store keeps too), plus what only a file has — its migrations table and pragmas, a second
 * connection as a second process would open, and data that survives closing and reopening.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { openSqliteStore, type SqliteStore } from '../../functions/store/sqlite.ts'
import { job, storeContract } from '../support/store.case.ts'

const dirs: string[] = []

/** A fresh store on a real file; each test gets its own directory. */
async function fresh(): Promise<{ store: SqliteStore; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-store-'))
  dirs.push(dir)
  const file = join(dir, 'nested', 'berth.db')
  return { store: await openSqliteStore(file), file }
}

storeContract('sqlite', {
  serialWrites: true,
  fresh: async () => {
    const { store, file } = await fresh()
    const opened: SqliteStore[] = [store]
    return {
      store,
      // A second connection to the same file, as a second process would have.
      other: async () => {
        const other = await openSqliteStore(file)
        opened.push(other)
        return other
      },
      close: async () => {
        for (const s of opened) await s.close()
      },
    }
  },
  after: async () => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  },
  extra: (test) => {
    test('migrations apply once and are listed in the migrations table', async () => {
      const { store, file } = await fresh()
      const first = store.db.prepare('SELECT name, applied_at FROM migrations').all() as {
        name: string
        applied_at: string
      }[]
      assert.equal(
        first.map((r) => r.name),
        [
          '0001_init.sql',
          '0002_notifications.sql',
          '0003_dispatch_ref.sql',
          '0004_grants.sql',
          '0005_dashboard.sql',
        ]
      )
      assert.is(store.db.pragma('journal_mode', { simple: true }), 'wal')
      assert.is(store.db.pragma('foreign_keys', { simple: true }), 1)
      await store.close()

      const again = await openSqliteStore(file)
      const second = again.db.prepare('SELECT name, applied_at FROM migrations').all()
      assert.equal(second, first, 'reopening applied nothing again')
      await again.close()
    })

    test('data survives close and reopen', async () => {
      const { store, file } = await fresh()
      await store.createJob(job({ id: 'keep', idempotencyKey: 'k1' }))
      await store.transitionJob('keep', ['queued'], 'running', { attempts: 1 })
      await store.appendEvent('keep', { step: 'pull' })
      await store.createToken({ id: 't', name: 'admin', hash: 'h', scopes: ['admin'] })
      await store.audit({
        actor: 'a',
        source: null,
        action: 'x',
        target: null,
        outcome: 'ok',
        detail: null,
      })
      await store.putTopology({ name: 'che', text: 'name: che', updatedBy: 'a' })
      await store.close()
      await store.close() // closing twice is harmless (shutdown paths overlap)

      const again = await openSqliteStore(file)
      assert.is((await again.getJob('keep'))!.state, 'running')
      assert.is((await again.findJobByIdempotencyKey('k1'))!.id, 'keep')
      assert.equal((await again.listEvents('keep'))[0].event, { step: 'pull' })
      assert.is((await again.appendEvent('keep', { step: 'next' })).seq, 2)
      assert.is((await again.findTokenByHash('h'))!.name, 'admin')
      assert.is((await again.listAudit({})).length, 1)
      assert.is((await again.getTopology('che'))!.text, 'name: che')
      await again.close()
    })
  },
})
