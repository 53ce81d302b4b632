import type { JobRecord, Store } from '../../functions/store/store.ts'
import { until } from './async.ts'

/** The job once it has ended (succeeded, failed or cancelled), read from the store. */
export function finishedJob(store: Store, id: string, ms: number): Promise<JobRecord> {
  return until(
    `job ${id} finished`,
    async () => {
      const j = await store.getJob(id)
      return j && ['succeeded', 'failed', 'cancelled'].includes(j.state) ? j : undefined
    },
    ms
  )
}
