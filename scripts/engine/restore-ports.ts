/**
 * Published ports across a restore over a running cluster. The restored nodes are rehearsed
 * beside the running ones without their ports (the running nodes hold them), and Docker cannot
 * add a port to a container: so before the swap, each node that publishes ports has its
 * rehearsal committed (its writable layer as the hook left it) and a final container created from
 * that, with the ports, not started. At the swap the original node is stopped (its ports freed),
 * the rehearsal stopped (its pinned address freed), the final started in its place. The time each
 * published port does not answer — from the original's stop to the final's first accepted
 * connection, tried from this machine — is measured and reported.
 */
import { connect } from 'node:net'
import { waitHealthy } from './bootstrap.ts'
import { readMarker, writeMarker } from './container-files.ts'
import type { JobContext } from './context.ts'
import type { ContainerCreateOptions, IPAMConfig } from './docker.ts'
import { engineInThisNetns } from './host-ports.ts'
import { LABEL, containerName, staged } from './labels.ts'
import { portBindings } from './nodes.ts'
import { mapLimit } from './pool.ts'
import { sleep } from './retry.ts'
import { showPort, type PortMapping } from './runtime-keys.ts'
import type { NodeSpec, Topology } from './topology.ts'

/** A node that publishes ports, across the swap. */
export interface Published {
  node: string
  /** The running node's container, stopped at the swap (null when the node is new). */
  original: string | null
  rehearsal: string
  final: string
}

export interface PortGap {
  port: string
  /** From the original's stop to the first connection the final accepted; null when not measured. */
  unansweredMs: number | null
}

/** How long a published port is still tried once its node is healthy. */
const ANSWER_GRACE_MS = 5000

/** The final container's name until the swap renames it. */
export const finalName = (cluster: string, node: string, stage: string) =>
  `${staged(containerName(cluster, node), stage)}.pub`

