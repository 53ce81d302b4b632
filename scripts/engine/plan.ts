/**
 * Planning an install, in two parts: `observe` gathers what Docker holds of the cluster (its
 * network, each node's container, state, network, definition hash, bootstrap marker, health and
 * /etc/hosts), then `plan` — pure, no Docker — decides each node's action from the topology and
 * what was observed. Drift is planned like any other difference: a paused node is unpaused, a
 * missing one created, one off its network reconnected, a wrong /etc/hosts rewired, a network that
 * is gone recreated (same name and subnet, so the nodes' own references to it work again).
 */
import { probeHealth } from './bootstrap.ts'
import { BerthError } from './errors.ts'
import { loadNetworkRecord } from './cluster-record.ts'
import { readHosts, readMarker } from './container-files.ts'
import type { JobContext } from './context.ts'
import { entriesOf, hostsProblems, type HostEntry } from './hosts.ts'
import { LABEL, networkName, staged } from './labels.ts'
import { overlaps } from './cidr.ts'
import {
  assignAddresses,
  chooseSubnet,
  networkSubnet,
  usedSubnets,
  type UsedSubnet,
} from './network.ts'
import { createOptions } from './nodes.ts'
import type { ClusterState } from './nodes.ts'
import { mapLimit } from './pool.ts'
import type { Topology } from './topology.ts'

export type NodeAction = 'create' | 'keep' | 'start' | 'reconnect' | 'rewire' | 'replace' | 'remove'

export interface PlanItem {
  node: string
  action: NodeAction
  reason: string
  ip?: string
  /** Kept nodes whose bootstrap never finished get it run again. */
  bootstrap?: boolean
  /** Swarm mode: the host it lives on. */
  host?: string
}

export interface Plan {
  cluster: string
  network: {
    action: 'create' | 'keep' | 'replace'
    name: string
    subnet: string | null
    reason: string
  }
  nodes: PlanItem[]
}

export interface ObservedNode {
  id: string
  /** Docker's state: running, paused, exited, created… */
  state: string
  /** The cluster network it is attached to, or null. */
  network: string | null
  pinnedIp: string | null
  ip: string | null
  /** The definition hash berth labelled it with. */
  spec: string
  /** Its bootstrap finished (the marker is there); null when it has none to run. */
  bootstrapped: boolean | null
  /** Probed only when it runs, is bootstrapped and has a healthcheck. */
  health: { ok: boolean; output: string } | null
  /** Its /etc/hosts, when it runs. */
  hosts: string | null
  /** Swarm mode: the host it lives on (its berth.host label). */
  host?: string | null
}

export interface Observed {
  cluster: string
  network: { id: string; name: string; mode: string | undefined; subnet: string | null } | null
  /** The network berth made for this cluster last (name and subnet), as it recorded it. */
  recorded: { name: string; subnet: string | null } | null
  used: UsedSubnet[]
  nodes: Map<string, ObservedNode>
}

/** What Docker holds of the cluster, node by node (nothing is changed). */
export async function observe(
  ctx: JobContext,
  topology: Topology,
  state: ClusterState,
  avoid: string[] = []
): Promise<Observed> {
  const byName = new Map(topology.nodes.map((n) => [n.name, n]))
  const nodes = new Map<string, ObservedNode>()
  await mapLimit([...state.nodes], ctx.concurrency, async ([name, n]) => {
    const spec = byName.get(name)
    const running = n.state === 'running'
    const bootstrapped = spec?.bootstrap ? !!(await readMarker(ctx, n.id)) : null
    const health =
      running && spec && bootstrapped !== false && spec.healthcheck
        ? await probeHealth(ctx, spec, n.id)
        : null
    const hosts = running ? await readHosts(ctx, n.id).catch(() => null) : null
    nodes.set(name, {
      id: n.id,
      state: n.state,
      network: n.network,
      pinnedIp: n.pinnedIp,
      ip: n.ip,
      spec: n.spec,
      host: n.host,
      bootstrapped,
      health,
      hosts,
    })
  })
  const net = state.network
  return {
    cluster: topology.name,
    network: net
      ? { id: net.Id, name: net.Name, mode: net.Labels?.[LABEL.mode], subnet: networkSubnet(net) }
      : null,
    recorded: await loadNetworkRecord(topology.name),
    // Subnets Docker refused a moment ago count as used, whatever the listing says.
    used: [
      ...(await usedSubnets(ctx.engine)),
      ...avoid.map((subnet) => ({ subnet, network: '(refused by Docker a moment ago)', id: '' })),
    ],
    nodes,
  }
}

