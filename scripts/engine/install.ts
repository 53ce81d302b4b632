/**
 * install: topology → running, wired, bootstrapped, healthy cluster. Safe to run again: the plan
 * (plan.ts) compares what Docker holds (by label) with what the topology asks for, keeps healthy
 * unchanged nodes, repairs drift, rebuilds changed ones one at a time, and creates the rest
 * together.
 */
import { createReadStream } from 'node:fs'
import { bootstrapNode, explainNodeFailure, waitHealthy } from './bootstrap.ts'
import {
  claimOwner,
  readOwner,
  releaseOwner,
  saveNetworkRecord,
  saveTopology,
} from './cluster-record.ts'
import { readHosts, writeHosts, writeMarker } from './container-files.ts'
import { checkpoint, note, type JobContext } from './context.ts'
import { engineGone } from './docker.ts'
import { BerthError } from './errors.ts'
import type { NodeSummary } from './events.ts'
import { managedBlock, withManagedBlock, type HostEntry } from './hosts.ts'
import { LABEL, clusterFilter, containerName, staged } from './labels.ts'
import { createClusterNetwork } from './network.ts'
import {
  createOptions,
  publishedPorts,
  readCluster,
  volumeSource,
  type ClusterState,
  type NodeState,
} from './nodes.ts'
import { writeNodeFiles } from './node-files.ts'
import { mapLimit } from './pool.ts'
import { retry, sleep } from './retry.ts'
import { publishedUrl } from './runtime-keys.ts'
import { preflight, privilegedRefusal } from './preflight.ts'
import type { NodeSpec, Topology } from './topology.ts'
import { loadSecrets } from './secrets.ts'
import { writeVolume } from './volume-data.ts'
import { liveEntries, verifyHosts, verifyNode, wireHosts, type WiredCluster } from './wiring.ts'
import {
  formatPlan,
  observe,
  plan as decide,
  type NodeAction,
  type Plan,
  type PlanItem,
} from './plan.ts'
import { placeNodes, type HostFacts } from './placement.ts'
import { SwarmEngine } from './swarm-engine.ts'

export type { Plan, PlanItem, NodeAction }
export { formatPlan }

export interface InstallOptions {
  /** Print the plan and change nothing. */
  plan?: boolean
  /** On failure, keep what this job created (for debugging). */
  keepFailed?: boolean
  /** Build the nodes from a snapshot instead of from scratch (restore). */
  from?: SnapshotSource
  /**
   * Build the whole cluster beside the running one (a restore over it): every name gets
   * `.r<stage>`, everything carries the `berth.restore` label, and the running nodes are not
   * looked at. The restore swaps names once the staged cluster is healthy.
   */
  stage?: string
}

/** What a restore hands to install: per node, the image and volume data to start from. */
export interface SnapshotSource {
  snapshot: string
  images: Map<string, string>
  /** `<node>/<volume>` → path of the volume's tar archive. */
  volumes: Map<string, string>
  /** Nodes that were bootstrapped when the snapshot was taken: not bootstrapped again. */
  bootstrapped: Set<string>
  /** The nodes' addresses at snapshot time, kept when the same subnet is free. */
  addresses: Map<string, string>
  /** The snapshot's subnet, preferred when it is free. */
  subnet: string | null
  /** Swarm: the host each node ran on, where a spread node goes back to. */
  hosts?: Map<string, string>
  /** Swarm: the hosts the nodes may be placed on (a restore's --placement); all by default. */
  placeOn?: string[]
}

export interface InstallResult {
  plan: Plan
  nodes: NodeSummary[]
}

/** What this job created, so a failure can take exactly that back. */
interface Created {
  containers: { id: string; name: string }[]
  volumes: string[]
  network?: string
}

function placementOf(
  topology: Topology,
  network: string,
  ip: string | undefined,
  hosts: HostEntry[] | undefined
) {
  return topology.network.addresses === 'pinned' ? { network, ip, hosts } : { network }
}

/** Another job created a network on the subnet berth had just picked: pick again. */
class SubnetTaken extends Error {}

