/**
 * status, stop, start, destroy — all read the cluster back from Docker by label, so they need no
 * topology file and see what is really there.
 */
import { probeHealth, waitHealthy, type HealthTarget } from './bootstrap.ts'
import { lockHolder } from './cluster-lock.ts'
import { loadTopology, readOwner, releaseOwner } from './cluster-record.ts'
import { readHosts, readMarker } from './container-files.ts'
import { entriesOf, hostsProblems } from './hosts.ts'
import { note, type JobContext } from './context.ts'
import type { ContainerInspect } from './docker.ts'
import { BerthError } from './errors.ts'
import type { NodeSummary } from './events.ts'
import { LABEL, clusterFilter, containerName, networkName } from './labels.ts'
import { publishedPorts, readCluster, type ClusterState, type NodeState } from './nodes.ts'
import { mapLimit } from './pool.ts'
import { publishedUrl } from './runtime-keys.ts'
import { addressesOf, type NetworkMode, type NodeSpec } from './topology.ts'
import { SwarmEngine } from './swarm-engine.ts'
import { verifyHosts, wireHosts, type WiredCluster } from './wiring.ts'

export interface NodeStatus {
  name: string
  hostname: string
  role: string
  phase: number
  state: string
  ip: string | null
  image: string
  bootstrap: 'done' | 'pending' | 'none' | 'unknown'
  health: 'healthy' | 'unhealthy' | 'none' | 'unknown'
  healthOutput?: string
  /** Where its published ports are reached from the host (http://127.0.0.1:8080). */
  published: string[]
  id: string
  /** Swarm mode: the host it runs on. */
  host?: string
}

/** A way the cluster is not what berth made it; `berth repair` (or `install`) mends it. */
export interface Drift {
  node?: string
  problem: string
}

export interface ClusterStatus {
  cluster: string
  /** Empty when the cluster is what berth made it (status exits 8 otherwise). */
  drift: Drift[]
  /** Who made it (cluster-record.ts), when berth recorded it. */
  owner: string | null
  mode: string | null
  domain: string | null
  network: string | null
  subnet: string | null
  nodes: NodeStatus[]
}

async function requireCluster(ctx: JobContext, cluster: string): Promise<ClusterState> {
  const state = await readCluster(ctx.engine, cluster)
  if (!state.nodes.size && !state.network) {
    throw new BerthError('not_found', `no cluster named "${cluster}" on this Docker host`)
  }
  return state
}

function sorted(state: ClusterState): NodeState[] {
  return [...state.nodes.values()].sort((a, b) => a.phase - b.phase || a.name.localeCompare(b.name))
}

/**
 * The node's health check: as the topology installed last says (a tcp or http probe lives only
 * there), else as berth set it on the container.
 */
function healthTarget(
  node: NodeState,
  info: ContainerInspect,
  recorded: NodeSpec | undefined
): HealthTarget {
  if (recorded) return { name: node.name, timeoutSeconds: 120, healthcheck: recorded.healthcheck }
  const test = info.Config.Healthcheck?.Test ?? []
  const cmd =
    test[0] === 'CMD' ? test.slice(1) : test[0] === 'CMD-SHELL' ? ['sh', '-c', test[1]] : []
  const timeout = (info.Config.Healthcheck?.Timeout ?? 5e9) / 1e9
  return {
    name: node.name,
    timeoutSeconds: 120,
    healthcheck: cmd.length
      ? { cmd, intervalSeconds: 1, timeoutSeconds: timeout, retries: 1, startPeriodSeconds: 0 }
      : null,
  }
}

function wired(state: ClusterState): WiredCluster {
  return {
    name: state.name,
    network: state.network?.Name ?? networkName(state.name),
    nodes: sorted(state).map((n) => ({ name: n.name, hostname: n.hostname })),
  }
}

