import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createApp } from '../../functions/app.ts'
import { HooksConfig } from '../../functions/hooks/config.ts'
import { ZxDispatcher } from '../../functions/dispatch/zx.ts'
import { JobQueue } from '../../functions/queue.ts'
import { openSqliteStore } from '../../functions/store/sqlite.ts'
import type { Store } from '../../functions/store/store.ts'
import { CLUSTER_NAME, LABEL } from '../../scripts/engine/labels.ts'
import { KIND_SCOPE } from '../../functions/principal.ts'
import { finishedJob } from '../helpers/jobs.ts'
import { caller } from '../helpers/app-request.ts'
import { mintToken } from '../helpers/tokens.ts'
import { hook, withTimeout, until } from '../helpers/async.ts'
import { cheLike, engine, ensureDemoImage, removeTestClusters } from '../helpers/docker.ts'

const home = mkdtempSync(join(tmpdir(), 'berth-http-'))
process.env.BERTH_HOME = home
const bin = fileURLToPath(new URL('../../bin/berth.mjs', import.meta.url))

let store: Store
let queue: JobQueue
let app: ReturnType<typeof createApp>
const tokens: Record<string, string> = {}

const token = (name: string, scopes: string[]) => mintToken(store, name, scopes)

const call = caller(() => app)

const finished = (id: string) => finishedJob(store, id, 60_000)

const Api = suite('the job API (real SQLite, real zx dispatcher, real engine)')

Api.before(
  hook(async () => {
    await removeTestClusters('t-http')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
    store = await openSqliteStore(join(home, 'berth.db'))
    const dispatcher = new ZxDispatcher({
      mode: 'local',
      berth: [process.execPath, bin],
      graceMs: 10_000,
    })
    queue = new JobQueue({ store, dispatcher, maxClusters: 2 })
    // Every hook configured, so every route the app can have is checked against the OpenAPI document.
    const hooks = HooksConfig.parse({
      slack: { signingSecret: 'api-test-slack-secret' },
      jira: { secret: 'api-test-jira-secret', clusterField: 'customfield_10050' },
      generic: {
        nightly: {
          secret: 'api-test-hook-secret',
          job: { kind: 'snapshot', cluster: 't-http-nightly' },
        },
      },
    })
    // This suite makes many failed authentications on purpose (security.test.ts tests the cap).
    app = createApp({ store, queue, hooks, authFailures: { max: 10_000, windowMs: 60_000 } })
    tokens.admin = await token('admin', ['admin'])
    tokens.read = await token('reader', ['read'])
    tokens.install = await token('installer', ['install', 'read'])
  })
)
Api.after(
  hook(async () => {
    await queue.drain(30_000)
    await removeTestClusters('t-http')
    await store.close()
  })
)

Api(
  'answers /healthz without a token; 401 without or with a wrong token; 403 without the scope',
  async () => {
    assert.is((await call('GET', '/healthz')).status, 200)
    const none = await call('GET', '/v1/jobs')
    assert.is(none.status, 401)
    assert.equal(await none.json(), {
      ok: false,
      error: { code: 'unauthorized', message: 'a valid bearer token is required' },
    })
    assert.is((await call('GET', '/v1/jobs', { token: 'berth_forged' })).status, 401)
    const denied = await call('POST', '/v1/jobs', {
      token: tokens.read,
      body: { kind: 'destroy', cluster: 't-http-x' },
    })
    assert.is(denied.status, 403)
    assert.match((await denied.json()).error.message, /lacks the "restore" scope/)
    const restoreWithInstall = await call('POST', '/v1/jobs', {
      token: tokens.install,
      body: { kind: 'restore', cluster: 't-http-x', snapshot: 's' },
    })
    assert.is(restoreWithInstall.status, 403, 'restore needs its own scope')
    assert.equal(await store.listJobs({}), [], 'no job was created')
  }
)