export async function installCluster(
  ctx: JobContext,
  topology: Topology,
  opts: InstallOptions = {}
): Promise<InstallResult> {
  // Two installs of different clusters may plan at the same moment and pick the same free
  // subnet; Docker refuses the second network ("Pool overlaps"), and nothing has been created
  // by then, so that job plans again, without that subnet. (Docker may also still hold the pool
  // of a network removed a moment ago, which no listing shows.)
  const avoid: string[] = []
  try {
    return await retry(() => installOnce(ctx, topology, opts, avoid), {
      delays: [100, 200, 300, 400, 500, 600, 700], // 8 attempts
      retryIf: (err) => err instanceof SubnetTaken,
      onRetry: (err) => {
        avoid.push((err as SubnetTaken).message)
        ctx.log(
          `subnet ${(err as SubnetTaken).message} was taken meanwhile; planning again without it`
        )
      },
      signal: ctx.signal,
    })
  } catch (err) {
    if (ctx.signal?.aborted && err === ctx.signal.reason) checkpoint(ctx) // cancelled while waiting
    throw err instanceof SubnetTaken ? err.cause : err
  }
}

async function installOnce(
  ctx: JobContext,
  topology: Topology,
  opts: InstallOptions,
  avoid: string[] = []
): Promise<InstallResult> {
  const { steps } = ctx
  // Swarm mode: the swarm's hosts, the manager first.
  let facts: Map<string, HostFacts> | undefined
  const swarm =
    ctx.engine instanceof SwarmEngine
      ? (opts.from?.placeOn ?? ctx.engine.hosts.map((h) => h.name))
      : undefined
  const inSwarm = await steps.timed('preflight', undefined, async () => {
    // Every placement names a host of the engines (or constraints some host meets), and they
    // are one swarm.
    facts = await hostFacts(ctx, topology)
    const where = placeNodes(topology, swarm, new Map(), facts)
    if (where && ctx.engine instanceof SwarmEngine) await ctx.engine.checkSwarm()
    await preflight(ctx, topology, { publish: !opts.stage })
    await loadSecrets(ctx, topology)
    return where !== null
  })
  checkpoint(ctx)
  const stage = opts.stage
  const state: ClusterState = stage
    ? { name: topology.name, network: null, nodes: new Map() }
    : await readCluster(ctx.engine, topology.name)
  // Where each node goes, now that where they run is known (a spread node stays put).
  const placed = inSwarm
    ? placeNodes(
        topology,
        swarm,
        new Map([
          ...(opts.from?.hosts ?? []),
          ...[...state.nodes].map(([name, n]) => [name, n.host] as const),
        ]),
        facts
      )
    : null
  const { plan, addresses, hosts } = await steps.timed('plan', undefined, async () =>
    decide(topology, await observe(ctx, topology, state, avoid), {
      job: ctx.job,
      secrets: ctx.secrets,
      addresses: opts.from?.addresses,
      preferredSubnet: opts.from?.subnet ?? null,
      stage,
      placed,
    })
  )
  ctx.log(formatPlan(plan))
  // A restore's staged cluster is the restore's business (it needs the restore scope already).
  const owner = stage ? null : await ownership(ctx, topology.name, state, plan)
  if (opts.plan) return { plan, nodes: [] }

  const created: Created = { containers: [], volumes: [] }
  const ids = new Map<string, string>()
  for (const [name, n] of state.nodes) ids.set(name, n.id)
  const byName = new Map(topology.nodes.map((n) => [n.name, n]))
  const itemsOf = (...actions: NodeAction[]) => plan.nodes.filter((i) => actions.includes(i.action))

  if (owner?.claim) await claimOwner(topology.name, owner.claim, ctx.job)
  try {
    // Nodes that leave the topology, and everything when the network itself is replaced.
    // Under a new network (replaced, or made again) a changed node is rebuilt with the others,
    // not one at a time.
    const bulk = plan.network.action !== 'keep'
    const removals = itemsOf('remove').concat(bulk ? itemsOf('replace') : [])
    if (removals.length) note(ctx, { op: 'remove', what: removals.map((i) => i.node).join(', ') })
    await mapLimit(removals, ctx.concurrency, async (i) => {
      const id = state.nodes.get(i.node)?.id
      if (id)
        await steps.timed('remove', i.node, () =>
          ctx.engine.removeContainer(id, containerName(topology.name, i.node))
        )
      ids.delete(i.node)
    })
    if (plan.network.action === 'replace' && state.network) {
      await steps.timed('network', undefined, () => ctx.engine.removeNetwork(state.network!.Id))
    }
    // A network removed behind berth's back: the nodes still name it, and Docker starts none of
    // them until that stale entry is dropped (possible only while no network has the name).
    if (plan.network.action === 'create' && itemsOf('reconnect').length) {
      for (const i of itemsOf('reconnect'))
        await ctx.engine
          .disconnectNetwork(plan.network.name, ids.get(i.node) as string)
          .catch(() => {})
    }
    if (plan.network.action !== 'keep') {
      await steps.timed('network', undefined, async () => {
        try {
          created.network = await createClusterNetwork(
            ctx.engine,
            topology,
            plan.network.subnet,
            ctx.job,
            {
              name: plan.network.name,
              labels: stage ? { [LABEL.restore]: stage } : {},
            }
          )
          if (!stage)
            await saveNetworkRecord(topology.name, {
              name: plan.network.name,
              subnet: plan.network.subnet,
            })
        } catch (err) {
          const picked =
            plan.network.action === 'create' && plan.network.subnet && !topology.network.subnet
          if (picked && /Pool overlaps/i.test((err as Error).message)) {
            throw new SubnetTaken(plan.network.subnet as string, { cause: err })
          }
          throw err
        }
      })
    }
    checkpoint(ctx)

    const from = opts.from
    const wired: WiredCluster = {
      name: topology.name,
      network: plan.network.name,
      nodes: topology.nodes,
    }
    const createAndStart = async (node: NodeSpec) => {
      const volumes = await ensureVolumes(
        ctx,
        topology,
        node,
        created,
        state.nodes.get(node.name),
        stage,
        placed?.get(node.name)
      )
      if (from) await loadVolumes(ctx, topology.name, node, volumes, from)
      const placement = {
        ...placementOf(topology, plan.network.name, addresses?.get(node.name), hosts),
        image: from?.images.get(node.name),
        volumes: volumes.names,
        // Staged beside the running cluster, whose nodes hold the ports until the swap.
        unpublished: !!stage,
        host: placed?.get(node.name),
      }
      const { options } = createOptions(topology, node, placement, ctx.job, ctx.secrets)
      if (from) options.Labels = { ...options.Labels, [LABEL.snapshot]: from.snapshot }
      if (stage) {
        options.name = staged(options.name as string, stage)
        options.Labels = { ...options.Labels, [LABEL.restore]: stage }
      }
      const id = await steps.timed('create', node.name, () => ctx.engine.createContainer(options))
      created.containers.push({ id, name: node.name })
      ids.set(node.name, id)
      // A snapshot's image already holds the files, as they were when it was taken.
      if (!from) await writeNodeFiles(ctx, node, id)
      await steps.timed('start', node.name, () => startNode(ctx, node, id))
      if (from?.bootstrapped.has(node.name)) {
        await writeMarker(ctx, id, {
          job: ctx.job,
          at: new Date().toISOString(),
          ms: 0,
          snapshot: from.snapshot,
        })
      }
    }
    const needsBootstrap = (node: NodeSpec) =>
      !!node.bootstrap && !from?.bootstrapped.has(node.name)
    const startKept = (node: NodeSpec) =>
      steps.timed('start', node.name, () => startNode(ctx, node, ids.get(node.name) as string))
    // A node off its network is connected again (at its address in static mode), then started —
    // restarted if it ran: a connect leaves Docker's own line of its old address in /etc/hosts
    // (and drops static mode's peers); a start writes the file anew.
    const reconnect = async (node: NodeSpec) => {
      const id = ids.get(node.name) as string
      await steps.timed('network', node.name, () =>
        ctx.engine.connectNetwork(plan.network.name, id, addresses?.get(node.name))
      )
      const info = await ctx.engine.inspectContainer(id)
      if (info.State.Running && !info.State.Paused)
        await steps.timed('start', node.name, () => ctx.engine.restartContainer(id, node.name))
      else await startKept(node)
    }
    // A running node whose /etc/hosts is wrong: berth's block written again, as dynamic mode does.
    const rewire = (node: NodeSpec) =>
      steps.timed('hosts', node.name, async () => {
        const id = ids.get(node.name) as string
        const entries = hosts ?? (await liveEntries(ctx, wired, ids))
        await writeHosts(
          ctx,
          node.name,
          id,
          withManagedBlock(await readHosts(ctx, id), managedBlock(topology.name, entries))
        )
      })

    if (plan.network.action === 'keep') {
      // A changed topology is applied node by node, in phase order: each rebuilt node is
      // bootstrapped and healthy before the next one is touched. Volumes are kept.
      const replaced = itemsOf('replace')
        .map((i) => byName.get(i.node) as NodeSpec)
        .sort((a, b) => a.phase - b.phase)
      for (const node of replaced) {
        const up = async () => {
          note(ctx, { op: 'remove', what: node.name })
          await steps.timed('remove', node.name, () =>
            ctx.engine.removeContainer(
              ids.get(node.name) as string,
              containerName(topology.name, node.name)
            )
          )
          await createAndStart(node)
        }
        await rollout(
          ctx,
          wired,
          [{ node, up, bootstrap: !!node.bootstrap, health: true }],
          ids,
          hosts
        )
      }
    }

    const fresh = new Set(
      itemsOf('create')
        .concat(bulk ? itemsOf('replace') : [])
        .map((i) => i.node)
    )
    const action = new Map(plan.nodes.map((i) => [i.node, i]))
    const units: Unit[] = topology.nodes
      .filter((n) => fresh.has(n.name) || ids.has(n.name))
      .map((node) => {
        const item = action.get(node.name) as PlanItem
        if (fresh.has(node.name))
          return {
            node,
            up: () => createAndStart(node),
            bootstrap: needsBootstrap(node),
            health: true,
          }
        if (item.action === 'start')
          return { node, up: () => startKept(node), bootstrap: !!item.bootstrap, health: true }
        if (item.action === 'reconnect')
          return { node, up: () => reconnect(node), bootstrap: !!item.bootstrap, health: true }
        if (item.action === 'rewire')
          return { node, up: () => rewire(node), bootstrap: !!item.bootstrap, health: true }
        // Kept and healthy (probed while planning): checked, not touched.
        return { node, bootstrap: !!item.bootstrap, health: !!item.bootstrap }
      })
    await rollout(ctx, wired, units, ids, hosts)
  } catch (err) {
    if (opts.keepFailed) {
      ctx.log(`--keep-failed: leaving ${created.containers.length} containers for inspection`)
      throw err
    }
    // Removing a network while the daemon shuts down corrupts its store (Docker 20.10 then panics
    // at every start): when the engine is going, nothing is removed now; the next command does it.
    if (await engineStopping(ctx, err, [...ids.values()])) {
      // One host of a swarm gone (not the manager, whose overlay is the one network): the others
      // are cleaned now, and what is on the lost host is the next command's.
      const lost = await hostsLost(ctx)
      if (!lost) throw leaveForNextCommand(ctx, topology.name, created, err)
      await cleanup(ctx, created)
      throw new BerthError(
        'engine_gone',
        `host ${lost.join(', ')} went away during the job (${firstLine(err)}); berth removed what it had made on the other hosts${ctx.left.length ? ` and left ${ctx.left.join(', ')}` : ''}; the next berth command on "${topology.name}" finishes the job once ${lost.join(', ')} is back`,
        {
          cause: err,
          ...(err instanceof BerthError ? { node: err.info.node, step: err.info.step } : {}),
        }
      )
    }
    const clean = await cleanup(ctx, created)
    // A cluster this job began is nobody's once its cleanup took everything back.
    if (owner?.claim && clean) await releaseOwner(topology.name)
    throw err
  }
  if (!stage) await saveTopology(topology)
  return { plan, nodes: await summarize(ctx, topology, ids, plan.network.name) }
}

