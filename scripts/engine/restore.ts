/**
 * restore: a snapshot back into a running, wired, healthy cluster. Every checksum, size and
 * image is verified before anything is touched. The nodes are built by install itself, from the
 * snapshot's images and volume archives (same hostnames; the same subnet and addresses when the
 * subnet is free, new ones otherwise), then the postRestore hooks run and health is checked.
 * A failure removes everything the restore built.
 */
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { waitHealthy } from './bootstrap.ts'
import { checkpoint, note, type JobContext } from './context.ts'
import { BerthError } from './errors.ts'
import type { NodeSummary } from './events.ts'
import { installCluster, summarize, type SnapshotSource } from './install.ts'
import { saveTopology } from './cluster-record.ts'
import { LABEL, clusterFilter, containerName, staged } from './labels.ts'
import { destroyCluster, removeSwapImages } from './lifecycle.ts'
import { readCluster, type ClusterState } from './nodes.ts'
import {
  finalName,
  movePorts,
  movePortsBack,
  preparePublished,
  type PortGap,
  type Published,
} from './restore-ports.ts'
import { wireHosts } from './wiring.ts'
import { mapLimit } from './pool.ts'
import {
  fileDigest,
  markInUse,
  readManifest,
  runHook,
  snapshotDir,
  type SnapshotManifest,
} from './snapshot.ts'
import { topologyChecks } from './preflight.ts'
import { restorePlacement } from './restore-placement.ts'
import { validateTopology, type Topology } from './topology.ts'

/** Refuses a damaged snapshot, naming the damaged part. Reads every archive in full. */
export async function verifySnapshot(ctx: JobContext, manifest: SnapshotManifest): Promise<void> {
  const dir = snapshotDir(manifest.cluster, manifest.id)
  const damaged = (part: string, why: string) =>
    new BerthError(
      'snapshot_damaged',
      `snapshot "${manifest.id}" is damaged: ${part}: ${why}; nothing was changed`,
      {
        step: 'verify',
      }
    )
  await mapLimit(manifest.volumes, ctx.concurrency, async (v) => {
    const path = join(dir, v.file)
    const st = await stat(path).catch(() => null)
    if (!st) throw damaged(v.file, 'missing')
    if (st.size !== v.size) throw damaged(v.file, `${st.size} bytes, the manifest says ${v.size}`)
    const got = await fileDigest(path)
    if (got.sha256 !== v.sha256)
      throw damaged(
        v.file,
        `sha256 ${got.sha256.slice(0, 12)}…, the manifest says ${v.sha256.slice(0, 12)}…`
      )
  })
  await mapLimit(manifest.nodes, ctx.concurrency, async (n) => {
    const image = await ctx.engine.inspectImage(n.image.ref)
    if (!image) throw damaged(`image ${n.image.ref} (node ${n.name})`, 'not on this Docker host')
    if (image.Id !== n.image.id)
      throw damaged(
        `image ${n.image.ref} (node ${n.name})`,
        `is ${image.Id.slice(7, 19)}, the manifest says ${n.image.id.slice(7, 19)}`
      )
  })
}

export interface RestoreResult {
  cluster: string
  nodes: NodeSummary[]
  manifest: SnapshotManifest
  /** A restore over a running cluster: how long each published port did not answer. */
  ports?: PortGap[]
}

export interface RestoreOptions {
  /** Restore beside the original, as a cluster of this name. */
  as?: string
  /** The restored cluster's domain (hostnames `<node>.<domain>`); the snapshot's by default. */
  domain?: string
  /** `offset:N`: every published host port + N; `none`: no port published. */
  ports?: string
  /** A swarm cluster's: `same`, `spread` or `host=a[,b…]` (restore-placement.ts). */
  placement?: string
}

export async function restoreCluster(
  ctx: JobContext,
  cluster: string,
  snapshot: string,
  opts: RestoreOptions = {}
): Promise<RestoreResult> {
  const manifest = await readManifest(cluster, snapshot)
  const release = await markInUse(cluster, snapshot, ctx.job)
  try {
    return await restoreVerified(ctx, manifest, opts)
  } finally {
    await release()
  }
}