export async function clusterStatus(job: JobContext, cluster: string): Promise<ClusterStatus> {
  // A swarm cluster's status is read on the hosts that answer; its nodes that are not found
  // there, while a host does not answer, are shown as unreachable (not as gone).
  const { engine, lost } =
    job.engine instanceof SwarmEngine
      ? await job.engine.reachable()
      : { engine: job.engine, lost: [] }
  const ctx = { ...job, engine }
  const state = await requireCluster(ctx, cluster)
  const recorded = await loadTopology(cluster).catch(() => null)
  const specOf = (name: string) => recorded?.nodes.find((s) => s.name === name)
  // Only a cluster across hosts has nodes elsewhere: any other lives on the manager.
  const unreachable =
    lost.length && recorded?.network.mode === 'swarm'
      ? (recorded?.nodes ?? [])
          .filter((n) => !state.nodes.has(n.name))
          .map((n): NodeStatus => {
            const placed = n.placement && 'host' in n.placement ? n.placement.host : null
            const host = placed ?? (lost.length === 1 ? lost[0] : null)
            return {
              name: n.name,
              hostname: n.hostname,
              role: n.role,
              phase: n.phase,
              state: 'unreachable',
              ip: null,
              image: n.image,
              bootstrap: 'unknown',
              health: 'unknown',
              published: [],
              id: '',
              ...(host ? { host } : {}),
            }
          })
      : []
  const found = await mapLimit(sorted(state), ctx.concurrency, async (n): Promise<NodeStatus> => {
    const info = await ctx.engine.inspectContainer(n.id)
    const spec = specOf(n.name)
    const target = healthTarget(n, info, spec)
    const running = info.State.Running && !info.State.Paused
    let health: NodeStatus['health'] = target.healthcheck ? 'unknown' : 'none'
    let healthOutput: string | undefined
    if (running && target.healthcheck) {
      const probe = await probeHealth(ctx, target, n.id)
      health = probe.ok ? 'healthy' : 'unhealthy'
      healthOutput = probe.output || undefined
    }
    const marker = await readMarker(ctx, n.id)
    return {
      name: n.name,
      hostname: n.hostname,
      role: n.role,
      phase: n.phase,
      state: info.State.Paused ? 'paused' : info.State.Status,
      ip: (n.network && info.NetworkSettings.Networks?.[n.network]?.IPAddress) || null,
      image: info.Config.Image,
      bootstrap: marker ? 'done' : spec && !spec.bootstrap ? 'none' : 'pending',
      health,
      healthOutput,
      published: publishedPorts(info).map(publishedUrl),
      id: n.id.slice(0, 12),
      ...(n.host ? { host: n.host } : {}),
    }
  })
  const nodes = [...found, ...unreachable].sort(
    (a, b) => a.phase - b.phase || a.name.localeCompare(b.name)
  )
  const net = state.network
  return {
    cluster,
    drift: await driftOf(ctx, state, nodes, lost),
    owner: (await readOwner(cluster))?.owner ?? null,
    mode: net?.Labels?.[LABEL.mode] ?? null,
    domain: net?.Labels?.[LABEL.domain] ?? null,
    network: net?.Name ?? null,
    subnet: net?.IPAM?.Config?.[0]?.Subnet ?? null,
    nodes,
  }
}

/**
 * What differs from what berth made: nodes of the recorded topology that are missing, paused or
 * off their network, a network that is gone, a running node whose /etc/hosts is wrong, and — when
 * no job is at work on the cluster — containers of it that are not its nodes.
 */
