/**
 * The Slack hook end to end: an in-process app served over real HTTP, a real SQLite file, jobs
 * run by the zx dispatcher on the real engine, and a real HTTP receiver standing in for Slack's
 * response_url. Clusters are named t-slack-*.
 */
import { serve, type ServerType } from '@hono/node-server'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createApp } from '../../functions/app.ts'
import { ZxDispatcher } from '../../functions/dispatch/zx.ts'
import { HooksConfig } from '../../functions/hooks/config.ts'
import { sealConfirm } from '../../functions/hooks/slack-confirm.ts'
import { hashToken, newToken } from '../../functions/middleware/auth.ts'
import { sha256Hex } from '../../functions/sha256.ts'
import { Notifier, postSlack } from '../../functions/notify.ts'
import { JobQueue } from '../../functions/queue.ts'
import { openSqliteStore, type SqliteStore } from '../../functions/store/sqlite.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { finishedJob } from '../helpers/jobs.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import { cheLike, engine, ensureDemoImage, removeTestClusters } from '../helpers/docker.ts'
import { startReceiver, type ReceivedPost, type Receiver } from '../helpers/receiver.ts'
import {
  clickBody,
  commandBody,
  signedHeaders,
  triggerId,
  unixNow,
  type CommandFields,
} from '../helpers/slack.ts'
import { captureLog } from '../helpers/log.ts'

const SECRET = `slack-test-${crypto.randomUUID()}`
const BACKOFF = [60, 120, 240]
const bin = fileURLToPath(new URL('../../bin/berth.mjs', import.meta.url))

let home: string
let previousHome: string | undefined
let store: SqliteStore
let queue: JobQueue
let notifier: Notifier
let receiver: Receiver
let server: ServerType
let base: string
let readToken: string
let hooks: HooksConfig
const notifierLog = captureLog()
/** Added to the Notifier's clock: moved forward to age a response_url past its 30 minutes. */
let clockSkewMs = 0

const Slack = suite('the Slack hook (real HTTP, real SQLite, real engine, real receiver)')

Slack.before(
  hook(async () => {
    previousHome = process.env.BERTH_HOME
    home = mkdtempSync(join(tmpdir(), 'berth-slack-'))
    process.env.BERTH_HOME = home
    await removeTestClusters('t-slack')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
    store = await openSqliteStore(join(home, 'berth.db'))
    receiver = await startReceiver()
    notifier = new Notifier({
      store,
      backoffMs: BACKOFF,
      now: () => Date.now() + clockSkewMs,
      log: notifierLog.log,
    })
    queue = new JobQueue({
      store,
      dispatcher: new ZxDispatcher({
        mode: 'local',
        berth: [process.execPath, bin],
        graceMs: 10_000,
      }),
      maxClusters: 4,
      onChange: (job, stage) => notifier.jobChanged(job, stage),
    })
    hooks = HooksConfig.parse({
      slack: {
        signingSecret: SECRET,
        responseUrlPrefix: `${receiver.url}/slack/`,
        allow: [
          {
            users: ['U0OPS'],
            kinds: ['install', 'snapshot', 'restore', 'destroy', 'status', 'jobs'],
            clusters: ['t-slack-*'],
          },
          { users: ['U0VIEW'], kinds: ['status', 'jobs'], clusters: ['t-slack-*'] },
          { users: ['U0NARROW'], kinds: ['jobs'], clusters: ['t-slack-a'] },
        ],
      },
    })
    const app = createApp({ store, queue, hooks })
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s))
    })
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    readToken = newToken()
    await store.createToken({
      id: crypto.randomUUID(),
      name: 'reader',
      hash: await hashToken(readToken),
      scopes: ['read'],
    })
  })
)

Slack.after(
  hook(async () => {
    await queue?.drain(60_000)
    await notifier?.idle()
    server?.close()
    await receiver?.close()
    await removeTestClusters('t-slack')
    await store?.close()
    rmSync(home, { recursive: true, force: true })
    if (previousHome === undefined) delete process.env.BERTH_HOME
    else process.env.BERTH_HOME = previousHome
  })
)

// ── helpers ──────────────────────────────────────────────────────────────────────────────────