async function restoreVerified(
  job: JobContext,
  manifest: SnapshotManifest,
  opts: RestoreOptions
): Promise<RestoreResult> {
  const cluster = manifest.cluster
  const target = opts.as ?? cluster
  // A swarm cluster's: on the hosts that answer, each node where --placement says.
  const placed = await restorePlacement(
    job,
    manifest,
    withPorts(await targetTopology(manifest, target, opts.domain), opts.ports),
    opts.placement
  )
  const { ctx, topology } = placed
  await ctx.steps.timed('verify', undefined, () => verifySnapshot(ctx, manifest))
  checkpoint(ctx)
  if (opts.as && opts.as !== cluster && !opts.ports) await refuseTakenPorts(ctx, topology)
  const existing = await readCluster(ctx.engine, target)
  const leftVolumes = await ctx.engine.listVolumes(clusterFilter(target))
  const from = { ...sourceOf(manifest), hosts: placed.hosts, placeOn: placed.placeOn }
  // A job run again after its server died (same job id) may have finished before the crash:
  // every node is then one this job built, and there is nothing left to do.
  const nodes = [...existing.nodes.values()]
  if (nodes.length === topology.nodes.length && nodes.every((n) => n.job === ctx.job)) {
    ctx.log(`cluster ${target} was already restored by this job (before an interruption)`)
    const ids = new Map(nodes.map((n) => [n.name, n.id]))
    return {
      cluster: target,
      nodes: await summarize(ctx, topology, ids, nodes[0].network ?? ''),
      manifest,
    }
  }
  if (existing.nodes.size) return restoreOver(ctx, topology, from, existing, manifest)
  if (existing.network || leftVolumes.length) {
    throw new BerthError(
      'conflict',
      `cluster "${target}" has no nodes but ${leftVolumes.length ? `volumes (${leftVolumes.map((v) => v.Name).join(', ')})` : 'a network'} left, probably by a destroy without --volumes; they are never overwritten: remove them (berth destroy ${target} --volumes) or restore --as <new-name>`
    )
  }
  try {
    const r = await installCluster(ctx, topology, { from })
    const ids = new Map(r.nodes.map((n) => [n.name, n.id]))
    await afterRestore(ctx, topology, ids)
    return { cluster: target, nodes: r.nodes, manifest }
  } catch (err) {
    // The target did not exist before this job: everything labelled for it is this job's.
    await destroyCluster(ctx, target, { volumes: true }).catch((e) =>
      ctx.log(`cleanup after a failed restore: ${e}`)
    )
    throw err
  }
}

/** The restored nodes' postRestore hook, then every node healthy. */
async function afterRestore(
  ctx: JobContext,
  topology: Topology,
  ids: Map<string, string>
): Promise<void> {
  const handles = topology.nodes.map((n) => ({ name: n.name, id: ids.get(n.name) as string }))
  await ctx.steps.timed('hook', undefined, () =>
    runHook(ctx, 'postRestore', topology.hooks.postRestore, handles)
  )
  await mapLimit(topology.nodes, ctx.concurrency, (n) =>
    waitHealthy(ctx, n, ids.get(n.name) as string)
  )
}

function sourceOf(manifest: SnapshotManifest): SnapshotSource {
  return {
    snapshot: manifest.id,
    images: new Map(manifest.nodes.map((n) => [n.name, n.image.ref])),
    volumes: new Map(
      manifest.volumes.map((v) => [
        `${v.node}/${v.name}`,
        join(snapshotDir(manifest.cluster, manifest.id), v.file),
      ])
    ),
    bootstrapped: new Set(manifest.nodes.filter((n) => n.bootstrapped).map((n) => n.name)),
    addresses: new Map(manifest.nodes.filter((n) => n.ip).map((n) => [n.name, n.ip as string])),
    subnet: manifest.topology.network.addresses === 'pinned' ? manifest.network.subnet : null,
  }
}

/**
 * Restore over a running cluster: the restored cluster is built beside it under staged names
 * (`.r<id>`: containers, network, volumes), its hooks run and its health is checked, and only
 * then are the names swapped — the running nodes renamed aside, the staged ones into their
 * names — and the old nodes, network and volumes removed. Until the swap the original runs
 * untouched; any failure before it removes what was staged and nothing else.
 */
