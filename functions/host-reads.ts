/**
 * The GET routes (and Slack's `status`) read the Docker host through a job run there now. However
 * many ask at once, the host runs few: the same read in flight is shared (40 concurrent
 * `GET /v1/clusters` → one `berth job run`), an answer is reused for `ttlMs`, and at most
 * `concurrency` different reads run at once (the rest wait their turn). A log read is shared while
 * in flight but never reused: a running job's log grows. When a job submitted here ends, nothing
 * read before is reused: the next page after a snapshot lists it.
 * Runtime-neutral.
 */
import type { ResultEvent } from '../scripts/engine/events.ts'
import type { InspectSpec, Queue } from './queue.ts'

export interface HostReadLimits {
  ttlMs: number
  concurrency: number
}

export const DEFAULT_HOST_READS: HostReadLimits = { ttlMs: 2000, concurrency: 4 }

/** The queue, with its reads shared, reused and bounded. */
export function withSharedReads(
  queue: Queue,
  limits: HostReadLimits,
  now: () => number = Date.now
): Queue {
  const inFlight = new Map<string, Promise<ResultEvent>>()
  const answered = new Map<string, { at: number; result: ResultEvent }>()
  // A job's end may change what the host answers (a snapshot listed, a node gone): the answers
  // kept, and any read begun before it, are not reused after.
  let generation = 0
  const forget = () => {
    generation++
    answered.clear()
  }
  let running = 0
  const waiting: (() => void)[] = []
  const slot = async () => {
    while (running >= limits.concurrency) await new Promise<void>((r) => waiting.push(r))
    running++
  }
  const release = () => {
    running--
    waiting.shift()?.()
  }

  const inspect = (spec: InspectSpec, opts: { host?: string } = {}): Promise<ResultEvent> => {
    const key = JSON.stringify([spec, opts.host ?? null])
    const hit = answered.get(key)
    if (hit && now() - hit.at < limits.ttlMs) return Promise.resolve(hit.result)
    const shared = inFlight.get(key)
    if (shared) return shared
    const read = (async () => {
      await slot()
      const began = generation
      try {
        const result = await queue.inspect(spec, opts)
        if (spec.kind !== 'log' && limits.ttlMs > 0 && began === generation) {
          if (answered.size > 1000) answered.clear()
          answered.set(key, { at: now(), result })
        }
        return result
      } finally {
        release()
        inFlight.delete(key)
      }
    })()
    inFlight.set(key, read)
    return read
  }

  return {
    submit: async (job, notify) => {
      const made = await queue.submit(job, notify)
      const off = queue.subscribe(made.id, (e) => {
        if (!('end' in e)) return
        forget()
        off()
      })
      return made
    },
    inspect,
    isBusy: (cluster) => queue.isBusy(cluster),
    cancel: (jobId) => queue.cancel(jobId),
    subscribe: (jobId, fn) => queue.subscribe(jobId, fn),
  }
}
