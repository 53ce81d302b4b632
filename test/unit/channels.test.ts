/**
 * The notification channels are one list in code (functions/channels.ts); the notifications
 * table's CHECK in the migration SQLite and D1 both run must name exactly the same channels, or a
 * channel added in code would fail at its first insert.
 */
import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { CHANNELS } from '../../functions/channels.ts'

test('the notifications table accepts exactly the channels the code knows', () => {
  const sql = readFileSync(
    new URL('../../infra/migrations/0002_notifications.sql', import.meta.url),
    'utf8'
  )
  const check = sql.match(/channel\s+TEXT NOT NULL CHECK \(channel IN \(([^)]*)\)\)/)
  assert.ok(check, 'the CHECK on channel is where it was')
  const inSql = check[1].split(',').map((s) => s.trim().replace(/^'|'$/g, ''))
  assert.equal([...inSql].sort(), [...CHANNELS].sort())
})

test.run()
