/**
 * One cluster: its topology drawn from the live status, the node table, recent jobs, snapshots
 * with what the viewer may do with each, and its schedules. Buttons a viewer may not use are not
 * drawn (the server checks again on every post).
 */
import type { FC } from 'hono/jsx'
import type { ClusterStatus } from '../../../scripts/engine/lifecycle.ts'
import { bytes, duration, when } from '../format.ts'
import { StateBadge } from './clusters.tsx'
import { JobsTable, type JobView } from './job.tsx'
import { nodeTone, TopologySvg } from './topology-svg.tsx'
import { Csrf } from './forms.tsx'

export interface SnapshotView {
  id: string
  createdAt?: string
  nodes?: number
  volumes?: number
  volumeBytes?: number
  windowMs?: number
  damaged?: string
}

export interface ScheduleView {
  name: string
  cron: string
  tz: string
  keep: number | null
  enabled: boolean
  lastRunAt: string | null
  nextRunAt: string | null
}

export interface ClusterRights {
  snapshot: boolean
  restore: boolean
  destroy: boolean
  export: boolean
  remove: boolean
  install: boolean
}

export const ClusterPage: FC<{
  status: ClusterStatus
  snapshots: SnapshotView[]
  jobs: JobView[]
  schedules: ScheduleView[]
  can: ClusterRights
  stored: boolean
  csrf: string
}> = ({ status, snapshots, jobs, schedules, can, stored, csrf }) => {
  const name = status.cluster
  const running = status.nodes.filter((n) => n.state === 'running').length
  return (
    <>
      <h1>
        {name} <span class="dim">{`${running}/${status.nodes.length} running`}</span>
      </h1>
      <p class="facts">
        mode {status.mode ?? '—'} · network {status.network ?? '—'} {status.subnet ?? ''}
        {status.domain ? ` · domain ${status.domain}` : ''} · owner {status.owner ?? '—'}
      </p>
      {status.drift.length ? (
        <section class="drift" role="status">
          <h2>Drift</h2>
          <ul>
            {status.drift.map((d) => (
              <li>
                {d.node ? <code>{d.node}</code> : null} {d.problem}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      <section class="actions" aria-label="Actions">
        {can.snapshot ? (
          <form method="post" action={`/clusters/${name}/snapshot`} class="inline">
            <Csrf value={csrf} />
            <label for="tag">Tag (optional)</label>
            <input id="tag" name="tag" pattern="[a-z0-9][a-z0-9_.\-]{0,63}" size={16} />
            <button type="submit">Take a snapshot</button>
          </form>
        ) : null}
        {can.install && stored ? (
          <a class="button" href={`/topologies/${name}`}>
            Edit and install its topology
          </a>
        ) : null}
        {can.destroy ? (
          <a class="button danger" href={`/clusters/${name}/destroy`}>
            Destroy…
          </a>
        ) : null}
      </section>
      <h2>Topology</h2>
      <div class="scroll">
        <TopologySvg cluster={name} nodes={status.nodes} />
      </div>
      <h2>Nodes</h2>
      <table id="nodes">
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">Phase</th>
            <th scope="col">Hostname</th>
            <th scope="col">Address</th>
            <th scope="col">State</th>
            <th scope="col">Health</th>
            <th scope="col">Published</th>
            <th scope="col">Image</th>
            {status.mode === 'swarm' ? <th scope="col">Host</th> : null}
          </tr>
        </thead>
        <tbody>
          {status.nodes.map((n) => (
            <tr data-node={n.name} class={nodeTone(n)}>
              <th scope="row">{n.name}</th>
              <td>{n.phase}</td>
              <td>{n.hostname}</td>
              <td>{n.ip ?? '—'}</td>
              <td>
                <StateBadge state={n.state} />
              </td>
              <td>{n.health === 'none' ? '—' : n.health}</td>
              <td>
                {n.published.length
                  ? n.published.map((u) => (
                      <>
                        <a href={u}>{u}</a>{' '}
                      </>
                    ))
                  : '—'}
              </td>
              <td>
                <code>{n.image}</code>
              </td>
              {status.mode === 'swarm' ? <td>{n.host ?? '—'}</td> : null}
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Snapshots</h2>
      {snapshots.length ? (
        <table id="snapshots">
          <thead>
            <tr>
              <th scope="col">Snapshot (tag)</th>
              <th scope="col">Taken</th>
              <th scope="col">Nodes</th>
              <th scope="col">Volume data</th>
              <th scope="col">Pause window</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {snapshots.map((s) => (
              <tr data-snapshot={s.id}>
                <th scope="row">
                  <code>{s.id}</code>
                </th>
                {s.damaged ? (
                  <td colspan={4}>damaged: {s.damaged}</td>
                ) : (
                  <>
                    <td>{when(s.createdAt)}</td>
                    <td>{s.nodes}</td>
                    <td>{`${bytes(s.volumeBytes)} in ${s.volumes} volume(s)`}</td>
                    <td>{duration(s.windowMs)}</td>
                  </>
                )}
                <td class="row-actions">
                  {can.restore && !s.damaged ? (
                    <>
                      <a href={`/clusters/${name}/restore?snapshot=${s.id}`}>Restore…</a>{' '}
                      <a href={`/clusters/${name}/restore?snapshot=${s.id}&as=1`}>
                        Restore as…
                      </a>{' '}
                    </>
                  ) : null}
                  {can.export && !s.damaged ? (
                    <a href={`/clusters/${name}/export?snapshot=${s.id}`}>Export…</a>
                  ) : null}{' '}
                  {can.remove ? (
                    <a href={`/clusters/${name}/remove?snapshot=${s.id}`}>Remove…</a>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="empty">No snapshot of {name} yet.</p>
      )}
      <h2>Schedules</h2>
      {schedules.length ? (
        <table id="schedules">
          <thead>
            <tr>
              <th scope="col">Schedule</th>
              <th scope="col">Cron</th>
              <th scope="col">Keeps</th>
              <th scope="col">Last run</th>
              <th scope="col">Next run</th>
              {can.snapshot ? <th scope="col">Remove</th> : null}
            </tr>
          </thead>
          <tbody>
            {schedules.map((s) => (
              <tr>
                <th scope="row">{s.name}</th>
                <td>
                  <code>{s.cron}</code> ({s.tz})
                </td>
                <td>{s.keep ?? 'all'}</td>
                <td>{when(s.lastRunAt)}</td>
                <td>{s.enabled ? when(s.nextRunAt) : 'disabled'}</td>
                {can.snapshot ? (
                  <td>
                    <form method="post" action={`/schedules/${s.name}/remove`} class="inline">
                      <Csrf value={csrf} />
                      <button type="submit" class="link">
                        Remove {s.name}
                      </button>
                    </form>
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="empty">No schedule takes snapshots of {name}.</p>
      )}
      {can.snapshot ? (
        <form method="post" action={`/clusters/${name}/schedules`} class="grid">
          <Csrf value={csrf} />
          <h3>Add a schedule</h3>
          <label for="s-name">Name</label>
          <input id="s-name" name="name" required value={`${name}-nightly`} />
          <label for="s-cron">Cron (minute hour day month weekday)</label>
          <input id="s-cron" name="cron" required value="0 3 * * *" />
          <label for="s-tz">Time zone</label>
          <input id="s-tz" name="tz" value="UTC" />
          <label for="s-keep">Snapshots kept (empty: all)</label>
          <input id="s-keep" name="keep" inputmode="numeric" value={can.remove ? '7' : ''} />
          <button type="submit">Add the schedule</button>
        </form>
      ) : null}
      <h2>Recent jobs</h2>
      <JobsTable jobs={jobs} />
    </>
  )
}
