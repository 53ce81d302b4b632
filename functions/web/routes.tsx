/**
 * The dashboard: server-rendered pages over the same service as /v1 (the store, the queue, the
 * one submitJob with its admission), signed in with a session (session.ts). Every read page
 * works without script; forms post back here with the session's CSRF value and answer with a
 * redirect to what they made (a job's page), or with the page again and what was wrong.
 * Runtime-neutral: the same pages on `berth serve` and on the Worker.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono'
import type { ClusterListing, ClusterStatus } from '../../scripts/engine/lifecycle.ts'
import { CLUSTER_NAME, SNAPSHOT_ID } from '../../scripts/engine/labels.ts'
import { anyMatch } from '../../scripts/engine/patterns.ts'
import { readTopology } from '../../scripts/engine/topology.ts'
import { issueLines, zodIssues } from '../../scripts/engine/zod-issues.ts'
import { policyAdmission } from '../admission.ts'
import { conflict, forbidden, fromHost, invalid, JobError, notFound } from '../errors.ts'
import { JobRequest, type JobRequestBody } from '../job-request.ts'
import { grant, hasScope, hashToken, touch, type AuthEnv } from '../middleware/auth.ts'
import type { FailureLimiter } from '../middleware/failures.ts'
import type { Right } from '../principal.ts'
import { cancelAs, view } from '../routes/jobs.ts'
import { listLimit } from '../routes/paging.ts'
import { addScheduleAs, scheduleView } from '../routes/schedules.ts'
import { sha256Hex } from '../sha256.ts'
import { storeTopology } from '../stored-topology.ts'
import type { JobRecord, SessionRecord } from '../store/store.ts'
import { submitJob, type SubmitDeps } from '../submit.ts'
import type { Logger } from '../../scripts/engine/logger.ts'
import { serveAssets, type WebAssets } from './assets.ts'
import { ErrorBlock, page, render, streamPage, type Chrome } from './layout.tsx'
import { AuditPage } from './pages/audit.tsx'
import { ClusterPage, type SnapshotView } from './pages/cluster.tsx'
import { ClustersPage, type ClusterRow } from './pages/clusters.tsx'
import { Confirm } from './pages/forms.tsx'
import { JobPage, JobsTable } from './pages/job.tsx'
import { SignInPage } from './pages/sign-in.tsx'
import { TimelineSvg } from './pages/timeline-svg.tsx'
import { EditorPage, TopologiesPage } from './pages/topologies.tsx'
import {
  checkWrite,
  CSRF_FIELD,
  DEFAULT_SESSION_HOURS,
  endSession,
  readSession,
  refuseCrossSite,
  SESSION_COOKIE,
  startSession,
} from './session.ts'

export interface WebOptions {
  assets: WebAssets
  /** How long a sign-in lasts. */
  sessionHours?: number
}

type Form = Record<string, string>
type WebEnv = {
  Variables: AuthEnv['Variables'] & { session: SessionRecord; form: Form }
}

export interface WebDeps extends SubmitDeps {
  web: WebOptions
  limiter: FailureLimiter
  client: (c: Context) => string
  /** Whether the browser asked over https (so the cookie is Secure): the URL's scheme, or a
   *  trusted proxy's X-Forwarded-Proto. */
  https: (c: Context) => boolean
  log: Logger
}

/** Each node's bootstrap phase, from the topology the job carries (an install's), else none. */
function phasesOfJob(job: JobRecord): Map<string, number> {
  const topology = (job.spec as { topology?: unknown }).topology
  if (topology === undefined) return new Map()
  try {
    const t = readTopology(topology as string | Record<string, unknown>).topology
    return new Map(t.nodes.map((n) => [n.name, n.phase]))
  } catch {
    return new Map()
  }
}

