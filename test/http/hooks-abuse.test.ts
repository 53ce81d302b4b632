/**
 * 500 forged, replayed and malformed deliveries across every hook of a real `berth serve`
 * process: each answered with the 4xx its fault deserves, not one job, notification or topology
 * created, and the server still healthy and still doing its work afterwards.
 */
import { createHmac, randomUUID } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { openSqliteStore } from '../../functions/store/sqlite.ts'
import { hook, until } from '../helpers/async.ts'
import { serve, type Server } from '../helpers/serve.ts'

const SLACK_SECRET = `slack-${randomUUID()}`
const JIRA_SECRET = `jira-${randomUUID()}`
const HOOK_SECRET = `hook-${randomUUID()}`

const hmac = (secret: string, data: string) =>
  createHmac('sha256', secret).update(data).digest('hex')
const now = () => Math.floor(Date.now() / 1000)

interface Delivery {
  what: string
  path: string
  headers: Record<string, string>
  body: string
  /** The statuses this fault may get (the right 4xx for it). */
  expect: number[]
}

function slackBody(text: string): string {
  return new URLSearchParams({
    token: 'legacy',
    team_id: 'T0001',
    user_id: 'U0ADMIN',
    user_name: 'ops',
    channel_id: 'C0OPS',
    command: '/berth',
    text,
    response_url: 'https://hooks.slack.com/commands/T0001/1/abc',
    trigger_id: `${Date.now()}.${Math.random()}`,
  }).toString()
}

const jiraBody = (key: string) =>
  JSON.stringify({
    webhookEvent: 'jira:issue_created',
    timestamp: Date.now(),
    user: { accountId: 'acc-1', displayName: 'Ops' },
    issue: {
      id: '10001',
      key,
      fields: { summary: 'install', labels: ['berth-install'], customfield_10050: 't-abuse-x' },
    },
  })

const form = { 'content-type': 'application/x-www-form-urlencoded' }
const json = { 'content-type': 'application/json' }

