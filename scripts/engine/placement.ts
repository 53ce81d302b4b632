/**
 * Which host of a swarm each node of a `network.mode: swarm` cluster lives on, from its
 * `placement`: a named host, or spread (the spread nodes dealt over the hosts in turn, in the
 * topology's order); a node without one lives on the manager (the first host). Pure.
 */
import { BerthError } from './errors.ts'
import type { Topology } from './topology.ts'

/**
 * Node → host, or null for a cluster on one engine. `hosts`: the swarm's, the manager first;
 * `current`: where the cluster's nodes run now. A spread node stays where it runs (so that one
 * change moves one node, not every one dealt after it); a new one goes to the host with the
 * fewest of the cluster's nodes, the first of them on a tie.
 */
export function placeNodes(
  topology: Topology,
  hosts: readonly string[] | undefined,
  current: ReadonlyMap<string, string | null> = new Map()
): Map<string, string> | null {
  if (topology.network.mode !== 'swarm') return null
  if (!hosts?.length) {
    throw new BerthError(
      'preflight',
      "network.mode swarm needs the swarm's engines: an engines file (BERTH_ENGINES, or $BERTH_HOME/engines.yaml) naming its manager and hosts"
    )
  }
  const out = new Map<string, string>()
  const load = new Map(hosts.map((h) => [h, 0]))
  const put = (node: string, host: string) => {
    out.set(node, host)
    load.set(host, (load.get(host) ?? 0) + 1)
  }
  const spread: string[] = []
  topology.nodes.forEach((node, i) => {
    const p = node.placement
    if (p && 'host' in p) {
      if (!hosts.includes(p.host)) {
        throw new BerthError(
          'preflight',
          `nodes[${i}] (${node.name}): placement.host "${p.host}" is not a host of the swarm (${hosts.join(', ')})`,
          { node: node.name, step: 'preflight' }
        )
      }
      put(node.name, p.host)
    } else if (p) {
      spread.push(node.name)
    } else {
      put(node.name, hosts[0])
    }
  })
  const staying = spread.filter((n) => hosts.includes(current.get(n) ?? ''))
  for (const n of staying) put(n, current.get(n)!)
  for (const n of spread.filter((x) => !staying.includes(x))) {
    const least = hosts.reduce((a, b) => ((load.get(b) ?? 0) < (load.get(a) ?? 0) ? b : a))
    put(n, least)
  }
  // In the topology's order, as every other list of nodes.
  return new Map(topology.nodes.map((n) => [n.name, out.get(n.name)!]))
}
