/**
 * POST /hooks/jira end to end: Jira-shaped deliveries signed (or not) like Jira Cloud's admin
 * webhooks, a real SQLite store, real installs on the Docker engine through the zx dispatcher,
 * and the comments posted back to a local HTTP receiver standing in for Jira's REST API.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createApp } from '../../functions/app.ts'
import { ZxDispatcher } from '../../functions/dispatch/zx.ts'
import { HooksConfig } from '../../functions/hooks/config.ts'
import { Notifier } from '../../functions/notify.ts'
import { JobQueue } from '../../functions/queue.ts'
import { openSqliteStore, type SqliteStore } from '../../functions/store/sqlite.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { caller } from '../helpers/app-request.ts'
import { finishedJob } from '../helpers/jobs.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import { engine, ensureDemoImage } from '../helpers/docker.ts'
import { startReceiver, type Receiver } from '../helpers/receiver.ts'

const SECRET = `jira-${randomUUID()}`
const AUTHORIZATION = `Basic ${Buffer.from('berth-bot@example.com:ATATT3xFfGF0-test-token').toString('base64')}`
const PREFIX = 't-jira'
const bin = fileURLToPath(new URL('../../bin/berth.mjs', import.meta.url))

/** Jira's signature, computed here with node:crypto, apart from the code under test. */
const sign = (body: string, secret = SECRET) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
const sha256 = (body: string) => createHash('sha256').update(body).digest('hex')
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const fixture = (name: string): any =>
  JSON.parse(readFileSync(new URL(`../fixtures/jira/${name}.json`, import.meta.url), 'utf8'))

let store: SqliteStore
let queue: JobQueue
let notifier: Notifier
let receiver: Receiver
let app: ReturnType<typeof createApp>

const call = caller(() => app)

/** A delivery as Jira Cloud makes it: JSON, its identifier, the signature of exactly these bytes. */
function deliver(body: string, headers: Record<string, string | undefined> = {}) {
  const h: Record<string, string> = {
    'content-type': 'application/json; charset=UTF-8',
    'user-agent': 'Atlassian Webhook HTTP Client',
    'x-atlassian-webhook-flow': 'Primary',
  }
  for (const [k, v] of Object.entries({
    'x-hub-signature': sign(body),
    'x-atlassian-webhook-identifier': randomUUID(),
    ...headers,
  })) {
    if (v !== undefined) h[k] = v
  }
  return call('POST', '/hooks/jira', { body, headers: h })
}

