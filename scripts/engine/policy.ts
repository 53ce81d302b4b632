/**
 * The host policy: what a topology may ask of the Docker host, in levels named after Kubernetes'
 * Pod Security Standards. Every job that did not come from a person at the host's shell passes it
 * (functions/admission.ts) before anything is recorded; `berth policy check` runs it by hand.
 *
 * - `privileged`: no restriction. Only an admin token can hold it: a node with SYS_ADMIN on a
 *   cgroup v1 host can run a program as root on the host (the release_agent escape).
 * - `baseline`: no privileged nodes; added capabilities only from Docker's default set (the PSS
 *   baseline list), images and external volumes only from allowlists, a node cap.
 * - `restricted` (the default): as baseline, with only NET_BIND_SERVICE addable by default and a
 *   smaller node cap.
 * Snapshot images (`berth-snap/*`) are never allowed below privileged: a snapshot is reachable only
 * through restore, by whoever holds the restore scope on its cluster.
 *
 * Pure: no fs, no docker. The refusal names the path in the file as written (`nodes[2].capAdd[0]`)
 * and the rule, so a user fixes the file in one round.
 */
import { z } from 'zod'
import { BerthError } from './errors.ts'
import { anyMatch, CLUSTER_PATTERN } from './patterns.ts'
import { isIPv4, isRootUser, showPort, type PortMapping } from './runtime-keys.ts'
import { CAPABILITIES, MAX_NODES, type TopologyFileData } from './topology.ts'
import { issueLines } from './zod-issues.ts'

export const LEVELS = ['restricted', 'baseline', 'privileged'] as const
export type Level = (typeof LEVELS)[number]
/** The levels a Slack rule, a Jira rule, a hook, a cluster override or the default may name. */
export const SHARED_LEVELS = ['restricted', 'baseline'] as const

/** Docker's default capability set: the most a node may add below privileged (PSS baseline). */
export const BASELINE_CAPABILITIES = [
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
] as const

const SNAPSHOT_IMAGE = 'berth-snap/'
const DEFAULT_IMAGES = ['berth/*']

const capability = z.string().transform((s, ctx) => {
  const name = s.toUpperCase().replace(/^CAP_/, '')
  if ((BASELINE_CAPABILITIES as readonly string[]).includes(name)) return name
  ctx.addIssue({
    code: 'custom',
    message:
      (CAPABILITIES as readonly string[]).includes(name) || name === 'ALL'
        ? `${name} can never be allowed below privileged (allowed at most: ${BASELINE_CAPABILITIES.join(', ')})`
        : `"${s}" is not a Linux capability`,
  })
  return z.NEVER
})

// `*` is a fine pattern: snapshot images are refused before any pattern is looked at.
const imagePattern = z.string().min(1).max(255)

/** The namespaced sysctls Kubernetes calls safe: they touch only the container's own namespaces. */
export const SAFE_SYSCTLS = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.ping_group_range',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_fin_timeout',
]

const portRangePattern = z
  .string()
  .regex(/^\d{1,5}(-\d{1,5})?$/, 'is not a port or range like 8000-8999')
const hostAddress = z.string().refine(isIPv4, 'is not an IPv4 address')

const LevelSettings = (defaults: {
  capabilities: string[]
  maxNodes: number
  requireMemoryLimit: boolean
  rootUser: boolean
}) =>
  z.strictObject({
    /** Image references a topology may name (`*` matches anything). */
    images: z.array(imagePattern).default(DEFAULT_IMAGES),
    /** Capabilities a node may add. */
    capabilities: z.array(capability).default(defaults.capabilities),
    /** External volumes a node may mount, by name. */
    externalVolumes: z.array(z.string().min(1).max(64)).default([]),
    /** Secret references (`env:BERTH_SECRET_APP_*`, `file:app-*`) a node's env may name. */
    secrets: z.array(z.string().min(1).max(80)).default([]),
    /** Nodes in one cluster, after `count`. */
    maxNodes: z.number().int().min(1).max(MAX_NODES).default(defaults.maxNodes),
    /** Where ports may be published: host addresses (0.0.0.0 is every one) and host port ranges. */
    ports: z
      .strictObject({
        addresses: z.array(hostAddress).default(['127.0.0.1']),
        ranges: z.array(portRangePattern).default(['1024-65535']),
      })
      .prefault({}),
    /** Sysctls a node may set (names or globs). */
    sysctls: z.array(z.string().min(1).max(128)).default(SAFE_SYSCTLS),
    /** Every node must set resources.memory. */
    requireMemoryLimit: z.boolean().default(defaults.requireMemoryLimit),
    /** A node may set user: root (or 0). */
    rootUser: z.boolean().default(defaults.rootUser),
    /** Swarm hosts (names from the engines file, or globs) a node may be placed on. Unless `*`
     *  is among them, every node of a swarm cluster must name its host: spread, constraints, a restore's
     *  `--placement spread` and the manager a node without a placement lands on may reach any. */
    hosts: z
      .array(z.string().regex(/^[a-z0-9*?-]{1,63}$/, 'is not a host name or glob'))
      .default(['*']),
  })

