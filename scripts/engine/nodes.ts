/**
 * A node as Docker sees it: the create options berth derives from the topology, a hash of them
 * (stored as a label, so a re-run can tell an unchanged node from a changed one), and the
 * cluster's state read back from Docker by label.
 */
import { createHash } from 'node:crypto'
import type {
  ContainerCreateOptions,
  ContainerInfo,
  Engine,
  IPAMConfig,
  NetworkInspect,
} from './docker.ts'
import { extraHosts, type HostEntry } from './hosts.ts'
import {
  BERTH_VERSION,
  LABEL,
  clusterFilter,
  containerName,
  networkName,
  volumeName,
} from './labels.ts'
import type { PortMapping } from './runtime-keys.ts'
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
  /** Create without publishing its ports (a restore's rehearsal beside the running cluster). */
  unpublished?: boolean
  /** Swarm mode: the host it is made on (labelled; the swarm engine creates it there). */
  host?: string
}

export function volumeSource(topology: Topology, node: NodeSpec, v: NodeSpec['volumes'][number]) {
  return v.external ? v.name : volumeName(topology.name, node.name, v.name)
}

const seconds = (s: number) => Math.round(s * 1e9)

type Listed = { Ports?: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] }
type Inspected = {
  NetworkSettings?: { Ports?: Record<string, { HostIp: string; HostPort: string }[] | null> }
}

/** The ports a container publishes, from a listing (`Ports`) or an inspect (`NetworkSettings.Ports`). */
export function publishedPorts(c: Listed | Inspected): PortMapping[] {
  const out: PortMapping[] = []
  const listed = (c as Listed).Ports
  if (Array.isArray(listed)) {
    for (const p of listed) {
      // Docker lists a port bound on 0.0.0.0 twice (IPv4 and IPv6): once is enough.
      if (!p.PublicPort || p.IP === '::') continue
      out.push({
        hostIp: p.IP ?? '0.0.0.0',
        hostPort: p.PublicPort,
        containerPort: p.PrivatePort,
        protocol: p.Type as 'tcp' | 'udp',
      })
    }
  } else {
    for (const [key, bindings] of Object.entries((c as Inspected).NetworkSettings?.Ports ?? {})) {
      const [port, protocol] = key.split('/')
      for (const b of bindings ?? []) {
        if (b.HostIp === '::') continue
        out.push({
          hostIp: b.HostIp || '0.0.0.0',
          hostPort: Number(b.HostPort),
          containerPort: Number(port),
          protocol: protocol as 'tcp' | 'udp',
        })
      }
    }
  }
  return out.sort((a, b) => a.hostPort - b.hostPort)
}

