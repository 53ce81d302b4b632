/** The clusters page: every cluster the viewer may read, with its last job and next snapshot. */
import type { FC } from 'hono/jsx'
import { when } from '../format.ts'
import type { JobView } from './job.tsx'

export interface ClusterRow {
  cluster: string
  mode: string | null
  /** Swarm mode: its hosts. */
  hosts?: string[]
  nodes: number
  running: number
  busy: boolean
  lastJob: JobView | null
  nextSnapshot: string | null
}

/** up: every node running; degraded: some; stopped: none. */
export const health = (r: { nodes: number; running: number }): string =>
  r.running === r.nodes ? 'up' : r.running === 0 ? 'stopped' : 'degraded'

export const StateBadge: FC<{ state: string }> = ({ state }) => (
  <span class={`badge s-${state}`}>{state}</span>
)

export const ClustersPage: FC<{ rows: ClusterRow[]; filter: string }> = ({ rows, filter }) => {
  const shown = filter ? rows.filter((r) => r.cluster.includes(filter)) : rows
  return (
    <>
      <h1>Clusters</h1>
      <form class="filter" method="get" action="/" role="search">
        <label for="filter">Filter by name</label>
        <input id="filter" name="q" value={filter} data-filter="#clusters tbody tr" />
        <button type="submit">Filter</button>
      </form>
      {shown.length ? (
        <table id="clusters" data-live="/v1/clusters">
          <thead>
            <tr>
              <th scope="col">Cluster</th>
              <th scope="col">Mode (hosts)</th>
              <th scope="col">Nodes running</th>
              <th scope="col">Health</th>
              <th scope="col">Last job</th>
              <th scope="col">Next snapshot</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => (
              <tr data-cluster={r.cluster}>
                <th scope="row">
                  <a href={`/clusters/${r.cluster}`}>{r.cluster}</a>
                  {r.busy ? <span class="badge s-running">busy</span> : null}
                </th>
                <td>
                  {r.mode ?? '—'}
                  {r.hosts?.length ? ` on ${r.hosts.join(', ')}` : ''}
                </td>
                <td data-field="running">
                  {r.running}/{r.nodes}
                </td>
                <td data-field="health">
                  <StateBadge state={health(r)} />
                </td>
                <td>
                  {r.lastJob ? (
                    <>
                      <a href={`/jobs/${r.lastJob.id}`}>{r.lastJob.kind}</a>{' '}
                      <StateBadge state={r.lastJob.state} />{' '}
                      <time datetime={r.lastJob.createdAt}>{when(r.lastJob.createdAt)}</time>
                    </>
                  ) : (
                    '—'
                  )}
                </td>
                <td>
                  {r.nextSnapshot ? (
                    <time datetime={r.nextSnapshot}>{when(r.nextSnapshot)}</time>
                  ) : (
                    '—'
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="empty">
          {filter
            ? `No cluster's name holds "${filter}".`
            : 'No cluster you may read is on the Docker host.'}
        </p>
      )}
    </>
  )
}