export const PolicyConfig = z.strictObject({
  /** The level of every entry that names none (admin tokens: privileged). */
  default: z.enum(SHARED_LEVELS).default('restricted'),
  restricted: LevelSettings({
    capabilities: ['NET_BIND_SERVICE'],
    maxNodes: 32,
    requireMemoryLimit: true,
    rootUser: false,
  }).prefault({}),
  baseline: LevelSettings({
    capabilities: [...BASELINE_CAPABILITIES],
    maxNodes: 64,
    requireMemoryLimit: false,
    rootUser: true,
  }).prefault({}),
  /** The admin's per-cluster overrides: the level of every job on a cluster whose name matches
   *  (the first pattern that matches, in file order), whoever asks. */
  clusters: z
    .record(
      z.string().regex(CLUSTER_PATTERN, 'is not a cluster name or glob'),
      z.enum(SHARED_LEVELS)
    )
    .default({}),
})
export type Policy = z.output<typeof PolicyConfig>
export type LevelRules = Policy['restricted']

/** The policy with every default: what a server without a `policy:` section enforces. */
export const DEFAULT_POLICY: Policy = PolicyConfig.parse({})

/** The level a job on `cluster` is held to: the cluster's override, else the entry's own. */
export function levelFor(policy: Policy, entryLevel: Level, cluster: string): Level {
  for (const [pattern, level] of Object.entries(policy.clusters)) {
    if (anyMatch([pattern], cluster)) return level
  }
  return entryLevel
}

export interface PolicyIssue {
  /** Where in the topology file (`nodes[2].capAdd[0]`), or the job's field (`options.image`). */
  path: string
  /** Which rule said no: privileged, capabilities, images, externalVolumes, secrets, maxNodes,
   *  ports, sysctls, requireMemoryLimit, rootUser, hosts. */
  rule: string
  message: string
}

const allowed = (list: readonly string[]) => (list.length ? list.join(', ') : 'none')

/** Why an image may not be used at this level, or null. */
export function imageIssue(
  ref: string,
  level: Level,
  policy: Policy,
  path: string
): PolicyIssue | null {
  if (level === 'privileged') return null
  const rules = policy[level]
  if (ref.startsWith(SNAPSHOT_IMAGE)) {
    return {
      path,
      rule: 'images',
      message: `"${ref}" is a snapshot image: snapshots are reachable only through restore, not by policy "${level}"`,
    }
  }
  if (anyMatch(rules.images, ref)) return null
  return {
    path,
    rule: 'images',
    message: `image "${ref}" is not allowed by policy "${level}" (allowed: ${allowed(rules.images)})`,
  }
}

/**
 * Why a node may not be placed as `placement` says at this level, or null. `placement`: a host's
 * name, or null for "any host" (spread, the manager by default, a restore's --placement spread).
 */
export function hostIssue(
  placement: string | null,
  level: Level,
  policy: Policy,
  path: string
): PolicyIssue | null {
  if (level === 'privileged') return null
  const hosts = policy[level].hosts
  if (placement === null ? hosts.includes('*') : anyMatch(hosts, placement)) return null
  return {
    path,
    rule: 'hosts',
    message:
      placement === null
        ? `policy "${level}" allows only the hosts ${allowed(hosts)}: name one (placement.host); spread, constraints or no placement may reach any host of the swarm`
        : `host "${placement}" is not allowed by policy "${level}" (allowed: ${allowed(hosts)})`,
  }
}