async function driftOf(
  ctx: JobContext,
  state: ClusterState,
  nodes: NodeStatus[],
  lost: string[]
): Promise<Drift[]> {
  const drift: Drift[] = []
  const recorded = await loadTopology(state.name).catch(() => null)
  for (const n of recorded?.nodes ?? []) {
    if (state.nodes.has(n.name)) continue
    const on = nodes.find((x) => x.name === n.name && x.state === 'unreachable')
    drift.push({
      node: n.name,
      problem: on
        ? `unreachable: host ${on.host ?? lost.join(', ')} does not answer`
        : 'missing: its container is gone',
    })
  }
  if (!state.network) drift.push({ problem: `its network ${networkName(state.name)} is gone` })
  for (const n of nodes.filter((x) => x.state !== 'unreachable')) {
    if (n.state === 'paused') drift.push({ node: n.name, problem: 'paused' })
    else if (state.network && !state.nodes.get(n.name)?.network)
      drift.push({ node: n.name, problem: `not on its network ${state.network.Name}` })
  }
  const running = sorted(state).filter((n) => n.state === 'running' && n.ip)
  const entries = entriesOf(
    running.map((n) => ({ name: n.name, hostname: n.hostname, ip: n.ip as string }))
  )
  await mapLimit(running, ctx.concurrency, async (n) => {
    const wrong = hostsProblems(await readHosts(ctx, n.id), entries)
    if (wrong.length)
      drift.push({ node: n.name, problem: `/etc/hosts is wrong: ${wrong.join('; ')}` })
  })
  if (!lockHolder(state.name)) {
    const ids = new Set([...state.nodes.values()].map((n) => n.id))
    for (const c of await ctx.engine.listContainers(clusterFilter(state.name))) {
      if (!ids.has(c.Id))
        drift.push({
          problem: `a container that is not one of its nodes is left: ${c.Names[0]?.replace(/^\//, '')}`,
        })
    }
  }
  return drift
}

export interface ClusterListing {
  cluster: string
  mode: string | null
  nodes: number
  running: number
  /** Swarm mode: the hosts its nodes are on (empty on one host). */
  hosts: string[]
}

/** Every cluster on this Docker host, from its containers' labels (one engine call). */
export async function listClusters(ctx: JobContext): Promise<ClusterListing[]> {
  const byCluster = new Map<string, ClusterListing>()
  for (const c of await ctx.engine.listContainers([LABEL.cluster])) {
    const l = c.Labels ?? {}
    const cluster = l[LABEL.cluster]
    // Only the nodes themselves count: not what a restore is staging, not a crash's leftovers.
    if (
      !cluster ||
      !l[LABEL.node] ||
      !c.Names?.includes(`/${containerName(cluster, l[LABEL.node])}`)
    )
      continue
    const entry = byCluster.get(cluster) ?? {
      cluster,
      mode: l[LABEL.mode] ?? null,
      nodes: 0,
      running: 0,
      hosts: [],
    }
    entry.nodes++
    if (c.State === 'running') entry.running++
    const host = l[LABEL.host]
    if (host && !entry.hosts.includes(host)) entry.hosts = [...entry.hosts, host].sort()
    byCluster.set(cluster, entry)
  }
  return [...byCluster.values()].sort((a, b) => a.cluster.localeCompare(b.cluster))
}

export function summaries(status: ClusterStatus): NodeSummary[] {
  return status.nodes.map((n) => ({
    name: n.name,
    hostname: n.hostname,
    ip: n.ip,
    id: n.id,
    state: n.state,
    ...(n.host ? { host: n.host } : {}),
  }))
}

/** Stops the nodes, last phase first (the master last), the nodes of a phase together. */
export async function stopCluster(ctx: JobContext, cluster: string): Promise<void> {
  const state = await requireCluster(ctx, cluster)
  const phases = [...new Set(sorted(state).map((n) => n.phase))].sort((a, b) => b - a)
  for (const phase of phases) {
    const batch = sorted(state).filter((n) => n.phase === phase)
    await mapLimit(batch, ctx.concurrency, (n) =>
      ctx.steps.timed('stop', n.name, () => ctx.engine.stopContainer(n.id, n.name))
    )
  }
}

/**
 * Starts every node. Docker rebuilds each /etc/hosts on start: static mode's ExtraHosts and
 * pinned addresses come back by themselves; dynamic mode gets new addresses, so berth rewires
 * every node (the 2015 installer's restart path) before checking health.
 */