async function restoreOver(
  ctx: JobContext,
  topology: Topology,
  from: SnapshotSource,
  original: ClusterState,
  manifest: SnapshotManifest
): Promise<RestoreResult> {
  const stage = Math.random().toString(36).slice(2, 8)
  ctx.log(`restore over running cluster "${topology.name}": staging as .r${stage}`)
  note(ctx, { op: 'stage', id: stage })
  let ids: Map<string, string>
  let gaps: PortGap[] = []
  try {
    await installCluster(ctx, topology, { from, stage })
    const listed = await ctx.engine.listContainers([
      ...clusterFilter(topology.name),
      `${LABEL.restore}=${stage}`,
    ])
    ids = new Map(listed.map((c) => [c.Labels[LABEL.node], c.Id]))
    await afterRestore(ctx, topology, ids)
    checkpoint(ctx)
    const originals = new Map([...original.nodes].map(([name, n]) => [name, n.id]))
    const published = await preparePublished(ctx, topology, stage, ids, originals)
    checkpoint(ctx)
    gaps = await ctx.steps.timed('swap', undefined, () =>
      swapNames(ctx, topology, original, ids, stage, published)
    )
    for (const p of published) ids.set(p.node, p.final)
    note(ctx, { op: 'swapped' })
  } catch (err) {
    await removeStaged(ctx, topology.name, stage)
    throw err
  }
  await removeOriginal(ctx, original)
  // The rehearsals of published nodes, stopped at the swap: their finals took over.
  for (const c of await ctx.engine.listContainers([
    ...clusterFilter(topology.name),
    `${LABEL.restore}=${stage}`,
  ])) {
    if (!c.Names?.some((n) => n === `/${containerName(topology.name, c.Labels[LABEL.node])}`))
      await ctx.engine.removeContainer(c.Id)
  }
  await saveTopology(topology)
  const state = await readCluster(ctx.engine, topology.name)
  return {
    cluster: topology.name,
    nodes: await summarize(ctx, topology, ids, state.network?.Name ?? ''),
    manifest,
    ...(gaps.length ? { ports: gaps } : {}),
  }
}

/**
 * Renames the running nodes aside and the staged ones into their names; a node that publishes
 * ports gets its final container instead of its rehearsal (the ports move at this point: see
 * restore-ports.ts). In dynamic mode a final has a new address: every node's hosts are rewired.
 * Undone on failure.
 */
async function swapNames(
  ctx: JobContext,
  topology: Topology,
  original: ClusterState,
  stagedIds: Map<string, string>,
  stage: string,
  published: Published[]
): Promise<PortGap[]> {
  const done: { id: string; back: string }[] = []
  const volumes = new Set<string>()
  for (const n of original.nodes.values()) for (const v of n.mounts.values()) volumes.add(v)
  const finals = new Map(published.map((p) => [p.node, p.final]))
  const incoming = topology.nodes.map((n) => {
    const final = finals.get(n.name)
    return final
      ? {
          id: final,
          from: finalName(topology.name, n.name, stage),
          to: containerName(topology.name, n.name),
        }
      : {
          id: stagedIds.get(n.name) as string,
          from: staged(containerName(topology.name, n.name), stage),
          to: containerName(topology.name, n.name),
        }
  })
  note(ctx, {
    op: 'swap',
    renames: [
      ...[...original.nodes].map(([name, n]) => ({
        id: n.id,
        from: containerName(topology.name, name),
        to: `${containerName(topology.name, name)}.old${stage}`,
      })),
      ...incoming,
    ],
    old: {
      ids: [...original.nodes.values()].map((n) => n.id),
      network: original.network?.Id ?? null,
      volumes: [...volumes],
    },
    stopped: published.flatMap((p) => (p.original ? [p.original] : [])),
    topology,
  })
  let moved = false
  try {
    for (const [name, n] of original.nodes) {
      const canonical = containerName(topology.name, name)
      await ctx.engine.renameContainer(n.id, `${canonical}.old${stage}`)
      done.push({ id: n.id, back: canonical })
    }
    moved = published.length > 0
    const gaps = moved ? await movePorts(ctx, topology, published) : []
    for (const r of incoming) {
      await ctx.engine.renameContainer(r.id, r.to)
      done.push({ id: r.id, back: r.from })
    }
    if (moved && topology.network.addresses === 'dynamic') {
      const ids = new Map(incoming.map((r, i) => [topology.nodes[i].name, r.id]))
      const network = (await readCluster(ctx.engine, topology.name)).network?.Name ?? ''
      await ctx.steps.timed('hosts', undefined, () =>
        wireHosts(ctx, { name: topology.name, network, nodes: topology.nodes }, ids)
      )
    }
    return gaps
  } catch (err) {
    // Put every name back, newest first, so the original is the cluster again.
    for (const d of done.reverse()) await ctx.engine.renameContainer(d.id, d.back).catch(() => {})
    if (moved) await movePortsBack(ctx, published)
    throw err
  }
}

