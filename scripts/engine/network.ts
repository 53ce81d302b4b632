/**
 * The cluster's own bridge network. Static mode pins each node's address in the lower half of the
 * subnet and leaves the upper half (`IPRange`) to Docker, so nothing Docker hands out can ever
 * take a node's address; pinned addresses and ExtraHosts both survive restarts.
 */
import type { Engine, NetworkInspect } from './docker.ts'
import { BerthError } from './errors.ts'
import { formatCidr, intToIp, ipToInt, overlaps, parseCidr } from './cidr.ts'
import { LABEL, BERTH_VERSION, networkName } from './labels.ts'
import { SwarmEngine } from './swarm-engine.ts'
import { STATIC_FIRST_HOST, staticCapacity, type Topology } from './topology.ts'

export interface UsedSubnet {
  subnet: string
  network: string
  id: string
  /** Across the hosts of a swarm: the host that has the network. */
  host?: string
}

/** Every IPv4 subnet a network holds: on each host of a swarm, each named with its host. */
export async function usedSubnets(engine: Engine): Promise<UsedSubnet[]> {
  const sources =
    engine instanceof SwarmEngine
      ? engine.hosts.map((h) => ({
          host: h.name,
          engine: h.engine,
        }))
      : [{ host: undefined, engine }]
  const listed = await Promise.all(
    sources.map(async (s) => ({ host: s.host, nets: await s.engine.listNetworks() }))
  )
  return listed.flatMap(({ host, nets }) =>
    nets.flatMap((n) =>
      (n.IPAM?.Config ?? [])
        .filter((c) => c.Subnet && !c.Subnet.includes(':'))
        .map((c) => ({
          subnet: c.Subnet as string,
          network: n.Name,
          id: n.Id,
          ...(host ? { host } : {}),
        }))
    )
  )
}

/** The smallest prefix whose lower half holds `nodes` pinned addresses. */
function prefixFor(nodes: number): number {
  for (let prefix = 24; prefix >= 16; prefix--) {
    if (staticCapacity(2 ** (32 - prefix)) >= nodes) return prefix
  }
  return 16
}

/** Candidate pool for automatic subnets: 10.211.0.0/16 onwards, away from Docker's defaults. */
export function chooseSubnet(
  topology: Topology,
  used: UsedSubnet[],
  ownNetworkId?: string
): string {
  const others = used.filter((u) => u.id !== ownNetworkId)
  const wanted = topology.network.subnet
  if (wanted) {
    const clash = others.find((u) => overlaps(u.subnet, wanted))
    if (clash) {
      const on = clash.host ? ` on host ${clash.host}` : ''
      throw new BerthError(
        'preflight',
        `network.subnet: ${wanted} overlaps the Docker network "${clash.network}"${on} (${clash.subnet}); choose another subnet or leave it out to let berth pick a free one`,
        {
          issues: [
            {
              path: 'network.subnet',
              message: `overlaps "${clash.network}"${on} (${clash.subnet})`,
            },
          ],
        }
      )
    }
    return wanted
  }
  const prefix = prefixFor(topology.nodes.length)
  const step = 2 ** (32 - prefix)
  for (let base = ipToInt('10.211.0.0'); base < ipToInt('10.250.0.0'); base += step) {
    const candidate = formatCidr({ base, prefix })
    if (!others.some((u) => overlaps(u.subnet, candidate))) return candidate
  }
  throw new BerthError(
    'preflight',
    'no free subnet left in 10.211.0.0–10.249.255.255; set network.subnet'
  )
}

/**
 * Static addresses: nodes that already have one keep it (so changing one node does not rewire
 * every other), new nodes take the lowest free ones.
 */
export function assignAddresses(
  topology: Topology,
  subnet: string,
  existing: Map<string, string>
): Map<string, string> {
  const c = parseCidr(subnet)
  if (!c) throw new BerthError('invalid_topology', `network.subnet: "${subnet}" is not a CIDR`)
  const first = c.base + STATIC_FIRST_HOST
  const last = c.base + c.size / 2 - 1
  const inRange = (ip: string) => {
    const n = ipToInt(ip)
    return n >= first && n <= last
  }
  const out = new Map<string, string>()
  const taken = new Set<string>()
  for (const node of topology.nodes) {
    const ip = existing.get(node.name)
    if (ip && inRange(ip) && !taken.has(ip)) {
      out.set(node.name, ip)
      taken.add(ip)
    }
  }
  let cursor = first
  for (const node of topology.nodes) {
    if (out.has(node.name)) continue
    while (cursor <= last && taken.has(intToIp(cursor))) cursor++
    if (cursor > last) {
      throw new BerthError(
        'invalid_topology',
        `network.subnet: ${subnet} holds at most ${staticCapacity(c.size)} nodes in static mode; the topology has ${topology.nodes.length}`
      )
    }
    const ip = intToIp(cursor++)
    out.set(node.name, ip)
    taken.add(ip)
  }
  return out
}

export function networkSubnet(net: NetworkInspect | null): string | null {
  return net?.IPAM?.Config?.find((c) => c.Subnet && !c.Subnet.includes(':'))?.Subnet ?? null
}

export async function createClusterNetwork(
  engine: Engine,
  topology: Topology,
  subnet: string | null,
  job: string,
  opts: { name?: string; labels?: Record<string, string> } = {}
): Promise<string> {
  const c = subnet ? parseCidr(subnet) : null
  const ipam = c
    ? {
        Driver: 'default',
        Config: [
          {
            Subnet: subnet as string,
            IPRange: formatCidr({ base: c.base + c.size / 2, prefix: c.prefix + 1 }),
          },
        ],
      }
    : undefined
  return engine.createNetwork({
    Name: opts.name ?? networkName(topology.name, topology.network.mode),
    // Swarm mode: one overlay over the swarm's hosts, which containers made on any host join.
    ...(topology.network.mode === 'swarm'
      ? { Driver: 'overlay', Attachable: true }
      : { Driver: 'bridge' }),
    CheckDuplicate: true,
    ...(ipam ? { IPAM: ipam } : {}),
    Labels: {
      [LABEL.cluster]: topology.name,
      [LABEL.mode]: topology.network.mode,
      [LABEL.domain]: topology.domain,
      [LABEL.job]: job,
      [LABEL.version]: BERTH_VERSION,
      ...opts.labels,
    },
  })
}