/**
 * Who may install over what is there. A job the service admitted (ctx.admission) that does not
 * hold the restore scope on the cluster may create it, or converge a cluster its own owner made,
 * without removing any of its nodes; taking over another owner's cluster, or shrinking one, is
 * removal. A new cluster records who made it (a person at the host's shell: `host`).
 */
async function ownership(
  ctx: JobContext,
  cluster: string,
  state: ClusterState,
  plan: Plan
): Promise<{ claim: string | null }> {
  const current = await readOwner(cluster)
  const leftVolumes =
    state.nodes.size || state.network ? [] : await ctx.engine.listVolumes(clusterFilter(cluster))
  const exists = !!(state.nodes.size || state.network || leftVolumes.length || current)
  const a = ctx.admission
  if (a && !a.remove) {
    if (exists && current?.owner !== a.owner) {
      const whose = current
        ? `belongs to ${current.owner}`
        : 'was not made through the service (it has no recorded owner)'
      throw new BerthError(
        'forbidden',
        `cluster "${cluster}" exists and ${whose}; installing over it needs the restore scope on it`,
        { step: 'plan' }
      )
    }
    const removed = plan.nodes.filter((i) => i.action === 'remove').map((i) => i.node)
    if (removed.length) {
      throw new BerthError(
        'forbidden',
        `the topology would remove node(s) ${removed.join(', ')} of cluster "${cluster}"; removing nodes needs the restore scope on it`,
        { step: 'plan' }
      )
    }
  }
  return { claim: exists ? null : (a?.owner ?? 'host') }
}

