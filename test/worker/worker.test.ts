/**
 * The Worker in workerd: `wrangler dev` in local mode over a local D1 that `wrangler d1 migrations
 * apply` made, spoken to over real HTTP. No dispatcher is configured, so a job is recorded and
 * then fails at its start with `dispatch_not_configured` — which shows the start ran after the
 * response, in the Worker's waitUntil.
 */
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { hook, until, withTimeout } from '../helpers/async.ts'
import { commandBody, signedHeaders } from '../helpers/slack.ts'
import { migratedPersistDir, root, startWranglerDev, type WranglerDev } from './wrangler.ts'

const adminToken = `berth_${randomBytes(32).toString('base64url')}`
const slackSecret = randomBytes(24).toString('hex')
const hooks = {
  slack: {
    signingSecret: 'env:SLACK_SIGNING_SECRET',
    allow: [{ users: ['U0OPS'], kinds: ['install', 'jobs'], clusters: ['che'] }],
  },
}

const ctx: { dir?: string; dev?: WranglerDev; base?: string } = {}

test.before(
  hook(async () => {
    ctx.dir = await withTimeout(migratedPersistDir(), 60_000, 'wrangler d1 migrations apply')
    // The token's hash (never the token), the hooks, the secret they name.
    ctx.dev = await startWranglerDev(ctx.dir, {
      BERTH_ADMIN_TOKEN_SHA256: createHash('sha256').update(adminToken).digest('hex'),
      HOOKS: JSON.stringify(hooks),
      // The admin's override: every job on t-wk-locked-* is held to restricted, admin's included.
      POLICY: JSON.stringify({ clusters: { 't-wk-locked-*': 'restricted' } }),
      SLACK_SIGNING_SECRET: slackSecret,
    })
    ctx.base = ctx.dev.base
  })
)

test.after(
  hook(async () => {
    await ctx.dev?.stop()
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true })
  })
)

const call = (
  method: string,
  path: string,
  o: { token?: string; body?: unknown; headers?: Record<string, string> } = {}
) =>
  fetch(`${ctx.base}${path}`, {
    method,
    headers: {
      ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
      ...(o.body !== undefined && typeof o.body !== 'string'
        ? { 'content-type': 'application/json' }
        : {}),
      ...o.headers,
    },
    body:
      o.body === undefined
        ? undefined
        : typeof o.body === 'string'
          ? o.body
          : JSON.stringify(o.body),
  })

const jobCount = async () =>
  ((await (await call('GET', '/v1/jobs', { token: adminToken })).json()) as { jobs: unknown[] })
    .jobs.length

test('GET /healthz answers from workerd', async () => {
  const res = await call('GET', '/healthz')
  assert.equal([res.status, await res.json()], [200, { ok: true }])
})

test("the host policy holds on the Worker: the POLICY binding's override refuses a SYS_ADMIN node naming the path, nothing recorded", async () => {
  const before = await jobCount()
  const topology = {
    name: 't-wk-locked-a',
    image: 'berth/demo:1',
    domain: 'w.local',
    nodes: [{ name: 'pwn', capAdd: ['SYS_ADMIN'], resources: { memory: '64m' } }],
  }
  const res = await call('POST', '/v1/jobs', {
    token: adminToken,
    body: { kind: 'install', cluster: 't-wk-locked-a', topology },
  })
  assert.is(res.status, 403)
  const { error } = (await res.json()) as {
    error: { code: string; issues: { path: string; message: string }[] }
  }
  assert.equal(error.issues, [
    {
      path: 'nodes[0].capAdd[0]',
      message: 'SYS_ADMIN is not allowed by policy "restricted" (allowed: NET_BIND_SERVICE)',
    },
  ])
  assert.is(await jobCount(), before)
})

test('the API refuses a request without a token, or with a token it does not know, with 401', async () => {
  const none = await call('GET', '/v1/jobs')
  assert.equal(
    [none.status, ((await none.json()) as { error: { code: string } }).error.code],
    [401, 'unauthorized']
  )
  const wrong = await call('GET', '/v1/jobs', {
    token: `berth_${randomBytes(32).toString('base64url')}`,
  })
  assert.is(wrong.status, 401)
})

