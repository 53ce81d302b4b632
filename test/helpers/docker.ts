/**
 * Real-engine test support. Every cluster a test makes is named `t-…`, so a crashed earlier run's
 * leftovers are found by label and removed before and after each file.
 */
import { createContext, type JobContext } from '../../scripts/engine/context.ts'
import { DockerEngine } from '../../scripts/engine/docker.ts'
import type { JobEvent } from '../../scripts/engine/events.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { buildDemoImage } from '../../scripts/image/demo-image.ts'

export const engine = new DockerEngine()

/** Removes every resource of the clusters whose name starts with `prefix` (one test file's own). */
export async function removeTestClusters(prefix: string): Promise<void> {
  const mine = (labels: Record<string, string> | undefined) => {
    const c = labels?.[LABEL.cluster]
    return !!c && (c.startsWith(prefix) || c === 'berth-probe')
  }
  const containers = await engine.listContainers([LABEL.cluster])
  await Promise.all(containers.filter((c) => mine(c.Labels)).map((c) => engine.removeContainer(c.Id)))
  const nets = await engine.listNetworks([LABEL.cluster])
  await Promise.all(nets.filter((n) => mine(n.Labels)).map((n) => engine.removeNetwork(n.Id)))
  const vols = await engine.listVolumes([LABEL.cluster])
  await Promise.all(vols.filter((v) => mine(v.Labels)).map((v) => engine.removeVolume(v.Name)))
}

let demo: Promise<unknown> | undefined
export function ensureDemoImage(): Promise<unknown> {
  demo ??= buildDemoImage(engine)
  return demo
}

/** A job context that records its events, for assertions on order and content. */
export function recordingContext(job?: string): { ctx: JobContext; events: JobEvent[] } {
  const events: JobEvent[] = []
  const ctx = createContext({ engine, job, emit: (e) => events.push(e), logDir: null })
  return { ctx, events }
}

/** Every `name → ip` a node's own /etc/hosts gives, read with the node's own `cat`. */
export async function hostsOf(containerId: string): Promise<string> {
  const r = await engine.exec(containerId, ['cat', '/etc/hosts'])
  if (r.exitCode !== 0) throw new Error(`cat /etc/hosts failed: ${r.stderr}`)
  return r.stdout
}