/** Commits each rehearsal of a node with ports and creates its final container (not started). */
export async function preparePublished(
  ctx: JobContext,
  topology: Topology,
  stage: string,
  rehearsals: Map<string, string>,
  originals: Map<string, string>
): Promise<Published[]> {
  const nodes = topology.nodes.filter((n) => n.ports.length)
  return mapLimit(nodes, ctx.concurrency, (node) =>
    ctx.steps.timed('create', node.name, async (): Promise<Published> => {
      const rehearsal = rehearsals.get(node.name) as string
      const info = await ctx.engine.inspectContainer(rehearsal)
      const image = await ctx.engine.commitContainer(rehearsal, {
        name: info.Name.replace(/^\//, ''),
        // An image takes its container's labels: the rehearsal's berth.snapshot is blanked, so
        // that no snapshot's removal or sweep ever takes this image for one of its own.
        labels: {
          [LABEL.cluster]: topology.name,
          [LABEL.node]: node.name,
          [LABEL.restore]: stage,
          [LABEL.job]: ctx.job,
          [LABEL.snapshot]: '',
        },
        blankEnv: Object.keys(node.secrets),
      })
      const network = Object.keys(info.NetworkSettings.Networks ?? {})[0]
      const pinned = (
        info.NetworkSettings.Networks?.[network]?.IPAMConfig as IPAMConfig | undefined
      )?.IPv4Address
      const options: ContainerCreateOptions = {
        name: finalName(topology.name, node.name, stage),
        Image: image,
        Hostname: info.Config.Hostname,
        Env: info.Config.Env,
        Cmd: info.Config.Cmd,
        Entrypoint: info.Config.Entrypoint,
        User: info.Config.User,
        WorkingDir: info.Config.WorkingDir,
        Labels: info.Config.Labels,
        ExposedPorts: info.Config.ExposedPorts,
        Healthcheck: info.Config.Healthcheck,
        HostConfig: { ...info.HostConfig, PortBindings: portBindings(node.ports) },
        NetworkingConfig: {
          EndpointsConfig: { [network]: pinned ? { IPAMConfig: { IPv4Address: pinned } } : {} },
        },
      }
      const final = await ctx.engine.createContainer(options)
      // The bootstrap marker lives beside the container, not in its layer: carried over.
      const marker = await readMarker(ctx, rehearsal)
      if (marker) await writeMarker(ctx, final, marker)
      return { node: node.name, original: originals.get(node.name) ?? null, rehearsal, final }
    })
  )
}

/**
 * The swap's part for published nodes: originals stopped, rehearsals stopped, finals started and
 * healthy; then each published port tried until it answers. Undone by `movePortsBack`.
 */
export async function movePorts(
  ctx: JobContext,
  topology: Topology,
  published: Published[]
): Promise<PortGap[]> {
  const byName = new Map(topology.nodes.map((n) => [n.name, n]))
  const measure = await engineInThisNetns(ctx.engine)
  const gaps: PortGap[] = []
  await mapLimit(published, ctx.concurrency, async (p) => {
    const node = byName.get(p.node) as NodeSpec
    const t0 = Date.now()
    // Both at once: the original frees the ports, the rehearsal its pinned address.
    await Promise.all([
      p.original
        ? ctx.engine.stopContainer(p.original, containerName(topology.name, p.node), 10)
        : null,
      ctx.engine.stopContainer(p.rehearsal, p.node, 10),
    ])
    await ctx.steps.timed('start', p.node, () => ctx.engine.startContainer(p.final, p.node))
    // Tried until the node is healthy and a little after: a port the product opens only later
    // (or never) is reported as not measured, and holds nothing up.
    let healthyAt = Infinity
    const tcp = node.ports.filter((x) => x.protocol === 'tcp')
    const answers = measure
      ? Promise.all(
          tcp.map((port) => firstAnswer(port, t0, () => Date.now() > healthyAt + ANSWER_GRACE_MS))
        )
      : Promise.resolve(tcp.map(() => null))
    await waitHealthy(ctx, node, p.final).finally(() => (healthyAt = Date.now()))
    const answered = await answers
    tcp.forEach((port, i) => {
      const ms = answered[i]
      gaps.push({ port: showPort(port), unansweredMs: ms })
      ctx.log(
        ms === null
          ? `port ${showPort(port)} moved to the restored node (not measured)`
          : `port ${showPort(port)} did not answer for ${(ms / 1000).toFixed(2)} s`,
        p.node
      )
    })
  })
  return gaps.sort((a, b) => a.port.localeCompare(b.port))
}

/** Back as before the swap: finals stopped, originals started again. */
export async function movePortsBack(ctx: JobContext, published: Published[]): Promise<void> {
  await mapLimit(published, ctx.concurrency, async (p) => {
    await ctx.engine.stopContainer(p.final, p.node, 2).catch(() => {})
    if (p.original)
      await ctx.engine
        .startContainer(p.original, p.node)
        .catch((e) => ctx.log(`could not start the original again: ${e}`, p.node))
  })
}

/**
 * Milliseconds from `t0` until the port answers (null once `over()`). Docker's proxy
 * accepts on the host port as soon as the container starts and hangs up when the process inside
 * does not accept: a connection counts once it is still open 200 ms after it was accepted, or
 * once the product has sent something on it.
 */
async function firstAnswer(
  port: PortMapping,
  t0: number,
  over: () => boolean
): Promise<number | null> {
  const host = port.hostIp === '0.0.0.0' ? '127.0.0.1' : port.hostIp
  while (!over()) {
    const at = await new Promise<number | null>((resolve) => {
      const s = connect({ host, port: port.hostPort, timeout: 500 })
      let accepted = 0
      const done = (v: number | null) => (s.destroy(), resolve(v))
      s.once('connect', () => {
        accepted = Date.now()
        setTimeout(() => done(accepted), 200)
      })
      // A byte from the product is an answer too (some answer and hang up at once).
      s.once('data', () => done(accepted))
      s.once('timeout', () => done(null))
      s.once('error', () => done(null))
      s.once('close', () => done(null))
    })
    if (at !== null) return at - t0
    await sleep(20)
  }
  return null
}