test('the admin token whose hash the Worker was given works, and its creation is audited', async () => {
  const res = await call('GET', '/v1/audit', { token: adminToken })
  assert.is(res.status, 200)
  const { audit } = (await res.json()) as {
    audit: { action: string; target: string; outcome: string }[]
  }
  assert.ok(
    audit.some(
      (a) =>
        a.action === 'token.create' &&
        a.target === 'admin' &&
        /BERTH_ADMIN_TOKEN_SHA256/.test(a.outcome)
    ),
    JSON.stringify(audit)
  )
})

test('a job posted with a stored topology is a D1 row, read back, then failed for want of a dispatcher', async () => {
  const put = await call('PUT', '/v1/topologies/che', {
    token: adminToken,
    body: readFileSync(join(root, 'examples/che.yaml'), 'utf8'),
  })
  assert.is(put.status, 200, await put.clone().text())
  const post = await call('POST', '/v1/jobs', {
    token: adminToken,
    body: { kind: 'install', cluster: 'che', topologyRef: 'che' },
  })
  assert.is(post.status, 202, await post.clone().text())
  const { job } = (await post.json()) as { job: { id: string; state: string } }
  assert.is(job.state, 'queued')
  const read = async () =>
    (
      (await (await call('GET', `/v1/jobs/${job.id}`, { token: adminToken })).json()) as {
        job: {
          id: string
          state: string
          requestedBy: string
          attempts: number
          result: { code: string; message: string } | null
        }
      }
    ).job
  const first = await read()
  assert.equal([first.id, first.requestedBy], [job.id, 'admin'])
  const failed = await until(
    'the job failing at its start',
    async () => {
      const j = await read()
      return j.state === 'failed' ? j : undefined
    },
    10_000,
    100
  )
  assert.equal([failed.attempts, failed.result?.code], [1, 'dispatch_not_configured'])
  assert.match(failed.result!.message, /dispatch not configured/)
})

test('a Slack command with a forged signature is refused with 401 and makes no job', async () => {
  const before = await jobCount()
  const body = commandBody({ text: 'install che' })
  const headers = signedHeaders('not-the-signing-secret', body)
  const res = await call('POST', '/hooks/slack', { body, headers })
  assert.is(res.status, 401)
  assert.is(await jobCount(), before)
})

test('a Slack `help` signed with the secret named in HOOKS is answered with 200', async () => {
  const body = commandBody({ text: 'help' })
  const res = await call('POST', '/hooks/slack', {
    body,
    headers: signedHeaders(slackSecret, body),
  })
  assert.is(res.status, 200)
  const reply = (await res.json()) as { text: string }
  assert.match(reply.text, /\/berth install/)
})

test('the cron trigger runs a due schedule: its snapshot job is made, by the schedule', async () => {
  // Seconds first: a run every second, so one is due a second after the schedule was made (the
  // scheduled time of /__scheduled is always now under wrangler dev).
  const add = await call('POST', '/v1/schedules', {
    token: adminToken,
    body: { cluster: 'che', cron: '* * * * * *' },
  })
  assert.is(add.status, 201, await add.clone().text())
  await new Promise((r) => setTimeout(r, 1100))
  const tick = await fetch(`${ctx.base}/__scheduled?cron=${encodeURIComponent('* * * * *')}`)
  assert.is(tick.status, 200, await tick.clone().text())
  const jobs = (
    (await (await call('GET', '/v1/jobs?cluster=che', { token: adminToken })).json()) as {
      jobs: { kind: string; requestedBy: string; spec: { options?: { tag?: string } } }[]
    }
  ).jobs
  const snap = jobs.find((j) => j.kind === 'snapshot')
  assert.ok(snap, JSON.stringify(jobs))
  assert.is(snap.requestedBy, 'schedule:che')
  assert.match(snap.spec.options?.tag ?? '', /^che-\d{8}-\d{6}$/)
})

test.run()
