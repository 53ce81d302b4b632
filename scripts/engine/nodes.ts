/**
 * A node as Docker sees it: the create options berth derives from the topology, a hash of them
 * (stored as a label, so a re-run can tell an unchanged node from a changed one), and the
 * cluster's state read back from Docker by label.
 */
import { createHash } from 'node:crypto'
import type { ContainerCreateOptions, ContainerInfo, DockerEngine, NetworkInspect } from './docker.ts'
import { extraHosts, type HostEntry } from './hosts.ts'
import { BERTH_VERSION, LABEL, clusterFilter, containerName, networkName, volumeName } from './labels.ts'
import type { NodeSpec, Topology } from './topology.ts'

export interface Placement {
  /** The Docker network's name (berth.<cluster>, or a restore's staged one). */
  network: string
  /** Create from this image instead of the topology's (a snapshot's image, on restore). */
  image?: string
  /** Docker volume per topology volume name, when not `<cluster>.<node>.<volume>`. */
  volumes?: Map<string, string>
  /** Static mode: the node's pinned address and every entry of the cluster's hosts. */
  ip?: string
  hosts?: HostEntry[]
}

export function volumeSource(topology: Topology, node: NodeSpec, v: NodeSpec['volumes'][number]) {
  return v.external ? v.name : volumeName(topology.name, node.name, v.name)
}

const seconds = (s: number) => Math.round(s * 1e9)

export function createOptions(
  topology: Topology,
  node: NodeSpec,
  placement: Placement,
  job: string,
  /** Secret reference → value (read on this host): the values go into the container's env only. */
  secrets: ReadonlyMap<string, string> = new Map()
): { options: ContainerCreateOptions; hash: string } {
  const secretEnv = Object.entries(node.secrets ?? {})
  const valueOf = (ref: string) => {
    const v = secrets.get(ref)
    if (v === undefined) throw new Error(`secret "${ref}" was not read before the node was planned`)
    return v
  }
  const plainEnv = [
    ...Object.entries(node.env).map(([k, v]) => `${k}=${v}`),
    `BERTH_CLUSTER=${topology.name}`,
    `BERTH_NODE=${node.name}`,
    `BERTH_ROLE=${node.role}`,
    `BERTH_DOMAIN=${topology.domain}`,
    `BERTH_HOSTNAME=${node.hostname}`,
  ]
  const build = (network: string, source: (v: NodeSpec['volumes'][number]) => string, env: string[]): ContainerCreateOptions => ({
    Hostname: node.hostname,
    Image: node.image,
    Env: env,
    ...(node.healthcheck
      ? {
          Healthcheck: {
            Test: ['CMD', ...node.healthcheck.cmd],
            Interval: seconds(node.healthcheck.intervalSeconds),
            Timeout: seconds(node.healthcheck.timeoutSeconds),
            Retries: node.healthcheck.retries,
            StartPeriod: seconds(node.healthcheck.startPeriodSeconds),
          },
        }
      : {}),
    HostConfig: {
      NetworkMode: network,
      ...(placement.hosts ? { ExtraHosts: extraHosts(placement.hosts) } : {}),
      Privileged: node.privileged,
      CapAdd: node.capAdd.length ? node.capAdd : undefined,
      Mounts: node.volumes.map((v) => ({
        Type: 'volume' as const,
        Source: source(v),
        Target: v.target,
        ReadOnly: v.readOnly,
      })),
    },
    NetworkingConfig: {
      EndpointsConfig: {
        [network]: placement.ip ? { IPAMConfig: { IPv4Address: placement.ip } } : {},
      },
    },
  })
  const spec = build(
    placement.network,
    (v) => placement.volumes?.get(v.name) ?? volumeSource(topology, node, v),
    [...plainEnv, ...secretEnv.map(([k, ref]) => `${k}=${valueOf(ref)}`)]
  )
  // The hash is of the node's definition, not of Docker's names for things: the bootstrap
  // command is part of it; the image is the topology's even when a restore creates the node from
  // a snapshot's image; the network and volumes are the cluster's, whatever a restore named them.
  // A restored node is the same node, not a changed one to rebuild.
  // A secret counts by a hash of its value: a rotated secret rebuilds the node, and the label
  // Docker shows holds no value.
  const sealed = secretEnv.map(([k, ref]) => `${k}=sha256:${createHash('sha256').update(valueOf(ref)).digest('hex')}`)
  const logical = build('cluster', (v) => (v.external ? v.name : `volume:${v.name}`), [...plainEnv, ...sealed])
  const hash = createHash('sha256')
    .update(JSON.stringify({ spec: logical, bootstrap: node.bootstrap }))
    .digest('hex')
    .slice(0, 16)
  const options: ContainerCreateOptions = {
    ...spec,
    Image: placement.image ?? node.image,
    name: containerName(topology.name, node.name),
    Labels: {
      [LABEL.cluster]: topology.name,
      [LABEL.node]: node.name,
      [LABEL.role]: node.role,
      [LABEL.phase]: String(node.phase),
      [LABEL.hostname]: node.hostname,
      [LABEL.job]: job,
      [LABEL.spec]: hash,
      [LABEL.mode]: topology.network.mode,
      [LABEL.version]: BERTH_VERSION,
    },
  }
  return { options, hash }
}