/** One of each fault, made fresh (new bodies, new ids) every call. */
function deliveries(i: number): Delivery[] {
  const t = now()
  const body = slackBody(`snapshot t-abuse-${i}`)
  const sign = (secret: string, ts: number, b = body) => `v0=${hmac(secret, `v0:${ts}:${b}`)}`
  const jb = jiraBody(`OPS-${i}`)
  const jiraId = { 'x-atlassian-webhook-identifier': `abuse-${i}` }
  const hb = JSON.stringify({ ref: 'refs/heads/main', n: i })
  const slack = (headers: Record<string, string>, b = body, path = '/hooks/slack'): Delivery => ({
    what: '',
    path,
    headers: { ...form, ...headers },
    body: b,
    expect: [401],
  })
  const list: Delivery[] = [
    { ...slack({}), what: 'slack: no signature headers' },
    {
      ...slack({
        'x-slack-request-timestamp': String(t),
        'x-slack-signature': sign(`wrong-${SLACK_SECRET}`, t),
      }),
      what: 'slack: wrong secret',
    },
    // Past the 5-minute window by more than the test's own delays (a second boundary crossed
    // between making a delivery and the server reading it moves "now" by one).
    {
      ...slack({
        'x-slack-request-timestamp': String(t - 330),
        'x-slack-signature': sign(SLACK_SECRET, t - 330),
      }),
      what: 'slack: replayed 5 min later',
    },
    {
      ...slack({
        'x-slack-request-timestamp': String(t + 330),
        'x-slack-signature': sign(SLACK_SECRET, t + 330),
      }),
      what: 'slack: timestamp in the future',
    },
    {
      ...slack(
        { 'x-slack-request-timestamp': String(t), 'x-slack-signature': sign(SLACK_SECRET, t) },
        body.replace('snapshot', 'destroy')
      ),
      what: 'slack: tampered body',
    },
    {
      ...slack({
        'x-slack-request-timestamp': String(t + 1),
        'x-slack-signature': sign(SLACK_SECRET, t),
      }),
      what: 'slack: timestamp not the signed one',
    },
    {
      ...slack({
        'x-slack-request-timestamp': 'yesterday',
        'x-slack-signature': sign(SLACK_SECRET, t),
      }),
      what: 'slack: timestamp not a number',
    },
    {
      ...slack({
        'x-slack-request-timestamp': String(t),
        'x-slack-signature': sign(SLACK_SECRET, t).replace('v0=', 'v1='),
      }),
      what: 'slack: other signature version',
    },
    {
      ...slack({
        'x-slack-request-timestamp': String(t),
        'x-slack-signature': sign(SLACK_SECRET, t).toUpperCase(),
      }),
      what: 'slack: signature case changed',
    },
    {
      ...slack(
        {
          'x-slack-request-timestamp': String(t),
          'x-slack-signature': sign(
            'nope-nope-nope',
            t,
            `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', user: { id: 'U0ADMIN' }, actions: [{ value: 'restore' }] }))}`
          ),
        },
        `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', user: { id: 'U0ADMIN' }, actions: [{ value: 'restore' }] }))}`,
        '/hooks/slack/interactive'
      ),
      what: 'slack interactive: forged button click',
    },
    {
      what: 'jira: no signature',
      path: '/hooks/jira',
      headers: { ...json, ...jiraId },
      body: jb,
      expect: [401],
    },
    {
      what: 'jira: wrong secret',
      path: '/hooks/jira',
      headers: { ...json, ...jiraId, 'x-hub-signature': `sha256=${hmac('other-secret', jb)}` },
      body: jb,
      expect: [401],
    },
    {
      what: 'jira: sha1 scheme',
      path: '/hooks/jira',
      headers: {
        ...json,
        ...jiraId,
        'x-hub-signature': `sha1=${createHmac('sha1', JIRA_SECRET).update(jb).digest('hex')}`,
      },
      body: jb,
      expect: [401],
    },
    {
      what: 'jira: tampered body',
      path: '/hooks/jira',
      headers: { ...json, ...jiraId, 'x-hub-signature': `sha256=${hmac(JIRA_SECRET, jb)}` },
      body: jb.replace('t-abuse-x', 't-abuse-evil'),
      expect: [401],
    },
    {
      what: 'jira: signed but not JSON',
      path: '/hooks/jira',
      headers: {
        ...json,
        ...jiraId,
        'x-hub-signature': `sha256=${hmac(JIRA_SECRET, '{"webhookEvent":')}`,
      },
      body: '{"webhookEvent":',
      expect: [400, 422],
    },
    {
      what: 'hook: no signature',
      path: '/hooks/nightly',
      headers: { ...json, 'x-github-delivery': randomUUID() },
      body: hb,
      expect: [401],
    },
    {
      what: 'hook: wrong secret',
      path: '/hooks/nightly',
      headers: { ...json, 'x-hub-signature-256': `sha256=${hmac('not-the-secret', hb)}` },
      body: hb,
      expect: [401],
    },
    {
      what: 'hook: another hook’s secret',
      path: '/hooks/nightly',
      headers: { ...json, 'x-hub-signature-256': `sha256=${hmac(JIRA_SECRET, hb)}` },
      body: hb,
      expect: [401],
    },
    {
      what: 'hook: tampered body',
      path: '/hooks/nightly',
      headers: { ...json, 'x-hub-signature-256': `sha256=${hmac(HOOK_SECRET, hb)}` },
      body: hb + ' ',
      expect: [401],
    },
    {
      what: 'hook: signature truncated',
      path: '/hooks/nightly',
      headers: { ...json, 'x-hub-signature-256': `sha256=${hmac(HOOK_SECRET, hb).slice(0, 40)}` },
      body: hb,
      expect: [401],
    },
    {
      what: 'hook: unknown name',
      path: '/hooks/not-there',
      headers: { ...json, 'x-hub-signature-256': `sha256=${hmac(HOOK_SECRET, hb)}` },
      body: hb,
      expect: [404],
    },
    {
      what: 'hook: bad name',
      path: '/hooks/..%2Fv1%2Fjobs',
      headers: { ...json, 'x-hub-signature-256': `sha256=${hmac(HOOK_SECRET, hb)}` },
      body: hb,
      expect: [404],
    },
    {
      what: 'hook: oversize body',
      path: '/hooks/nightly',
      headers: {
        ...json,
        'x-hub-signature-256': `sha256=${hmac(HOOK_SECRET, 'x'.repeat(70_000))}`,
      },
      body: 'x'.repeat(70_000),
      expect: [413],
    },
    {
      what: 'slack: oversize body',
      path: '/hooks/slack',
      headers: {
        ...form,
        'x-slack-request-timestamp': String(t),
        'x-slack-signature': sign(SLACK_SECRET, t, 'x'.repeat(70_000)),
      },
      body: 'x'.repeat(70_000),
      expect: [413],
    },
    { what: 'slack: GET', path: '/hooks/slack', headers: {}, body: '', expect: [404, 405] },
  ]
  return list
}

const Abuse = suite('hooks under forged, replayed and malformed deliveries (real berth serve)')
let home: string
let server: Server