/** One node's part in a rollout: how to bring it up (if at all), then what it still needs. */
interface Unit {
  node: NodeSpec
  up?: () => Promise<void>
  bootstrap: boolean
  health: boolean
}

/** A promise to be awaited later, whose failure is held until then (never unhandled). */
function settledLater<T>(p: Promise<T>): { wait(): Promise<T> } {
  p.catch(() => {})
  return { wait: () => p }
}

function deferred() {
  let resolve!: () => void
  let reject!: (err: unknown) => void
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)))
  promise.catch(() => {}) // observed by whoever awaits it; never an unhandled rejection
  return { promise, resolve, reject }
}

/**
 * Brings units up, checks their /etc/hosts, bootstraps them phase by phase and waits for health.
 * A phase is done when each of its nodes is bootstrapped and healthy; the next starts only then.
 * Static mode has no barrier: every address is known before any node starts, so a node is
 * verified, and bootstrapped once the phases before it are done, while others still start.
 * Dynamic mode must first learn every address and write every /etc/hosts.
 */
async function rollout(
  ctx: JobContext,
  topology: WiredCluster,
  units: Unit[],
  ids: Map<string, string>,
  hosts: HostEntry[] | undefined
): Promise<void> {
  const ready = new Map(units.map((u) => [u.node.name, deferred()]))
  const t0 = Date.now()
  // A node whose process the kernel killed for memory fails saying so, whatever step noticed.
  const explained = async (u: Unit, err: unknown) => {
    const id = ids.get(u.node.name)
    return id ? explainNodeFailure(ctx, u.node, id, t0, err) : err
  }
  // Awaited only after the phases below: until then a failure is held, never an unhandled
  // rejection (which would end the process before the cleanup and the result).
  const upAll = settledLater(
    mapLimit(units, ctx.concurrency, async (u) => {
      const d = ready.get(u.node.name)!
      try {
        checkpoint(ctx)
        await u.up?.()
        if (hosts) {
          const id = ids.get(u.node.name) as string
          await ctx.steps.timed('verify', u.node.name, () =>
            verifyNode(ctx, topology, u.node.name, id, hosts)
          )
        }
        d.resolve()
      } catch (e) {
        const err = await explained(u, e)
        d.reject(err)
        throw err
      }
    })
  )
  let failure: { err: unknown } | undefined
  try {
    if (!hosts) {
      await upAll.wait()
      await ctx.steps.timed('hosts', undefined, () => wireHosts(ctx, topology, ids))
      await ctx.steps.timed('verify', undefined, () => verifyHosts(ctx, topology, ids))
    }
    const phases = [...new Set(units.map((u) => u.node.phase))].sort((a, b) => a - b)
    for (const phase of phases) {
      await mapLimit(
        units.filter((u) => u.node.phase === phase),
        ctx.concurrency,
        async (u) => {
          await ready.get(u.node.name)!.promise
          checkpoint(ctx)
          const id = ids.get(u.node.name) as string
          try {
            if (u.bootstrap) await bootstrapNode(ctx, u.node, id)
            if (u.health) await waitHealthy(ctx, u.node, id)
          } catch (err) {
            throw await explained(u, err)
          }
        }
      )
    }
  } catch (err) {
    failure = { err }
  }
  // Every create in flight settles first, so a cleanup sees every container this job made.
  await upAll.wait().catch((err) => {
    failure ??= { err }
  })
  if (failure) throw failure.err
}