export async function startCluster(ctx: JobContext, cluster: string): Promise<void> {
  const state = await requireCluster(ctx, cluster)
  const nodes = sorted(state)
  await mapLimit(nodes, ctx.concurrency, (n) =>
    ctx.steps.timed('start', n.name, () => ctx.engine.startContainer(n.id, n.name))
  )
  const ids = new Map(nodes.map((n) => [n.name, n.id]))
  const recorded = await loadTopology(cluster).catch(() => null)
  const mode = (state.network?.Labels?.[LABEL.mode] ?? 'static') as NetworkMode
  if ((recorded?.network.addresses ?? addressesOf(mode)) === 'dynamic')
    await ctx.steps.timed('hosts', undefined, () => wireHosts(ctx, wired(state), ids))
  await ctx.steps.timed('verify', undefined, () => verifyHosts(ctx, wired(state), ids))
  await mapLimit(nodes, ctx.concurrency, async (n) =>
    waitHealthy(
      ctx,
      healthTarget(
        n,
        await ctx.engine.inspectContainer(n.id),
        recorded?.nodes.find((s) => s.name === n.name)
      ),
      n.id
    )
  )
}

/** Rewrites every node's /etc/hosts from the addresses they have now (dynamic mode). */
export async function rewireCluster(ctx: JobContext, cluster: string): Promise<void> {
  const state = await requireCluster(ctx, cluster)
  const ids = new Map(sorted(state).map((n) => [n.name, n.id]))
  await ctx.steps.timed('hosts', undefined, () => wireHosts(ctx, wired(state), ids))
  await ctx.steps.timed('verify', undefined, () => verifyHosts(ctx, wired(state), ids))
}

/**
 * The untagged images a restore committed for nodes with published ports (restore-ports.ts) that
 * no container uses any more. Snapshot images are tagged and never match.
 */
export async function removeSwapImages(ctx: JobContext, cluster: string): Promise<void> {
  for (const ref of await ctx.engine.listImages([...clusterFilter(cluster), LABEL.restore])) {
    await ctx.engine.removeImage(ref, { force: false }).catch(() => {}) // still used by a node: kept
  }
}

/** Removes containers and network; volumes (berth's own, never external ones) only when asked. */
export async function destroyCluster(
  ctx: JobContext,
  cluster: string,
  opts: { volumes?: boolean } = {}
): Promise<{ containers: number; volumes: number }> {
  // Containers by label, not just known nodes: a crashed job may have left a stray one.
  const all = await ctx.engine.listContainers(clusterFilter(cluster))
  const nets = await ctx.engine.listNetworks(clusterFilter(cluster))
  const vols = await ctx.engine.listVolumes(clusterFilter(cluster))
  // What a destroy without --volumes left is still the cluster's: `destroy --volumes` takes it.
  if (!all.length && !nets.length && !(opts.volumes && vols.length)) {
    throw new BerthError(
      'not_found',
      `no cluster named "${cluster}" on this Docker host${vols.length ? ` (only its volumes are left: berth destroy ${cluster} --volumes)` : ''}`
    )
  }
  note(ctx, { op: 'destroy', volumes: !!opts.volumes })
  await mapLimit(all, ctx.concurrency, (c) =>
    ctx.steps.timed('remove', c.Labels?.[LABEL.node], () =>
      ctx.engine.removeContainer(c.Id, c.Names[0])
    )
  )
  for (const n of nets)
    await ctx.steps.timed('network', undefined, () => ctx.engine.removeNetwork(n.Id))
  await removeSwapImages(ctx, cluster)
  let volumes = 0
  if (opts.volumes) {
    await mapLimit(vols, ctx.concurrency, (v) => ctx.engine.removeVolume(v.Name))
    volumes = vols.length
  }
  // Volumes left behind are still the owner's data: the cluster is nobody's only once they go.
  if (opts.volumes || !vols.length) await releaseOwner(cluster)
  return { containers: all.length, volumes }
}
