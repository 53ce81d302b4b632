/**
 * Which host of a swarm each node of a `network.mode: swarm` cluster lives on, from its
 * `placement`: a named host; spread (over every host); or constraints on the Swarm node of each
 * host (spread over the hosts that satisfy them all). A node without one lives on the manager
 * (the first host). Pure.
 */
import { BerthError } from './errors.ts'
import { CONSTRAINT, type Topology } from './topology.ts'

/** What a constraint can ask of a host's Swarm node. */
export interface HostFacts {
  id: string
  hostname: string
  role: string
  labels: Record<string, string>
}

/** Whether a host's Swarm node satisfies one constraint (`node.labels.role==runner`). */
export function satisfies(facts: HostFacts | undefined, constraint: string): boolean {
  const m = CONSTRAINT.exec(constraint)
  if (!m || !facts) return false
  const [, key, op, want] = m
  const have = key.startsWith('labels.')
    ? facts.labels[key.slice('labels.'.length)]
    : facts[key as 'hostname' | 'role' | 'id']
  return op === '==' ? have === want : have !== want
}

/**
 * Node → host, or null for a cluster on one engine. `hosts`: the swarm's, the manager first;
 * `current`: where the cluster's nodes run now; `facts`: each host's Swarm node (needed only when
 * a placement has constraints). A spread node stays where it runs (so that one change moves one
 * node, not every one dealt after it) while that host still qualifies; a new one goes to the
 * qualifying host with the fewest of the cluster's nodes, the first of them on a tie.
 */
export function placeNodes(
  topology: Topology,
  hosts: readonly string[] | undefined,
  current: ReadonlyMap<string, string | null> = new Map(),
  facts?: ReadonlyMap<string, HostFacts>
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
  /** Spread nodes, each with the hosts it may go to. */
  const spread: { node: string; on: string[] }[] = []
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
    } else if (p && 'constraints' in p) {
      const on = hosts.filter((h) => p.constraints.every((c) => satisfies(facts?.get(h), c)))
      if (!on.length) {
        const failing = p.constraints.findIndex(
          (c) => !hosts.some((h) => satisfies(facts?.get(h), c))
        )
        throw new BerthError(
          'preflight',
          `nodes[${i}] (${node.name}): no host of the swarm satisfies placement.constraints${failing >= 0 ? `[${failing}] "${p.constraints[failing]}"` : ` (${p.constraints.join(', ')}) together`} (${hosts.map((h) => `${h}: ${describe(facts?.get(h))}`).join('; ')})`,
          { node: node.name, step: 'preflight' }
        )
      }
      spread.push({ node: node.name, on })
    } else if (p) {
      spread.push({ node: node.name, on: [...hosts] })
    } else {
      put(node.name, hosts[0])
    }
  })
  const stays = (s: (typeof spread)[number]) => s.on.includes(current.get(s.node) ?? '')
  for (const s of spread.filter(stays)) put(s.node, current.get(s.node)!)
  for (const s of spread.filter((x) => !stays(x))) {
    put(
      s.node,
      s.on.reduce((a, b) => ((load.get(b) ?? 0) < (load.get(a) ?? 0) ? b : a))
    )
  }
  // In the topology's order, as every other list of nodes.
  return new Map(topology.nodes.map((n) => [n.name, out.get(n.name)!]))
}

/** A host's Swarm node as the refusal shows it. */
function describe(f: HostFacts | undefined): string {
  if (!f) return 'not a node of the swarm'
  const labels = Object.entries(f.labels).map(([k, v]) => `${k}=${v}`)
  return `hostname ${f.hostname}, role ${f.role}, labels ${labels.length ? labels.join(' ') : 'none'}`
}