/** Every way the topology, as written, goes beyond `level`. Empty when it is allowed. */
export function checkPolicy(file: TopologyFileData, level: Level, policy: Policy): PolicyIssue[] {
  if (level === 'privileged') return []
  const rules = policy[level]
  const issues: PolicyIssue[] = []
  const say = (path: string, rule: string, message: string) => issues.push({ path, rule, message })

  const image = (ref: string | undefined, path: string) => {
    const issue = ref === undefined ? null : imageIssue(ref, level, policy, path)
    if (issue) issues.push(issue)
  }
  type Part = {
    privileged?: boolean
    capAdd?: string[]
    env?: Record<string, unknown>
    image?: string
    user?: string
    sysctls?: Record<string, string>
    ports?: PortMapping[]
  }
  const inRanges = (port: number) =>
    rules.ports.ranges.some((r) => {
      const [a, b = a] = r.split('-').map(Number)
      return port >= a && port <= b
    })
  const node = (n: Part, at: string) => {
    if (n.user && isRootUser(n.user) && !rules.rootUser)
      say(
        `${at}user`,
        'rootUser',
        `user "${n.user}" is root, which policy "${level}" does not allow a topology to ask for`
      )
    for (const key of Object.keys(n.sysctls ?? {})) {
      if (!anyMatch(rules.sysctls, key))
        say(
          `${at}sysctls.${key}`,
          'sysctls',
          `${key} is not allowed by policy "${level}" (allowed: ${allowed(rules.sysctls)})`
        )
    }
    for (const p of n.ports ?? []) {
      if (!rules.ports.addresses.includes(p.hostIp) && !rules.ports.addresses.includes('0.0.0.0')) {
        say(
          `${at}ports`,
          'ports',
          `${showPort(p)}: host address ${p.hostIp} is not allowed by policy "${level}" (allowed: ${allowed(rules.ports.addresses)})`
        )
      } else if (!inRanges(p.hostPort)) {
        say(
          `${at}ports`,
          'ports',
          `${showPort(p)}: host port ${p.hostPort} is not allowed by policy "${level}" (allowed: ${allowed(rules.ports.ranges)})`
        )
      }
    }
    image(n.image, `${at}image`)
    if (n.privileged)
      say(
        `${at}privileged`,
        'privileged',
        `privileged: true is not allowed by policy "${level}" (only an admin token at level privileged may run privileged nodes)`
      )
    n.capAdd?.forEach((cap, i) => {
      if (!rules.capabilities.includes(cap)) {
        say(
          `${at}capAdd[${i}]`,
          'capabilities',
          `${cap} is not allowed by policy "${level}" (allowed: ${allowed(rules.capabilities)})`
        )
      }
    })
    for (const [key, value] of Object.entries(n.env ?? {})) {
      const ref = typeof value === 'object' && value ? (value as { secret: string }).secret : null
      if (ref && !anyMatch(rules.secrets, ref)) {
        say(
          `${at}env.${key}`,
          'secrets',
          `secret "${ref}" is not allowed by policy "${level}" (allowed: ${allowed(rules.secrets)})`
        )
      }
    }
  }

  image(file.image, 'image')
  if (file.defaults) node(file.defaults, 'defaults.')
  let total = 0
  file.nodes.forEach((n, i) => {
    total += n.count ?? 1
    node(n, `nodes[${i}].`)
    if (rules.requireMemoryLimit && !(n.resources?.memory ?? file.defaults?.resources?.memory)) {
      say(
        `nodes[${i}].resources.memory`,
        'requireMemoryLimit',
        `node "${n.name}" has no memory limit; policy "${level}" requires one (set resources.memory on the node or in defaults)`
      )
    }
    if (file.network?.mode === 'swarm') {
      const p = n.placement
      const issue =
        p && 'host' in p
          ? hostIssue(p.host, level, policy, `nodes[${i}].placement.host`)
          : hostIssue(null, level, policy, `nodes[${i}].placement`)
      if (issue) issues.push(issue)
    }
    n.volumes?.forEach((v, j) => {
      if (v.external && !anyMatch(rules.externalVolumes, v.name)) {
        say(
          `nodes[${i}].volumes[${j}]`,
          'externalVolumes',
          `external volume "${v.name}" is not allowed by policy "${level}" (allowed: ${allowed(rules.externalVolumes)})`
        )
      }
    })
  })
  if (total > rules.maxNodes) {
    say(
      'nodes',
      'maxNodes',
      `${total} nodes; policy "${level}" allows at most ${rules.maxNodes} in one cluster`
    )
  }
  return issues
}

/** The refusal as the engine's error (the CLI's `berth policy check`, and a job's failure). */
export function policyError(level: Level, issues: PolicyIssue[]): BerthError {
  return new BerthError('forbidden', issueLines(issues), {
    issues: issues.map(({ path, message }) => ({ path, message })),
    step: `policy:${level}`,
  })
}