async function startNode(ctx: JobContext, node: NodeSpec, id: string): Promise<void> {
  try {
    const info = await ctx.engine.inspectContainer(id).catch(() => null)
    if (info?.State.Paused) await ctx.engine.unpauseContainer(id, node.name)
    else await ctx.engine.startContainer(id, node.name)
  } catch (err) {
    const refusal = node.privileged ? privilegedRefusal(err) : null
    if (refusal)
      throw new BerthError('preflight', `node "${node.name}": ${refusal}`, {
        node: node.name,
        step: 'start',
        cause: err,
      })
    throw new BerthError(
      err instanceof BerthError ? err.code : 'engine',
      `node "${node.name}" failed to start: ${err instanceof Error ? err.message : String(err)}`,
      { node: node.name, step: 'start', cause: err }
    )
  }
}

interface NodeVolumes {
  /** Topology volume name → Docker volume name. */
  names: Map<string, string>
  /** The topology volume names whose Docker volume this job created (empty, to be filled). */
  fresh: Set<string>
}

/**
 * The node's volumes: a node being rebuilt keeps the ones it had, whatever a restore named them;
 * missing ones are created (`<cluster>.<node>.<volume>`, staged names in a restore over a
 * running cluster).
 */
async function ensureVolumes(
  ctx: JobContext,
  topology: Topology,
  node: NodeSpec,
  created: Created,
  current: NodeState | undefined,
  stage: string | undefined,
  /** Swarm mode: the node's host, where its volumes are made. */
  host: string | undefined
): Promise<NodeVolumes> {
  const out: NodeVolumes = { names: new Map(), fresh: new Set() }
  for (const v of node.volumes) {
    if (v.external) continue // checked in preflight; never created or removed by berth
    const canonical = volumeSource(topology, node, v)
    const had = current?.mounts.get(v.target)
    const hadInfo = had ? await ctx.engine.inspectVolume(had) : null
    const name =
      hadInfo && hadInfo.Labels?.[LABEL.volume] === v.name
        ? had!
        : stage
          ? staged(canonical, stage)
          : canonical
    out.names.set(v.name, name)
    const existing = name === had ? hadInfo : await ctx.engine.inspectVolume(name)
    if (existing) {
      if (existing.Labels?.[LABEL.cluster] !== topology.name) {
        throw new BerthError(
          'conflict',
          `node "${node.name}": volume "${name}" exists and does not belong to cluster "${topology.name}"`,
          { node: node.name, step: 'volume' }
        )
      }
      continue
    }
    await ctx.engine.createVolume(name, {
      [LABEL.cluster]: topology.name,
      [LABEL.node]: node.name,
      [LABEL.volume]: v.name,
      [LABEL.job]: ctx.job,
      ...(stage ? { [LABEL.restore]: stage } : {}),
      ...(host ? { [LABEL.host]: host } : {}),
    })
    created.volumes.push(name)
    out.fresh.add(v.name)
  }
  return out
}