const count = (table: string) =>
  (store.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n
const rows = () => ({
  jobs: count('jobs'),
  notifications: count('notifications'),
  audit: count('audit'),
})

const finished = (id: string, ms = 120_000) => finishedJob(store, id, ms)

/** Only this file's clusters: the engine is shared with other suites running at the same time. */
async function removeMine(): Promise<void> {
  const mine = (labels?: Record<string, string>) => !!labels?.[LABEL.cluster]?.startsWith(PREFIX)
  for (const c of (await engine.listContainers([LABEL.cluster])).filter((c) => mine(c.Labels)))
    await engine.removeContainer(c.Id)
  for (const n of (await engine.listNetworks([LABEL.cluster])).filter((n) => mine(n.Labels)))
    await engine.removeNetwork(n.Id)
  for (const v of (await engine.listVolumes([LABEL.cluster])).filter((v) => mine(v.Labels)))
    await engine.removeVolume(v.Name)
}

const demo = (name: string, nodes: object[]) =>
  JSON.stringify({
    name,
    image: 'berth/demo:1',
    domain: 'jira.test',
    defaults: { resources: { memory: '64m' } },
    nodes,
  })
const STANDALONE = ['/opt/demo/bootstrap.sh', '--standalone']

const Jira = suite(
  'POST /hooks/jira (real SQLite, real installs, comments to a real HTTP receiver)'
)

Jira.before(
  hook(async () => {
    const home = mkdtempSync(join(tmpdir(), 'berth-jira-'))
    process.env.BERTH_HOME = home
    await removeMine()
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
    store = await openSqliteStore(join(home, 'berth.db'))
    receiver = await startReceiver()
    const hooks = HooksConfig.parse({
      jira: {
        secret: SECRET,
        baseUrl: `${receiver.url}/`,
        authorization: AUTHORIZATION,
        clusterField: 'customfield_10050',
        topologyField: 'customfield_10051',
        // Project OPS may install the t-jira-* clusters, from their own topology or a t-jira-* template.
        allow: [{ projects: ['OPS'], clusters: ['t-jira-*'], templates: ['t-jira-*'] }],
      },
    })
    notifier = new Notifier({
      store,
      jira: { baseUrl: hooks.jira!.baseUrl!, authorization: AUTHORIZATION },
      backoffMs: [100, 200],
    })
    const dispatcher = new ZxDispatcher({
      mode: 'local',
      berth: [process.execPath, bin],
      graceMs: 10_000,
    })
    queue = new JobQueue({
      store,
      dispatcher,
      maxClusters: 2,
      onChange: (job, stage) => notifier.jobChanged(job, stage),
    })
    app = createApp({ store, queue, hooks })
    const by = 'admin'
    await store.putTopology({
      name: 't-jira-a',
      updatedBy: by,
      text: demo('t-jira-a', [
        { name: 'web', bootstrap: STANDALONE },
        { name: 'db', bootstrap: STANDALONE },
      ]),
    })
    // A template: installed under whatever cluster name the issue gives; its bootstrap fails.
    await store.putTopology({
      name: 't-jira-tpl',
      updatedBy: by,
      text: `name: t-jira-tpl\nimage: berth/demo:1\ndomain: jira.test\ndefaults: { resources: { memory: 64m } }\nnodes:\n  - name: app\n    bootstrap: 'echo "schema migration failed: disk full" >&2; exit 3'\n`,
    })
  })
)

Jira.after(
  hook(async () => {
    await queue?.drain(30_000)
    await notifier?.idle()
    await removeMine()
    await receiver?.close()
    await store?.close()
  })
)

Jira(
  'refuses a wrong, missing or misnamed signature with 401 and the envelope, writing nothing',
  async () => {
    const body = readFileSync(
      new URL('../fixtures/jira/issue-created-labelled.json', import.meta.url),
      'utf8'
    )
    const before = rows()
    const cases: [string, Record<string, string | undefined>, string][] = [
      ['no signature', { 'x-hub-signature': undefined }, body],
      ['another secret', { 'x-hub-signature': sign(body, 'not-the-secret') }, body],
      ['a tampered body', {}, body.replace('t-jira-a', 't-jira-evil')],
      [
        'sha1, not sha256',
        { 'x-hub-signature': `sha1=${createHmac('sha1', SECRET).update(body).digest('hex')}` },
        body,
      ],
      [
        'the bare hex, without sha256=',
        { 'x-hub-signature': sign(body).slice('sha256='.length) },
        body,
      ],
      [
        'GitHub’s header name instead of Jira’s',
        { 'x-hub-signature': undefined, 'x-hub-signature-256': sign(body) },
        body,
      ],
    ]
    for (const [what, headers, sent] of cases) {
      // A tampered body is delivered with the signature of the original.
      const res = await deliver(sent, { 'x-hub-signature': sign(body), ...headers })
      assert.is(res.status, 401, what)
      const json = await res.json()
      assert.equal(Object.keys(json), ['ok', 'error'], what)
      assert.is(json.error.code, 'unauthorized', what)
      assert.match(json.error.message, /^X-Hub-Signature: /, what)
    }
    assert.equal(rows(), before, 'no job, notification or audit row')
  }
)

Jira(
  'acknowledges and ignores what is not an install: no label, label already there, other events',
  async () => {
    const before = rows()
    const cases: [string, RegExp][] = [
      ['issue-created-unlabelled', /^OPS-18 does not carry the label "berth-install"$/],
      [
        'issue-updated-label-present',
        /^this update of OPS-17 did not add the label "berth-install"$/,
      ],
      ['issue-deleted', /^event "jira:issue_deleted" is not handled/],
      ['comment-created', /^event "comment_created" is not handled/],
    ]
    for (const [name, reason] of cases) {
      const res = await deliver(JSON.stringify(fixture(name)))
      assert.is(res.status, 200, name)
      const json = await res.json()
      assert.is(json.ok, true, name)
      assert.match(json.ignored, reason, name)
    }
    assert.equal(rows(), before, 'nothing written')
  }
)

Jira(
  'a matching issue whose cluster field is missing or invalid: 422 naming the field, an audit row, a comment saying why, no job',
  async () => {
    const posted = receiver.posts.length
    const p = fixture('issue-created-labelled')
    delete p.issue.fields.customfield_10050
    const missing = await deliver(JSON.stringify(p))
    assert.is(missing.status, 422)
    assert.equal(await missing.json(), {
      ok: false,
      error: {
        code: 'invalid_request',
        message: 'issue.fields.customfield_10050: missing or empty (hooks.jira.clusterField)',
      },
    })
    p.issue.fields.customfield_10050 = 'Prod $(reboot)'
    const bad = await deliver(JSON.stringify(p))
    assert.is(bad.status, 422)
    assert.is(
      (await bad.json()).error.message,
      'issue.fields.customfield_10050: "Prod $(reboot)" is not a valid cluster name'
    )
    p.issue.fields.customfield_10050 = 't-jira-nowhere'
    const noTopology = await deliver(JSON.stringify(p))
    assert.is(noTopology.status, 404)
    assert.is((await noTopology.json()).error.message, 'no stored topology named "t-jira-nowhere"')

    const template = fixture('issue-created-labelled')
    template.issue.fields.customfield_10051 = { value: 't-jira-gone', id: '10021' }
    const noTemplate = await deliver(JSON.stringify(template))
    assert.is(noTemplate.status, 404)
    assert.is(
      (await noTemplate.json()).error.message,
      'no stored topology named "t-jira-gone" (hooks.jira.topologyField)'
    )

    const audit = (await store.listAudit({ limit: 4 })).reverse()
    assert.equal(
      audit.map((a) => [a.actor, a.source, a.action, a.target, a.outcome]),
      [
        [
          'jira:712020:5b10ac8d-82e0-4c2e-9a4f-7d3e2c1b0a99',
          'OPS-17',
          'hook.jira',
          null,
          'refused: issue.fields.customfield_10050: missing or empty (hooks.jira.clusterField)',
        ],
        [
          'jira:712020:5b10ac8d-82e0-4c2e-9a4f-7d3e2c1b0a99',
          'OPS-17',
          'hook.jira',
          null,
          'refused: issue.fields.customfield_10050: "Prod $(reboot)" is not a valid cluster name',
        ],
        [
          'jira:712020:5b10ac8d-82e0-4c2e-9a4f-7d3e2c1b0a99',
          'OPS-17',
          'hook.jira',
          't-jira-nowhere',
          'refused: no stored topology named "t-jira-nowhere"',
        ],
        [
          'jira:712020:5b10ac8d-82e0-4c2e-9a4f-7d3e2c1b0a99',
          'OPS-17',
          'hook.jira',
          't-jira-a',
          'refused: no stored topology named "t-jira-gone" (hooks.jira.topologyField)',
        ],
      ]
    )
    // Jira shows the 422 to nobody: the issue itself is told why nothing happened.
    const comments = (await receiver.waitFor(posted + 4, 10_000)).slice(posted)
    assert.ok(
      comments.every(
        (c) =>
          c.path === '/rest/api/2/issue/OPS-17/comment' && c.headers.authorization === AUTHORIZATION
      )
    )
    assert.equal(comments.map((c) => JSON.parse(c.body).body).sort(), [
      '(x) berth: no install from this issue: issue.fields.customfield_10050: "Prod $(reboot)" is not a valid cluster name',
      '(x) berth: no install from this issue: issue.fields.customfield_10050: missing or empty (hooks.jira.clusterField)',
      '(x) berth: no install from this issue: no stored topology named "t-jira-gone" (hooks.jira.topologyField)',
      '(x) berth: no install from this issue: no stored topology named "t-jira-nowhere"',
    ])
    assert.is(count('jobs'), 0)
    assert.is(count('notifications'), 0)
  }
)

Jira(
  'a labelled new issue installs its cluster once however often Jira delivers it, and comments at start and end with the hostnames',
  async () => {
    const body = readFileSync(
      new URL('../fixtures/jira/issue-created-labelled.json', import.meta.url),
      'utf8'
    )
    const id = randomUUID()
    const posted = receiver.posts.length
    const res = await deliver(body, { 'x-atlassian-webhook-identifier': id })
    assert.is(res.status, 202)
    const { job } = await res.json()
    const admission = { owner: 'jira:OPS', level: 'restricted', remove: false }
    assert.equal(
      [job.kind, job.cluster, job.requestedBy, job.spec],
      [
        'install',
        't-jira-a',
        'jira:712020:5b10ac8d-82e0-4c2e-9a4f-7d3e2c1b0a99',
        { kind: 'install', cluster: 't-jira-a', admission },
      ]
    )
    const stored = await store.getJob(job.id)
    assert.equal(
      [stored?.source, stored?.idempotencyKey, stored?.bodyHash],
      ['OPS-17', `jira:body:${sha256(body)}`, sha256(body)]
    )

    // Jira's retries keep the identifier; a re-send of the same signed body under a new identifier
    // (which is not signed) is the same delivery too: the same job, nothing new.
    for (const [retry, identifier] of [
      ['1', id],
      ['2', id],
      ['1', randomUUID()],
    ]) {
      const again = await deliver(body, {
        'x-atlassian-webhook-identifier': identifier,
        'x-atlassian-webhook-retry': retry,
      })
      assert.is(again.status, 200)
      const json = await again.json()
      assert.equal([json.duplicate, json.job.id], [true, job.id])
    }
    assert.is(count('jobs'), 1, 'one job')
    assert.is((await store.notificationsFor(job.id)).length, 1, 'one notification')

    const done = await finished(job.id)
    assert.is(done.state, 'succeeded', JSON.stringify(done.result))
    const [start, end] = (await receiver.waitFor(posted + 2, 15_000)).slice(posted)
    for (const p of [start, end]) {
      assert.is(p.method, 'POST')
      assert.is(p.path, '/rest/api/2/issue/OPS-17/comment')
      assert.is(p.headers.authorization, AUTHORIZATION, 'the configured Authorization header')
      assert.is(p.headers['content-type'], 'application/json')
    }
    assert.is(JSON.parse(start.body).body, `(i) berth: install t-jira-a started (job ${job.id})`)
    const comment = JSON.parse(end.body).body as string
    assert.match(
      comment,
      new RegExp(
        `^\\(/\\) berth: install t-jira-a succeeded in \\d+\\.\\d s \\(job ${job.id}\\)\\nnodes: `
      )
    )
    // Every node, by the hostname and the address Docker gives it.
    const containers = await engine.listContainers([`${LABEL.cluster}=t-jira-a`])
    assert.is(containers.length, 2)
    const names: string[] = []
    for (const c of containers) {
      const info = await engine.inspectContainer(c.Id)
      const ip = Object.values(info.NetworkSettings.Networks)[0].IPAddress
      const want = `${info.Config.Hostname} (${ip})`
      assert.ok(comment.includes(want), `${comment} names ${want}`)
      names.push(info.Config.Hostname)
    }
    assert.equal(names.sort(), ['db.jira.test', 'web.jira.test'])
    const [n] = await store.notificationsFor(job.id)
    assert.equal([n.sent, n.lastError], [['started', 'finished'], null])
  }
)

Jira(
  'an update that adds the label installs from the template its topology field names; the failure is commented with the error',
  async () => {
    const posted = receiver.posts.length
    const res = await deliver(JSON.stringify(fixture('issue-updated-label-added')))
    assert.is(res.status, 202)
    const { job } = await res.json()
    assert.equal(
      [job.cluster, job.requestedBy],
      ['t-jira-b', 'jira:712020:5b10ac8d-82e0-4c2e-9a4f-7d3e2c1b0a99']
    )
    const stored = await store.getJob(job.id)
    assert.is(
      (stored?.spec as { topology: { name: string } }).topology.name,
      't-jira-b',
      'the template, renamed to the cluster of the issue'
    )

    const done = await finished(job.id)
    assert.is(done.state, 'failed')
    const [, end] = (await receiver.waitFor(posted + 2, 15_000)).slice(posted)
    assert.is(end.path, '/rest/api/2/issue/OPS-19/comment')
    const comment = JSON.parse(end.body).body as string
    assert.match(
      comment,
      new RegExp(
        `^\\(x\\) berth: install t-jira-b failed \\(node app, step bootstrap\\) \\(job ${job.id}\\): `
      )
    )
    assert.match(comment, /schema migration failed: disk full/, 'the error itself')
    assert.is(
      (await engine.listContainers([`${LABEL.cluster}=t-jira-b`])).length,
      0,
      'the failed install left nothing'
    )
  }
)

Jira(
  'without X-Atlassian-Webhook-Identifier, the same signed body is one delivery (jira:body:<sha256>)',
  async () => {
    const body = JSON.stringify({ ...fixture('issue-created-labelled'), timestamp: Date.now() })
    const first = await deliver(body, { 'x-atlassian-webhook-identifier': undefined })
    assert.is(first.status, 202)
    const { job } = await first.json()
    assert.is((await store.getJob(job.id))?.idempotencyKey, `jira:body:${sha256(body)}`)
    const again = await deliver(body, { 'x-atlassian-webhook-identifier': undefined })
    assert.is(again.status, 200)
    assert.is((await again.json()).job.id, job.id)
    // Another body for the same issue (a later event) is another delivery.
    const later = JSON.stringify({
      ...fixture('issue-created-labelled'),
      timestamp: Date.now() + 1,
    })
    const other = await deliver(later, { 'x-atlassian-webhook-identifier': undefined })
    assert.is(other.status, 202)
    const second = (await other.json()).job
    assert.is.not(second.id, job.id)
    // The reinstall of an installed cluster converges: both succeed, one after the other.
    assert.is((await finished(job.id)).state, 'succeeded')
    assert.is((await finished(second.id)).state, 'succeeded')
    assert.is((await engine.listContainers([`${LABEL.cluster}=t-jira-a`])).length, 2)
  }
)

Jira(
  'a comment Jira refuses is retried, then kept with the job with Jira’s own reason; the job is not affected',
  async () => {
    // Jira's REST API answering as it does for an issue the bot cannot see.
    const seen: string[] = []
    const jiraApi = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization}`)
      req.resume().on('end', () => {
        res.writeHead(404, { 'content-type': 'application/json;charset=UTF-8' })
        res.end(
          JSON.stringify({
            errorMessages: ['Issue does not exist or you do not have permission to see it.'],
            errors: {},
          })
        )
      })
    })
    await new Promise<void>((r) => jiraApi.listen(0, '127.0.0.1', r))
    try {
      const url = `http://127.0.0.1:${(jiraApi.address() as AddressInfo).port}`
      const refusing = new Notifier({
        store,
        jira: { baseUrl: url, authorization: AUTHORIZATION },
        backoffMs: [50, 50],
      })
      const job = (await store.listJobs({ cluster: 't-jira-a', limit: 1 }))[0]
      // Its own comments (OPS-17) told and recorded first: only the refused one is sent again.
      await withTimeout(notifier.idle(), 15_000, 'the earlier comments')
      const n = await store.addNotification({
        jobId: job.id,
        channel: 'jira',
        target: { issueKey: 'OPS-404' },
      })
      refusing.jobChanged(job, 'finished')
      await withTimeout(refusing.idle(), 10_000, 'the notifier giving up')
      assert.equal(
        seen,
        Array(3).fill(`POST /rest/api/2/issue/OPS-404/comment ${AUTHORIZATION}`),
        'three attempts'
      )
      const [row] = (await store.notificationsFor(job.id)).filter((r) => r.id === n.id)
      assert.equal([row.sent, row.attempts], [[], 3])
      assert.is(
        row.lastError,
        'finished: HTTP 404 from jira: Issue does not exist or you do not have permission to see it. (attempt 3)'
      )
      assert.is((await store.getJob(job.id))?.state, 'succeeded')
    } finally {
      jiraApi.close()
    }
  }
)

