/**
 * The dashboard's sessions through the real app (`app.request`) on a real SQLite file, where a
 * browser cannot go: the cookie over https, a session on /v1 (reads, and writes only with the
 * CSRF header), where sign-in may send the browser on, the failure limit on sign-in, sign-out.
 * The pages themselves are driven in Chromium (test/web).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createApp } from '../../functions/app.ts'
import { ZxDispatcher } from '../../functions/dispatch/zx.ts'
import { JobQueue } from '../../functions/queue.ts'
import { openSqliteStore, type SqliteStore } from '../../functions/store/sqlite.ts'
import { nodeAssets } from '../../functions/web/node-assets.ts'
import { hook } from '../helpers/async.ts'
import { mintToken } from '../helpers/tokens.ts'

const bin = fileURLToPath(new URL('../../bin/berth.mjs', import.meta.url))
const ctx: {
  dir?: string
  store?: SqliteStore
  queue?: JobQueue
  app?: ReturnType<typeof createApp>
  admin?: string
} = {}

test.before(
  hook(async () => {
    ctx.dir = mkdtempSync(join(tmpdir(), 'berth-session-'))
    process.env.BERTH_HOME = ctx.dir
    ctx.store = await openSqliteStore(join(ctx.dir, 'berth.db'))
    const dispatcher = new ZxDispatcher({
      mode: 'local',
      berth: [process.execPath, bin],
      graceMs: 5000,
    })
    ctx.queue = new JobQueue({ store: ctx.store, dispatcher, maxClusters: 2 })
    ctx.app = createApp({
      store: ctx.store,
      queue: ctx.queue,
      authFailures: { max: 3, windowMs: 60_000 },
      web: { assets: nodeAssets(), sessionHours: 1 },
    })
    ctx.admin = await mintToken(ctx.store, 'admin', ['admin'])
  })
)

test.after(
  hook(async () => {
    await ctx.queue?.drain(10_000)
    await ctx.store?.close()
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true })
  })
)

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

async function signIn(token: string, base = 'http://berth.test', next = '/') {
  const res = await ctx.app!.request(`${base}/sign-in`, {
    method: 'POST',
    headers: FORM,
    body: form({ token, next }),
  })
  return { res, cookie: (res.headers.get('set-cookie') ?? '').split(';')[0] }
}

/** The session's CSRF value, as its pages carry it. */
async function csrfOf(cookie: string): Promise<string> {
  const html = await (
    await ctx.app!.request('http://berth.test/jobs', { headers: { cookie } })
  ).text()
  return /name="_csrf" value="([^"]+)"/.exec(html)![1]
}