Api('refuses a bad body or topology with 422 naming the field, creating nothing', async () => {
  const bad = await call('POST', '/v1/jobs', {
    token: tokens.admin,
    body: { kind: 'install', cluster: 'Bad_Name' },
  })
  assert.is(bad.status, 422)
  assert.match((await bad.json()).error.message, /cluster: is not a valid cluster name/)
  const topo = await call('POST', '/v1/jobs', {
    token: tokens.admin,
    body: {
      kind: 'install',
      cluster: 't-http-bad',
      topology: { ...cheLike('t-http-bad'), nodes: [{ name: 'Data_1' }] },
    },
  })
  assert.is(topo.status, 422)
  assert.match(
    (await topo.json()).error.message,
    /nodes\[0\]\.name: "Data_1" is not a valid hostname label/
  )
  assert.is((await call('POST', '/v1/jobs', { token: tokens.admin, body: '{nope' })).status, 422)
  // A path on the host is never read for a job from the service: files come as content.
  const source = await call('POST', '/v1/jobs', {
    token: tokens.admin,
    body: {
      kind: 'install',
      cluster: 't-http-src',
      topology: cheLike('t-http-src', {
        nodes: [{ name: 'che', files: [{ target: '/x', source: '/etc/shadow' }] }],
      }),
    },
  })
  assert.is(source.status, 422)
  assert.match(
    (await source.json()).error.message,
    'nodes[0].files[0].source: source is read only from a topology file on disk'
  )
  assert.equal(await store.listJobs({}), [])
})

Api(
  'runs a job through berth job run, stores its events in order, and replays them as SSE',
  async () => {
    const res = await call('POST', '/v1/jobs', {
      token: tokens.admin,
      body: { kind: 'status', cluster: 't-http-none' },
    })
    assert.is(res.status, 202)
    const { job } = await res.json()
    const done = await finished(job.id)
    assert.is(done.state, 'failed')
    assert.is((done.result as { code: string }).code, 'not_found')
    assert.is(done.exitCode, 5)
    const events = await store.listEvents(job.id)
    assert.equal(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1)
    )
    assert.is((events[events.length - 1].event as { type: string }).type, 'result')

    const sse = await (
      await call('GET', `/v1/jobs/${job.id}/events`, { token: tokens.read })
    ).text()
    const ids = [...sse.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))
    assert.equal(
      ids,
      events.map((e) => e.seq)
    )
    assert.match(sse, /event: end/)
    const tail = await (
      await call('GET', `/v1/jobs/${job.id}/events`, {
        token: tokens.read,
        headers: { 'last-event-id': '1' },
      })
    ).text()
    assert.equal(
      [...tail.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1])),
      events.slice(1).map((e) => e.seq),
      'replay from Last-Event-ID'
    )
  }
)

Api('an Idempotency-Key returns the same job for the same body and 422 for another', async () => {
  const body = { kind: 'status', cluster: 't-http-idem' }
  const a = await (
    await call('POST', '/v1/jobs', {
      token: tokens.admin,
      body,
      headers: { 'idempotency-key': 'k-1' },
    })
  ).json()
  const b = await (
    await call('POST', '/v1/jobs', {
      token: tokens.admin,
      body,
      headers: { 'idempotency-key': 'k-1' },
    })
  ).json()
  assert.is(b.job.id, a.job.id)
  const c = await call('POST', '/v1/jobs', {
    token: tokens.admin,
    body: { ...body, cluster: 't-http-other' },
    headers: { 'idempotency-key': 'k-1' },
  })
  assert.is(c.status, 422)
  assert.is((await c.json()).error.code, 'idempotency_mismatch')
  await finished(a.job.id)
})

Api(
  'a stored topology is checked first: each problem at its path, 422, nothing stored',
  async () => {
    const bad = [
      ['name: t-http-other\nimage: berth/demo:1\ndomain: x.local\nnodes: [{ name: a }]\n', 'name'],
      [
        'name: t-http-bad\nimage: berth/demo:1\ndomain: x.local\nnodes: [{ name: Bad_1 }]\n',
        'nodes[0].name',
      ],
    ] as const
    for (const [text, path] of bad) {
      const res = await call('PUT', '/v1/topologies/t-http-bad', {
        token: tokens.install,
        body: text,
      })
      assert.is(res.status, 422)
      const { error } = await res.json()
      assert.is(error.issues[0].path, path, error.message)
    }
    assert.is(await store.getTopology('t-http-bad'), null)
  }
)

