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
  network: string
  /** Create from this image instead of the topology's (a snapshot's image, on restore). */
  image?: string
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
  job: string
): { options: ContainerCreateOptions; hash: string } {
  const env = [
    ...Object.entries(node.env).map(([k, v]) => `${k}=${v}`),
    `BERTH_CLUSTER=${topology.name}`,
    `BERTH_NODE=${node.name}`,
    `BERTH_ROLE=${node.role}`,
    `BERTH_DOMAIN=${topology.domain}`,
    `BERTH_HOSTNAME=${node.hostname}`,
  ]
  const spec: ContainerCreateOptions = {
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
      NetworkMode: placement.network,
      ...(placement.hosts ? { ExtraHosts: extraHosts(placement.hosts) } : {}),
      Privileged: node.privileged,
      CapAdd: node.capAdd.length ? node.capAdd : undefined,
      Mounts: node.volumes.map((v) => ({
        Type: 'volume' as const,
        Source: volumeSource(topology, node, v),
        Target: v.target,
        ReadOnly: v.readOnly,
      })),
    },
    NetworkingConfig: {
      EndpointsConfig: {
        [placement.network]: placement.ip ? { IPAMConfig: { IPv4Address: placement.ip } } : {},
      },
    },
  }
  // The hash is of the node's definition: the bootstrap command is part of it, and the image is
  // the topology's even when a restore creates the node from a snapshot's image — a restored
  // node is the same node, not a changed one to rebuild.
  const hash = createHash('sha256')
    .update(JSON.stringify({ spec, bootstrap: node.bootstrap }))
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
  image: string
}

export interface ClusterState {
  name: string
  network: NetworkInspect | null
  nodes: Map<string, NodeState>
}

export function nodeStateOf(c: ContainerInfo, network: string): NodeState {
  const l = c.Labels ?? {}
  return {
    id: c.Id,
    name: l[LABEL.node],
    hostname: l[LABEL.hostname],
    role: l[LABEL.role],
    phase: Number(l[LABEL.phase] ?? 0),
    spec: l[LABEL.spec],
    job: l[LABEL.job],
    state: c.State,
    ip: c.NetworkSettings?.Networks?.[network]?.IPAddress || null,
    pinnedIp: c.NetworkSettings?.Networks?.[network]?.IPAMConfig?.IPv4Address || null,
    image: c.Image,
  }
}

export async function readCluster(engine: DockerEngine, cluster: string): Promise<ClusterState> {
  const [containers, nets] = await Promise.all([
    engine.listContainers(clusterFilter(cluster)),
    engine.listNetworks(clusterFilter(cluster)),
  ])
  const net = nets.find((n) => n.Name === networkName(cluster)) ?? null
  const network = net ? await engine.inspectNetwork(net.Id) : null
  const nodes = new Map<string, NodeState>()
  for (const c of containers) {
    const s = nodeStateOf(c, networkName(cluster))
    if (s.name) nodes.set(s.name, s)
  }
  return { name: cluster, network, nodes }
}

/** The address each running node has on the cluster network right now. */
export async function currentAddresses(
  engine: DockerEngine,
  cluster: string
): Promise<Map<string, string>> {
  const state = await readCluster(engine, cluster)
  const out = new Map<string, string>()
  for (const [name, n] of state.nodes) if (n.ip) out.set(name, n.ip)
  return out
}