export interface NodeState {
  id: string
  name: string
  hostname: string
  role: string
  phase: number
  spec: string
  job: string
  state: string // created | running | paused | exited | …
  ip: string | null
  /** Static mode: the address pinned at create time (known even while stopped). */
  pinnedIp: string | null
  /** The cluster network it is attached to. */
  network: string | null
  /** Mount target → Docker volume name. */
  mounts: Map<string, string>
  image: string
}

export interface ClusterState {
  name: string
  network: NetworkInspect | null
  /** The active nodes: the containers named `<cluster>.<node>`. */
  nodes: Map<string, NodeState>
}

export function nodeStateOf(c: ContainerInfo, networks: Set<string>): NodeState {
  const l = c.Labels ?? {}
  const network = Object.keys(c.NetworkSettings?.Networks ?? {}).find((n) => networks.has(n)) ?? null
  const settings = network ? c.NetworkSettings.Networks[network] : undefined
  return {
    id: c.Id,
    name: l[LABEL.node],
    hostname: l[LABEL.hostname],
    role: l[LABEL.role],
    phase: Number(l[LABEL.phase] ?? 0),
    spec: l[LABEL.spec],
    job: l[LABEL.job],
    state: c.State,
    ip: settings?.IPAddress || null,
    pinnedIp: settings?.IPAMConfig?.IPv4Address || null,
    network,
    mounts: new Map(
      (c.Mounts ?? []).filter((m) => m.Type === 'volume' && m.Name).map((m) => [m.Destination, m.Name as string])
    ),
    image: c.Image,
  }
}

/**
 * The cluster as Docker holds it, by label. Only the container named `<cluster>.<node>` is the
 * node: others with the cluster's label are a restore being staged beside it, or what a crash
 * left. The cluster's network is the one its nodes are attached to — after a restore, the one
 * the restore built.
 */
export async function readCluster(engine: DockerEngine, cluster: string): Promise<ClusterState> {
  const [containers, nets] = await Promise.all([
    engine.listContainers(clusterFilter(cluster)),
    engine.listNetworks(clusterFilter(cluster)),
  ])
  const names = new Set(nets.map((n) => n.Name))
  const nodes = new Map<string, NodeState>()
  for (const c of containers) {
    const s = nodeStateOf(c, names)
    if (s.name && c.Names?.includes(`/${containerName(cluster, s.name)}`)) nodes.set(s.name, s)
  }
  const attached = [...nodes.values()].find((n) => n.network)?.network
  const net =
    nets.find((n) => n.Name === attached) ??
    nets.find((n) => n.Name === networkName(cluster)) ??
    nets.find((n) => !n.Labels?.[LABEL.restore]) ??
    null
  const network = net ? await engine.inspectNetwork(net.Id) : null
  return { name: cluster, network, nodes }
}