Api(
  'installs from a stored topology, refuses a second job with 409 when asked not to queue, and cancels cleanly',
  async () => {
    const yaml = JSON.stringify({
      ...cheLike('t-http-slow'),
      nodes: [{ name: 'slow', bootstrap: 'sleep 30' }],
    })
    const put = await call('PUT', '/v1/topologies/t-http-slow', {
      token: tokens.install,
      body: yaml,
    })
    assert.is(put.status, 200)
    const started = await (
      await call('POST', '/v1/jobs', {
        token: tokens.install,
        body: { kind: 'install', cluster: 't-http-slow', topologyRef: 't-http-slow' },
      })
    ).json()
    await until('bootstrap running', async () =>
      (await store.listEvents(started.job.id)).some(
        (e) => (e.event as { step?: string }).step === 'bootstrap'
      )
        ? true
        : undefined
    )
    const busy = await call('POST', '/v1/jobs?queue=false', {
      token: tokens.install,
      body: { kind: 'status', cluster: 't-http-slow' },
    })
    assert.is(busy.status, 409)
    const t0 = Date.now()
    const cancel = await call('POST', `/v1/jobs/${started.job.id}/cancel`, {
      token: tokens.install,
    })
    assert.is(cancel.status, 202)
    const done = await finished(started.job.id)
    assert.is(done.state, 'cancelled')
    assert.ok(Date.now() - t0 < 15_000, 'stopped long before the 30 s bootstrap')
    assert.is(
      (await engine.listContainers([`${LABEL.cluster}=t-http-slow`])).length,
      0,
      'nothing left'
    )
  }
)

Api(
  'a job that was running when the server died is resumed on restart, not lost or doubled',
  async () => {
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
    await store.transitionJob(job.id, ['queued'], 'running', {
      startedAt: new Date().toISOString(),
      attempts: 1,
    })
    const resumed = await queue.resume()
    assert.ok(resumed >= 1)
    const done = await finished(job.id)
    assert.is(done.attempts, 2, 'run once more, exactly')
    assert.is(done.state, 'failed')
  }
)

Api('the audit log records who did what, and only admins read it', async () => {
  assert.is((await call('GET', '/v1/audit', { token: tokens.read })).status, 403)
  const { audit } = await (await call('GET', '/v1/audit', { token: tokens.admin })).json()
  const actions = audit.map((a: { action: string }) => a.action)
  assert.ok(
    actions.includes('job.install') &&
      actions.includes('job.cancel') &&
      actions.includes('topology.put'),
    actions.join(',')
  )
})

Api(
  'follows an install live over SSE to its end; jobs on one cluster never overlap, two clusters run at once',
  async () => {
    const topo = (name: string) => ({
      ...cheLike(name),
      nodes: [{ name: 'app', bootstrap: 'sleep 2' }],
    })
    const post = async (body: object) =>
      (await (await call('POST', '/v1/jobs', { token: tokens.install, body })).json()).job
    const a1 = await post({ kind: 'install', cluster: 't-http-a', topology: topo('t-http-a') })
    const a2 = await post({ kind: 'status', cluster: 't-http-a' })
    const b1 = await post({ kind: 'install', cluster: 't-http-b', topology: topo('t-http-b') })

    // Opened while the install runs: every event arrives as it happens, then `end`.
    const sse = await withTimeout(
      (await call('GET', `/v1/jobs/${a1.id}/events`, { token: tokens.read })).text(),
      90_000,
      'SSE to the end'
    )
    const seen = [...sse.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]))
    const end = seen[seen.length - 1]
    assert.is(
      end.state,
      'succeeded',
      `the end event carries the finished job: ${JSON.stringify(end.result)}`
    )
    assert.ok(
      seen.some((e) => e.step === 'bootstrap' && e.state === 'done' && e.node === 'app'),
      'bootstrap steps were streamed'
    )
    assert.equal(
      [...sse.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1])),
      (await store.listEvents(a1.id)).map((e) => e.seq)
    )

    const [ja1, ja2, jb1] = [await finished(a1.id), await finished(a2.id), await finished(b1.id)]
    assert.is(ja2.state, 'succeeded')
    assert.ok(
      ja2.startedAt! >= ja1.finishedAt!,
      `the status job started (${ja2.startedAt}) after the install ended (${ja1.finishedAt})`
    )
    assert.ok(
      jb1.startedAt! < ja1.finishedAt! && ja1.startedAt! < jb1.finishedAt!,
      'the two clusters were installed at the same time'
    )
    assert.is((await engine.listContainers([`${LABEL.cluster}=t-http-a`])).length, 1)
  }
)

