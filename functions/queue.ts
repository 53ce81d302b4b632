/**
 * The job queue: what may start when is queue-policy.ts's (one changing job at a time per cluster,
 * in order, up to `maxClusters` clusters at once; reads beside them).
 * The store is the queue (state `queued`, oldest first), so a restart loses nothing: jobs that
 * were running when the server died are queued again and re-run (install converges).
 * Events are stored as they arrive, in order, and fanned out to live listeners (SSE).
 */
import type { JobEvent, ResultEvent } from '../scripts/engine/events.ts'
import { newJobId } from '../scripts/engine/labels.ts'
import { sleep } from '../scripts/engine/retry.ts'
import type { Dispatcher, DispatchSpec } from './dispatch/dispatcher.ts'
import { JobError } from './errors.ts'
import { startable } from './queue-policy.ts'
import type { JobEventRecord, JobRecord, JobState, NewJob, Store } from './store/store.ts'
import type { Channel } from './channels.ts'
import { silentLogger, type Logger } from '../scripts/engine/logger.ts'

export interface NotifyTarget {
  channel: Channel
  /** Slack: { responseUrl, … }; Jira: { issueKey }. */
  target: Record<string, string>
}

export type Listener = (e: JobEventRecord | { end: JobRecord }) => void

/** A read answered by the host now (the GET routes): neither queued nor stored. */
export type InspectSpec =
  | { kind: 'status' | 'snapshots' | 'clusters'; cluster?: string }
  | { kind: 'log'; options: { job: string; offset: number } }

export interface QueueOptions {
  store: Store
  dispatcher: Dispatcher
  maxClusters: number
  /** Read-only jobs (status, snapshots) running at once; default maxClusters. */
  maxReads?: number
  log?: Logger
  /** Told when a job starts and when it ends (Slack/Jira reports). Must not throw or block. */
  onChange?: (job: JobRecord, stage: 'started' | 'finished') => void
}

/**
 * What the HTTP app needs of a queue. On Node, JobQueue runs jobs as processes and fans their
 * events out live; on Workers a queue of its own sends them to the Docker hosts and polls.
 */
export interface Queue {
  submit(job: Omit<NewJob, 'id'>, notify?: NotifyTarget[]): Promise<JobRecord>
  /** `host`: the one host of a target of many to ask (the log of a job is where it ran). */
  inspect(spec: InspectSpec, opts?: { host?: string }): Promise<ResultEvent>
  isBusy(cluster: string): Promise<boolean>
  cancel(jobId: string): Promise<'cancelled' | 'stopping' | 'finished'>
  /** Live events of a job, where the runtime has them; a no-op elsewhere (readers poll the store). */
  subscribe(jobId: string, fn: Listener): () => void
}

export class JobQueue implements Queue {
  /** job id → the running job and how to stop it. */
  private readonly running = new Map<string, { job: JobRecord; abort: AbortController }>()
  private readonly listeners = new Map<string, Set<Listener>>()
  private pumping: Promise<void> = Promise.resolve()
  private accepting = true

  constructor(private readonly o: QueueOptions) {}

  /** Where this class says what went wrong (the server's logger; nowhere by default). */
  private get log(): Logger {
    return this.o.log ?? silentLogger
  }

  /**
   * Records a job (queued) and starts it when its cluster is free. 503 while draining. Where to
   * report it (Slack, Jira) is recorded before it can start, so "started" always finds it.
   */
  async submit(job: Omit<NewJob, 'id'>, notify: NotifyTarget[] = []): Promise<JobRecord> {
    if (!this.accepting)
      throw new JobError('draining', 'the server is shutting down; submit again in a moment')
    const record = await this.o.store.createJob({ id: newJobId(), ...job })
    for (const n of notify) await this.o.store.addNotification({ jobId: record.id, ...n })
    this.kick()
    return record
  }

  /**
   * Runs a read-only job (status, snapshots, clusters) now, beside whatever the cluster is doing:
   * it is an answer to a GET, not a job anyone follows, so it is neither queued nor stored.
   */
  async inspect(spec: InspectSpec, opts: { host?: string } = {}): Promise<ResultEvent> {
    const { result } = await this.o.dispatcher.run(
      { ...spec, id: newJobId() },
      { onEvent: () => {}, host: opts.host }
    )
    return result
  }

  /** A cluster is busy while one of its jobs runs or waits. */
  async isBusy(cluster: string): Promise<boolean> {
    if ([...this.running.values()].some((r) => r.job.cluster === cluster)) return true
    return (await this.o.store.jobsInState(['queued'])).some((j) => j.cluster === cluster)
  }

  /** Starts whatever can start now. Serialised: two pumps never start the same job. */
  kick(): void {
    this.pumping = this.pumping.then(() => this.pump()).catch((e) => this.log.error(`queue: ${e}`))
  }

