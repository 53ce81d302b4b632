/**
 * upgrade: snapshot first, then converge on the new image (or a changed topology) — install
 * rebuilds each changed node in phase order, keeping its volumes, and bootstraps it again. On any
 * failure the cluster is rolled back to that snapshot automatically, and the job says so.
 */
import { claimOwner, loadTopology, readOwner } from './cluster-record.ts'
import { note, type JobContext } from './context.ts'
import { asBerthError, BerthError } from './errors.ts'
import type { NodeSummary } from './events.ts'
import { installCluster } from './install.ts'
import { destroyCluster } from './lifecycle.ts'
import { restoreCluster } from './restore.ts'
import { snapshotCluster } from './snapshot.ts'
import type { Topology } from './topology.ts'

export interface UpgradeOptions {
  /** The new image for every node that runs the cluster's default image. */
  image?: string
  /** Or a whole changed topology (same cluster name). */
  topology?: Topology
}

export async function upgradeCluster(
  ctx: JobContext,
  cluster: string,
  opts: UpgradeOptions
): Promise<{ snapshot: string; nodes: NodeSummary[] }> {
  const current = await loadTopology(cluster)
  const next = opts.topology ?? withImage(current, opts.image)
  if (next.name !== cluster) {
    throw new BerthError(
      'invalid_job',
      `topology: its name "${next.name}" is not the cluster "${cluster}"`
    )
  }
  // Before the snapshot: a missing image is refused with nothing changed and nothing stored.
  for (const image of new Set(next.nodes.map((n) => n.image))) {
    if (!(await ctx.engine.inspectImage(image))) {
      throw new BerthError(
        'preflight',
        `image "${image}" is not on this Docker host; nothing was changed`
      )
    }
  }
  const tag =
    `${cluster}-pre-upgrade-${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`.slice(
      0,
      64
    )
  const snapshot = await snapshotCluster(ctx, cluster, { tag, topology: current })
  note(ctx, { op: 'upgrade-snapshot', id: snapshot.id })
  ctx.log(`upgrade: snapshot ${snapshot.id} taken; converging on the new definition`)
  try {
    note(ctx, { op: 'converge' })
    const r = await installCluster(ctx, next)
    return { snapshot: snapshot.id, nodes: r.nodes }
  } catch (err) {
    const cause = asBerthError(err)
    ctx.log(`upgrade failed (${cause.message.split('\n')[0]}); rolling back to ${snapshot.id}`)
    try {
      // The snapshot holds every volume as it was just before the upgrade: the cluster is
      // rebuilt from it whole, so no half-upgraded node or volume survives.
      const owner = await readOwner(cluster)
      await destroyCluster(ctx, cluster, { volumes: true })
      await restoreCluster(ctx, cluster, snapshot.id)
      // The cluster it was, owner included.
      if (owner) await claimOwner(cluster, owner.owner, owner.job)
    } catch (rollbackErr) {
      throw new BerthError(
        cause.code,
        `upgrade failed: ${cause.message}\nthe rollback failed too: ${asBerthError(rollbackErr).message}\nsnapshot ${snapshot.id} is intact: berth restore ${cluster} ${snapshot.id}`,
        { ...cause.info, cause: err }
      )
    }
    throw new BerthError(
      cause.code,
      `upgrade failed and was rolled back to snapshot ${snapshot.id}; the cluster runs as before.\n${cause.message}`,
      { ...cause.info, cause: err }
    )
  }
}

/** The topology with `image` for every node that ran the cluster's default image. */
function withImage(t: Topology, image: string | undefined): Topology {
  if (!image) throw new BerthError('invalid_job', 'image: required (or give a changed topology)')
  return { ...t, image, nodes: t.nodes.map((n) => (n.image === t.image ? { ...n, image } : n)) }
}