export interface PlanInputs {
  job: string
  secrets: ReadonlyMap<string, string>
  /** A restore's addresses at snapshot time, kept when it gets the same subnet. */
  addresses?: Map<string, string>
  /** A restore's old subnet, taken when it is free. */
  preferredSubnet?: string | null
  /** A restore staged beside the running cluster: nothing of it is looked at. */
  stage?: string
  /** Swarm mode: each node's host (placement.ts). */
  placed?: Map<string, string> | null
}

export interface Planned {
  plan: Plan
  /** Static mode: every node's address. */
  addresses: Map<string, string> | null
  /** Static mode: the cluster's hosts entries. */
  hosts?: HostEntry[]
}

/** Each node's action, from the topology and what was observed. Pure. */
export function plan(topology: Topology, o: Observed, inputs: PlanInputs): Planned {
  const static_ = topology.network.addresses === 'pinned'
  const net = o.network
  const existing = o.nodes.size > 0
  let netAction: Plan['network']['action'] = net ? 'keep' : 'create'
  let netReason = net
    ? 'exists'
    : existing
      ? 'it is gone: made again, with the same name and subnet'
      : 'new cluster'
  if (net && net.mode !== topology.network.mode) {
    netAction = 'replace'
    netReason = `mode changes from ${net.mode} to ${topology.network.mode}`
  } else if (net && topology.network.subnet && net.subnet !== topology.network.subnet) {
    netAction = 'replace'
    netReason = `subnet changes from ${net.subnet} to ${topology.network.subnet}`
  }
  // A network that is gone comes back on its recorded subnet: the nodes' pinned addresses are in it.
  const regrow = netAction === 'create' && existing && o.recorded
  const preferred = inputs.preferredSubnet
  const free = (cidr: string) => !o.used.some((u) => u.id !== net?.id && overlaps(u.subnet, cidr))
  let subnet: string | null = null
  if (netAction === 'keep') subnet = net!.subnet
  else if (regrow && o.recorded!.subnet) subnet = o.recorded!.subnet
  else if (preferred && !topology.network.subnet && free(preferred)) subnet = preferred
  else if (static_ || topology.network.subnet) subnet = chooseSubnet(topology, o.used, net?.id)

  const existingIps = new Map<string, string>(
    subnet && subnet === preferred ? inputs.addresses : []
  )
  if (netAction === 'keep' || regrow) {
    for (const [name, n] of o.nodes) {
      const ip = n.pinnedIp ?? n.ip
      if (ip) existingIps.set(name, ip)
    }
  }
  const addresses = static_ ? assignAddresses(topology, subnet as string, existingIps) : null
  const hosts = addresses
    ? entriesOf(
        topology.nodes.map((n) => ({
          name: n.name,
          hostname: n.hostname,
          ip: addresses.get(n.name) as string,
        }))
      )
    : undefined
  const name =
    netAction === 'keep'
      ? net!.name
      : regrow
        ? o.recorded!.name
        : inputs.stage
          ? staged(networkName(topology.name, topology.network.mode), inputs.stage)
          : networkName(topology.name, topology.network.mode)
  // Dynamic mode: a node's hosts are checked against the addresses the nodes have now.
  const live = static_
    ? hosts
    : entriesOf(
        topology.nodes.flatMap((n) =>
          o.nodes.get(n.name)?.ip
            ? [{ name: n.name, hostname: n.hostname, ip: o.nodes.get(n.name)!.ip! }]
            : []
        )
      )

  const items: PlanItem[] = topology.nodes.map((node): PlanItem => {
    const ip = addresses?.get(node.name)
    const host = inputs.placed?.get(node.name)
    const current = o.nodes.get(node.name)
    const item = (action: NodeAction, reason: string, extra: Partial<PlanItem> = {}): PlanItem => ({
      node: node.name,
      action,
      reason,
      ip,
      ...(host ? { host } : {}),
      ...extra,
    })
    if (!current) return item('create', existing ? 'missing: made again' : 'new node')
    if (netAction === 'replace') return item('replace', 'the network is replaced')
    if (host && current.host !== host) {
      // Its volumes live on the host it leaves: moving it would start it on empty ones.
      if (node.volumes.some((v) => !v.external)) {
        throw new BerthError(
          'conflict',
          `node "${node.name}": its volumes are on host ${current.host ?? '(none)'}; moving it to ${host} would leave its data behind (berth does not move volumes between hosts yet): keep its placement`,
          { node: node.name, step: 'plan' }
        )
      }
      return item('replace', `moves from host ${current.host ?? '(none)'} to ${host}`)
    }
    const { hash } = createOptions(
      topology,
      node,
      static_ ? { network: name, ip, hosts } : { network: name },
      inputs.job,
      inputs.secrets
    )
    if (hash !== current.spec) return item('replace', 'its definition changed')
    const unfinished = current.bootstrapped === false
    if (current.state === 'paused')
      return item('start', 'paused: unpause it', { bootstrap: unfinished })
    if (netAction === 'create')
      return item('reconnect', 'its network was gone: connected to it again', {
        bootstrap: unfinished,
      })
    if (!current.network)
      return item('reconnect', 'not on its network: connect it again', { bootstrap: unfinished })
    if (current.state !== 'running')
      return item('start', `${current.state}: start it`, { bootstrap: unfinished })
    if (unfinished) return item('keep', 'unchanged; bootstrap not finished', { bootstrap: true })
    if (current.health && !current.health.ok)
      return item('replace', `unhealthy: ${current.health.output || 'health command failed'}`)
    const wrong = current.hosts !== null && live ? hostsProblems(current.hosts, live) : []
    if (wrong.length) return item('rewire', `/etc/hosts is wrong: ${wrong[0]}`)
    return item('keep', 'unchanged and healthy')
  })
  // A node rebuilt or made in some phase: kept nodes of later phases that pull from it run again.
  const changed = items.filter((i) => (i.action === 'create' || i.action === 'replace') && existing)
  const firstChanged = Math.min(
    ...changed.map((i) => topology.nodes.find((n) => n.name === i.node)!.phase)
  )
  for (const [i, node] of topology.nodes.entries()) {
    const item = items[i]
    if (!node.bootstrap || !node.bootstrapPolicy.rerun || node.phase <= firstChanged) continue
    if (!['keep', 'start', 'reconnect', 'rewire'].includes(item.action) || item.bootstrap) continue
    const by = changed.find(
      (c) => topology.nodes.find((n) => n.name === c.node)!.phase < node.phase
    )!.node
    Object.assign(item, {
      bootstrap: true,
      reason: `${item.reason}; bootstrap again (rerun): node ${by} of an earlier phase is ${changed.find((c) => c.node === by)!.action === 'create' ? 'made' : 'rebuilt'}`,
    })
  }
  const wanted = new Set(topology.nodes.map((n) => n.name))
  for (const n of o.nodes.keys()) {
    if (!wanted.has(n))
      items.push({ node: n, action: 'remove', reason: 'no longer in the topology' })
  }
  return {
    plan: {
      cluster: topology.name,
      network: { action: netAction, name, subnet, reason: netReason },
      nodes: items,
    },
    addresses,
    hosts,
  }
}

export function formatPlan(p: Plan): string {
  const lines = [
    `cluster ${p.cluster}`,
    `  network ${p.network.name}: ${p.network.action} (${p.network.reason})${p.network.subnet ? ` ${p.network.subnet}` : ''}`,
  ]
  for (const i of p.nodes)
    lines.push(
      `  ${i.action.padEnd(9)} ${i.node.padEnd(16)} ${(i.ip ?? '').padEnd(15)} ${i.host ? `on ${i.host}: ` : ''}${i.reason}`
    )
  return lines.join('\n')
}
