/**
 * /v1/jobs: submit, list, read, follow (Server-Sent Events, replay from Last-Event-ID), cancel,
 * and the full log from the host that ran the job.
 */
import { Hono, type Context } from 'hono'
import { streamSSE } from 'hono/streaming'
import { readLogVia } from '../dispatch/dispatcher.ts'
import { conflict, forbidden, fromHost, invalid, notFound } from '../errors.ts'
import { JobRequest } from '../job-request.ts'
import { requireScope, type AuthEnv } from '../middleware/auth.ts'
import { sha256Hex } from '../sha256.ts'
import type { Principal } from '../principal.ts'
import type { JobRecord, JobState, Store } from '../store/store.ts'
import { submitJob, type SubmitDeps } from '../submit.ts'
import { listLimit } from './paging.ts'
import { issueLines, zodIssues } from '../../scripts/engine/zod-issues.ts'

const STATES: readonly JobState[] = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'interrupted',
]

export function jobRoutes(deps: SubmitDeps) {
  const { store, queue } = deps
  const app = new Hono<AuthEnv>()

  app.post('/', async (c) => {
    const raw = await c.req.text()
    let body: unknown
    try {
      body = JSON.parse(raw)
    } catch {
      throw invalid('the body is not JSON')
    }
    const parsed = JobRequest.safeParse(body)
    if (!parsed.success) {
      const issues = zodIssues(parsed.error, '(body)')
      throw invalid(issueLines(issues, '; '), issues)
    }
    const { job } = await submitJob(deps, parsed.data, {
      who: c.get('who'),
      source: c.get('client'),
      idempotencyKey: c.req.header('idempotency-key') ?? null,
      bodyHash: await sha256Hex(raw),
      noWait: c.req.query('queue') === 'false',
    })
    return c.json({ ok: true, job: view(job) }, 202)
  })

  // Only the jobs of the clusters the token may read.
  app.get('/', async (c) => {
    const caller = c.get('caller')
    requireScope(caller, 'read')
    const limit = listLimit(c.req.query('limit'), 50)
    const state = c.req.query('state')
    if (state !== undefined && !STATES.includes(state as JobState))
      throw invalid(`state: "${state.slice(0, 40)}" is not one of ${STATES.join(', ')}`)
    const jobs = await store.listJobs({
      cluster: c.req.query('cluster'),
      clusters: caller.clusters,
      state: state as JobState | undefined,
      limit,
      before: c.req.query('before'),
    })
    const next = jobs.length === limit ? jobs[jobs.length - 1].createdAt : null
    return c.json({ ok: true, jobs: jobs.map(view), next })
  })

  app.get('/:id', async (c) => {
    const job = await readable(store, c)
    // How reporting back to Slack or Jira went, when the job came from there.
    const notifications = (await store.notificationsFor(job.id)).map(
      ({ channel, sent, attempts, lastError }) => ({ channel, sent, attempts, lastError })
    )
    return c.json({
      ok: true,
      job: { ...view(job), ...(notifications.length ? { notifications } : {}) },
    })
  })

  app.post('/:id/cancel', async (c) => {
    const job = await readable(store, c)
    const outcome = await cancelAs(deps, c.get('who'), c.get('client'), job)
    return c.json({ ok: true, outcome }, outcome === 'finished' ? 409 : 202)
  })

  // The whole log ($BERTH_HOME/jobs/<job>.log on the host): every line, where the stored events
  // of an SSM-dispatched job are the compact ones. Read in chunks for as long as LOG_READ_MS
  // allows; `next` says where to go on from when it did not reach the end.
  app.get('/:id/log', async (c) => {
    const job = await readable(store, c)
    if (job.state === 'queued') throw conflict(`job ${job.id} has not started: it has no log yet`)
    const offset = c.req.query('offset') ?? '0'
    if (!/^\d{1,15}$/.test(offset))
      throw invalid(`offset: "${offset}" is not a byte offset (a whole number ≥ 0)`)
    const host = logHost(job, c.req.query('host'))
    const read = async (at: number) =>
      fromHost(await queue.inspect({ kind: 'log', options: { job: job.id, offset: at } }, { host }))
    const { text, next } = await readLogVia(read, Number(offset), Date.now() + LOG_READ_MS)
    return c.json({ ok: true, job: job.id, ...(host ? { host } : {}), text, next })
  })

  app.get('/:id/events', async (c) => {
    const job = await readable(store, c)
    const tokenId = c.get('caller').tokenId
    // A reconnecting EventSource says where it got to; the dashboard's first connection starts
    // after the events its page already shows (?after=).
    const after = Number(c.req.header('last-event-id') ?? c.req.query('after') ?? 0) || 0
    return streamSSE(c, async (stream) => {
      let last = after
      const send = async (seq: number, event: unknown) => {
        await stream.writeSSE({ id: String(seq), event: 'job', data: JSON.stringify(event) })
        last = seq
      }
      const live: ({ seq: number; event: unknown } | { end: JobRecord })[] = []
      let wake: (() => void) | undefined
      // Subscribe before replaying, so nothing falls between the replay and the live feed.
      const off = queue.subscribe(job.id, (e) => {
        live.push('end' in e ? e : { seq: e.seq, event: e.event })
        wake?.()
      })
      stream.onAbort(() => {
        off()
        wake?.()
      })
      try {
        for (const e of await store.listEvents(job.id, after)) await send(e.seq, e.event)
        let current = await store.getJob(job.id)
        let checkedAt = Date.now()
        while (current && !isFinal(current.state) && !stream.aborted) {
          if (!live.length) {
            // Until the next live event, or a second at most; the timer goes with the wait.
            await new Promise<void>((resolve) => {
              const timer = setTimeout(() => wake?.(), GRANT_CHECK_MS)
              wake = () => {
                wake = undefined
                clearTimeout(timer)
                resolve()
              }
            })
          }
          // A token revoked while it follows a job: the stream ends within a second.
          const token = await store.getToken(tokenId)
          if (!token || token.revokedAt) {
            await stream.writeSSE({
              event: 'revoked',
              data: JSON.stringify({
                ok: false,
                error: { code: 'unauthorized', message: 'the token was revoked' },
              }),
            })
            return
          }
          for (const e of live.splice(0)) {
            if ('end' in e) current = e.end
            else if (e.seq > last) await send(e.seq, e.event)
          }
          // The live feed says when the job ends; the store is read again only now and then, in
          // case that word never comes (the job ended before the subscription, or elsewhere), and
          // for events stored where there is no live feed (Workers: the poller stores them).
          if (isFinal(current.state) || Date.now() - checkedAt < RECHECK_MS) continue
          current = await store.getJob(job.id)
          checkedAt = Date.now()
          if (current && !isFinal(current.state))
            for (const e of await store.listEvents(job.id, last)) await send(e.seq, e.event)
        }
        if (stream.aborted) return
        // Anything stored after the last live event (a race with the end) is sent before `end`.
        for (const e of await store.listEvents(job.id, last)) await send(e.seq, e.event)
        await stream.writeSSE({ event: 'end', data: JSON.stringify(view(current ?? job)) })
      } finally {
        off()
      }
    })
  })

  return app
}

