/**
 * The queue of the Worker: the same rules as JobQueue (one job at a time per cluster, in order;
 * up to `maxClusters` clusters at once) but no job outlives the request, so nothing is held in
 * memory. A job is handed to a RemoteDispatcher (SSM) and its `dispatchRef` stored; `poll()` —
 * the per-minute cron tick, and after a request that queued something — reads where each running
 * job is, stores its new events, finishes it, and starts what may start next.
 *
 * Every change of state is a guarded transition in the store, so a request and a cron tick in two
 * isolates never both start or both finish one job.
 */
import { isResultCode } from '../scripts/engine/errors.ts'
import type { ResultEvent } from '../scripts/engine/events.ts'
import { newJobId } from '../scripts/engine/labels.ts'
import { waitFor } from '../scripts/engine/retry.ts'
import { syntheticResult, type DispatchSpec, type RemoteDispatcher } from './dispatch/dispatcher.ts'
import { JobError } from './errors.ts'
import { startable } from './queue-policy.ts'
import type { InspectSpec, Listener, NotifyTarget, Queue } from './queue.ts'
import type { JobRecord, JobState, NewJob, Store } from './store/store.ts'
import { silentLogger, type Logger } from '../scripts/engine/logger.ts'

export interface EdgeQueueOptions {
  store: Store
  /** Asked for only when a job is started, polled or cancelled: it may throw (not configured). */
  dispatcher: () => RemoteDispatcher
  maxClusters: number
  log?: Logger
  /** Told when a job starts and when it ends (Slack/Jira reports). Must not throw or block. */
  onChange?: (job: JobRecord, stage: 'started' | 'finished') => void
  /** How long `inspect` (a GET answered by a job on the host) may take; a Worker has ~30 s. */
  inspectTimeoutMs?: number
  inspectEveryMs?: number
  /** A running job whose start never stored a dispatchRef (the isolate died) is failed after this. */
  startTimeoutMs?: number
  /**
   * How long a pass waits for the previous one of this isolate. workerd may never settle I/O begun
   * for a request that has ended, so a pass left hanging must not hold up every later one; running
   * two at once is safe (the store's guarded transitions decide), only wasteful.
   */
  passWaitMs?: number
}

const finalState = (r: ResultEvent): JobState =>
  r.ok ? 'succeeded' : r.code === 'cancelled' ? 'cancelled' : 'failed'

const specOf = (job: JobRecord) => ({ ...(job.spec as object), id: job.id }) as DispatchSpec

export class EdgeQueue implements Queue {
  /** Background work of this isolate (starts after a submit), for the entry's ctx.waitUntil. */
  readonly #work = new Set<Promise<void>>()
  /** One pass at a time within an isolate (as long as it ends in passWaitMs); across isolates
   *  the guarded transitions decide. */
  #pass: Promise<void> = Promise.resolve()

  constructor(private readonly o: EdgeQueueOptions) {}

  /** Where this class says what went wrong (the server's logger; nowhere by default). */
  private get log(): Logger {
    return this.o.log ?? silentLogger
  }

  async submit(job: Omit<NewJob, 'id'>, notify: NotifyTarget[] = []): Promise<JobRecord> {
    const record = await this.o.store.createJob({ id: newJobId(), ...job })
    for (const n of notify) await this.o.store.addNotification({ jobId: record.id, ...n })
    this.#background(this.startQueued())
    return record
  }