/** A path on the receiver, unique per call, that Slack would have issued as a response_url. */
let urls = 0
const responseUrl = () =>
  `${receiver.url}/slack/commands/T0BERTH/${++urls}/${crypto.randomUUID().slice(0, 8)}`
const pathOf = (url: string) => new URL(url).pathname
const postsTo = (url: string, n: number, ms = 10_000) =>
  receiver.waitFor(n, ms, (p) => p.path === pathOf(url))
const textOf = (p: ReceivedPost) =>
  JSON.parse(p.body) as { text: string; replace_original?: boolean; response_type?: string }

async function send(path: string, body: string, headers: Record<string, string>) {
  const res = await fetch(base + path, { method: 'POST', headers, body })
  const text = await res.text()
  let json: any // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, text, json }
}

/** `/berth <text>` as Slack sends it, signed; returns the answer and the response_url used. */
async function command(
  text: string,
  f: Partial<CommandFields> = {},
  extraHeaders: Record<string, string> = {}
) {
  const url = f.response_url ?? responseUrl()
  const body = commandBody({ text, response_url: url, ...f })
  const res = await send('/hooks/slack', body, { ...signedHeaders(SECRET, body), ...extraHeaders })
  return { ...res, url, body }
}

/** A click on a button, as Slack sends it, signed. */
async function click(
  value: string,
  f: { user?: string; action?: 'berth_confirm' | 'berth_cancel'; url?: string } = {}
) {
  const url = f.url ?? responseUrl()
  const body = clickBody({
    user_id: f.user ?? 'U0OPS',
    action_id: f.action ?? 'berth_confirm',
    value,
    response_url: url,
  })
  const res = await send('/hooks/slack/interactive', body, signedHeaders(SECRET, body))
  return { ...res, url }
}

const buttonValue = (json: { blocks: { type: string; elements?: { value: string }[] }[] }) =>
  json.blocks.find((b) => b.type === 'actions')!.elements![0].value

const jobIdIn = (text: string) => text.match(/job `(j[\w-]+)`/)?.[1]

const finished = (id: string, ms = 120_000) => finishedJob(store, id, ms)

/** GET /v1/jobs/:id, as an operator reads it. */
async function jobView(id: string): Promise<{ job: { state: string; notifications?: unknown[] } }> {
  const res = await fetch(`${base}/v1/jobs/${id}`, {
    headers: { authorization: `Bearer ${readToken}` },
  })
  assert.is(res.status, 200)
  return (await res.json()) as { job: { state: string; notifications?: unknown[] } }
}

