/**
 * /v1/jobs: submit, list, read, follow (Server-Sent Events, replay from Last-Event-ID), cancel,
 * and the full log from the host that ran the job.
 */
import { Hono } from 'hono'
import { streamSSE } from 'hono/streaming'
import { z } from 'zod'
import { clusterName, EXPORT_FILE, JobOptions } from '../../scripts/engine/job-spec.ts'
import { SNAPSHOT_ID } from '../../scripts/engine/labels.ts'
import { readLogVia } from '../dispatch/dispatcher.ts'
import { conflict, fromHost, invalid, notFound } from '../errors.ts'
import { hashToken, requireScope, type Caller, type Scope } from '../middleware/auth.ts'
import type { Queue } from '../queue.ts'
import type { JobRecord, JobState, Store } from '../store/store.ts'
import { submitJob } from '../submit.ts'

/** Which scope each job kind needs (restore and destroy have their own). */
export const KIND_SCOPE: Record<string, Scope> = {
  install: 'install',
  start: 'install',
  stop: 'install',
  rewire: 'install',
  upgrade: 'install',
  status: 'read',
  snapshots: 'read',
  snapshot: 'snapshot',
  export: 'snapshot',
  restore: 'restore',
  destroy: 'restore',
  'snapshot-rm': 'restore',
}

/** Over HTTP an export goes to $BERTH_HOME/exports on the host, never to a path the caller picks. */
const HttpJobOptions = JobOptions.extend({
  file: z.string().regex(EXPORT_FILE, 'must be a bare file name like backup.tar (written to $BERTH_HOME/exports on the host)').optional(),
})

export const JobRequest = z.strictObject({
  kind: z.enum(Object.keys(KIND_SCOPE) as [string, ...string[]]),
  cluster: clusterName,
  topology: z
    .union([z.string(), z.record(z.string(), z.unknown())])
    .optional()
    .describe('the topology, as YAML/JSON text or an object; required for install unless topologyRef names a stored one'),
  topologyRef: clusterName.optional().describe('the name of a topology stored with PUT /v1/topologies/{name}'),
  snapshot: z.string().regex(SNAPSHOT_ID, 'is not a valid snapshot id').optional(),
  options: HttpJobOptions.optional(),
})

function issuesMessage(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')
}