test('over https the cookie is Secure; over http it is not; both HttpOnly, SameSite=Strict, Path=/', async () => {
  const https = await signIn(ctx.admin!, 'https://berth.test')
  const header = https.res.headers.get('set-cookie') ?? ''
  assert.is(https.res.status, 303)
  assert.match(header, /; Secure/)
  assert.match(header, /; HttpOnly/)
  assert.match(header, /; SameSite=Strict/)
  assert.match(header, /; Path=\//)
  assert.match(header, /; Max-Age=3600/)
  const http = await signIn(ctx.admin!)
  assert.not.match(http.res.headers.get('set-cookie') ?? '', /Secure/)
  // Behind a TLS proxy: its X-Forwarded-Proto is believed only from a configured proxy.
  for (const [peer, secure] of [
    ['10.9.9.9', true],
    ['10.6.6.6', false],
  ] as const) {
    const proxied = createApp({
      store: ctx.store!,
      queue: ctx.queue!,
      peer: () => peer,
      trustedProxies: ['10.9.9.9'],
      web: { assets: nodeAssets() },
    })
    const res = await proxied.request('http://berth.test/sign-in', {
      method: 'POST',
      headers: { ...FORM, 'x-forwarded-proto': 'https', 'x-forwarded-for': '192.0.2.7' },
      body: form({ token: ctx.admin!, next: '/' }),
    })
    assert.is(/; Secure/.test(res.headers.get('set-cookie') ?? ''), secure, `from ${peer}`)
  }
})

test('sign-in sends the browser on to a path of this site only', async () => {
  for (const [next, to] of [
    ['/clusters/x?y=1', '/clusters/x?y=1'],
    ['//evil.example/', '/'],
    ['https://evil.example/', '/'],
    ['/\\evil.example', '/'],
  ]) {
    const { res } = await signIn(ctx.admin!, 'http://berth.test', next)
    assert.is(res.headers.get('location'), to, next)
  }
})

test('a session reads /v1; a write with it needs the CSRF header, and another origin is refused', async () => {
  const { cookie } = await signIn(ctx.admin!)
  const list = await ctx.app!.request('http://berth.test/v1/jobs', { headers: { cookie } })
  assert.is(list.status, 200)
  const body = JSON.stringify({ kind: 'status', cluster: 't-session-none' })
  const json = { cookie, 'content-type': 'application/json' }
  const bare = await ctx.app!.request('http://berth.test/v1/jobs', {
    method: 'POST',
    headers: json,
    body,
  })
  assert.is(bare.status, 403)
  assert.match(((await bare.json()) as { error: { message: string } }).error.message, /CSRF/)
  const csrf = await csrfOf(cookie)
  const cross = await ctx.app!.request('http://berth.test/v1/jobs', {
    method: 'POST',
    headers: { ...json, 'x-csrf-token': csrf, origin: 'http://evil.example' },
    body,
  })
  assert.is(cross.status, 403)
  assert.equal((await ctx.store!.listJobs({})).length, 0, 'nothing made')
  const ok = await ctx.app!.request('http://berth.test/v1/jobs', {
    method: 'POST',
    headers: { ...json, 'x-csrf-token': csrf, origin: 'http://berth.test' },
    body,
  })
  assert.is(ok.status, 202)
})

test('sign-out ends the session on the server; a revoked token ends its sessions', async () => {
  const { cookie } = await signIn(ctx.admin!)
  const csrf = await csrfOf(cookie)
  const out = await ctx.app!.request('http://berth.test/sign-out', {
    method: 'POST',
    headers: { ...FORM, cookie },
    body: form({ _csrf: csrf }),
  })
  assert.is(out.status, 303)
  const after = await ctx.app!.request('http://berth.test/v1/jobs', { headers: { cookie } })
  assert.is(after.status, 401, 'the old cookie is no session any more')
  const temp = await mintToken(ctx.store!, 'temp', ['read'])
  const t = await signIn(temp)
  assert.is(
    (await ctx.app!.request('http://berth.test/jobs', { headers: { cookie: t.cookie } })).status,
    200
  )
  const used = (await ctx.store!.listTokens()).find((x) => x.name === 'temp')
  assert.ok(used?.lastUsedAt, "the dashboard's use is the token's use (berth token list)")
  await ctx.store!.revokeToken('temp')
  const page = await ctx.app!.request('http://berth.test/jobs', { headers: { cookie: t.cookie } })
  assert.is(page.status, 303)
  assert.match(page.headers.get('location') ?? '', /^\/sign-in\?next=%2Fjobs&expired=1$/)
})

test('bad tokens at sign-in count against the failure limit: 429 past it, audited', async () => {
  const statuses: number[] = []
  for (let i = 0; i < 5; i++)
    statuses.push((await signIn(`berth_wrong-${i}-${'x'.repeat(40)}`)).res.status)
  // The address's earlier failure (the signed-out cookie's 401) counts too: 3 in all, then 429.
  assert.equal(statuses, [403, 403, 429, 429, 429])
  const audit = await ctx.store!.listAudit({ limit: 50 })
  assert.ok(audit.some((a) => a.action === 'session.start' && a.outcome === 'refused'))
})

test.run()