const count = (table: string) =>
  (store.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n

async function putTopology(t: object) {
  await store.putTopology({
    name: (t as { name: string }).name,
    text: JSON.stringify(t),
    updatedBy: 'test',
  })
}

// ── tests ────────────────────────────────────────────────────────────────────────────────────

Slack(
  'refuses unsigned, wrongly signed, stale, future and tampered requests with 401, creating nothing',
  async () => {
    const body = commandBody({ text: 'snapshot t-slack-forged', response_url: responseUrl() })
    const t = unixNow()
    const cases: [string, Record<string, string>, string?][] = [
      ['no signature headers', { 'content-type': 'application/x-www-form-urlencoded' }],
      ['no timestamp', { ...signedHeaders(SECRET, body), 'x-slack-request-timestamp': '' }],
      ['wrong secret', signedHeaders(`${SECRET}-not`, body)],
      // Clear of the window by more than the test's own delay (the exact edge is a unit test).
      ['stale (330 s old)', signedHeaders(SECRET, body, t - 330)],
      ['future (330 s ahead)', signedHeaders(SECRET, body, t + 330)],
      ['tampered body', signedHeaders(SECRET, body), body.replace('snapshot', 'destroy')],
      [
        'signature of another timestamp',
        { ...signedHeaders(SECRET, body, t), 'x-slack-request-timestamp': String(t - 1) },
      ],
    ]
    for (const [what, headers, sent] of cases) {
      for (const path of ['/hooks/slack', '/hooks/slack/interactive']) {
        const res = await send(path, sent ?? body, headers)
        assert.is(res.status, 401, `${what} on ${path}: ${res.text}`)
        assert.is(res.json?.ok, false, what)
        assert.is(res.json?.error.code, 'unauthorized', what)
        assert.match(res.json?.error.message, /not a signed Slack request/, what)
      }
    }
    // Even a request that says it is a retry is checked first.
    assert.is(
      (
        await send('/hooks/slack', body, {
          'content-type': 'application/x-www-form-urlencoded',
          'x-slack-retry-num': '1',
        })
      ).status,
      401
    )
    assert.equal(await store.listJobs({}), [], 'no job')
    assert.is(count('notifications'), 0, 'no notification')
    assert.is(count('audit'), 0, 'not even an audit row for an unauthenticated request')
    assert.is(receiver.posts.length, 0, 'nothing posted anywhere')

    // The control: the same body, rightly signed and fresh, gets through.
    const help = commandBody({ text: 'help' })
    const ok = await send('/hooks/slack', help, signedHeaders(SECRET, help))
    assert.is(ok.status, 200)
  }
)

Slack("answers Slack's ssl_check with a bare 200; unconfigured, the hook is a 404", async () => {
  const res = await send('/hooks/slack', 'ssl_check=1&token=legacy', {
    'content-type': 'application/x-www-form-urlencoded',
  })
  assert.equal([res.status, res.text], [200, ''])
  const bare = createApp({ store, queue })
  const off = await bare.request('/hooks/slack', { method: 'POST', body: 'text=help' })
  assert.is(off.status, 404)
  assert.equal(await off.json(), {
    ok: false,
    error: { code: 'not_found', message: 'the Slack hook is not configured (hooks.slack)' },
  })
  assert.equal(await store.listJobs({}), [])
})

Slack('help, and a command it cannot read, are answered ephemerally at once', async () => {
  const help = await command('help')
  assert.is(help.status, 200)
  assert.is(help.json.response_type, 'ephemeral')
  assert.match(help.json.text, /\/berth restore <cluster> <snapshot>/)
  const bad = await command('install t-slack-x; rm -rf /')
  assert.is(bad.status, 200)
  assert.match(
    bad.json.text,
    /^Sorry — "t-slack-x;" is not a valid cluster name\. Try `\/berth help`\.$/
  )
  const markup = await command('frobnicate <!channel>')
  assert.match(markup.json.text, /unknown command "frobnicate"/)
  assert.equal(await store.listJobs({}), [])
})

Slack('a user without a rule gets a polite refusal (200), an audit row, and no job', async () => {
  const nobody = await command('snapshot t-slack-a', { user_id: 'U0NOBODY' })
  assert.is(nobody.status, 200)
  assert.is(nobody.json.response_type, 'ephemeral')
  assert.match(
    nobody.json.text,
    /^Sorry <@U0NOBODY>, you are not allowed to `snapshot` \*t-slack-a\* from here\./
  )
  const viewer = await command('restore t-slack-a s1', { user_id: 'U0VIEW' })
  assert.match(viewer.json.text, /not allowed to `restore`/)
  assert.is(viewer.json.blocks, undefined, 'no buttons for someone who may not')
  const outside = await command('install prod', { user_id: 'U0OPS' })
  assert.match(
    outside.json.text,
    /not allowed to `install` \*prod\*/,
    "a cluster outside the rule's glob"
  )

  assert.equal(await store.listJobs({}), [], 'no job')
  const audit = await store.listAudit({})
  const refused = audit.filter((a) => a.outcome === 'refused')
  assert.equal(refused.map((a) => [a.actor, a.action, a.target]).reverse(), [
    ['slack:U0NOBODY', 'slack.snapshot', 't-slack-a'],
    ['slack:U0VIEW', 'slack.restore', 't-slack-a'],
    ['slack:U0OPS', 'slack.install', 'prod'],
  ])
  assert.is(refused[2].source, 'slack:C0OPS')
})

Slack(
  'a submit error (no stored topology) is a polite message; a response_url off the prefix is never recorded',
  async () => {
    const missing = await command('install t-slack-missing')
    assert.is(missing.status, 200)
    assert.is(
      missing.json.text,
      'Sorry — I could not start install *t-slack-missing*: no stored topology named "t-slack-missing".'
    )
    assert.equal(await store.listJobs({}), [])

    const evil = await command('snapshot t-slack-none', {
      response_url: 'https://hooks.slack.com.evil.example/commands/1',
    })
    const id = jobIdIn(evil.json.text)!
    assert.ok(id, evil.json.text)
    assert.equal(await store.notificationsFor(id), [], 'not recorded, so never posted to')
    assert.is((await finished(id)).state, 'failed', 'the job itself ran (no such cluster)')
  }
)

Slack(
  'installs a real 2-node cluster: acknowledged within 3 s with the job id and place in queue; started and finished posted in order',
  async () => {
    await putTopology({
      ...cheLike('t-slack-a'),
      nodes: [
        { name: 'app', bootstrap: 'echo app up' },
        { name: 'db', bootstrap: 'echo db up' },
      ],
    })
    const trigger = triggerId()
    const t0 = Date.now()
    const res = await command('install t-slack-a', { trigger_id: trigger })
    const ackMs = Date.now() - t0
    assert.is(res.status, 200)
    assert.ok(ackMs < 3000, `acknowledged in ${ackMs} ms`)
    assert.is(res.json.response_type, 'ephemeral')
    const id = jobIdIn(res.json.text)!
    assert.ok(id, res.json.text)
    assert.match(
      res.json.text,
      /^:inbox_tray: install \*t-slack-a\* accepted — job `j[\w-]+`, place in queue: 1 \((next to run|running now)\)/
    )

    const job = (await store.getJob(id))!
    assert.equal(
      [job.kind, job.cluster, job.requestedBy, job.source, job.idempotencyKey],
      ['install', 't-slack-a', 'slack:U0OPS', 'slack:C0OPS', `slack:${trigger}`]
    )
    assert.is(job.bodyHash, await sha256Hex(res.body), 'bodyHash is the sha256 of the raw body')
    const [n] = await store.notificationsFor(id)
    assert.equal([n.channel, n.target.responseUrl], ['slack', res.url])

    const done = await finished(id)
    assert.is(done.state, 'succeeded', JSON.stringify(done.result))
    const posts = await postsTo(res.url, 2)
    await notifier.idle()
    assert.is(
      receiver.posts.filter((p) => p.path === pathOf(res.url)).length,
      2,
      'exactly two posts: started, finished'
    )
    const [started, ended] = posts.map(textOf)
    assert.equal([started.response_type, started.replace_original], ['ephemeral', false])
    assert.is(started.text, `:hourglass_flowing_sand: install t-slack-a started (job ${id})`)
    assert.match(
      ended.text,
      new RegExp(
        `^:white_check_mark: install t-slack-a succeeded in [\\d.]+ s \\(job ${id}\\)\\nnodes: `
      )
    )
    assert.match(ended.text, /app\.che\.local \(\d+\.\d+\.\d+\.\d+\)/)
    assert.match(ended.text, /db\.che\.local \(\d+\.\d+\.\d+\.\d+\)/)
    assert.ok(posts[0].at <= posts[1].at)
    assert.is(
      (await engine.listContainers([`${LABEL.cluster}=t-slack-a`])).length,
      2,
      'two nodes on the engine'
    )
    assert.equal((await store.notificationsFor(id))[0].sent, ['started', 'finished'])
  }
)

Slack('status and jobs answer from the engine and the store, short', async () => {
  const status = await command('status t-slack-a', { user_id: 'U0VIEW' })
  assert.is(status.status, 200)
  assert.match(
    status.json.text,
    /^\*t-slack-a\*: 2 nodes on [\d./]+\n• app\.che\.local — running · [\d.]+\n• db\.che\.local — running · [\d.]+$/
  )
  const none = await command('status t-slack-nowhere', { user_id: 'U0VIEW' })
  assert.is(none.json.text, 'There is no cluster named *t-slack-nowhere* on this Docker host.')
  const jobs = await command('jobs t-slack-a', { user_id: 'U0VIEW' })
  assert.match(
    jobs.json.text,
    /^Latest jobs on \*t-slack-a\*:\n• `j[\w-]+` install \*t-slack-a\* — succeeded · \d+ s ago · slack:U0OPS$/
  )
  // Without a cluster: the latest jobs, but only on clusters this user may list.
  const all = await command('jobs', { user_id: 'U0VIEW' })
  assert.match(all.json.text, /snapshot \*t-slack-none\* — failed: /, all.json.text)
  const narrow = await command('jobs', { user_id: 'U0NARROW' })
  assert.match(narrow.json.text, /^Latest jobs:\n• `j[\w-]+` install \*t-slack-a\* — succeeded/)
  assert.not.match(narrow.json.text, /t-slack-none/)
})

Slack(
  'a status read slower than Slack waits is acknowledged at once, and its answer posted to response_url',
  async () => {
    // The same engine read over a slow link: berth starts on the host only after 3 s.
    const slowLink = new ZxDispatcher({
      mode: 'local',
      berth: ['sh', '-c', 'sleep 3; exec "$0" "$@"', process.execPath, bin],
      graceMs: 10_000,
    })
    const app = createApp({
      store,
      queue: new JobQueue({ store, dispatcher: slowLink, maxClusters: 1 }),
      hooks,
    })
    const url = responseUrl()
    const body = commandBody({ text: 'status t-slack-a', user_id: 'U0VIEW', response_url: url })
    const t0 = Date.now()
    const res = await app.request('/hooks/slack', {
      method: 'POST',
      headers: signedHeaders(SECRET, body),
      body,
    })
    const ms = Date.now() - t0
    assert.ok(ms < 3000, `answered in ${ms} ms, within Slack's 3 s`)
    assert.equal(await res.json(), {
      response_type: 'ephemeral',
      text: 'Reading *t-slack-a* from the Docker host… the answer follows here.',
    })
    const [post] = await postsTo(url, 1, 20_000)
    assert.is(textOf(post).response_type, 'ephemeral')
    assert.match(
      textOf(post).text,
      /^\*t-slack-a\*: 2 nodes on [\d./]+\n• app\.che\.local — running · [\d.]+\n• db\.che\.local — running · [\d.]+$/
    )
  }
)

Slack(
  'a failing install posts the failure with the failing node and step; a job behind it is told its place',
  async () => {
    await putTopology({
      ...cheLike('t-slack-bad'),
      nodes: [{ name: 'broken', bootstrap: 'sleep 2; echo boom >&2; exit 3' }],
    })
    const res = await command('install t-slack-bad')
    const id = jobIdIn(res.json.text)!
    // Sent while the install is in its 2 s bootstrap: it waits behind it.
    const behind = await command('snapshot t-slack-bad')
    assert.match(behind.json.text, /place in queue: 2 \(1 ahead of it on t-slack-bad\)/)
    assert.is((await finished(id)).state, 'failed')
    const [started, ended] = (await postsTo(res.url, 2)).map(textOf)
    assert.match(started.text, /install t-slack-bad started/)
    assert.match(
      ended.text,
      new RegExp(
        `^:x: install t-slack-bad failed \\(node broken, step bootstrap\\) \\(job ${id}\\): .+`
      )
    )
    const next = await finished(jobIdIn(behind.json.text)!)
    assert.ok(
      next.startedAt! >= (await store.getJob(id))!.finishedAt!,
      'it started once the install had ended'
    )
    assert.match(textOf((await postsTo(behind.url, 2))[1]).text, /^:x: snapshot t-slack-bad failed/)
  }
)

Slack(
  'a Slack retry creates no second job, and the same trigger_id twice makes one job',
  async () => {
    const trigger = triggerId()
    const url = responseUrl()
    const first = await command('snapshot t-slack-none', { trigger_id: trigger, response_url: url })
    const id = jobIdIn(first.json.text)!
    assert.ok(id, first.json.text)
    const jobsBefore = (await store.listJobs({})).length

    // Slack's retry: the same body, signed again, with X-Slack-Retry-Num.
    const retry = await send('/hooks/slack', first.body, {
      ...signedHeaders(SECRET, first.body),
      'x-slack-retry-num': '1',
      'x-slack-retry-reason': 'http_timeout',
    })
    assert.equal([retry.status, retry.text], [200, ''])
    // A retry of a command never seen before is dropped all the same.
    const unseen = await command('snapshot t-slack-other', {}, { 'x-slack-retry-num': '2' })
    assert.equal([unseen.status, unseen.text], [200, ''])
    // The same trigger_id delivered again without the header: the job already made.
    const again = await send('/hooks/slack', first.body, signedHeaders(SECRET, first.body))
    assert.is(again.status, 200)
    assert.match(again.json.text, new RegExp(`^Already received: job \`${id}\``))

    assert.is((await store.listJobs({})).length, jobsBefore, 'no second job')
    assert.is((await store.notificationsFor(id)).length, 1, 'one notification row')
    await finished(id)
    await notifier.idle()
    assert.is(
      receiver.posts.filter((p) => p.path === pathOf(url)).length,
      2,
      'one started, one finished'
    )
  }
)

Slack(
  'restore waits for Confirm: forged, foreign, expired and cancelled clicks make nothing; the right click makes one job, a double click still one, and the restore brings the data back',
  async () => {
    // A real cluster with data, and a snapshot of it, made through Slack too.
    await putTopology(cheLike('t-slack-r'))
    const install = await command('install t-slack-r')
    assert.is((await finished(jobIdIn(install.json.text)!)).state, 'succeeded')
    const [che] = await engine.listContainers([`${LABEL.cluster}=t-slack-r`])
    const write = async (text: string) => {
      const r = await engine.exec(che.Id, [
        'sh',
        '-c',
        'printf %s "$1" > /projects/marker',
        'write',
        text,
      ])
      assert.is(r.exitCode, 0, r.stderr)
    }
    await write('before the snapshot')
    const snap = await command('snapshot t-slack-r tag s1 keep 2')
    const snapJob = await finished(jobIdIn(snap.json.text)!)
    assert.is(snapJob.state, 'succeeded', JSON.stringify(snapJob.result))
    assert.equal((snapJob.spec as { options: unknown }).options, { keep: 2, tag: 's1' })
    await write('after the snapshot')

    const jobsBefore = (await store.listJobs({})).length
    const notificationsBefore = count('notifications')
    const asked = await command('restore t-slack-r s1')
    assert.is(asked.status, 200)
    assert.is(asked.json.response_type, 'ephemeral')
    assert.match(asked.json.blocks[0].text.text, /^Restore \*t-slack-r\* from snapshot `s1`\?/)
    assert.equal(
      asked.json.blocks[1].elements.map((b: { action_id: string }) => b.action_id),
      ['berth_confirm', 'berth_cancel']
    )
    const value = buttonValue(asked.json)
    assert.is((await store.listJobs({})).length, jobsBefore, 'asking creates no job')
    assert.is(count('notifications'), notificationsBefore)

    // Forged: the request changed (another cluster) under the old seal, or a seal from another key.
    const [payload, mac] = value.split('.')
    const changed = Buffer.from(
      JSON.stringify({
        ...JSON.parse(Buffer.from(payload, 'base64url').toString()),
        cluster: 't-slack-a',
      })
    ).toString('base64url')
    const forged = await click(`${changed}.${mac}`)
    assert.is(forged.status, 403)
    assert.equal(forged.json, {
      ok: false,
      error: {
        code: 'forbidden',
        message: 'the confirmation was not issued by berth (its seal does not match)',
      },
    })
    const otherKey = await sealConfirm('another-signing-secret', {
      verb: 'restore',
      cluster: 't-slack-r',
      snapshot: 's1',
      user: 'U0OPS',
      channel: 'C0OPS',
      expires: unixNow() + 300,
      nonce: 'n1',
    })
    assert.is((await click(otherKey)).status, 403)
    // A click whose Slack signature is wrong never gets as far as the value.
    const body = clickBody({
      user_id: 'U0OPS',
      action_id: 'berth_confirm',
      value,
      response_url: responseUrl(),
    })
    assert.is(
      (await send('/hooks/slack/interactive', body, signedHeaders('not-the-secret', body))).status,
      401
    )

    // Another user clicking: refused politely, to them only, and audited.
    const foreign = await click(value, { user: 'U0VIEW' })
    assert.equal([foreign.status, foreign.text], [200, ''])
    const [refusal] = (await postsTo(foreign.url, 1)).map(textOf)
    assert.equal(refusal, {
      response_type: 'ephemeral',
      replace_original: false,
      text: 'Sorry <@U0VIEW>, only <@U0OPS>, who asked, can confirm this restore.',
    })
    const audit = (await store.listAudit({ limit: 5 })).find(
      (a) => a.action === 'slack.confirm.restore'
    )
    assert.equal(
      [audit?.actor, audit?.outcome, audit?.target],
      ['slack:U0VIEW', 'refused', 't-slack-r']
    )

    // Expired (sealed rightly, 1 s past its time) and cancelled: the buttons go, nothing runs.
    const stale = await sealConfirm(SECRET, {
      verb: 'restore',
      cluster: 't-slack-r',
      snapshot: 's1',
      user: 'U0OPS',
      channel: 'C0OPS',
      expires: unixNow() - 1,
      nonce: 'n2',
    })
    const expired = await click(stale)
    assert.match(textOf((await postsTo(expired.url, 1))[0]).text, /^This confirmation expired/)
    const cancelled = await click(value, { action: 'berth_cancel' })
    assert.equal(textOf((await postsTo(cancelled.url, 1))[0]), {
      response_type: 'ephemeral',
      replace_original: true,
      text: 'Cancelled: restore *t-slack-r* was not started.',
    })
    assert.is((await store.listJobs({})).length, jobsBefore, 'still no job')
    assert.is(count('notifications'), notificationsBefore, 'still no notification')

    // The right click, twice (a double click: two requests, two bodies): one job.
    const url = responseUrl()
    const [one, two] = await Promise.all([click(value, { url }), click(value, { url })])
    assert.equal([one.status, two.status], [200, 200])
    assert.is((await store.listJobs({})).length, jobsBefore + 1, 'one job for two clicks')
    const [job] = await store.listJobs({ cluster: 't-slack-r', limit: 1 })
    assert.equal(
      [job.kind, job.requestedBy, (job.spec as { snapshot: string }).snapshot],
      ['restore', 'slack:U0OPS', 's1']
    )
    assert.is(job.idempotencyKey, `slack-confirm:${await sha256Hex(value)}`)
    const third = await click(value, { url })
    assert.is(third.status, 200)
    assert.is(
      (await store.listJobs({})).length,
      jobsBefore + 1,
      'a late third click: still one job'
    )

    const done = await finished(job.id, 180_000)
    assert.is(done.state, 'succeeded', JSON.stringify(done.result))
    const posts = (await postsTo(url, 3)).map(textOf)
    await notifier.idle()
    assert.is(
      receiver.posts.filter((p) => p.path === pathOf(url)).length,
      3,
      'accepted, started, finished: nothing for the extra clicks'
    )
    assert.equal(posts[0].replace_original, true, 'the accepted message replaces the buttons')
    assert.match(
      posts[0].text,
      new RegExp(
        `^:inbox_tray: restore \\*t-slack-r\\* from snapshot \`s1\` accepted — job \`${job.id}\`, place in queue: 1`
      )
    )
    assert.is(posts[1].text, `:hourglass_flowing_sand: restore t-slack-r started (job ${job.id})`)
    assert.match(
      posts[2].text,
      /^:white_check_mark: restore t-slack-r succeeded .*\nnodes: che\.che\.local/
    )
    const [n] = await store.notificationsFor(job.id)
    assert.equal([n.sent, n.attempts, n.target.earlierPosts], [['started', 'finished'], 2, '1'])

    // The data is the snapshot's again.
    const [restored] = await engine.listContainers([`${LABEL.cluster}=t-slack-r`])
    const read = await engine.exec(restored.Id, ['cat', '/projects/marker'])
    assert.is(read.stdout, 'before the snapshot')
  }
)

Slack(
  'a failing response_url is retried with backoff; the failure is kept on the job, which still succeeds',
  async () => {
    receiver.failNext(2, 500)
    const res = await command('snapshot t-slack-r tag s2')
    const id = jobIdIn(res.json.text)!
    assert.is((await finished(id)).state, 'succeeded')
    const posts = await postsTo(res.url, 4)
    await notifier.idle()
    assert.equal(
      posts.map((p) => p.status),
      [500, 500, 200, 200]
    )
    assert.equal(
      posts.map((p) => textOf(p).text.split(' ')[0]),
      [
        ':hourglass_flowing_sand:',
        ':hourglass_flowing_sand:',
        ':hourglass_flowing_sand:',
        ':white_check_mark:',
      ]
    )
    assert.ok(
      posts[1].at - posts[0].at >= BACKOFF[0] - 5,
      `waited ${posts[1].at - posts[0].at} ms, then`
    )
    assert.ok(posts[2].at - posts[1].at >= BACKOFF[1] - 5, `${posts[2].at - posts[1].at} ms`)

    const view = await jobView(id)
    assert.is(view.job.state, 'succeeded')
    assert.equal(view.job.notifications, [
      {
        channel: 'slack',
        sent: ['started', 'finished'],
        attempts: 4,
        lastError: 'started: HTTP 500 from slack (attempt 2)',
      },
    ])

    // A response_url that never answers: four tries for "started", the fifth and last post for
    // "finished", then nothing more (Slack takes 5); the job is untouched.
    receiver.failNext(1000, 503)
    try {
      const dead = await command('snapshot t-slack-r tag s3')
      const deadId = jobIdIn(dead.json.text)!
      assert.is((await finished(deadId)).state, 'succeeded')
      await postsTo(dead.url, 5)
      await notifier.idle()
      assert.is(
        receiver.posts.filter((p) => p.path === pathOf(dead.url)).length,
        5,
        'never more than 5 posts'
      )
      const v = await jobView(deadId)
      assert.is(v.job.state, 'succeeded')
      assert.equal(v.job.notifications, [
        {
          channel: 'slack',
          sent: [],
          attempts: 5,
          lastError: 'finished: not posted: the response_url takes at most 5 posts (5 made)',
        },
      ])
      assert.ok(
        notifierLog.records.some(
          (r) =>
            r.job === deadId && r.msg === 'notify (slack): started: HTTP 503 from slack (attempt 4)'
        ),
        notifierLog.messages().join('\n')
      )
    } finally {
      receiver.failNext(0)
    }
  }
)

Slack(
  'posts to one response_url go one after another: the next leaves only once the last is answered',
  async () => {
    const url = responseUrl()
    receiver.slowNext(1, 300)
    await Promise.all([postSlack(url, { text: 'first' }), postSlack(url, { text: 'second' })])
    const [a, b] = await postsTo(url, 2)
    assert.equal([textOf(a).text, textOf(b).text], ['first', 'second'])
    assert.ok(b.at - a.at >= 290, `the second left ${b.at - a.at} ms after the first arrived`)
  }
)

Slack(
  'a job that ends while its "started" is still being retried: "finished" waits its turn, and both are kept',
  async () => {
    // Straight to the store: this job is never run, only reported.
    const job = await store.createJob({
      id: `j-slack-order-${Date.now()}`,
      kind: 'snapshot',
      cluster: 't-slack-order',
      spec: {},
      requestedBy: 'slack:U0OPS',
      source: null,
      idempotencyKey: null,
      bodyHash: null,
    })
    const url = responseUrl()
    await store.addNotification({
      jobId: job.id,
      channel: 'slack',
      target: { responseUrl: url, issuedAt: new Date().toISOString() },
    })
    receiver.failNext(2, 500)
    notifier.jobChanged({ ...job, state: 'running' }, 'started')
    notifier.jobChanged(
      { ...job, state: 'succeeded', result: { ok: true, ms: 10, nodes: [] } },
      'finished'
    )
    const posts = await postsTo(url, 4)
    await notifier.idle()
    assert.equal(
      posts.map((p) => [p.status, textOf(p).text.split(' ')[0]]),
      [
        [500, ':hourglass_flowing_sand:'],
        [500, ':hourglass_flowing_sand:'],
        [200, ':hourglass_flowing_sand:'],
        [200, ':white_check_mark:'],
      ]
    )
    const [n] = await store.notificationsFor(job.id)
    assert.equal([n.sent, n.attempts], [['started', 'finished'], 4])
  }
)

Slack('a response_url older than 30 minutes is not posted to; the reason is kept', async () => {
  clockSkewMs = 31 * 60_000
  try {
    const res = await command('snapshot t-slack-none')
    const id = jobIdIn(res.json.text)!
    await finished(id)
    await notifier.idle()
    assert.is(receiver.posts.filter((p) => p.path === pathOf(res.url)).length, 0)
    const [n] = await store.notificationsFor(id)
    assert.equal(
      [n.sent, n.attempts, n.lastError],
      [[], 0, 'finished: not posted: the response_url is older than 30 minutes']
    )
  } finally {
    clockSkewMs = 0
  }
})

Slack.run()
