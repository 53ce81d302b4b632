/**
 * Hosts wiring. Static mode needs none at run time (ExtraHosts at create time); dynamic mode, the
 * 2015 installer's way, learns every address after start and writes one managed block into every
 * node's /etc/hosts in place. Both are then verified against each node's own /etc/hosts.
 */
import { readHosts, writeHosts } from './container-files.ts'
import type { JobContext } from './context.ts'
import { BerthError } from './errors.ts'
import {
  entriesOf,
  hostsProblems,
  managedBlock,
  withManagedBlock,
  type HostEntry,
} from './hosts.ts'
import { clusterFilter } from './labels.ts'
import { mapLimit } from './pool.ts'

/** What wiring needs of a cluster: its name, its Docker network, each node's names. */
export interface WiredCluster {
  name: string
  network: string
  nodes: { name: string; hostname: string }[]
}

/** The cluster's hosts entries from the addresses the nodes have now (one engine call). */
export async function liveEntries(
  ctx: JobContext,
  topology: WiredCluster,
  ids: Map<string, string>
): Promise<HostEntry[]> {
  const net = topology.network
  const listed = await ctx.engine.listContainers(clusterFilter(topology.name))
  const ipOf = new Map(listed.map((c) => [c.Id, c.NetworkSettings?.Networks?.[net]?.IPAddress]))
  return entriesOf(
    topology.nodes
      .filter((n) => ids.has(n.name))
      .map((n) => {
        const ip = ipOf.get(ids.get(n.name) as string)
        if (!ip) {
          throw new BerthError(
            'hosts_failed',
            `node "${n.name}" has no address on network "${net}" (is it running?)`,
            {
              node: n.name,
              step: 'hosts',
            }
          )
        }
        return { name: n.name, hostname: n.hostname, ip }
      })
  )
}

/** Writes the managed block into every node's /etc/hosts (dynamic mode). */
export async function wireHosts(
  ctx: JobContext,
  topology: WiredCluster,
  ids: Map<string, string>
): Promise<HostEntry[]> {
  const entries = await liveEntries(ctx, topology, ids)
  const block = managedBlock(topology.name, entries)
  await mapLimit([...ids], ctx.concurrency, async ([node, id]) => {
    const current = await readHosts(ctx, id)
    await writeHosts(ctx, node, id, withManagedBlock(current, block))
  })
  return entries
}

/** Reads every node's /etc/hosts (archive API: no shell needed) and checks every peer's name. */
export async function verifyHosts(
  ctx: JobContext,
  topology: WiredCluster,
  ids: Map<string, string>
): Promise<void> {
  const entries = await liveEntries(ctx, topology, ids)
  const failures = await mapLimit([...ids], ctx.concurrency, async ([node, id]) => {
    const text = await readHosts(ctx, id)
    const problems = hostsProblems(text, entries)
    return problems.length ? `node "${node}": ${problems.join('; ')}` : null
  })
  const bad = failures.filter((f): f is string => f !== null)
  if (bad.length) {
    throw new BerthError(
      'hosts_failed',
      `/etc/hosts is wrong on ${bad.length} node(s):\n${bad.join('\n')}`,
      {
        step: 'verify',
        node: bad[0].match(/^node "([^"]+)"/)?.[1],
      }
    )
  }
}

/**
 * Static mode: checks one node as soon as it runs, against the planned entries — its address
 * is the one pinned for it, and its /etc/hosts names every peer at its pinned address.
 */
export async function verifyNode(
  ctx: JobContext,
  topology: WiredCluster,
  node: string,
  id: string,
  entries: HostEntry[]
): Promise<void> {
  const [info, hosts] = await Promise.all([ctx.engine.inspectContainer(id), readHosts(ctx, id)])
  const want = entries.find((e) => e.short === node)?.ip
  const got = info.NetworkSettings?.Networks?.[topology.network]?.IPAddress
  const problems = hostsProblems(hosts, entries)
  if (got !== want) problems.unshift(`its address is ${got || 'none'}, expected ${want}`)
  if (problems.length) {
    throw new BerthError(
      'hosts_failed',
      `/etc/hosts is wrong on node "${node}": ${problems.join('; ')}`,
      {
        node,
        step: 'verify',
      }
    )
  }
}