Api(
  'GET /v1/jobs/:id/log reads the full log from the host, from any offset; refuses what it cannot read',
  async () => {
    const [install] = await store
      .listJobs({ cluster: 't-http-a', limit: 10 })
      .then((js) => js.filter((j) => j.kind === 'install'))
    const res = await call('GET', `/v1/jobs/${install.id}/log`, { token: tokens.read })
    assert.is(res.status, 200)
    const body = await res.json()
    assert.equal([body.job, body.next, body.host], [install.id, null, undefined])
    const text: string = body.text
    assert.match(text, new RegExp(`job ${install.id}: install t-http-a`), 'the log lines')
    // Every event the service stored is a line of the log on the host.
    for (const { event } of await store.listEvents(install.id)) {
      const e = event as { type: string; step?: string; state?: string; node?: string }
      if (e.type === 'step')
        assert.ok(
          text.includes(`${e.node ? `[${e.node}] ` : ''}step ${e.step} ${e.state}`),
          `the log has ${JSON.stringify(e)}`
        )
    }
    assert.match(text, /result \{"type":"result".*"ok":true/)

    const bytes = Buffer.from(text)
    const tail = await (
      await call('GET', `/v1/jobs/${install.id}/log?offset=${bytes.length - 40}`, {
        token: tokens.read,
      })
    ).json()
    assert.equal(
      [tail.text, tail.next],
      [bytes.subarray(bytes.length - 40).toString(), null],
      'from an offset: the rest'
    )

    const bad = await call('GET', `/v1/jobs/${install.id}/log?offset=-1`, { token: tokens.read })
    assert.is(bad.status, 422)
    assert.match((await bad.json()).error.message, /^offset: "-1"/)
    assert.is(
      (await call('GET', `/v1/jobs/${install.id}/log?host=a;b`, { token: tokens.read })).status,
      422
    )
    assert.is((await call('GET', '/v1/jobs/j-nowhere/log', { token: tokens.read })).status, 404)
    // Recorded but never started (nothing kicks the queue): 409; once cancelled, the host has no log: 404.
    const waiting = await store.createJob({
      id: `t-http-log-${Date.now()}`,
      kind: 'status',
      cluster: 't-http-none',
      spec: { kind: 'status', cluster: 't-http-none' },
      requestedBy: 'test',
      source: null,
      idempotencyKey: null,
      bodyHash: null,
    })
    const early = await call('GET', `/v1/jobs/${waiting.id}/log`, { token: tokens.read })
    assert.equal(
      [early.status, (await early.json()).error.message],
      [409, `job ${waiting.id} has not started: it has no log yet`]
    )
    await store.transitionJob(waiting.id, ['queued'], 'cancelled', {
      finishedAt: new Date().toISOString(),
    })
    const none = await call('GET', `/v1/jobs/${waiting.id}/log`, { token: tokens.read })
    assert.is(none.status, 404)
    assert.match((await none.json()).error.message, new RegExp(`no log for job "${waiting.id}"`))
  }
)

Api(
  'GET /v1/clusters reads the host: clusters, nodes with the IPs Docker holds, snapshots',
  async () => {
    const list = await call('GET', '/v1/clusters', { token: tokens.read })
    assert.is(list.status, 200)
    const { clusters } = await list.json()
    const a = clusters.find((c: { cluster: string }) => c.cluster === 't-http-a')
    assert.ok(a, 'the installed cluster is listed')
    assert.equal(
      { nodes: a.nodes, running: a.running, busy: a.busy },
      { nodes: 1, running: 1, busy: false }
    )
    assert.is(a.lastJob.kind, 'status')

    const one = await call('GET', '/v1/clusters/t-http-a', { token: tokens.read })
    assert.is(one.status, 200)
    const body = await one.json()
    const [node] = body.cluster.nodes
    const [container] = await engine.listContainers([`${LABEL.cluster}=t-http-a`])
    const info = await engine.inspectContainer(container.Id)
    assert.is(
      node.ip,
      Object.values(info.NetworkSettings.Networks)[0].IPAddress,
      'the IP Docker reports'
    )
    assert.equal(
      [node.name, node.hostname, node.state, node.bootstrap, node.health],
      ['app', 'app.che.local', 'running', 'done', 'none']
    )
    assert.ok(
      body.jobs.some((j: { id: string; kind: string }) => j.kind === 'install'),
      'with its recent jobs'
    )

    const missing = await call('GET', '/v1/clusters/t-http-nowhere', { token: tokens.read })
    assert.is(missing.status, 404)
    assert.match((await missing.json()).error.message, /no cluster named "t-http-nowhere"/)
    assert.is((await call('GET', '/v1/clusters/Bad_Name', { token: tokens.read })).status, 422)
    const snaps = await call('GET', '/v1/clusters/t-http-a/snapshots', { token: tokens.read })
    assert.is(snaps.status, 200)
    assert.equal((await snaps.json()).snapshots, [])
  }
)

Api(
  'every route asks for a token (401) and for its scope (403); the right scope gets through',
  async () => {
    const snapshotOnly = await token('snapshotter', ['snapshot'])
    const job = (await store.listJobs({ limit: 1 }))[0]
    const routes: [method: string, path: string, scope: string, body?: unknown][] = [
      ['GET', '/v1/jobs', 'read'],
      ['GET', `/v1/jobs/${job.id}`, 'read'],
      ['GET', `/v1/jobs/${job.id}/events`, 'read'],
      ['GET', `/v1/jobs/${job.id}/log`, 'read'],
      ['POST', `/v1/jobs/${job.id}/cancel`, job.kind === 'status' ? 'read' : 'install'],
      [
        'POST',
        '/v1/jobs',
        'install',
        { kind: 'install', cluster: 't-http-x', topologyRef: 't-http-none' },
      ],
      ['POST', '/v1/jobs', 'restore', { kind: 'destroy', cluster: 't-http-x' }],
      ['GET', '/v1/clusters', 'read'],
      ['GET', '/v1/clusters/t-http-a', 'read'],
      ['GET', '/v1/clusters/t-http-a/snapshots', 'read'],
      ['PUT', '/v1/topologies/t-http-x', 'install', 'name: t-http-x'],
      ['GET', '/v1/topologies/t-http-x', 'install'],
      ['GET', '/v1/audit', 'admin'],
      ['GET', '/v1/schedules', 'read'],
      ['POST', '/v1/schedules', 'snapshot', { cluster: 't-http-x', cron: '0 2 * * *' }],
      ['DELETE', '/v1/schedules/t-http-x', 'snapshot'],
    ]
    // Every route the app has is in the table.
    const covered = new Set(
      routes.map(([m, p]) => `${m} ${p.replace(job.id, ':id').replace(/t-http-[a-z]+/, ':name')}`)
    )
    for (const r of app.routes.filter(
      (r) => r.method !== 'ALL' && r.path.startsWith('/v1/') && r.path !== '/v1/openapi.json'
    )) {
      assert.ok(
        covered.has(`${r.method} ${r.path.replace(/\/$/, '')}`),
        `${r.method} ${r.path} is in the auth table`
      )
    }
    const before = (await store.listJobs({})).length
    for (const [method, path, scope, body] of routes) {
      assert.is(
        (await call(method, path, { body })).status,
        401,
        `${method} ${path} without a token`
      )
      assert.is(
        (await call(method, path, { body, token: 'berth_not-a-token' })).status,
        401,
        `${method} ${path} with a forged token`
      )
      const withSnapshot = (await call(method, path, { body, token: snapshotOnly })).status
      if (scope !== 'snapshot')
        assert.is(withSnapshot, 403, `${method} ${path} with only the snapshot scope`)
      const right = await token(`t-${scope}-${Math.random().toString(36).slice(2, 6)}`, [scope])
      const status = (await call(method, path, { body, token: right })).status
      assert.ok(
        status !== 401 && status !== 403,
        `${method} ${path} with the ${scope} scope: ${status}`
      )
    }
    const destroyJob = (await store.listJobs({})).find((j) => j.kind === 'destroy')
    assert.ok(destroyJob, 'the destroy with the restore scope was accepted')
    await finished(destroyJob.id)
    assert.is((await store.listJobs({})).length, before + 1, 'and nothing else was created')
  }
)

Api(
  'malformed, oversize and unsafe requests get 4xx with the envelope and create nothing',
  async () => {
    const before = (await store.listJobs({})).length
    const huge = await call('POST', '/v1/jobs', {
      token: tokens.admin,
      body: JSON.stringify({
        kind: 'install',
        cluster: 't-http-big',
        topology: 'x'.repeat(2 * 1024 * 1024),
      }),
    })
    assert.is(huge.status, 413)
    assert.equal(Object.keys(await huge.json()), ['ok', 'error'])
    const kind = await call('POST', '/v1/jobs', {
      token: tokens.admin,
      body: { kind: 'format-disk', cluster: 't-http-x' },
    })
    assert.is(kind.status, 422)
    assert.match((await kind.json()).error.message, /^kind: /)
    const path = await call('POST', '/v1/jobs', {
      token: tokens.admin,
      body: {
        kind: 'export',
        cluster: 't-http-a',
        snapshot: 's1',
        options: { file: '/etc/passwd' },
      },
    })
    assert.is(path.status, 422)
    assert.match((await path.json()).error.message, /options\.file: must be a bare file name/)
    const extra = await call('POST', '/v1/jobs', {
      token: tokens.admin,
      body: { kind: 'status', cluster: 't-http-a', shell: 'rm -rf /' },
    })
    assert.is(extra.status, 422)
    const refused = (await extra.json()).error
    assert.match(refused.message, /shell: unknown key/)
    assert.equal(refused.issues, [{ path: 'shell', message: 'unknown key' }])
    assert.is((await store.listJobs({})).length, before)
  }
)

Api('/v1/openapi.json is generated from the request schemas and covers every route', async () => {
  const res = await call('GET', '/v1/openapi.json')
  assert.is(res.status, 200)
  const doc = await res.json()
  assert.is(doc.openapi, '3.0.3')
  for (const r of app.routes.filter((r) => r.method !== 'ALL' && r.path !== '*')) {
    const path = r.path.replace(/\/$/, '').replace(/:(\w+)/g, '{$1}')
    assert.ok(doc.paths[path]?.[r.method.toLowerCase()], `${r.method} ${path} is documented`)
  }
  const req = doc.components.schemas.JobRequest
  assert.equal(req.properties.kind.enum.sort(), Object.keys(KIND_SCOPE).sort())
  assert.is(req.properties.cluster.pattern, CLUSTER_NAME.source)
  assert.is(req.additionalProperties, false)
  assert.ok(doc.components.schemas.Topology.properties.nodes, 'the topology file schema')
})

Api.run()
