/**
 * test/support/berth-api.d.ts is generated (npm run gen:client: openapi-typescript over the
 * document berth serves), never written by hand: generated again into a temporary directory by
 * the same command, it is the committed file byte for byte — else the committed one is stale.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { CLIENT_TYPES } from '../../scripts/openapi/gen-client.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

test(`${CLIENT_TYPES} is what npm run gen:client makes of the served document now`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-client-types-'))
  try {
    const out = join(dir, 'berth-api.d.ts')
    execFileSync(
      join(ROOT, 'node_modules/.bin/tsx'),
      [join(ROOT, 'scripts/openapi/gen-client.ts'), '--out', out],
      { cwd: ROOT, stdio: 'pipe' }
    )
    const fresh = readFileSync(out, 'utf8')
    const committed = readFileSync(join(ROOT, CLIENT_TYPES), 'utf8')
    assert.ok(fresh.includes('export interface paths'), 'the generator wrote the types')
    if (fresh !== committed) {
      const a = committed.split('\n')
      const b = fresh.split('\n')
      const line = a.findIndex((l, i) => l !== b[i])
      assert.unreachable(
        `${CLIENT_TYPES} is stale: run npm run gen:client and commit it (first difference at line ${line + 1}: committed ${JSON.stringify(a[line])}, generated ${JSON.stringify(b[line])})`
      )
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
