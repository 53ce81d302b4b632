import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { $ } from 'zx'
import { withTimeout } from '../helpers/async.ts'

const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8)

test('berth serve: admin token written once to a 0600 file (never printed), jobs over HTTP, tokens from the CLI, SIGTERM drains and exits 0', async () => {
  const home = mkdtempSync(join(tmpdir(), 'berth-serve-'))
  const port = 20000 + Math.floor(Math.random() * 20000)
  const env = { ...process.env, BERTH_HOME: home, PORT: String(port) }
  const server = spawn('node', [BIN, 'serve'], { env })
  let out = ''
  server.stdout.on('data', (d) => (out += d))
  try {
    await withTimeout(
      new Promise<void>((resolve) =>
        server.stdout.on('data', () => /berth serve: http/.test(out) && resolve())
      ),
      20_000,
      'server start'
    )
    const file = join(home, 'admin-token')
    const admin = readFileSync(file, 'utf8').trim()
    assert.match(admin, /^berth_[A-Za-z0-9_-]{43}$/, 'the admin token is in the file')
    assert.ok(out.includes(`an admin token was written to ${file}`), out)
    assert.not.match(out, /berth_[A-Za-z0-9_-]{20,}/, 'and in no log')
    assert.is(mode(file), '600')
    const base = `http://127.0.0.1:${port}`
    assert.is((await fetch(`${base}/healthz`)).status, 200)
    assert.is((await fetch(`${base}/v1/jobs`)).status, 401)

    const created = await $({
      env,
      quiet: true,
    })`node ${BIN} token create --name ops --scopes read --json`
    const ops = JSON.parse(created.stdout).token as string
    const denied = await fetch(`${base}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ops}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'install', cluster: 'x', topology: 'name: x' }),
    })
    assert.is(denied.status, 403)

    const res = await fetch(`${base}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'status', cluster: 't-serve-none' }),
    })
    assert.is(res.status, 202)
    const { job } = (await res.json()) as { job: { id: string } }
    const sse = await (
      await fetch(`${base}/v1/jobs/${job.id}/events`, {
        headers: { authorization: `Bearer ${ops}` },
      })
    ).text()
    assert.match(sse, /"code":"not_found"/)
    assert.match(sse, /event: end/)
    // Only root reads what berth keeps: the store, the job logs, the directories.
    assert.is(mode(home), '700')
    assert.is(mode(join(home, 'berth.db')), '600')
    assert.is(mode(join(home, 'jobs')), '700')
    assert.is(mode(join(home, 'jobs', `${job.id}.log`)), '600')

    await $({ env, quiet: true })`node ${BIN} token revoke ops`
    assert.is(
      (await fetch(`${base}/v1/jobs`, { headers: { authorization: `Bearer ${ops}` } })).status,
      401,
      'revoked'
    )

    server.kill('SIGTERM')
    const code = await withTimeout(
      new Promise<number | null>((r) => server.on('exit', r)),
      40_000,
      'exit'
    )
    assert.is(code, 0)

    // A second start creates no new admin token.
    const again = spawn('node', [BIN, 'serve'], { env })
    let out2 = ''
    again.stdout.on('data', (d) => (out2 += d))
    await withTimeout(
      new Promise<void>((r) =>
        again.stdout.on('data', () => /berth serve: http/.test(out2) && r())
      ),
      20_000,
      'restart'
    )
    assert.not.match(out2, /admin token/)
    assert.is(readFileSync(file, 'utf8').trim(), admin, 'the file is not overwritten')
    again.kill('SIGTERM')
    await new Promise((r) => again.on('exit', r))
  } finally {
    server.kill('SIGKILL')
  }
})

test.run()
