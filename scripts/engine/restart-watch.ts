/**
 * Follows Docker's event stream for nodes of dynamic-mode clusters that start outside berth
 * (`docker restart`, a daemon restart, a crash and restart policy). Docker rebuilds such a
 * node's /etc/hosts on start — berth's managed block is gone and the node may have a new IP —
 * so whoever listens (`berth serve`) queues a rewire. Starts made while a berth job that wires
 * hosts itself holds the cluster's lock are that job's business and are not reported.
 */
import { lockHolder } from './cluster-lock.ts'
import type { Engine } from './docker.ts'
import { containerName, LABEL } from './labels.ts'

/** Job kinds that start nodes and wire every /etc/hosts themselves. */
const WIRING_KINDS = new Set(['install', 'start', 'rewire', 'restore', 'upgrade'])

export interface NodeStarted {
  type: 'node-started'
  t: number
  cluster: string
  node: string
  container: string
}

interface DockerEvent {
  Type?: string
  Action?: string
  time?: number
  timeNano?: number
  Actor?: { ID?: string; Attributes?: Record<string, string> }
}

/** Resolves when the stream ends (the daemon went away) or `signal` aborts. `onWatching` is
 *  called once Docker has answered the subscription: no later start can be missed. */
export async function watchNodeStarts(
  engine: Engine,
  onStart: (e: NodeStarted) => void,
  signal?: AbortSignal,
  onWatching?: () => void
): Promise<void> {
  const stream = await engine.events({
    type: ['container'],
    event: ['start'],
    label: [`${LABEL.mode}=dynamic`],
  })
  onWatching?.()
  const stop = () => stream.destroy()
  if (signal?.aborted) {
    stop()
    return
  }
  signal?.addEventListener('abort', stop, { once: true })
  let rest = ''
  try {
    for await (const chunk of stream) {
      const lines = (rest + chunk.toString()).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) {
        if (!line.trim()) continue
        const e = JSON.parse(line) as DockerEvent
        const a = e.Actor?.Attributes ?? {}
        const cluster = a[LABEL.cluster]
        const node = a[LABEL.node]
        // Only the node itself: not a container a restore is staging under another name.
        if (!cluster || !node || a.name !== containerName(cluster, node)) continue
        if (WIRING_KINDS.has(lockHolder(cluster)?.kind ?? '')) continue
        onStart({
          type: 'node-started',
          t: Date.now(),
          cluster,
          node,
          container: e.Actor?.ID ?? '',
        })
      }
    }
  } catch (err) {
    if (!signal?.aborted) throw err
  } finally {
    signal?.removeEventListener('abort', stop)
  }
}
