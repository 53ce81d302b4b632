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
import { checkpoint, type JobContext } from './context.ts'
import { BerthError } from './errors.ts'
import type { NodeSummary } from './events.ts'
import { installCluster } from './install.ts'
import { clusterFilter } from './labels.ts'
import { destroyCluster } from './lifecycle.ts'
import { overlaps } from './cidr.ts'
import { usedSubnets } from './network.ts'
import { readCluster } from './nodes.ts'
import { mapLimit } from './pool.ts'
import { fileDigest, readManifest, runHook, snapshotDir, type SnapshotManifest } from './snapshot.ts'
import { validateTopology, type Topology } from './topology.ts'

/** Refuses a damaged snapshot, naming the damaged part. Reads every archive in full. */
export async function verifySnapshot(ctx: JobContext, manifest: SnapshotManifest): Promise<void> {
  const dir = snapshotDir(manifest.cluster, manifest.id)
  const damaged = (part: string, why: string) =>
    new BerthError('snapshot_damaged', `snapshot "${manifest.id}" is damaged: ${part}: ${why}; nothing was changed`, {
      step: 'verify',
    })
  await mapLimit(manifest.volumes, ctx.concurrency, async (v) => {
    const path = join(dir, v.file)
    const st = await stat(path).catch(() => null)
    if (!st) throw damaged(v.file, 'missing')
    if (st.size !== v.size) throw damaged(v.file, `${st.size} bytes, the manifest says ${v.size}`)
    const got = await fileDigest(path)
    if (got.sha256 !== v.sha256) throw damaged(v.file, `sha256 ${got.sha256.slice(0, 12)}…, the manifest says ${v.sha256.slice(0, 12)}…`)
  })
  await mapLimit(manifest.nodes, ctx.concurrency, async (n) => {
    const image = await ctx.engine.inspectImage(n.image.ref)
    if (!image) throw damaged(`image ${n.image.ref} (node ${n.name})`, 'not on this Docker host')
    if (image.Id !== n.image.id) throw damaged(`image ${n.image.ref} (node ${n.name})`, `is ${image.Id.slice(7, 19)}, the manifest says ${n.image.id.slice(7, 19)}`)
  })
}

export interface RestoreOptions {
  /** Restore beside the original, as a cluster of this name. */
  as?: string
  /** The restored cluster's domain (hostnames `<node>.<domain>`); the snapshot's by default. */
  domain?: string
}

export async function restoreCluster(
  ctx: JobContext,
  cluster: string,
  snapshot: string,
  opts: RestoreOptions = {}
): Promise<{ cluster: string; nodes: NodeSummary[]; manifest: SnapshotManifest }> {
  const manifest = await readManifest(cluster, snapshot)
  await ctx.steps.timed('verify', undefined, () => verifySnapshot(ctx, manifest))
  checkpoint(ctx)

  const target = opts.as ?? cluster
  const topology = await targetTopology(ctx, manifest, target, opts.domain)
  const existing = await readCluster(ctx.engine, target)
  const leftVolumes = await ctx.engine.listVolumes(clusterFilter(target))
  if (existing.nodes.size || existing.network) {
    throw new BerthError(
      'conflict',
      `cluster "${target}" exists: restore beside it with --as <new-name>, or destroy it first (restoring over a running cluster is not available yet)`
    )
  }
  if (leftVolumes.length) {
    throw new BerthError(
      'conflict',
      `volumes of cluster "${target}" exist (${leftVolumes.map((v) => v.Name).join(', ')}), probably left by a destroy without --volumes; they are never overwritten: remove them (berth destroy ${target} --volumes) or restore --as <new-name>`
    )
  }

  const from = {
    snapshot: manifest.id,
    images: new Map(manifest.nodes.map((n) => [n.name, n.image.ref])),
    volumes: new Map(manifest.volumes.map((v) => [`${v.node}/${v.name}`, join(snapshotDir(cluster, snapshot), v.file)])),
    bootstrapped: new Set(manifest.nodes.filter((n) => n.bootstrapped).map((n) => n.name)),
    addresses: new Map(manifest.nodes.filter((n) => n.ip).map((n) => [n.name, n.ip as string])),
  }
  try {
    const r = await installCluster(ctx, topology, { from })
    const ids = new Map(r.nodes.map((n) => [n.name, n.id]))
    const handles = topology.nodes.map((n) => ({ name: n.name, id: ids.get(n.name) as string }))
    await ctx.steps.timed('hook', undefined, () => runHook(ctx, 'postRestore', topology.hooks.postRestore, handles))
    await mapLimit(topology.nodes, ctx.concurrency, (n) => waitHealthy(ctx, n, ids.get(n.name) as string))
    return { cluster: target, nodes: r.nodes, manifest }
  } catch (err) {
    // The target did not exist before this job: everything labelled for it is this job's.
    await destroyCluster(ctx, target, { volumes: true }).catch((e) => ctx.log(`cleanup after a failed restore: ${e}`))
    throw err
  }
}

/** The snapshot's topology under its new name and domain, on its old subnet when that is free. */
async function targetTopology(
  ctx: JobContext,
  manifest: SnapshotManifest,
  name: string,
  domain?: string
): Promise<Topology> {
  const t = manifest.topology
  let subnet: string | null = null
  if (manifest.network.mode === 'static' && manifest.network.subnet) {
    const used = await usedSubnets(ctx.engine)
    if (!used.some((u) => overlaps(u.subnet, manifest.network.subnet as string))) subnet = manifest.network.subnet
  }
  const dom = domain ?? t.domain
  // The validator checks the new name, domain and hostnames; the nodes themselves are kept as
  // they were expanded (runner1 stays of role runner), so their definition hashes do not change.
  validateTopology({ name, image: t.image, domain: dom, nodes: t.nodes.map((n) => ({ name: n.name })) })
  return {
    ...t,
    name,
    domain: dom,
    network: { mode: t.network.mode, subnet },
    nodes: t.nodes.map((n) => ({ ...n, hostname: `${n.name}.${dom}` })),
  }
}