Jira(
  'labelling an issue is not a grant: without a rule for this user, project, cluster and template, 403, a comment, no job',
  async () => {
    const before = count('jobs')
    const posted = receiver.posts.length
    const outside = fixture('issue-created-labelled')
    outside.issue.fields.customfield_10050 = 'prod-db'
    const other = fixture('issue-created-labelled')
    other.issue.key = 'HR-3'
    const template = fixture('issue-created-labelled')
    template.issue.fields.customfield_10051 = { value: 'codenvy', id: '10022' }
    const cases: [string, object, string][] = [
      [
        'a cluster outside the rules',
        outside,
        'no rule in hooks.jira.allow lets account 712020:5b10ac8d-82e0-4c2e-9a4f-7d3e2c1b0a99 of project OPS install cluster "prod-db" from the topology "prod-db"',
      ],
      [
        'another project',
        other,
        'no rule in hooks.jira.allow lets account 712020:5b10ac8d-82e0-4c2e-9a4f-7d3e2c1b0a99 of project HR install cluster "t-jira-a" from the topology "t-jira-a"',
      ],
      [
        'a template outside the rules',
        template,
        'no rule in hooks.jira.allow lets account 712020:5b10ac8d-82e0-4c2e-9a4f-7d3e2c1b0a99 of project OPS install cluster "t-jira-a" from the topology "codenvy"',
      ],
    ]
    for (const [what, payload, message] of cases) {
      const res = await deliver(JSON.stringify({ ...payload, timestamp: Date.now() }))
      assert.is(res.status, 403, what)
      assert.equal(await res.json(), { ok: false, error: { code: 'forbidden', message } }, what)
    }
    assert.is(count('jobs'), before, 'no job')
    const comments = (await receiver.waitFor(posted + 3, 10_000))
      .slice(posted)
      .map((c) => JSON.parse(c.body).body)
    assert.ok(
      comments.every((c: string) =>
        c.startsWith('(x) berth: no install from this issue: no rule in hooks.jira.allow')
      ),
      comments.join('\n')
    )
    const audit = (await store.listAudit({ limit: 3 })).map((a) => [
      a.action,
      a.outcome.slice(0, 40),
    ])
    assert.equal(audit, Array(3).fill(['hook.jira', 'refused: no rule in hooks.jira.allow let']))
  }
)