  /** Resolves once the background work started so far (and any it started) has ended. */
  async idle(): Promise<void> {
    while (this.#work.size) await Promise.allSettled([...this.#work])
  }

  /**
   * Answers a GET (status, snapshots, clusters) with a job run on the host now, followed until it
   * ends: neither queued nor stored. 504 when it takes longer than a request may wait.
   */
  async inspect(spec: InspectSpec, opts: { host?: string } = {}): Promise<ResultEvent> {
    const dispatcher = this.o.dispatcher()
    const full: DispatchSpec = { ...spec, id: newJobId() }
    let ref: string
    try {
      ;({ ref } = await dispatcher.start(full, opts))
    } catch (err) {
      // As JobQueue's dispatcher would answer: a failed result naming why it was not sent.
      const e = err as Error & { code?: unknown }
      return syntheticResult(
        full,
        Date.now(),
        isResultCode(e.code) ? e.code : 'dispatch_failed',
        `not sent to the host: ${e.message}`
      )
    }
    const every = this.o.inspectEveryMs ?? 1000
    const deadline = Date.now() + (this.o.inspectTimeoutMs ?? 25_000)
    const done = await waitFor(async () => (await dispatcher.poll(ref, full)).done, {
      deadline,
      every,
    })
    if (done) return done.result
    await dispatcher
      .cancel(ref)
      .catch((e) => this.log.warn(`inspect: not cancelled: ${e}`, { job: full.id }))
    throw new JobError(
      'host_timeout',
      `the host did not answer "${spec.kind}" within ${Math.round((this.o.inspectTimeoutMs ?? 25_000) / 1000)} s`
    )
  }

  async isBusy(cluster: string): Promise<boolean> {
    return (await this.o.store.jobsInState(['queued', 'running'])).some(
      (j) => j.cluster === cluster
    )
  }

  /**
   * Queued: cancelled at once. Running: the dispatcher is asked to stop it, and the next poll
   * records how it ended. Running but not yet handed over (no dispatchRef): cancelled now, and
   * the start under way cancels the command it sends (see `#start`).
   */
  async cancel(jobId: string): Promise<'cancelled' | 'stopping' | 'finished'> {
    const cancelled = {
      type: 'result',
      ok: false,
      code: 'cancelled',
      message: 'cancelled before it was sent to the host',
    }
    const finishedAt = new Date().toISOString()
    if (
      await this.o.store.transitionJob(jobId, ['queued'], 'cancelled', {
        finishedAt,
        result: cancelled,
      })
    ) {
      await this.#finished(jobId)
      return 'cancelled'
    }
    const job = await this.o.store.getJob(jobId)
    if (!job || job.state !== 'running') return 'finished'
    if (!job.dispatchRef) {
      if (
        await this.o.store.transitionJob(jobId, ['running'], 'cancelled', {
          finishedAt,
          result: cancelled,
        })
      ) {
        await this.#finished(jobId)
        return 'cancelled'
      }
      return 'finished'
    }
    await this.o.dispatcher().cancel(job.dispatchRef)
    return 'stopping'
  }

  /** No live feed on Workers: the SSE route reads the store again every few seconds. */
  subscribe(_jobId: string, _fn: Listener): () => void {
    return () => {}
  }

  /** The cron tick: follow every running job, then start whatever may start now. */
  poll(): Promise<void> {
    return this.#serial(async () => {
      for (const job of await this.o.store.jobsInState(['running'])) {
        try {
          await this.#follow(job)
        } catch (err) {
          // A poll that fails (throttled, network) is tried again on the next tick.
          this.log.warn(`not polled: ${(err as Error).message}`, {
            job: job.id,
            cluster: job.cluster,
          })
        }
      }
      await this.#startQueued()
    })
  }

  /** Starts the queued jobs whose cluster is free, oldest first. */
  startQueued(): Promise<void> {
    return this.#serial(() => this.#startQueued())
  }

  #serial(fn: () => Promise<void>): Promise<void> {
    const previous = this.#pass
    let timer: ReturnType<typeof setTimeout> | undefined
    const overdue = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.log.warn('queue: the previous pass has not ended; this one goes ahead')
        resolve()
      }, this.o.passWaitMs ?? 20_000)
    })
    const run = Promise.race([previous, overdue])
      .finally(() => clearTimeout(timer))
      .then(fn)
    this.#pass = run.catch((e) => this.log.error(`queue: ${e}`))
    return run
  }

  #background(p: Promise<void>): void {
    const tracked = p.catch((e) => this.log.error(`queue: ${e}`))
    this.#work.add(tracked)
    void tracked.finally(() => this.#work.delete(tracked))
  }

  async #startQueued(): Promise<void> {
    const running = await this.o.store.jobsInState(['running'])
    const limits = { maxClusters: this.o.maxClusters, maxReads: this.o.maxClusters }
    for (const job of startable(await this.o.store.jobsInState(['queued']), running, limits)) {
      const startedAt = new Date().toISOString()
      const attempts = job.attempts + 1
      // Claimed only while no changing job of its cluster runs, whichever isolate claims first.
      if (!(await this.o.store.claimJob(job.id, { startedAt, attempts }))) continue
      await this.#start({ ...job, state: 'running', startedAt, attempts })
    }
  }

  async #start(job: JobRecord): Promise<void> {
    let ref: string
    try {
      ref = (await this.o.dispatcher().start(specOf(job))).ref
    } catch (err) {
      const e = err as Error & { code?: unknown }
      const code = typeof e.code === 'string' ? e.code : 'dispatch_failed'
      const result = {
        type: 'result',
        ok: false,
        code,
        message: `not sent to the host: ${e.message}`,
      }
      if (
        await this.o.store.transitionJob(job.id, ['running'], 'failed', {
          finishedAt: new Date().toISOString(),
          result,
          exitCode: null,
        })
      ) {
        await this.#finished(job.id)
      }
      return
    }
    if (!(await this.o.store.transitionJob(job.id, ['running'], 'running', { dispatchRef: ref }))) {
      // Cancelled while it was being sent: the command is out there now, so stop it.
      await this.o
        .dispatcher()
        .cancel(ref)
        .catch((e) => this.log.warn(`not cancelled: ${e}`, { job: job.id, cluster: job.cluster }))
      return
    }
    this.#changed({ ...job, dispatchRef: ref }, 'started')
  }

  async #follow(job: JobRecord): Promise<void> {
    if (!job.dispatchRef) {
      // Its start is under way in another invocation, or that invocation died before storing
      // the ref: after startTimeoutMs the cluster is freed rather than blocked for ever.
      const age = Date.now() - Date.parse(job.startedAt ?? '')
      if (!(age > (this.o.startTimeoutMs ?? 120_000))) return
      const result = {
        type: 'result',
        ok: false,
        code: 'dispatch_lost',
        message: 'the job was never handed to the host (its start did not finish)',
      }
      if (
        await this.o.store.transitionJob(job.id, ['running'], 'failed', {
          finishedAt: new Date().toISOString(),
          result,
          exitCode: null,
        })
      ) {
        await this.#finished(job.id)
      }
      return
    }
    const { events, done } = await this.o.dispatcher().poll(job.dispatchRef, specOf(job))
    // The dispatcher returns every event so far, so an event's place is its seq: a second poller
    // storing the same events finds them there and adds nothing.
    const stored = (await this.o.store.listEvents(job.id)).length
    for (let i = stored; i < events.length; i++)
      await this.o.store.putEvent(job.id, i + 1, events[i])
    if (!done) return
    const patch = {
      finishedAt: new Date().toISOString(),
      result: done.result,
      exitCode: done.exitCode,
    }
    if (await this.o.store.transitionJob(job.id, ['running'], finalState(done.result), patch))
      await this.#finished(job.id)
  }

  async #finished(jobId: string): Promise<void> {
    const done = await this.o.store.getJob(jobId)
    if (done) this.#changed(done, 'finished')
  }

  #changed(job: JobRecord, stage: 'started' | 'finished'): void {
    try {
      this.o.onChange?.(job, stage)
    } catch (e) {
      this.log.warn(`${stage} not reported: ${String(e)}`, { job: job.id, cluster: job.cluster })
    }
  }
}