/**
 * Fills the node's new volumes from the snapshot's archives. Only volumes this job created are
 * written: existing data is never overwritten.
 */
async function loadVolumes(
  ctx: JobContext,
  cluster: string,
  node: NodeSpec,
  volumes: NodeVolumes,
  from: SnapshotSource
) {
  for (const v of node.volumes.filter((v) => volumes.fresh.has(v.name))) {
    const archive = from.volumes.get(`${node.name}/${v.name}`)
    if (!archive) continue
    const image = from.images.get(node.name) ?? node.image
    await ctx.steps.timed('restore', node.name, () =>
      writeVolume(
        ctx,
        cluster,
        volumes.names.get(v.name) as string,
        image,
        createReadStream(archive)
      )
    )
  }
}

/**
 * Takes back exactly what a failed job created: its containers, its new volumes, its network.
 * True when nothing was left. If the engine goes away meanwhile, it stops there (the network is
 * never removed then) and what is left is the next command's.
 */
async function cleanup(ctx: JobContext, created: Created): Promise<boolean> {
  const t0 = Date.now()
  ctx.steps.start('cleanup')
  const problems: string[] = []
  const remove = (what: string, fn: () => Promise<void>) =>
    fn().catch((e) => {
      problems.push(`${what}: ${(e as Error).message}`)
      if (engineGone(e)) ctx.left.push(what)
    })
  await Promise.all(
    created.containers.map((c) =>
      remove(`container of node ${c.name}`, () => ctx.engine.removeContainer(c.id, c.name))
    )
  )
  await Promise.all(
    created.volumes.map((v) => remove(`volume ${v}`, () => ctx.engine.removeVolume(v)))
  )
  if (created.network) {
    if (ctx.left.length) ctx.left.push(`network ${created.network.slice(0, 12)}`)
    else
      await remove(
        `network ${created.network.slice(0, 12)}`,
        async () => void (await ctx.engine.removeNetwork(created.network!))
      )
  }
  if (problems.length) {
    ctx.log(`cleanup left: ${problems.join('; ')}`)
    ctx.steps.fail(
      'cleanup',
      undefined,
      `left ${problems.length}: ${problems.join('; ')}`.slice(0, 300)
    )
  } else {
    ctx.steps.done(
      'cleanup',
      undefined,
      Date.now() - t0,
      `removed ${created.containers.length} containers`
    )
  }
  return problems.length === 0
}