/** After a successful swap: the old nodes, their network and berth's volumes they used. */
async function removeOriginal(ctx: JobContext, original: ClusterState): Promise<void> {
  const volumes = new Set<string>()
  for (const n of original.nodes.values()) for (const v of n.mounts.values()) volumes.add(v)
  await mapLimit([...original.nodes.values()], ctx.concurrency, (n) =>
    ctx.steps.timed('remove', n.name, () => ctx.engine.removeContainer(n.id, n.name))
  )
  await removeSwapImages(ctx, original.name)
  if (original.network) await ctx.engine.removeNetwork(original.network.Id)
  for (const name of volumes) {
    const info = await ctx.engine.inspectVolume(name)
    // Only berth's own volumes of this cluster; an external volume is the user's.
    if (info?.Labels?.[LABEL.cluster] === original.name) await ctx.engine.removeVolume(name)
  }
}

/** Everything a restore staged (by its label), and nothing else. */
async function removeStaged(ctx: JobContext, cluster: string, stage: string): Promise<void> {
  const filter = [...clusterFilter(cluster), `${LABEL.restore}=${stage}`]
  const containers = await ctx.engine.listContainers(filter)
  await Promise.all(containers.map((c) => ctx.engine.removeContainer(c.Id)))
  for (const n of await ctx.engine.listNetworks(filter)) await ctx.engine.removeNetwork(n.Id)
  for (const v of await ctx.engine.listVolumes(filter)) await ctx.engine.removeVolume(v.Name)
  await removeSwapImages(ctx, cluster)
}

/** The topology with its published ports moved by `offset:N`, or dropped (`none`). */
function withPorts(topology: Topology, ports: string | undefined): Topology {
  if (!ports) return topology
  const offset = ports === 'none' ? null : Number(ports.slice('offset:'.length))
  const nodes = topology.nodes.map((n) => {
    if (offset === null) return { ...n, ports: [] }
    const moved = n.ports.map((p) => ({ ...p, hostPort: p.hostPort + offset }))
    const over = moved.find((p) => p.hostPort > 65535)
    if (over)
      throw new BerthError(
        'invalid_job',
        `--ports ${ports}: node "${n.name}" would publish host port ${over.hostPort}, past 65535`
      )
    return { ...n, ports: moved }
  })
  return { ...topology, nodes }
}

/** A copy beside the original cannot take the original's ports: say which, and what to do. */
async function refuseTakenPorts(ctx: JobContext, topology: Topology): Promise<void> {
  if (!topology.nodes.some((n) => n.ports.length)) return
  const taken = (await topologyChecks(ctx.engine, topology)).filter(
    (c) => c.name === 'port' && c.status === 'fail'
  )
  if (!taken.length) return
  throw new BerthError(
    'conflict',
    `the restored copy "${topology.name}" would publish host ports that are taken:\n${taken.map((c) => c.message).join('\n')}\nrestore it with --ports offset:N (every host port + N) or --ports none; nothing was changed`,
    { step: 'preflight' }
  )
}

/**
 * The snapshot's topology under its new name and domain. Its subnet is left to the plan, which
 * prefers the snapshot's old one when that is free (SnapshotSource.subnet) and picks another when
 * it is not — or when another network takes it first.
 */
async function targetTopology(
  manifest: SnapshotManifest,
  name: string,
  domain?: string
): Promise<Topology> {
  const t = manifest.topology
  const dom = domain ?? t.domain
  // The validator checks the new name, domain and hostnames; the nodes themselves are kept as
  // they were expanded (runner1 stays of role runner), so their definition hashes do not change.
  validateTopology({
    name,
    image: t.image,
    domain: dom,
    nodes: t.nodes.map((n) => ({ name: n.name })),
  })
  return {
    ...t,
    name,
    domain: dom,
    network: { ...t.network, subnet: null },
    nodes: t.nodes.map((n) => ({ ...n, hostname: `${n.name}.${dom}` })),
  }
}
