/**
 * `berth watch --rewire`: auto-rewire on the Docker host itself, for hosts whose jobs come through
 * SSM (no `berth serve` there to follow Docker's event stream). When nodes of a dynamic-mode
 * cluster start outside berth (a reboot, `docker restart`, a restart policy), a `rewire` job runs
 * here like any other job: under the cluster's lock, its log in $BERTH_HOME/jobs (readable with
 * `GET /v1/jobs/:id/log`). Starts within `settleMs` of the first are taken together.
 *
 * Starts made before it was watching went unseen (at boot, Docker restarts containers before
 * this unit runs), so on start it rewires every dynamic cluster that has a running node once.
 * It reports one NDJSON line per rewire (journald keeps them); infra/cloudformation installs it
 * as the systemd unit berth-rewire.service.
 */
import type { Engine } from '../engine/docker.ts'
import { runJob } from '../engine/job.ts'
import { LABEL, newJobId } from '../engine/labels.ts'
import { watchNodeStarts } from '../engine/restart-watch.ts'

export interface RewireReport {
  type: 'rewire'
  t: number
  cluster: string
  job: string
  /** Why: the nodes seen starting, or "start" for the catch-up when the daemon starts. */
  reason: string[] | 'start'
  ok: boolean
  code?: string
  message?: string
}

/** Resolves when the event stream ends (the daemon went away) or `signal` aborts, after the
 *  rewires under way have finished. */
export async function rewireOnStarts(
  engine: Engine,
  o: { signal: AbortSignal; report: (r: RewireReport) => void; settleMs?: number }
): Promise<void> {
  /** Per cluster: the rewires, one after another. */
  const chains = new Map<string, Promise<void>>()
  const pending = new Map<string, { timer: NodeJS.Timeout; nodes: Set<string> }>()

  const rewire = (cluster: string, reason: RewireReport['reason']) => {
    const run = async () => {
      if (o.signal.aborted) return
      const id = newJobId()
      const { result } = await runJob(
        { id, kind: 'rewire', cluster },
        { engine, emit: () => {}, signal: o.signal }
      )
      o.report({
        type: 'rewire',
        t: Date.now(),
        cluster,
        job: id,
        reason,
        ok: result.ok,
        ...(result.ok ? {} : { code: result.code, message: result.message }),
      })
    }
    // runJob never throws; a report that does (stdout gone) must not end the chain unhandled.
    const next = (chains.get(cluster) ?? Promise.resolve())
      .then(run)
      .catch((err) => console.error(`berth watch --rewire: ${cluster}: ${err}`))
    chains.set(cluster, next)
    void next.finally(() => chains.get(cluster) === next && chains.delete(cluster))
  }

  const seen = (cluster: string, node: string) => {
    const p = pending.get(cluster)
    if (p) return void p.nodes.add(node)
    const nodes = new Set([node])
    const timer = setTimeout(() => {
      pending.delete(cluster)
      rewire(cluster, [...nodes].sort())
    }, o.settleMs ?? 500)
    pending.set(cluster, { timer, nodes })
  }

  // The catch-up lists what runs once the watch is on, so no start falls between the two.
  const catchUp = async () => {
    const running = await engine.listContainers([`${LABEL.mode}=dynamic`], false)
    for (const cluster of new Set(
      running.map((c) => c.Labels?.[LABEL.cluster]).filter((c): c is string => !!c)
    )) {
      rewire(cluster, 'start')
    }
  }
  let listed: Promise<void> = Promise.resolve()
  try {
    await watchNodeStarts(
      engine,
      (e) => seen(e.cluster, e.node),
      o.signal,
      () => {
        listed = catchUp()
      }
    )
    await listed
  } finally {
    for (const p of pending.values()) clearTimeout(p.timer)
    await Promise.allSettled([...chains.values()])
  }
}