/**
 * Cancels a job for `who`, as POST /v1/jobs/:id/cancel and the dashboard do it: with the right the
 * job's kind needs on its cluster (403), audited with its outcome.
 */
export async function cancelAs(
  deps: Pick<SubmitDeps, 'store' | 'queue'>,
  who: Principal,
  source: string | null,
  job: JobRecord
): Promise<Awaited<ReturnType<SubmitDeps['queue']['cancel']>>> {
  const denied = who.denies(job.kind as Parameters<Principal['denies']>[0], job.cluster)
  if (denied) throw forbidden(denied)
  const outcome = await deps.queue.cancel(job.id)
  await deps.store.audit({
    actor: who.actor,
    source,
    action: 'job.cancel',
    target: job.id,
    outcome,
    detail: null,
  })
  return outcome
}

const isFinal = (s: JobState) => s === 'succeeded' || s === 'failed' || s === 'cancelled'

/** How often a followed job is read again from the store while its stream waits for live events. */
const RECHECK_MS = 5000
/** How often a stream checks that its token still stands. */
const GRANT_CHECK_MS = 1000

const LOG_READ_MS = 15_000

/**
 * The host to read a job's log from: the one asked for, or the only one it ran on. A job fanned
 * out to several hosts (`result.data.hosts`) has a log on each, so one must be named.
 */
function logHost(job: JobRecord, asked: string | undefined): string | undefined {
  const data = (job.result as { data?: { hosts?: { host?: unknown }[] } } | null)?.data
  const ran = (Array.isArray(data?.hosts) ? data.hosts : [])
    .map((h) => h.host)
    .filter((h): h is string => typeof h === 'string')
  if (asked !== undefined) {
    if (!/^[\w.-]{1,64}$/.test(asked)) throw invalid(`host: "${asked}" is not a host name`)
    if (ran.length && !ran.includes(asked))
      throw invalid(`host: job ${job.id} did not run on ${asked} (it ran on ${ran.join(', ')})`)
    return asked
  }
  if (ran.length > 1)
    throw invalid(
      `host: job ${job.id} ran on ${ran.length} hosts (${ran.join(', ')}); name one with ?host=`
    )
  return ran[0]
}

/**
 * The job of the route's `:id`. Without the read scope, 403; a job of a cluster the token may not
 * read is as if there were none (404): its id says nothing of other teams' clusters.
 */
async function readable(store: Store, c: Context<AuthEnv>): Promise<JobRecord> {
  requireScope(c.get('caller'), 'read')
  const id = c.req.param('id') as string
  const job = await store.getJob(id)
  if (!job || c.get('who').denies('read', job.cluster)) throw notFound(`no job "${id}"`)
  return job
}

/** A job as the API shows it (the spec without its topology text, which can be large). */
export function view(j: JobRecord) {
  const { topology: _t, ...spec } = (j.spec ?? {}) as Record<string, unknown>
  void _t
  return {
    id: j.id,
    kind: j.kind,
    cluster: j.cluster,
    state: j.state,
    spec,
    createdAt: j.createdAt,
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
    requestedBy: j.requestedBy,
    result: j.result,
    exitCode: j.exitCode,
    attempts: j.attempts,
  }
}