/**
 * Whether the failure is the engine stopping under the job: it went away, or a node the job did
 * not stop was stopped (not for memory) and the engine stops answering within a few seconds — as
 * Docker does when it shuts down (it stops the containers first, then goes).
 */
async function engineStopping(ctx: JobContext, err: unknown, ids: string[]): Promise<boolean> {
  if (engineGone(err)) return true
  if (
    !(err instanceof BerthError) ||
    !['engine', 'bootstrap_failed', 'health_failed', 'hosts_failed', 'timeout'].includes(err.code)
  )
    return false
  let stopped = false
  for (const id of ids) {
    const info = await ctx.engine
      .inspectContainer(id)
      .catch((e) => (engineGone(e) ? null : undefined))
    if (info === null) return true
    // Ran, and was stopped — not for memory, and not by this job.
    const ran = info && !info.State.StartedAt.startsWith('0001-')
    if (info && ran && !info.State.Running && !info.State.OOMKilled) stopped = true
  }
  if (!stopped) return false
  for (const until = Date.now() + 5000; Date.now() < until;) {
    if (
      !(await ctx.engine.version().then(
        () => true,
        () => false
      ))
    )
      return true
    await sleep(250)
  }
  return false
}

/** The swarm's nodes as placement constraints see them, when some node has constraints. */
async function hostFacts(
  ctx: JobContext,
  topology: Topology
): Promise<Map<string, HostFacts> | undefined> {
  if (!(ctx.engine instanceof SwarmEngine) || topology.network.mode !== 'swarm') return undefined
  if (!topology.nodes.some((n) => n.placement && 'constraints' in n.placement)) return undefined
  return ctx.engine.hostFacts()
}

const firstLine = (err: unknown) =>
  err instanceof Error ? err.message.split('\n')[0] : String(err)

/** The hosts of a swarm that do not answer, when some do and the manager is among them; else null. */
async function hostsLost(ctx: JobContext): Promise<string[] | null> {
  if (!(ctx.engine instanceof SwarmEngine)) return null
  const r = await ctx.engine.reachable().catch(() => null)
  return r?.lost.length ? r.lost : null
}

/** Nothing is removed: the journal stays, and the next command on the cluster finishes the job. */
function leaveForNextCommand(
  ctx: JobContext,
  cluster: string,
  created: Created,
  err: unknown
): BerthError {
  const left = [
    ...created.containers.map((c) => `container ${cluster}.${c.name}`),
    ...created.volumes.map((v) => `volume ${v}`),
    ...(created.network ? [`network ${created.network.slice(0, 12)}`] : []),
  ]
  ctx.left.push(...left)
  const why = firstLine(err)
  ctx.steps.fail('cleanup', undefined, `the Docker engine is going away: nothing was removed`)
  return new BerthError(
    'engine_gone',
    `the Docker engine went away during the job (${why}); berth stopped there${left.length ? ` and left ${left.join(', ')}` : ''}; the next berth command on "${cluster}" finishes the job once the engine is back`,
    {
      cause: err,
      ...(err instanceof BerthError ? { node: err.info.node, step: err.info.step } : {}),
    }
  )
}

/** What the job built, as the result lists it: the given containers, on the given network. */
export async function summarize(
  ctx: JobContext,
  topology: Topology,
  ids: Map<string, string>,
  network: string
): Promise<NodeSummary[]> {
  const listed = await ctx.engine.listContainers(clusterFilter(topology.name))
  const byId = new Map(listed.map((c) => [c.Id, c]))
  return topology.nodes.flatMap((n) => {
    const c = byId.get(ids.get(n.name) ?? '')
    if (!c) return []
    const ip = c.NetworkSettings?.Networks?.[network]?.IPAddress || null
    const published = publishedPorts(c).map(publishedUrl)
    return [
      {
        name: n.name,
        hostname: n.hostname,
        ip,
        id: c.Id.slice(0, 12),
        state: c.State,
        ...(published.length ? { published } : {}),
      },
    ]
  })
}