Jira(
  'a rule may name Jira groups: asked of Jira for the labeller, and only their groups count',
  async () => {
    const groupsApi = await startReceiver()
    try {
      const hooks = HooksConfig.parse({
        jira: {
          secret: SECRET,
          baseUrl: groupsApi.url,
          authorization: AUTHORIZATION,
          clusterField: 'customfield_10050',
          allow: [{ groups: ['berth-operators'], clusters: ['t-jira-*'] }],
        },
      })
      const groupsApp = createApp({ store, queue, hooks })
      const send = (body: string) =>
        groupsApp.request('/hooks/jira', {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json', 'x-hub-signature': sign(body) },
        })
      groupsApi.answerJson('/rest/api/3/user/groups', [{ name: 'jira-users', groupId: 'g1' }])
      const first = JSON.stringify({ ...fixture('issue-created-labelled'), timestamp: Date.now() })
      const refused = await send(first)
      assert.is(refused.status, 403)
      assert.is(
        groupsApi.posts[0].path,
        `/rest/api/3/user/groups?accountId=${encodeURIComponent('712020:5b10ac8d-82e0-4c2e-9a4f-7d3e2c1b0a99')}`
      )
      assert.is(groupsApi.posts[0].headers.authorization, AUTHORIZATION)
      groupsApi.answerJson('/rest/api/3/user/groups', [
        { name: 'jira-users', groupId: 'g1' },
        { name: 'berth-operators', groupId: 'g2' },
      ])
      const allowed = await send(
        JSON.stringify({ ...fixture('issue-created-labelled'), timestamp: Date.now() + 1 })
      )
      assert.is(allowed.status, 202)
      await finished(((await allowed.json()) as { job: { id: string } }).job.id)
    } finally {
      await groupsApi.close()
    }
  }
)

Jira.run()