/** Where sign-in may send the browser on: a path of this site, never another site. */
function safeNext(raw: string | undefined): string {
  if (!raw || !raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\')) return '/'
  return raw.slice(0, 2000)
}

/** A new topology's first text: valid, and allowed at every policy level, to grow from. */
const STARTER = (name: string) => `name: ${name}
image: berth/demo:1
domain: ${name}.local
defaults:
  resources: { memory: 64m }
nodes:
  - name: master
`

export function webRoutes(deps: WebDeps) {
  const { store, queue, policy } = deps
  const hours = deps.web.sessionHours ?? DEFAULT_SESSION_HOURS
  const app = new Hono<WebEnv>()
  const assets = serveAssets(app as unknown as Hono, deps.web.assets)

  const chrome = (c: Context<WebEnv>): Chrome => {
    const session = c.get('session') as SessionRecord | undefined
    const caller = c.get('caller') as WebEnv['Variables']['caller'] | undefined
    return {
      assets,
      path: c.req.path,
      viewer:
        session && caller
          ? { name: caller.name, admin: caller.scopes.includes('admin'), csrf: session.csrf }
          : null,
    }
  }
  const show = (
    c: Context<WebEnv>,
    title: string,
    body: Parameters<typeof page>[3],
    status?: Parameters<typeof page>[4]
  ) => page(c, chrome(c), title, body, status)
  const bug = (err: unknown) =>
    deps.log.error(`dashboard: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)

  // Browsers ask for it unbidden; berth has none.
  app.get('/favicon.ico', (c) => c.body(null, 204))

  app.onError(async (err, c) => {
    if (err instanceof JobError) {
      const res = await show(c, 'Not done', <ErrorBlock err={err} />, err.status)
      for (const [k, v] of Object.entries(err.headers ?? {})) res.headers.set(k, v)
      return res
    }
    bug(err)
    return show(c, 'Error', <ErrorBlock err={err} />, 500)
  })

  // ── signing in and out ─────────────────────────────────────────────────────
  app.get('/sign-in', async (c) => {
    const next = safeNext(c.req.query('next'))
    if (await readSession(store, c)) return c.redirect(next, 303)
    return show(c, 'Sign in', <SignInPage next={next} expired={c.req.query('expired') === '1'} />)
  })

  app.post('/sign-in', async (c) => {
    const client = deps.client(c)
    refuseCrossSite(c)
    const form = await c.req.parseBody<Form>()
    const next = safeNext(form.next)
    const token = String(form.token ?? '').trim()
    const hash = token ? await hashToken(token) : null
    const keys = [`address ${client}`, ...(hash ? [`token ${hash.slice(0, 12)}…`] : [])]
    deps.limiter.check(keys)
    const record = hash ? await store.findTokenByHash(hash) : null
    if (!record || record.revokedAt) {
      deps.limiter.fail(keys)
      await store.audit({
        actor: 'unknown',
        source: client,
        action: 'session.start',
        target: null,
        outcome: 'refused',
        detail: null,
      })
      return show(
        c,
        'Sign in',
        <SignInPage next={next} error="That token is unknown or revoked." />,
        403
      )
    }
    await startSession(store, c, record, { hours, secure: deps.https(c) })
    await store.audit({
      actor: record.name,
      source: client,
      action: 'session.start',
      target: null,
      outcome: 'ok',
      detail: { hours },
    })
    return c.redirect(next, 303)
  })

  // Every other page needs a session; a write, its CSRF value too.
  const signedIn: MiddlewareHandler<WebEnv> = async (c, next) => {
    c.set('client', deps.client(c))
    const signed = await readSession(store, c)
    if (!signed) {
      const had = !!c.req.header('cookie')?.includes(`${SESSION_COOKIE}=`)
      const target =
        c.req.method === 'GET' ? c.req.path + (new URL(c.req.url).search ?? '') : refererPath(c)
      return c.redirect(
        `/sign-in?next=${encodeURIComponent(target)}${had ? '&expired=1' : ''}`,
        303
      )
    }
    c.set('session', signed.session)
    grant(c as unknown as Context<AuthEnv>, signed.token, policy.default)
    await touch(store, signed.token)
    if (c.req.method === 'POST') {
      const form = await c.req.parseBody<Form>()
      checkWrite(
        c,
        signed.session,
        typeof form[CSRF_FIELD] === 'string' ? form[CSRF_FIELD] : undefined
      )
      c.set('form', form)
    }
    await next()
  }
  const refererPath = (c: Context) => {
    try {
      const r = new URL(c.req.header('referer') ?? '')
      return r.host === new URL(c.req.url).host ? r.pathname + r.search : '/'
    } catch {
      return '/'
    }
  }
  app.use('/', signedIn)
  app.use('/sign-out', signedIn)
  for (const p of [
    '/clusters/*',
    '/jobs',
    '/jobs/*',
    '/topologies',
    '/topologies/*',
    '/schedules/*',
    '/audit',
  ])
    app.use(p, signedIn)

  app.post('/sign-out', async (c) => {
    await endSession(store, c, deps.https(c))
    return c.redirect('/sign-in', 303)
  })

  // ── what every action shares ───────────────────────────────────────────────
  const field = (c: Context<WebEnv>, name: string): string => {
    const v = c.get('form')[name]
    return typeof v === 'string' ? v.trim() : ''
  }
  const may = (c: Context<WebEnv>, right: Right, cluster: string) =>
    c.get('who').denies(right, cluster) === null
  const clusterParam = (c: Context<WebEnv>, right: Right = 'read'): string => {
    const name = c.req.param('name') ?? ''
    if (!CLUSTER_NAME.test(name)) throw notFound(`no cluster named "${name.slice(0, 60)}"`)
    const denied = c.get('who').denies(right, name)
    if (denied)
      throw right === 'read'
        ? notFound(`no cluster named "${name}" that you may read`)
        : forbidden(denied)
    return name
  }
  /** A job made as POST /v1/jobs makes it; the browser is sent to its page. */
  const submit = async (c: Context<WebEnv>, body: JobRequestBody): Promise<Response> => {
    const parsed = JobRequest.safeParse(body)
    if (!parsed.success) {
      const issues = zodIssues(parsed.error, '(form)')
      throw invalid(issueLines(issues, '; '), issues)
    }
    const { job } = await submitJob(deps, parsed.data, {
      who: c.get('who'),
      source: `${c.get('client')} (dashboard)`,
      idempotencyKey: null,
      bodyHash: await sha256Hex(JSON.stringify(parsed.data)),
    })
    return c.redirect(`/jobs/${job.id}`, 303)
  }
  const snapshotParam = (raw: string | undefined): string => {
    if (!raw || !SNAPSHOT_ID.test(raw))
      throw invalid(`snapshot: "${(raw ?? '').slice(0, 64)}" is not a snapshot id`)
    return raw
  }

  // ── clusters ───────────────────────────────────────────────────────────────
  app.get('/', (c) => {
    const caller = c.get('caller')
    const filter = (c.req.query('q') ?? '').slice(0, 60)
    return streamPage(
      chrome(c),
      'Clusters',
      async () => {
        if (!hasScope(caller, 'read'))
          throw forbidden(`the token "${caller.name}" lacks the "read" scope`)
        const { clusters } = fromHost(await queue.inspect({ kind: 'clusters' })) as {
          clusters: ClusterListing[]
        }
        const now = new Date()
        const schedules = (await store.listSchedules()).filter((s) => s.enabled)
        const rows: ClusterRow[] = await Promise.all(
          clusters
            .filter((x) => anyMatch(caller.clusters, x.cluster))
            .map(async (x) => {
              const [last] = await store.listJobs({ cluster: x.cluster, limit: 1 })
              const next = schedules
                .filter((s) => s.cluster === x.cluster)
                .map((s) => scheduleView(s, now).nextRunAt)
                .filter((t): t is string => !!t)
                .sort()[0]
              return {
                ...x,
                busy: await queue.isBusy(x.cluster),
                lastJob: last ? view(last) : null,
                nextSnapshot: next ?? null,
              }
            })
        )
        return <ClustersPage rows={rows} filter={filter} />
      },
      bug
    )
  })

  app.get('/clusters/:name', (c) => {
    const name = clusterParam(c)
    const who = c.get('who')
    const csrf = c.get('session').csrf
    return streamPage(
      chrome(c),
      name,
      async () => {
        const [status, snaps, jobs, schedules, stored] = await Promise.all([
          queue
            .inspect({ kind: 'status', cluster: name })
            .then((r) => fromHost(r) as ClusterStatus),
          queue
            .inspect({ kind: 'snapshots', cluster: name })
            .then((r) => (fromHost(r) as { snapshots: SnapshotView[] }).snapshots),
          store.listJobs({ cluster: name, limit: 10 }),
          store.listSchedules(),
          may(c, 'install', name) ? store.getTopology(name) : Promise.resolve(null),
        ])
        const now = new Date()
        return (
          <ClusterPage
            status={status}
            snapshots={snaps}
            jobs={jobs.map(view)}
            schedules={schedules.filter((s) => s.cluster === name).map((s) => scheduleView(s, now))}
            stored={!!stored}
            csrf={csrf}
            can={{
              snapshot: who.denies('snapshot', name) === null,
              restore: who.denies('restore', name) === null,
              destroy: who.denies('destroy', name) === null,
              export: who.denies('export', name) === null,
              remove: who.denies('snapshot-rm', name) === null,
              install: who.denies('install', name) === null,
            }}
          />
        )
      },
      bug
    )
  })

  app.post('/clusters/:name/snapshot', async (c) => {
    const cluster = clusterParam(c, 'snapshot')
    const tag = field(c, 'tag')
    return submit(c, { kind: 'snapshot', cluster, ...(tag ? { options: { tag } } : {}) })
  })

  // Restore, restore as, remove a snapshot, destroy: the name typed out first.
  const confirmed = (c: Context<WebEnv>, cluster: string) => field(c, 'confirm') === cluster
  const mismatch = (cluster: string) => `That is not "${cluster}": type the cluster's name exactly.`

  const restoreForm = (
    c: Context<WebEnv>,
    cluster: string,
    snapshot: string,
    as: boolean,
    error?: string,
    asValue = ''
  ) => (
    <Confirm
      title={`Restore ${cluster} from ${snapshot}`}
      action={`/clusters/${cluster}/restore`}
      cluster={cluster}
      csrf={c.get('session').csrf}
      verb={as ? 'Restore as a new cluster' : `Restore ${cluster}`}
      error={error}
    >
      <input type="hidden" name="snapshot" value={snapshot} />
      {as ? (
        <>
          <label for="as">New cluster's name</label>
          <input id="as" name="as" required value={asValue} pattern="[a-z0-9][a-z0-9-]{0,39}" />
        </>
      ) : (
        <p>
          Every node of <strong>{cluster}</strong> goes back to snapshot <code>{snapshot}</code>:
          what was written since is lost.
        </p>
      )}
    </Confirm>
  )
  app.get('/clusters/:name/restore', (c) => {
    const cluster = clusterParam(c, 'restore')
    const snapshot = snapshotParam(c.req.query('snapshot'))
    return show(
      c,
      `Restore ${cluster}`,
      restoreForm(c, cluster, snapshot, c.req.query('as') === '1')
    )
  })
  app.post('/clusters/:name/restore', async (c) => {
    const cluster = clusterParam(c, 'restore')
    const snapshot = snapshotParam(field(c, 'snapshot'))
    const as = field(c, 'as')
    if (!confirmed(c, cluster))
      return show(
        c,
        `Restore ${cluster}`,
        restoreForm(c, cluster, snapshot, 'as' in c.get('form'), mismatch(cluster), as),
        422
      )
    return submit(c, { kind: 'restore', cluster, snapshot, ...(as ? { options: { as } } : {}) })
  })

  const removeForm = (c: Context<WebEnv>, cluster: string, snapshot: string, error?: string) => (
    <Confirm
      title={`Remove snapshot ${snapshot}`}
      action={`/clusters/${cluster}/remove`}
      cluster={cluster}
      csrf={c.get('session').csrf}
      verb="Remove the snapshot"
      error={error}
    >
      <input type="hidden" name="snapshot" value={snapshot} />
      <p>
        Snapshot <code>{snapshot}</code> of <strong>{cluster}</strong>, its images and volume data,
        are removed for good.
      </p>
    </Confirm>
  )
  app.get('/clusters/:name/remove', (c) => {
    const cluster = clusterParam(c, 'snapshot-rm')
    return show(
      c,
      'Remove a snapshot',
      removeForm(c, cluster, snapshotParam(c.req.query('snapshot')))
    )
  })
  app.post('/clusters/:name/remove', async (c) => {
    const cluster = clusterParam(c, 'snapshot-rm')
    const snapshot = snapshotParam(field(c, 'snapshot'))
    if (!confirmed(c, cluster))
      return show(c, 'Remove a snapshot', removeForm(c, cluster, snapshot, mismatch(cluster)), 422)
    return submit(c, { kind: 'snapshot-rm', cluster, snapshot })
  })

  const destroyForm = (c: Context<WebEnv>, cluster: string, error?: string) => (
    <Confirm
      title={`Destroy ${cluster}`}
      action={`/clusters/${cluster}/destroy`}
      cluster={cluster}
      csrf={c.get('session').csrf}
      verb={`Destroy ${cluster}`}
      error={error}
    >
      <p>
        Every container of <strong>{cluster}</strong> and its network are removed. Its snapshots
        stay.
      </p>
      <label class="check">
        <input type="checkbox" name="volumes" value="1" /> Remove its volumes too (their data is
        lost)
      </label>
    </Confirm>
  )
  app.get('/clusters/:name/destroy', (c) =>
    show(c, 'Destroy', destroyForm(c, clusterParam(c, 'destroy')))
  )
  app.post('/clusters/:name/destroy', async (c) => {
    const cluster = clusterParam(c, 'destroy')
    if (!confirmed(c, cluster))
      return show(c, 'Destroy', destroyForm(c, cluster, mismatch(cluster)), 422)
    return submit(c, {
      kind: 'destroy',
      cluster,
      ...(field(c, 'volumes') ? { options: { volumes: true } } : {}),
    })
  })

  const exportForm = (c: Context<WebEnv>, cluster: string, snapshot: string) => (
    <>
      <h1>Export {snapshot}</h1>
      <form method="post" action={`/clusters/${cluster}/export`} class="grid">
        <input type="hidden" name="_csrf" value={c.get('session').csrf} />
        <input type="hidden" name="snapshot" value={snapshot} />
        <label for="file">File name (written to $BERTH_HOME/exports on the host)</label>
        <input id="file" name="file" required value={`${snapshot}.tar`} />
        <button type="submit">Export</button>
      </form>
    </>
  )
  app.get('/clusters/:name/export', (c) =>
    show(
      c,
      'Export',
      exportForm(c, clusterParam(c, 'export'), snapshotParam(c.req.query('snapshot')))
    )
  )
  app.post('/clusters/:name/export', async (c) => {
    const cluster = clusterParam(c, 'export')
    const snapshot = snapshotParam(field(c, 'snapshot'))
    return submit(c, { kind: 'export', cluster, snapshot, options: { file: field(c, 'file') } })
  })

  // ── schedules ──────────────────────────────────────────────────────────────
  app.post('/clusters/:name/schedules', async (c) => {
    const cluster = clusterParam(c, 'snapshot')
    const keepText = field(c, 'keep')
    await addScheduleAs(store, c.get('who'), c.get('client'), {
      name: field(c, 'name') || undefined,
      cluster,
      cron: field(c, 'cron'),
      tz: field(c, 'tz') || undefined,
      ...(keepText ? { keep: /^\d+$/.test(keepText) ? Number(keepText) : keepText } : {}),
    })
    return c.redirect(`/clusters/${cluster}`, 303)
  })

  app.post('/schedules/:name/remove', async (c) => {
    const name = c.req.param('name')
    const schedule = (await store.listSchedules()).find((s) => s.name === name)
    if (!schedule || !may(c, 'read', schedule.cluster))
      throw notFound(`no schedule named "${name.slice(0, 60)}"`)
    const denied = c.get('who').denies('snapshot', schedule.cluster)
    if (denied) throw forbidden(denied)
    await store.deleteSchedule(name)
    await store.audit({
      actor: c.get('who').actor,
      source: c.get('client'),
      action: 'schedule.rm',
      target: name,
      outcome: 'ok',
      detail: null,
    })
    return c.redirect(`/clusters/${schedule.cluster}`, 303)
  })

  // ── jobs ───────────────────────────────────────────────────────────────────
  const readableJob = async (c: Context<WebEnv>): Promise<JobRecord> => {
    const id = c.req.param('id') ?? ''
    const job = /^[\w-]{1,64}$/.test(id) ? await store.getJob(id) : null
    if (!job || !hasScope(c.get('caller'), 'read') || !may(c, 'read', job.cluster))
      throw notFound(`no job "${id.slice(0, 64)}" that you may read`)
    return job
  }

  app.get('/jobs', async (c) => {
    const caller = c.get('caller')
    if (!hasScope(caller, 'read'))
      throw forbidden(`the token "${caller.name}" lacks the "read" scope`)
    const limit = listLimit(c.req.query('limit'), 50)
    const jobs = await store.listJobs({
      clusters: caller.clusters,
      limit,
      before: c.req.query('before'),
    })
    const next = jobs.length === limit ? jobs[jobs.length - 1].createdAt : null
    return show(
      c,
      'Jobs',
      <>
        <h1>Jobs</h1>
        <JobsTable jobs={jobs.map(view)} cluster />
        {next ? <a href={`/jobs?before=${encodeURIComponent(next)}`}>Older</a> : null}
      </>
    )
  })

  app.get('/jobs/:id', async (c) => {
    const job = await readableJob(c)
    const events = await store.listEvents(job.id)
    const options = (job.spec as { options?: { plan?: boolean } }).options
    const installPlan =
      job.kind === 'install' &&
      options?.plan &&
      job.state === 'succeeded' &&
      may(c, 'install', job.cluster)
        ? { topology: job.cluster }
        : null
    return show(
      c,
      `${job.kind} ${job.cluster}`,
      <JobPage
        job={view(job)}
        phases={phasesOfJob(job)}
        source={job.source}
        events={events}
        canCancel={may(c, job.kind as Right, job.cluster)}
        installPlan={installPlan}
        csrf={c.get('session').csrf}
      />
    )
  })

  app.get('/jobs/:id/timeline', async (c) => {
    const job = await readableJob(c)
    const events = await store.listEvents(job.id)
    const end = job.finishedAt ? Date.parse(job.finishedAt) : null
    return c.html(
      await render(
        <TimelineSvg events={events.map((e) => e.event)} end={end} phases={phasesOfJob(job)} />
      )
    )
  })

  app.post('/jobs/:id/cancel', async (c) => {
    const job = await readableJob(c)
    await cancelAs(deps, c.get('who'), c.get('client'), job)
    return c.redirect(`/jobs/${job.id}`, 303)
  })

  // ── topologies ─────────────────────────────────────────────────────────────
  app.get('/topologies', async (c) => {
    const rows = (await store.listTopologies()).filter((t) => may(c, 'install', t.name))
    return show(c, 'Topologies', <TopologiesPage rows={rows} />)
  })

  app.get('/topologies/new', (c) => {
    const name = c.req.query('name') ?? ''
    if (!CLUSTER_NAME.test(name))
      throw invalid(`name: "${name.slice(0, 60)}" is not a valid cluster name`)
    return c.redirect(`/topologies/${name}`, 303)
  })

  app.get('/topologies/:name', async (c) => {
    const name = clusterParam(c, 'install')
    const stored = await store.getTopology(name)
    return show(
      c,
      `Topology ${name}`,
      <EditorPage
        name={name}
        text={stored?.text ?? STARTER(name)}
        saved={stored?.updatedAt ?? null}
        csrf={c.get('session').csrf}
      />
    )
  })

  app.post('/topologies/:name', async (c) => {
    const name = clusterParam(c, 'install')
    const text = c.get('form').text ?? ''
    const csrf = c.get('session').csrf
    const who = c.get('who')
    let saved
    try {
      saved = await storeTopology(store, { name, text, actor: who.actor, source: c.get('client') })
    } catch (err) {
      if (!(err instanceof JobError && err.code === 'invalid_request')) throw err
      const stored = await store.getTopology(name)
      return show(
        c,
        `Topology ${name}`,
        <EditorPage
          name={name}
          text={text}
          saved={stored?.updatedAt}
          csrf={csrf}
          issues={err.issues ?? [{ path: '(file)', message: err.message }]}
        />,
        422
      )
    }
    // What the install would meet: the host policy at this viewer's level.
    const admitted = policyAdmission(
      policy,
      who,
      { kind: 'install', cluster: name },
      readTopology(text).file
    )
    if ('error' in admitted) {
      const refusals = admitted.issues?.map(({ path, message, rule }) => ({
        path,
        message: `${message} (rule: ${rule})`,
      })) ?? [{ path: '(topology)', message: admitted.error.message }]
      return show(
        c,
        `Topology ${name}`,
        <EditorPage
          name={name}
          text={text}
          saved={saved.updatedAt}
          csrf={csrf}
          refusals={refusals}
          message="Saved, but its install would be refused:"
        />,
        403
      )
    }
    if (field(c, 'then') === 'plan')
      return submit(c, {
        kind: 'install',
        cluster: name,
        topologyRef: name,
        options: { plan: true },
      })
    return show(
      c,
      `Topology ${name}`,
      <EditorPage name={name} text={text} saved={saved.updatedAt} csrf={csrf} message="Saved." />
    )
  })

  // The install a plan showed: only while the stored topology is still the one planned.
  app.post('/topologies/:name/install', async (c) => {
    const name = clusterParam(c, 'install')
    const planId = field(c, 'plan')
    const plan = /^[\w-]{1,64}$/.test(planId) ? await store.getJob(planId) : null
    const spec = plan?.spec as { topology?: unknown; options?: { plan?: boolean } } | undefined
    if (!plan || plan.cluster !== name || plan.kind !== 'install' || !spec?.options?.plan)
      throw notFound(`no plan "${planId.slice(0, 64)}" of ${name}`)
    const stored = await store.getTopology(name)
    if (!stored || stored.text !== spec.topology)
      throw conflict(`the topology of ${name} changed since plan ${plan.id}: plan it again`)
    return submit(c, { kind: 'install', cluster: name, topologyRef: name })
  })

  // ── audit ──────────────────────────────────────────────────────────────────
  app.get('/audit', async (c) => {
    const caller = c.get('caller')
    if (!caller.scopes.includes('admin'))
      throw forbidden(`the audit is for admins; the token "${caller.name}" is not one`)
    const raw = c.req.query('before')
    const before = raw && /^\d{1,15}$/.test(raw) ? Number(raw) : undefined
    const rows = await store.listAudit({ limit: 100, before })
    return show(
      c,
      'Audit',
      <AuditPage rows={rows} next={rows.length === 100 ? rows[rows.length - 1].id : null} />
    )
  })

  /** The 404 of a path no route answers, for a browser (the API's stays JSON); null for others. */
  const notFoundPage = (c: Context): Promise<Response> | null => {
    const p = c.req.path
    if (
      p.startsWith('/v1/') ||
      p.startsWith('/hooks/') ||
      !(c.req.header('accept') ?? '').includes('text/html')
    )
      return null
    return page(
      c,
      { assets, path: p, viewer: null },
      'Not found',
      <ErrorBlock err={notFound(`nothing at ${p.slice(0, 200)}`)} />,
      404
    )
  }
  return { routes: app, notFoundPage }
}