export function jobRoutes(deps: { store: Store; queue: Queue }) {
  const { store, queue } = deps
  const app = new Hono<{ Variables: { caller: Caller } }>()

  app.post('/', async (c) => {
    const caller = c.get('caller')
    const raw = await c.req.text()
    let body: unknown
    try {
      body = JSON.parse(raw)
    } catch {
      throw invalid('the body is not JSON')
    }
    const parsed = JobRequest.safeParse(body)
    if (!parsed.success) throw invalid(issuesMessage(parsed.error))
    const req = parsed.data
    requireScope(caller, KIND_SCOPE[req.kind])

    const { job } = await submitJob(deps, req, {
      actor: caller.name,
      source: c.req.header('x-forwarded-for') ?? null,
      idempotencyKey: c.req.header('idempotency-key') ?? null,
      bodyHash: await hashToken(raw),
      noWait: c.req.query('queue') === 'false',
    })
    return c.json({ ok: true, job: view(job) }, 202)
  })

  app.get('/', async (c) => {
    requireScope(c.get('caller'), 'read')
    const limit = Math.min(Number(c.req.query('limit') ?? 50) || 50, 500)
    const jobs = await store.listJobs({
      cluster: c.req.query('cluster'),
      state: c.req.query('state') as JobState | undefined,
      limit,
      before: c.req.query('before'),
    })
    const next = jobs.length === limit ? jobs[jobs.length - 1].createdAt : null
    return c.json({ ok: true, jobs: jobs.map(view), next })
  })

  app.get('/:id', async (c) => {
    requireScope(c.get('caller'), 'read')
    const job = await find(store, c.req.param('id'))
    // How reporting back to Slack or Jira went, when the job came from there.
    const notifications = (await store.notificationsFor(job.id)).map(({ channel, sent, attempts, lastError }) => ({ channel, sent, attempts, lastError }))
    return c.json({ ok: true, job: { ...view(job), ...(notifications.length ? { notifications } : {}) } })
  })

  app.post('/:id/cancel', async (c) => {
    const caller = c.get('caller')
    const job = await find(store, c.req.param('id'))
    requireScope(caller, KIND_SCOPE[job.kind] ?? 'admin')
    const outcome = await queue.cancel(job.id)
    await store.audit({ actor: caller.name, source: null, action: 'job.cancel', target: job.id, outcome, detail: null })
    return c.json({ ok: true, outcome }, outcome === 'finished' ? 409 : 202)
  })

  // The whole log ($BERTH_HOME/jobs/<job>.log on the host): every line, where the stored events
  // of an SSM-dispatched job are the compact ones. Read in chunks for as long as LOG_READ_MS
  // allows; `next` says where to go on from when it did not reach the end.
  app.get('/:id/log', async (c) => {
    requireScope(c.get('caller'), 'read')
    const job = await find(store, c.req.param('id'))
    if (job.state === 'queued') throw conflict(`job ${job.id} has not started: it has no log yet`)
    const offset = c.req.query('offset') ?? '0'
    if (!/^\d{1,15}$/.test(offset)) throw invalid(`offset: "${offset}" is not a byte offset (a whole number ≥ 0)`)
    const host = logHost(job, c.req.query('host'))
    const read = async (at: number) => fromHost(await queue.inspect({ kind: 'log', options: { job: job.id, offset: at } }, { host }))
    const { text, next } = await readLogVia(read, Number(offset), Date.now() + LOG_READ_MS)
    return c.json({ ok: true, job: job.id, ...(host ? { host } : {}), text, next })
  })

  app.get('/:id/events', async (c) => {
    requireScope(c.get('caller'), 'read')
    const job = await find(store, c.req.param('id'))
    const after = Number(c.req.header('last-event-id') ?? 0) || 0
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
            // Until the next live event, or RECHECK_MS at most; the timer goes with the wait.
            await new Promise<void>((resolve) => {
              const timer = setTimeout(() => wake?.(), RECHECK_MS)
              wake = () => {
                wake = undefined
                clearTimeout(timer)
                resolve()
              }
            })
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
          if (current && !isFinal(current.state)) for (const e of await store.listEvents(job.id, last)) await send(e.seq, e.event)
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

const isFinal = (s: JobState) => s === 'succeeded' || s === 'failed' || s === 'cancelled'

/** How often a followed job is read again from the store while its stream waits for live events. */
const RECHECK_MS = 5000

const LOG_READ_MS = 15_000

/**
 * The host to read a job's log from: the one asked for, or the only one it ran on. A job fanned
 * out to several hosts (`result.data.hosts`) has a log on each, so one must be named.
 */
function logHost(job: JobRecord, asked: string | undefined): string | undefined {
  const data = (job.result as { data?: { hosts?: { host?: unknown }[] } } | null)?.data
  const ran = (Array.isArray(data?.hosts) ? data.hosts : []).map((h) => h.host).filter((h): h is string => typeof h === 'string')
  if (asked !== undefined) {
    if (!/^[\w.-]{1,64}$/.test(asked)) throw invalid(`host: "${asked}" is not a host name`)
    if (ran.length && !ran.includes(asked)) throw invalid(`host: job ${job.id} did not run on ${asked} (it ran on ${ran.join(', ')})`)
    return asked
  }
  if (ran.length > 1) throw invalid(`host: job ${job.id} ran on ${ran.length} hosts (${ran.join(', ')}); name one with ?host=`)
  return ran[0]
}

async function find(store: Store, id: string): Promise<JobRecord> {
  const job = await store.getJob(id)
  if (!job) throw notFound(`no job "${id}"`)
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
