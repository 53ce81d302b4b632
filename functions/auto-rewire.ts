/**
 * Auto-rewire: `berth watch` runs on the Docker host (through the dispatcher's transport, so
 * locally or over ssh) and reports each node of a dynamic-mode cluster that Docker started
 * outside berth. Docker has then rebuilt that node's /etc/hosts — berth's block is gone, and
 * its IP may be new, so its peers are stale too. Reports for one cluster within `settleMs` are
 * taken together, and one `rewire` job is queued (unless one is already waiting), recorded
 * and audited like any other job, requested by "auto-rewire".
 * If the watch ends (the daemon restarted, the ssh link broke) it is started again, backing off.
 */
import { sleep } from '../scripts/engine/retry.ts'
import type { JobQueue } from './queue.ts'
import type { Store } from './store/store.ts'
import { silentLogger, type Logger } from '../scripts/engine/logger.ts'

export interface WatchSource {
  watch(onLine: (value: unknown) => void, signal: AbortSignal): Promise<number | null>
}

interface NodeStarted {
  type: 'node-started'
  cluster: string
  node: string
}

const isNodeStarted = (v: unknown): v is NodeStarted =>
  typeof v === 'object' &&
  v !== null &&
  (v as NodeStarted).type === 'node-started' &&
  typeof (v as NodeStarted).cluster === 'string'

export class AutoRewire {
  private readonly abort = new AbortController()
  private readonly pending = new Map<string, { timer: NodeJS.Timeout; nodes: Set<string> }>()
  private loop: Promise<void> = Promise.resolve()

  /** Where this class says what went wrong (the server's logger; nowhere by default). */
  private get log(): Logger {
    return this.o.log ?? silentLogger
  }

  constructor(
    private readonly o: {
      source: WatchSource
      store: Store
      queue: JobQueue
      settleMs?: number
      log?: Logger
    }
  ) {}

  start(): void {
    this.loop = this.run()
  }

  async stop(): Promise<void> {
    this.abort.abort()
    for (const p of this.pending.values()) clearTimeout(p.timer)
    this.pending.clear()
    await this.loop
  }

  private async run(): Promise<void> {
    let backoff = 1000
    while (!this.abort.signal.aborted) {
      const t0 = Date.now()
      const code = await this.o.source
        .watch((v) => isNodeStarted(v) && this.seen(v), this.abort.signal)
        .catch((e) => (this.log.warn(`auto-rewire: watch failed: ${e}`), null))
      if (this.abort.signal.aborted) return
      if (Date.now() - t0 > 30_000) backoff = 1000
      this.log.warn(`auto-rewire: the watch ended (exit ${code}); again in ${backoff / 1000} s`)
      await sleep(backoff, this.abort.signal)
      backoff = Math.min(backoff * 2, 30_000)
    }
  }

  private seen(e: NodeStarted): void {
    const p = this.pending.get(e.cluster)
    if (p) {
      p.nodes.add(e.node)
      return
    }
    const nodes = new Set([e.node])
    const timer = setTimeout(() => {
      this.pending.delete(e.cluster)
      this.queue(e.cluster, [...nodes]).catch((err) =>
        this.log.warn(`auto-rewire: ${err}`, { cluster: e.cluster })
      )
    }, this.o.settleMs ?? 500)
    this.pending.set(e.cluster, { timer, nodes })
  }

  private async queue(cluster: string, nodes: string[]): Promise<void> {
    const { store, queue } = this.o
    const waiting = (await store.jobsInState(['queued'])).some(
      (j) => j.cluster === cluster && j.kind === 'rewire'
    )
    if (waiting) return
    const spec = { kind: 'rewire', cluster }
    const job = await queue.submit({
      kind: 'rewire',
      cluster,
      spec,
      requestedBy: 'auto-rewire',
      source: 'docker events',
      idempotencyKey: null,
      bodyHash: null,
    })
    await store.audit({
      actor: 'auto-rewire',
      source: 'docker events',
      action: 'job.rewire',
      target: cluster,
      outcome: 'accepted',
      detail: { job: job.id, started: nodes },
    })
    this.log.info(`auto-rewire: ${nodes.join(', ')} started outside berth`, {
      job: job.id,
      cluster,
    })
  }
}