  private async pump(): Promise<void> {
    if (!this.accepting) return
    const running = [...this.running.values()].map((r) => r.job)
    const limits = {
      maxClusters: this.o.maxClusters,
      maxReads: this.o.maxReads ?? this.o.maxClusters,
    }
    for (const job of startable(await this.o.store.jobsInState(['queued']), running, limits)) {
      const started = await this.o.store.transitionJob(job.id, ['queued'], 'running', {
        startedAt: new Date().toISOString(),
        attempts: job.attempts + 1,
      })
      if (started) {
        this.start(job)
        this.changed({ ...job, state: 'running', attempts: job.attempts + 1 }, 'started')
      }
    }
  }

  private start(job: JobRecord): void {
    const abort = new AbortController()
    this.running.set(job.id, { job, abort })
    // Events are appended one after another, so their order is the dispatcher's.
    let chain: Promise<unknown> = Promise.resolve()
    const onEvent = (event: JobEvent) => {
      chain = chain
        .then(() => this.o.store.appendEvent(job.id, event))
        .then((rec) => this.emit(job.id, rec))
        .catch((e) =>
          this.log.warn(`event not stored: ${e}`, { job: job.id, cluster: job.cluster })
        )
    }
    const spec = { ...(job.spec as object), id: job.id } as DispatchSpec
    void this.o.dispatcher
      .run(spec, { onEvent, signal: abort.signal })
      .then(async ({ result, exitCode }) => {
        await chain
        const state: JobState = result.ok
          ? 'succeeded'
          : result.code === 'cancelled'
            ? 'cancelled'
            : 'failed'
        await this.finish(job, state, { result, exitCode })
      })
      .catch(async (err) => {
        await chain
        const result = { type: 'result', ok: false, code: 'dispatch_failed', message: String(err) }
        await this.finish(job, 'failed', { result, exitCode: null })
      })
  }

  private async finish(
    job: JobRecord,
    state: JobState,
    patch: { result: unknown; exitCode: number | null }
  ) {
    // The cluster is free once its job has ended: no longer busy when the state says finished.
    this.running.delete(job.id)
    await this.o.store.transitionJob(job.id, ['running'], state, {
      finishedAt: new Date().toISOString(),
      ...patch,
    })
    const done = await this.o.store.getJob(job.id)
    if (done) {
      this.emit(job.id, { end: done })
      if (done.state === state) this.changed(done, 'finished')
    }
    this.listeners.delete(job.id)
    this.kick()
  }

  /** Cancels a queued job at once, or asks a running one to stop at its next safe point. */
  async cancel(jobId: string): Promise<'cancelled' | 'stopping' | 'finished'> {
    if (
      await this.o.store.transitionJob(jobId, ['queued'], 'cancelled', {
        finishedAt: new Date().toISOString(),
      })
    ) {
      const done = await this.o.store.getJob(jobId)
      if (done) {
        this.emit(jobId, { end: done })
        this.changed(done, 'finished')
      }
      return 'cancelled'
    }
    const r = this.running.get(jobId)
    if (!r) return 'finished'
    r.abort.abort()
    return 'stopping'
  }

  subscribe(jobId: string, fn: Listener): () => void {
    let set = this.listeners.get(jobId)
    if (!set) this.listeners.set(jobId, (set = new Set()))
    set.add(fn)
    return () => set.delete(fn)
  }

  private changed(job: JobRecord, stage: 'started' | 'finished'): void {
    try {
      this.o.onChange?.(job, stage)
    } catch (e) {
      this.log.warn(`${stage} not reported: ${String(e)}`, { job: job.id, cluster: job.cluster })
    }
  }

  private emit(jobId: string, e: JobEventRecord | { end: JobRecord }): void {
    for (const fn of this.listeners.get(jobId) ?? []) fn(e)
  }

  /**
   * After a restart: jobs that were running (or interrupted by a drain) are queued again, so
   * they are resumed, never silently lost and never run twice at once.
   */
  async resume(): Promise<number> {
    const stale = await this.o.store.jobsInState(['running', 'interrupted'])
    for (const j of stale)
      await this.o.store.transitionJob(j.id, ['running', 'interrupted'], 'queued')
    this.kick()
    return stale.length
  }

  /**
   * SIGTERM: accept nothing new, let running jobs finish within `graceMs`, then stop them and
   * mark them interrupted so the next start resumes them.
   */
  async drain(graceMs: number): Promise<void> {
    this.accepting = false
    const deadline = Date.now() + graceMs
    while (this.running.size && Date.now() < deadline) await sleep(100)
    for (const [id, r] of this.running) {
      await this.o.store.transitionJob(id, ['running'], 'interrupted')
      r.abort.abort()
      this.running.delete(id)
    }
  }
}
