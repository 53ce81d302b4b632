import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createApp } from '../../functions/app.ts'
import { ZxDispatcher } from '../../functions/dispatch/zx.ts'
import { hashToken, newToken } from '../../functions/middleware/auth.ts'
import { JobQueue } from '../../functions/queue.ts'
import { openSqliteStore } from '../../functions/store/sqlite.ts'
import type { Store } from '../../functions/store/store.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import { cheLike, engine, ensureDemoImage, removeTestClusters } from '../helpers/docker.ts'

const home = mkdtempSync(join(tmpdir(), 'berth-http-'))
process.env.BERTH_HOME = home
const bin = fileURLToPath(new URL('../../bin/berth.mjs', import.meta.url))

let store: Store
let queue: JobQueue
let app: ReturnType<typeof createApp>
const tokens: Record<string, string> = {}

async function token(name: string, scopes: string[]): Promise<string> {
  const t = newToken()
  await store.createToken({ id: crypto.randomUUID(), name, hash: await hashToken(t), scopes })
  return t
}

/** What the tests read of a response (JSON bodies are checked field by field, so typed loosely). */
interface Res {
  status: number
  json(): Promise<any> // eslint-disable-line @typescript-eslint/no-explicit-any
  text(): Promise<string>
}

function call(method: string, path: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.token) headers.authorization = `Bearer ${opts.token}`
  let body: string | undefined
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body)
    headers['content-type'] ??= 'application/json'
  }
  return Promise.resolve(app.request(path, { method, headers, body })) as Promise<Res>
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function finished(id: string) {
  return until(`job ${id} finished`, async () => {
    const j = await store.getJob(id)
    return j && ['succeeded', 'failed', 'cancelled'].includes(j.state) ? j : undefined
  })
}

const Api = suite('the job API (real SQLite, real zx dispatcher, real engine)')

Api.before(hook(async () => {
  await removeTestClusters('t-http')
  await withTimeout(ensureDemoImage(), 120_000, 'demo image')
  store = await openSqliteStore(join(home, 'berth.db'))
  const dispatcher = new ZxDispatcher({ mode: 'local', berth: [process.execPath, bin], graceMs: 10_000 })
  queue = new JobQueue({ store, dispatcher, maxClusters: 2 })
  app = createApp({ store, queue })
  tokens.admin = await token('admin', ['admin'])
  tokens.read = await token('reader', ['read'])
  tokens.install = await token('installer', ['install', 'read'])
}))
Api.after(hook(async () => {
  await removeTestClusters('t-http')
  await store.close()
}))

Api('answers /healthz without a token; 401 without or with a wrong token; 403 without the scope', async () => {
  assert.is((await call('GET', '/healthz')).status, 200)
  const none = await call('GET', '/v1/jobs')
  assert.is(none.status, 401)
  assert.equal(await none.json(), { ok: false, error: { code: 'unauthorized', message: 'a valid bearer token is required' } })
  assert.is((await call('GET', '/v1/jobs', { token: 'berth_forged' })).status, 401)
  const denied = await call('POST', '/v1/jobs', { token: tokens.read, body: { kind: 'destroy', cluster: 't-http-x' } })
  assert.is(denied.status, 403)
  assert.match((await denied.json()).error.message, /lacks the "restore" scope/)
  const restoreWithInstall = await call('POST', '/v1/jobs', { token: tokens.install, body: { kind: 'restore', cluster: 't-http-x', snapshot: 's' } })
  assert.is(restoreWithInstall.status, 403, 'restore needs its own scope')
  assert.equal(await store.listJobs({}), [], 'no job was created')
})

Api('refuses a bad body or topology with 422 naming the field, creating nothing', async () => {
  const bad = await call('POST', '/v1/jobs', { token: tokens.admin, body: { kind: 'install', cluster: 'Bad_Name' } })
  assert.is(bad.status, 422)
  assert.match((await bad.json()).error.message, /cluster: is not a valid cluster name/)
  const topo = await call('POST', '/v1/jobs', {
    token: tokens.admin,
    body: { kind: 'install', cluster: 't-http-bad', topology: { ...cheLike('t-http-bad'), nodes: [{ name: 'Data_1' }] } },
  })
  assert.is(topo.status, 422)
  assert.match((await topo.json()).error.message, /nodes\[0\]\.name: "Data_1" is not a valid hostname label/)
  assert.is((await call('POST', '/v1/jobs', { token: tokens.admin, body: '{nope' })).status, 422)
  assert.equal(await store.listJobs({}), [])
})