Abuse.before(
  hook(async () => {
    home = mkdtempSync(join(tmpdir(), 'berth-abuse-'))
    const config = {
      maxBodyBytes: 65_536,
      autoRewire: false,
      // Every fault here must get its own 4xx: the cap on failed signatures is security.test.ts's.
      limits: { authFailures: 100_000 },
      hooks: {
        slack: {
          signingSecret: 'env:T_SLACK_SECRET',
          allow: [
            {
              users: ['U0ADMIN'],
              kinds: ['snapshot', 'restore', 'destroy', 'install', 'status', 'jobs'],
              clusters: ['t-abuse-*'],
            },
          ],
        },
        jira: { secret: 'env:T_JIRA_SECRET', clusterField: 'customfield_10050' },
        generic: {
          nightly: {
            secret: 'env:T_HOOK_SECRET',
            signature: 'github',
            job: { kind: 'snapshot', cluster: 't-abuse-nightly' },
          },
        },
      },
    }
    writeFileSync(join(home, 'config.json'), JSON.stringify(config))
    server = await serve(
      home,
      { T_SLACK_SECRET: SLACK_SECRET, T_JIRA_SECRET: JIRA_SECRET, T_HOOK_SECRET: HOOK_SECRET },
      ['--config', join(home, 'config.json')]
    )
  })
)

Abuse.after(
  hook(async () => {
    server?.proc.kill('SIGTERM')
    await server?.exited
  })
)

Abuse(
  '500 bad deliveries: each gets its 4xx, nothing is created, the server stays healthy and working',
  async () => {
    const kinds = deliveries(0).length
    const wrong: string[] = []
    const seen = new Map<string, number>()
    let sent = 0
    for (let round = 0; sent < 500; round++) {
      const batch = deliveries(round).slice(0, 500 - sent)
      // Ten at a time, as a burst would come.
      for (let i = 0; i < batch.length; i += 10) {
        await Promise.all(
          batch.slice(i, i + 10).map(async (d) => {
            const res = await fetch(server.base + d.path, {
              method: d.path && d.body ? 'POST' : 'GET',
              headers: d.headers,
              body: d.body || undefined,
            })
            const text = await res.text()
            seen.set(d.what, (seen.get(d.what) ?? 0) + 1)
            if (!d.expect.includes(res.status))
              wrong.push(`${d.what}: ${res.status} ${text.slice(0, 200)}`)
            else if (res.status !== 405 && !/"ok":false/.test(text))
              wrong.push(
                `${d.what}: ${res.status} without the error envelope: ${text.slice(0, 200)}`
              )
          })
        )
      }
      sent += batch.length
    }
    assert.is(sent, 500)
    assert.is(seen.size, kinds, 'every kind of fault was sent')
    assert.equal(wrong.slice(0, 10), [], `${wrong.length} answered wrongly`)

    const store = await openSqliteStore(join(home, 'berth.db'))
    try {
      assert.equal(await store.listJobs({}), [], 'no job was created')
      const rows = (t: string) =>
        (store.db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n
      assert.is(rows('notifications'), 0)
      assert.is(rows('topologies'), 0)
    } finally {
      await store.close()
    }

    // Still healthy, and still doing its work: one good delivery makes one job.
    assert.is((await fetch(`${server.base}/healthz`)).status, 200)
    const good = JSON.stringify({ ref: 'refs/heads/main' })
    const res = await fetch(`${server.base}/hooks/nightly`, {
      method: 'POST',
      headers: {
        ...json,
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': `sha256=${hmac(HOOK_SECRET, good)}`,
      },
      body: good,
    })
    assert.is(res.status, 202, await res.clone().text())
    const after = await openSqliteStore(join(home, 'berth.db'))
    try {
      const jobs = await after.listJobs({})
      assert.is(jobs.length, 1)
      assert.is(jobs[0].cluster, 't-abuse-nightly')
    } finally {
      await after.close()
    }
    assert.not.match(server.out(), /internal error|TypeError|ReferenceError/, 'no handler crashed')
  }
)

Abuse(
  'an upload the client abandons half-way is one short line in the log, not a stack',
  async () => {
    const { port } = new URL(server.base)
    for (const path of ['/hooks/nightly', '/hooks/jira', '/hooks/slack']) {
      await new Promise<void>((resolve) => {
        const socket = connect(Number(port), '127.0.0.1', () => {
          socket.write(
            `POST ${path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"half":`
          )
          setTimeout(() => socket.destroy(), 200)
        })
        socket.on('close', () => resolve())
        socket.on('error', () => resolve())
      })
    }
    // berth serve's log, JSON lines (its stdout is no terminal here).
    const records = () =>
      server
        .out()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: string; msg: string })
    const lines = await until(
      'three lines',
      async () => {
        const found = records()
          .filter((r) => r.level === 'info' && r.msg.startsWith('request aborted by the client'))
          .map((r) => r.msg)
        return found.length === 3 ? found : undefined
      },
      5000
    )
    assert.equal(lines.map((l) => l.replace(/ \(.*\)$/, '')).sort(), [
      'request aborted by the client: POST /hooks/jira',
      'request aborted by the client: POST /hooks/nightly',
      'request aborted by the client: POST /hooks/slack',
    ])
    assert.not.match(server.out(), /^\s+at /m, 'no stack trace')
    assert.ok(
      records().every((r) => !/\n\s+at /.test(r.msg)),
      'no stack trace in a log line'
    )
    assert.is((await fetch(`${server.base}/healthz`)).status, 200)
  }
)

Abuse.run()
