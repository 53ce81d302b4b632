/**
 * A job: who asked and from where, its timeline, its result (a plan as a table, with the button
 * that installs it), and its events as a log. The script follows a running job over Server-Sent
 * Events from the last event shown here, appending lines and redrawing the timeline.
 */
import type { FC } from 'hono/jsx'
import type { PlanItem } from '../../../scripts/engine/plan.ts'
import { duration, between, origin, when } from '../format.ts'
import { StateBadge } from './clusters.tsx'
import { Csrf } from './forms.tsx'
import { TimelineSvg } from './timeline-svg.tsx'

export interface JobView {
  id: string
  kind: string
  cluster: string
  state: string
  spec: Record<string, unknown>
  createdAt: string
  startedAt: string | null
  finishedAt: string | null
  requestedBy: string
  result: unknown
  exitCode: number | null
  attempts: number
}

export const JobsTable: FC<{ jobs: JobView[]; cluster?: boolean }> = ({ jobs, cluster }) =>
  jobs.length ? (
    <table class="jobs">
      <thead>
        <tr>
          <th scope="col">Job</th>
          {cluster ? <th scope="col">Cluster</th> : null}
          <th scope="col">State</th>
          <th scope="col">Asked by</th>
          <th scope="col">Created</th>
          <th scope="col">Took</th>
        </tr>
      </thead>
      <tbody>
        {jobs.map((j) => (
          <tr data-job={j.id}>
            <th scope="row">
              <a
                href={`/jobs/${j.id}`}
              >{`${j.kind}${j.spec.options && (j.spec.options as { plan?: boolean }).plan ? ' (plan)' : ''}`}</a>
            </th>
            {cluster ? (
              <td>
                <a href={`/clusters/${j.cluster}`}>{j.cluster}</a>
              </td>
            ) : null}
            <td>
              <StateBadge state={j.state} />
            </td>
            <td>{`${j.requestedBy} (${origin(j.requestedBy)})`}</td>
            <td>
              <time datetime={j.createdAt}>{when(j.createdAt)}</time>
            </td>
            <td>{duration(between(j.startedAt, j.finishedAt))}</td>
          </tr>
        ))}
      </tbody>
    </table>
  ) : (
    <p class="empty">No job yet.</p>
  )

interface Stored {
  seq: number
  event: unknown
}

/** One event as one log line (the script writes live ones the same way: app.js's `line`). */
export function logLine(e: unknown): string {
  const ev = e as {
    type?: string
    t?: number
    node?: string
    step?: string
    state?: string
    ms?: number
    msg?: string
    ok?: boolean
    message?: string
  }
  const at = typeof ev.t === 'number' ? new Date(ev.t).toISOString().slice(11, 23) : ''
  const node = ev.node ? `[${ev.node}] ` : ''
  if (ev.type === 'step')
    return `${at} ${node}${ev.step} ${ev.state}${ev.ms !== undefined ? ` (${ev.ms} ms)` : ''}${ev.msg ? `: ${ev.msg}` : ''}`
  if (ev.type === 'result') return `${at} result: ${ev.ok ? 'ok' : `failed: ${ev.message ?? ''}`}`
  return `${at} ${node}${ev.msg ?? ''}`
}

const FINAL = new Set(['succeeded', 'failed', 'cancelled'])

export const JobPage: FC<{
  job: JobView
  source: string | null
  events: Stored[]
  canCancel: boolean
  /** The install this plan would make, when the viewer may make it. */
  installPlan: { topology: string } | null
  csrf: string
  phases: Map<string, number>
}> = ({ job, source, events, canCancel, installPlan, csrf, phases }) => {
  const result = job.result as {
    ok?: boolean
    code?: string
    message?: string
    node?: string
    step?: string
    data?: {
      plan?: {
        nodes: PlanItem[]
        network: { action: string; name: string; subnet: string | null; reason: string }
      }
    }
  } | null
  const plan = result?.data?.plan
  const last = events.length ? events[events.length - 1].seq : 0
  const live = !FINAL.has(job.state)
  const end = job.finishedAt ? Date.parse(job.finishedAt) : null
  return (
    <>
      <h1>
        {job.kind}
        {(job.spec.options as { plan?: boolean } | undefined)?.plan ? ' (plan)' : ''} of{' '}
        <a href={`/clusters/${job.cluster}`}>{job.cluster}</a>{' '}
        <span id="job-state">
          <StateBadge state={job.state} />
        </span>
      </h1>
      <dl class="facts" id="job-facts">
        <dt>Job</dt>
        <dd>
          <code>{job.id}</code>
        </dd>
        <dt>Asked by</dt>
        <dd>{`${job.requestedBy} via ${origin(job.requestedBy)}${source ? ` from ${source}` : ''}`}</dd>
        <dt>Created</dt>
        <dd>{when(job.createdAt)}</dd>
        <dt>Took</dt>
        <dd>{duration(between(job.startedAt, job.finishedAt))}</dd>
        {job.attempts > 1 ? (
          <>
            <dt>Attempts</dt>
            <dd>{job.attempts}</dd>
          </>
        ) : null}
      </dl>
      {canCancel && live ? (
        <form method="post" action={`/jobs/${job.id}/cancel`} class="inline" id="job-actions">
          <Csrf value={csrf} />
          <button type="submit" class="danger">
            Cancel the job
          </button>
        </form>
      ) : null}
      <h2>Timeline</h2>
      <div id="timeline" class="scroll" data-src={`/jobs/${job.id}/timeline`}>
        <TimelineSvg events={events.map((e) => e.event)} end={end} phases={phases} />
      </div>
      <section id="result" aria-live="polite">
        {result ? (
          <>
            <h2>Result</h2>
            {result.ok ? (
              <p class="ok">Done{job.exitCode ? ` (exit ${job.exitCode})` : ''}.</p>
            ) : (
              <p class="bad" role="alert">
                {`Failed${result.code ? ` (${result.code})` : ''}${result.node ? ` at node ${result.node}` : ''}${result.step ? `, step ${result.step}` : ''}: ${result.message ?? ''}`}
              </p>
            )}
          </>
        ) : live ? (
          <p class="dim">Under way: this page follows it.</p>
        ) : null}
        {plan ? (
          <>
            <h2>Plan</h2>
            <p>
              Network <code>{plan.network.name}</code> {plan.network.subnet ?? ''}:{' '}
              {plan.network.action} ({plan.network.reason})
            </p>
            <table id="plan">
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">Action</th>
                  <th scope="col">Why</th>
                  <th scope="col">Address</th>
                </tr>
              </thead>
              <tbody>
                {plan.nodes.map((p) => (
                  <tr class={`plan-${p.action}`}>
                    <th scope="row">{p.node}</th>
                    <td>{p.action}</td>
                    <td>{p.reason}</td>
                    <td>{p.ip ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {installPlan ? (
              <form
                method="post"
                action={`/topologies/${installPlan.topology}/install`}
                class="inline"
              >
                <Csrf value={csrf} />
                <input type="hidden" name="plan" value={job.id} />
                <button type="submit">Install as planned</button>
              </form>
            ) : null}
          </>
        ) : null}
      </section>
      <h2>Log</h2>
      <div class="log-tools" hidden>
        <button type="button" id="follow" aria-pressed="true">
          Following: pause
        </button>
      </div>
      <pre
        id="log"
        tabindex={0}
        aria-label="Job events"
        data-events={live ? `/v1/jobs/${job.id}/events?after=${last}` : undefined}
      >
        {events.map((e) => (
          <span data-seq={e.seq}>{logLine(e.event) + '\n'}</span>
        ))}
      </pre>
    </>
  )
}
