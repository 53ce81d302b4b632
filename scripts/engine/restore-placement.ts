/**
 * Where a restore puts the nodes of a swarm cluster (`--placement`):
 * - `same` (the default): each node on the host it ran on when the snapshot was taken. A host
 *   that does not answer refuses the restore, naming the host and its nodes.
 * - `spread`: every node dealt over the hosts that answer, the least-loaded first; a host that
 *   does not answer is planned around (said in the log).
 * - `host=a[,b…]`: every node dealt over these hosts only; each must answer.
 * The snapshot's images are on the manager (snapshot.ts gathers them there); each is copied to
 * its node's new host when the node is made (swarm-engine.ts).
 */
import type { JobContext } from './context.ts'
import { BerthError } from './errors.ts'
import type { SnapshotManifest } from './snapshot.ts'
import { SwarmEngine } from './swarm-engine.ts'
import type { Topology } from './topology.ts'

export interface RestorePlacement {
  /** The job's context on the hosts that answer. */
  ctx: JobContext
  topology: Topology
  /** `same`: the host each node ran on, where a spread node goes back to. */
  hosts?: Map<string, string>
  /** The hosts the nodes are dealt over (spread, host=…). */
  placeOn?: string[]
}

export async function restorePlacement(
  ctx: JobContext,
  manifest: SnapshotManifest,
  topology: Topology,
  placement = 'same'
): Promise<RestorePlacement> {
  if (topology.network.mode !== 'swarm') {
    if (placement !== 'same')
      throw new BerthError(
        'invalid_job',
        `options.placement: cluster "${manifest.cluster}" lives on one Docker host (network.mode ${topology.network.mode}); a placement is for a swarm cluster`
      )
    return { ctx, topology }
  }
  if (!(ctx.engine instanceof SwarmEngine))
    throw new BerthError(
      'preflight',
      `snapshot "${manifest.id}" is of a cluster across the hosts of a swarm: its restore needs the swarm's engines (an engines file: BERTH_ENGINES, or $BERTH_HOME/engines.yaml)`
    )
  const { engine, lost } = await ctx.engine.reachable()
  const on = { ...ctx, engine }
  if (placement === 'same') {
    if (lost.length) {
      const stranded = manifest.nodes.filter((n) => n.host && lost.includes(n.host))
      throw new BerthError(
        'preflight',
        `host ${lost.join(', ')} does not answer${stranded.length ? ` (nodes ${stranded.map((n) => n.name).join(', ')} ran there)` : ''}: restore with --placement spread (over the hosts that answer) or --placement host=NAME[,NAME…]; nothing was changed`
      )
    }
    return {
      ctx: on,
      topology,
      hosts: new Map(manifest.nodes.filter((n) => n.host).map((n) => [n.name, n.host!])),
    }
  }
  let placeOn = engine.hosts.map((h) => h.name)
  if (placement.startsWith('host=')) {
    placeOn = placement.slice('host='.length).split(',')
    for (const h of placeOn) {
      if (!ctx.engine.host(h))
        throw new BerthError(
          'preflight',
          `options.placement: host "${h}" is not a host of the swarm (${ctx.engine.hosts.map((x) => x.name).join(', ')})`
        )
      if (lost.includes(h))
        throw new BerthError(
          'preflight',
          `options.placement: host ${h} does not answer; nothing was changed`
        )
    }
  }
  if (lost.length)
    ctx.log(
      `host ${lost.join(', ')} does not answer: planned around (nodes go to ${placeOn.join(', ')})`
    )
  return {
    ctx: on,
    topology: {
      ...topology,
      nodes: topology.nodes.map((n) => ({ ...n, placement: { spread: true } })),
    },
    placeOn,
  }
}