Api('runs a job through berth job run, stores its events in order, and replays them as SSE', async () => {
  const res = await call('POST', '/v1/jobs', { token: tokens.admin, body: { kind: 'status', cluster: 't-http-none' } })
  assert.is(res.status, 202)
  const { job } = await res.json()
  const done = await finished(job.id)
  assert.is(done.state, 'failed')
  assert.is((done.result as { code: string }).code, 'not_found')
  assert.is(done.exitCode, 5)
  const events = await store.listEvents(job.id)
  assert.equal(events.map((e) => e.seq), events.map((_, i) => i + 1))
  assert.is((events[events.length - 1].event as { type: string }).type, 'result')

  const sse = await (await call('GET', `/v1/jobs/${job.id}/events`, { token: tokens.read })).text()
  const ids = [...sse.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))
  assert.equal(ids, events.map((e) => e.seq))
  assert.match(sse, /event: end/)
  const tail = await (await call('GET', `/v1/jobs/${job.id}/events`, { token: tokens.read, headers: { 'last-event-id': '1' } })).text()
  assert.equal([...tail.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1])), events.slice(1).map((e) => e.seq), 'replay from Last-Event-ID')
})

Api('an Idempotency-Key returns the same job for the same body and 422 for another', async () => {
  const body = { kind: 'status', cluster: 't-http-idem' }
  const a = await (await call('POST', '/v1/jobs', { token: tokens.admin, body, headers: { 'idempotency-key': 'k-1' } })).json()
  const b = await (await call('POST', '/v1/jobs', { token: tokens.admin, body, headers: { 'idempotency-key': 'k-1' } })).json()
  assert.is(b.job.id, a.job.id)
  const c = await call('POST', '/v1/jobs', { token: tokens.admin, body: { ...body, cluster: 't-http-other' }, headers: { 'idempotency-key': 'k-1' } })
  assert.is(c.status, 422)
  assert.is((await c.json()).error.code, 'idempotency_mismatch')
  await finished(a.job.id)
})

Api('installs from a stored topology, refuses a second job with 409 when asked not to queue, and cancels cleanly', async () => {
  const yaml = JSON.stringify({ ...cheLike('t-http-slow'), nodes: [{ name: 'slow', bootstrap: 'sleep 30' }] })
  const put = await call('PUT', '/v1/topologies/t-http-slow', { token: tokens.install, body: yaml })
  assert.is(put.status, 200)
  const started = await (await call('POST', '/v1/jobs', { token: tokens.install, body: { kind: 'install', cluster: 't-http-slow', topologyRef: 't-http-slow' } })).json()
  await until('bootstrap running', async () => ((await store.listEvents(started.job.id)).some((e) => (e.event as { step?: string }).step === 'bootstrap') ? true : undefined))
  const busy = await call('POST', '/v1/jobs?queue=false', { token: tokens.install, body: { kind: 'status', cluster: 't-http-slow' } })
  assert.is(busy.status, 409)
  const t0 = Date.now()
  const cancel = await call('POST', `/v1/jobs/${started.job.id}/cancel`, { token: tokens.install })
  assert.is(cancel.status, 202)
  const done = await finished(started.job.id)
  assert.is(done.state, 'cancelled')
  assert.ok(Date.now() - t0 < 15_000, 'stopped long before the 30 s bootstrap')
  assert.is((await engine.listContainers([`${LABEL.cluster}=t-http-slow`])).length, 0, 'nothing left')
})

Api('a job that was running when the server died is resumed on restart, not lost or doubled', async () => {
  const job = await store.createJob({
    id: 'j-crashed-1',
    kind: 'status',
    cluster: 't-http-crash',
    spec: { kind: 'status', cluster: 't-http-crash' },
    requestedBy: 'admin',
    source: null,
    idempotencyKey: null,
    bodyHash: null,
  })
  await store.transitionJob(job.id, ['queued'], 'running', { startedAt: new Date().toISOString(), attempts: 1 })
  const resumed = await queue.resume()
  assert.ok(resumed >= 1)
  const done = await finished(job.id)
  assert.is(done.attempts, 2, 'run once more, exactly')
  assert.is(done.state, 'failed')
})

Api('the audit log records who did what, and only admins read it', async () => {
  assert.is((await call('GET', '/v1/audit', { token: tokens.read })).status, 403)
  const { audit } = await (await call('GET', '/v1/audit', { token: tokens.admin })).json()
  const actions = audit.map((a: { action: string }) => a.action)
  assert.ok(actions.includes('job.install') && actions.includes('job.cancel') && actions.includes('topology.put'), actions.join(','))
})

Api.run()
