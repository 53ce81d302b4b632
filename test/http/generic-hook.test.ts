/**
 * POST /hooks/<name>: GitHub-style signed deliveries to named hooks, each with its own secret and
 * its own fixed job, through the real app, a real SQLite store and the real zx dispatcher.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createApp } from '../../functions/app.ts'
import { ZxDispatcher } from '../../functions/dispatch/zx.ts'
import { HooksConfig } from '../../functions/hooks/config.ts'
import { JobQueue } from '../../functions/queue.ts'
import { openSqliteStore, type SqliteStore } from '../../functions/store/sqlite.ts'
import { caller } from '../helpers/app-request.ts'
import { hook } from '../helpers/async.ts'

/** GitHub's published example (docs.github.com, "Validating webhook deliveries"). */
const GITHUB_SECRET = "It's a Secret to Everybody"
const GITHUB_BODY = 'Hello, World!'
const GITHUB_SIGNATURE = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'
const OTHER_SECRET = `other-${randomUUID()}`
const bin = fileURLToPath(new URL('../../bin/berth.mjs', import.meta.url))

const sign = (body: string, secret: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
const sha256 = (body: string) => createHash('sha256').update(body).digest('hex')

let store: SqliteStore
let queue: JobQueue
let app: ReturnType<typeof createApp>

const call = caller(() => app)
const post = (path: string, body: string, headers: Record<string, string> = {}) => call('POST', path, { body, headers })

const jobCount = () => (store.db.prepare('SELECT COUNT(*) AS n FROM jobs').get() as { n: number }).n

const Hooks = suite('POST /hooks/:name (GitHub-style signatures, fixed jobs, real store and dispatcher)')

Hooks.before(hook(async () => {
  const home = mkdtempSync(join(tmpdir(), 'berth-ghook-'))
  process.env.BERTH_HOME = home
  store = await openSqliteStore(join(home, 'berth.db'))
  const dispatcher = new ZxDispatcher({ mode: 'local', berth: [process.execPath, bin], graceMs: 10_000 })
  queue = new JobQueue({ store, dispatcher, maxClusters: 2 })
  const hooks = HooksConfig.parse({
    generic: {
      nightly: { secret: GITHUB_SECRET, job: { kind: 'snapshot', cluster: 't-ghook-none', options: { keep: 3 } } },
      rebuild: { secret: OTHER_SECRET, job: { kind: 'install', cluster: 't-ghook-rebuild' } },
    },
  })
  app = createApp({ store, queue, hooks })
}))

Hooks.after(hook(async () => {
  await queue?.drain(30_000)
  await store?.close()
}))

Hooks("GitHub's published test vector through the endpoint: 202 and the hook's own job", async () => {
  const delivery = randomUUID()
  assert.is(sign(GITHUB_BODY, GITHUB_SECRET), GITHUB_SIGNATURE, 'node:crypto agrees with the published vector')
  const res = await post('/hooks/nightly', GITHUB_BODY, { 'x-hub-signature-256': GITHUB_SIGNATURE, 'x-github-delivery': delivery, 'x-github-event': 'push' })
  assert.is(res.status, 202)
  const { ok, job } = await res.json()
  assert.is(ok, true)
  assert.equal([job.kind, job.cluster, job.requestedBy, job.spec], ['snapshot', 't-ghook-none', 'hook:nightly', { kind: 'snapshot', cluster: 't-ghook-none', options: { keep: 3 } }])
  const stored = await store.getJob(job.id)
  assert.equal([stored?.source, stored?.idempotencyKey, stored?.bodyHash], [delivery, `hook:nightly:${delivery}`, sha256(GITHUB_BODY)])
  const [audit] = await store.listAudit({ limit: 1 })
  assert.equal([audit.actor, audit.action, audit.target, audit.outcome], ['hook:nightly', 'job.snapshot', 't-ghook-none', 'accepted'])
})

Hooks('a tampered body, a wrong secret, another hook’s secret or a missing header: 401 with the envelope, no job', async () => {
  const before = jobCount()
  const cases: [string, string, Record<string, string>][] = [
    ['tampered body', 'Hello, World?', { 'x-hub-signature-256': GITHUB_SIGNATURE }],
    ['wrong secret', GITHUB_BODY, { 'x-hub-signature-256': sign(GITHUB_BODY, 'not the secret at all') }],
    ['another hook’s secret', GITHUB_BODY, { 'x-hub-signature-256': sign(GITHUB_BODY, OTHER_SECRET) }],
    ['missing header', GITHUB_BODY, {}],
    ['only the old SHA-1 header', GITHUB_BODY, { 'x-hub-signature': `sha1=${createHmac('sha1', GITHUB_SECRET).update(GITHUB_BODY).digest('hex')}` }],
    ['the signature without sha256=', GITHUB_BODY, { 'x-hub-signature-256': GITHUB_SIGNATURE.slice(7) }],
    ['upper-case hex', GITHUB_BODY, { 'x-hub-signature-256': `sha256=${GITHUB_SIGNATURE.slice(7).toUpperCase()}` }],
  ]
  for (const [what, body, headers] of cases) {
    const res = await post('/hooks/nightly', body, { 'x-github-delivery': randomUUID(), ...headers })
    assert.is(res.status, 401, what)
    const json = await res.json()
    assert.equal(Object.keys(json), ['ok', 'error'], what)
    assert.is(json.error.code, 'unauthorized', what)
    assert.match(json.error.message, /^X-Hub-Signature-256: /, what)
  }
  assert.is(jobCount(), before, 'no job')
})

Hooks('the same X-GitHub-Delivery twice is one job; so is the same Idempotency-Key; with neither, every delivery is a job', async () => {
  const before = jobCount()
  const delivery = randomUUID()
  const headers = { 'x-hub-signature-256': GITHUB_SIGNATURE, 'x-github-delivery': delivery }
  const first = await post('/hooks/nightly', GITHUB_BODY, headers)
  assert.is(first.status, 202)
  const { job } = await first.json()
  // GitHub's "Redeliver" sends the same delivery id again.
  const again = await post('/hooks/nightly', GITHUB_BODY, headers)
  assert.is(again.status, 200)
  const dup = await again.json()
  assert.equal([dup.duplicate, dup.job.id], [true, job.id])
  assert.is(jobCount(), before + 1)

  const key = { 'x-hub-signature-256': GITHUB_SIGNATURE, 'idempotency-key': `nightly-${randomUUID()}` }
  const a = await (await post('/hooks/nightly', GITHUB_BODY, key)).json()
  const b = await post('/hooks/nightly', GITHUB_BODY, key)
  assert.is(b.status, 200)
  assert.is((await b.json()).job.id, a.job.id)
  assert.is((await store.getJob(a.job.id))?.idempotencyKey, `hook:nightly:${key['idempotency-key']}`)
  assert.is(jobCount(), before + 2)

  const bare = { 'x-hub-signature-256': GITHUB_SIGNATURE }
  const x = await post('/hooks/nightly', GITHUB_BODY, bare)
  const y = await post('/hooks/nightly', GITHUB_BODY, bare)
  assert.equal([x.status, y.status], [202, 202])
  assert.is.not((await x.json()).job.id, (await y.json()).job.id)
  assert.is(jobCount(), before + 4)
})

Hooks('nothing in the payload reaches the job: a signed body asking for something else still runs the template', async () => {
  const body = JSON.stringify({ kind: 'destroy', cluster: 'prod', topology: { name: 'prod' }, options: { file: '/etc/passwd' } })
  const res = await post('/hooks/nightly', body, { 'x-hub-signature-256': sign(body, GITHUB_SECRET) })
  assert.is(res.status, 202)
  const { job } = await res.json()
  assert.equal((await store.getJob(job.id))?.spec, { kind: 'snapshot', cluster: 't-ghook-none', options: { keep: 3 } })
})

Hooks('an install hook installs the stored topology of its cluster; none stored: 404 naming it, no job', async () => {
  const before = jobCount()
  const body = '{}'
  const res = await post('/hooks/rebuild', body, { 'x-hub-signature-256': sign(body, OTHER_SECRET), 'x-github-delivery': randomUUID() })
  assert.is(res.status, 404)
  assert.equal(await res.json(), { ok: false, error: { code: 'not_found', message: 'no stored topology named "t-ghook-rebuild"' } })
  assert.is(jobCount(), before)
})

Hooks('an unknown hook is a 404 with the envelope, Object’s own property names included; a bad delivery id is a 422 naming it', async () => {
  for (const name of ['not-there', 'constructor', '__proto__', 'toString', 'jira']) {
    const res = await post(`/hooks/${name}`, GITHUB_BODY, { 'x-hub-signature-256': GITHUB_SIGNATURE })
    assert.is(res.status, 404, name)
    const json = await res.json()
    assert.is(json.ok, false, name)
    assert.is(json.error.code, 'not_found', name)
  }
  const res = await post('/hooks/not-there', GITHUB_BODY, { 'x-hub-signature-256': GITHUB_SIGNATURE })
  assert.is((await res.json()).error.message, 'no hook named "not-there"')
  const before = jobCount()
  const long = await post('/hooks/nightly', GITHUB_BODY, { 'x-hub-signature-256': GITHUB_SIGNATURE, 'x-github-delivery': 'x'.repeat(201) })
  assert.is(long.status, 422)
  assert.is((await long.json()).error.message, 'X-GitHub-Delivery: must be 1 to 200 printable characters without spaces')
  assert.is(jobCount(), before)
})

Hooks.run()