/** Docker's PortBindings: per container port, the host sockets it is published on. */
export function portBindings(
  ports: PortMapping[]
): Record<string, { HostIp: string; HostPort: string }[]> {
  const out: Record<string, { HostIp: string; HostPort: string }[]> = {}
  for (const p of ports)
    (out[`${p.containerPort}/${p.protocol}`] ??= []).push({
      HostIp: p.hostIp,
      HostPort: String(p.hostPort),
    })
  return out
}

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
  const hc = node.healthcheck
  const portKey = (p: PortMapping) => `${p.containerPort}/${p.protocol}`
  const build = (
    network: string,
    source: (v: NodeSpec['volumes'][number]) => string,
    env: string[],
    publish: boolean
  ): ContainerCreateOptions => ({
    Hostname: node.hostname,
    Image: node.image,
    Env: env,
    // Each key only when the topology sets it: a node written before the key existed keeps its
    // definition hash (and is not rebuilt by a newer berth).
    ...(node.command ? { Cmd: node.command } : {}),
    ...(node.entrypoint ? { Entrypoint: node.entrypoint } : {}),
    ...(node.user ? { User: node.user } : {}),
    ...(node.workdir ? { WorkingDir: node.workdir } : {}),
    ...(Object.keys(node.labels).length ? { Labels: node.labels } : {}),
    ...(node.ports.length
      ? { ExposedPorts: Object.fromEntries(node.ports.map((p) => [portKey(p), {}])) }
      : {}),
    ...(hc?.cmd
      ? {
          Healthcheck: {
            Test: ['CMD', ...hc.cmd],
            Interval: seconds(hc.intervalSeconds),
            Timeout: seconds(hc.timeoutSeconds),
            Retries: hc.retries,
            StartPeriod: seconds(hc.startPeriodSeconds),
          },
        }
      : {}),
    HostConfig: {
      NetworkMode: network,
      ...(placement.hosts || node.extraHosts.length
        ? {
            ExtraHosts: [
              ...extraHosts(placement.hosts ?? []),
              ...node.extraHosts.map((h) => `${h.name}:${h.ip}`),
            ],
          }
        : {}),
      Privileged: node.privileged,
      CapAdd: node.capAdd.length ? node.capAdd : undefined,
      Mounts: node.volumes.map((v) => ({
        Type: 'volume' as const,
        Source: source(v),
        Target: v.target,
        ReadOnly: v.readOnly,
      })),
      ...(node.init ? { Init: true } : {}),
      ...(publish && node.ports.length ? { PortBindings: portBindings(node.ports) } : {}),
      ...(node.tmpfs.length
        ? { Tmpfs: Object.fromEntries(node.tmpfs.map((t) => [t.target, t.options])) }
        : {}),
      ...(node.shmSize ? { ShmSize: node.shmSize } : {}),
      ...(Object.keys(node.sysctls).length ? { Sysctls: node.sysctls } : {}),
      ...(node.ulimits.length
        ? { Ulimits: node.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })) }
        : {}),
      // No swap beyond the limit: a node over it is killed, not slowed down.
      ...(node.resources.memory
        ? { Memory: node.resources.memory, MemorySwap: node.resources.memory }
        : {}),
      ...(node.resources.cpus ? { NanoCpus: Math.round(node.resources.cpus * 1e9) } : {}),
      ...(node.resources.pids ? { PidsLimit: node.resources.pids } : {}),
      ...(node.restart.name !== 'no'
        ? { RestartPolicy: { Name: node.restart.name, MaximumRetryCount: node.restart.maxRetries } }
        : {}),
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
    [...plainEnv, ...secretEnv.map(([k, ref]) => `${k}=${valueOf(ref)}`)],
    !placement.unpublished
  )
  // The hash is of the node's definition, not of Docker's names for things: the bootstrap
  // command is part of it; the image is the topology's even when a restore creates the node from
  // a snapshot's image; the network and volumes are the cluster's, whatever a restore named them.
  // A restored node is the same node, not a changed one to rebuild.
  // A secret counts by a hash of its value: a rotated secret rebuilds the node, and the label
  // Docker shows holds no value.
  const sealed = secretEnv.map(
    ([k, ref]) => `${k}=sha256:${createHash('sha256').update(valueOf(ref)).digest('hex')}`
  )
  // Files count by their content, owner and mode: a changed file rebuilds the node.
  const logical = build(
    'cluster',
    (v) => (v.external ? v.name : `volume:${v.name}`),
    [...plainEnv, ...sealed],
    true
  )
  const files = node.files.map((f) => ({
    ...f,
    data: createHash('sha256').update(f.data).digest('hex'),
  }))
  const hash = createHash('sha256')
    .update(
      JSON.stringify({
        spec: logical,
        bootstrap: node.bootstrap,
        ...(files.length ? { files } : {}),
      })
    )
    .digest('hex')
    .slice(0, 16)
  const options: ContainerCreateOptions = {
    ...spec,
    Image: placement.image ?? node.image,
    name: containerName(topology.name, node.name),
    Labels: {
      ...node.labels,
      [LABEL.cluster]: topology.name,
      [LABEL.node]: node.name,
      [LABEL.role]: node.role,
      [LABEL.phase]: String(node.phase),
      [LABEL.hostname]: node.hostname,
      [LABEL.job]: job,
      [LABEL.spec]: hash,
      [LABEL.mode]: topology.network.mode,
      [LABEL.version]: BERTH_VERSION,
      ...(placement.host ? { [LABEL.host]: placement.host } : {}),
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
  /** Swarm mode: the host it lives on. */
  host: string | null
}

export interface ClusterState {
  name: string
  network: NetworkInspect | null
  /** The active nodes: the containers named `<cluster>.<node>`. */
  nodes: Map<string, NodeState>
}

export function nodeStateOf(c: ContainerInfo, networks: Set<string>): NodeState {
  const l = c.Labels ?? {}
  const network =
    Object.keys(c.NetworkSettings?.Networks ?? {}).find((n) => networks.has(n)) ?? null
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
    host: l[LABEL.host] ?? null,
    pinnedIp: (settings?.IPAMConfig as IPAMConfig | undefined)?.IPv4Address || null,
    network,
    mounts: new Map(
      (c.Mounts ?? [])
        .filter((m) => m.Type === 'volume' && m.Name)
        .map((m) => [m.Destination, m.Name as string])
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
export async function readCluster(engine: Engine, cluster: string): Promise<ClusterState> {
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
