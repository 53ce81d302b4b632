/**
 * Which waiting jobs may start now: the one rule of both queues (queue.ts on Node, edge-queue.ts on
 * Workers). Pure.
 * - A changing job runs alone on its cluster, at most `maxClusters` clusters at once, in the order
 *   they came.
 * - A read-only job (status, snapshots) holds no cluster: it runs beside other reads, at most
 *   `maxReads` at once, and waits only for a changing job of its cluster that came before it (so a
 *   status asked after an install sees what the install made).
 * - So no changing job ever waits behind read-only ones, however many are queued.
 */
import { READ_ONLY } from '../scripts/engine/job-spec.ts'
import type { JobRecord } from './store/store.ts'

export interface QueueLimits {
  maxClusters: number
  maxReads: number
}

export const isReadOnly = (kind: string) => READ_ONLY.has(kind)

export function startable(
  queued: JobRecord[],
  running: JobRecord[],
  limits: QueueLimits
): JobRecord[] {
  const held = new Set(running.filter((j) => !isReadOnly(j.kind)).map((j) => j.cluster))
  let changing = held.size
  let reads = running.length - running.filter((j) => !isReadOnly(j.kind)).length
  const out: JobRecord[] = []
  for (const job of queued) {
    if (held.has(job.cluster)) continue
    if (isReadOnly(job.kind)) {
      if (reads < limits.maxReads) {
        out.push(job)
        reads++
      }
      continue
    }
    // Taken, or kept for it (at the cap): later jobs of its cluster wait their turn behind it.
    held.add(job.cluster)
    if (changing < limits.maxClusters) {
      out.push(job)
      changing++
    }
  }
  return out
}
