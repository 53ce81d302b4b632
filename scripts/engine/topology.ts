/**
 * The topology file: its schema, its parsing and its expansion into one NodeSpec per container.
 *
 * Validation runs in two passes. The zod schema checks each value where it stands; a second
 * pass checks what needs the whole file (duplicate names after `count` expansion, hostname
 * lengths against the domain, volumes within a node, the subnet against the node count). Every
 * issue of both passes is reported at once, each with a path in the file's own shape
 * (`nodes[3].name`), so a user fixes the file in one round.
 *
 * Pure: no fs, no docker. The caller reads the file.
 */
import YAML, { LineCounter } from 'yaml'
import { z } from 'zod'
import { formatCidr, parseCidr } from './cidr.ts'
import { BerthError } from './errors.ts'
import { CLUSTER_NAME } from './labels.ts'
import { didYouMean, errorMap, intIn, oneOf, show } from './topology-kit.ts'
import {
  formatPath,
  issueLines,
  rawIssues,
  written,
  type Issue,
  type Path,
  type RawIssue,
} from './zod-issues.ts'
import {
  FILE_KEYS,
  PORT_KEYS,
  byteSize,
  extraHostsKey,
  filesKey,
  labels,
  absolutePath,
  portsClash,
  portsKey,
  processArgv,
  resourcesKey,
  restartKey,
  showPort,
  sysctlsKey,
  tmpfsKey,
  ulimitsKey,
  user,
  type ExtraHost,
  type NodeFile,
  type PortMapping,
  type Resources,
  type RestartPolicy,
  type Tmpfs,
  type Ulimit,
} from './runtime-keys.ts'

export interface VolumeMount {
  name: string
  target: string
  external: boolean
  readOnly: boolean
}

/**
 * A node's health: exactly one of `cmd` (run in the node, also given to Docker as its
 * HEALTHCHECK), `tcp` (a port accepting connections) or `http` (a GET answered with `expect`).
 * `tcp` and `http` need nothing inside the image: berth probes the node's address itself.
 */
export interface Healthcheck {
  cmd?: string[]
  tcp?: number
  http?: { port: number; path: string; expect: number }
  intervalSeconds: number
  timeoutSeconds: number
  retries: number
  startPeriodSeconds: number
}

/** How a bootstrap's exit is judged: the codes that mean success, and tries after a failure. */
export interface BootstrapPolicy {
  okExitCodes: number[]
  retries: number
  retryDelaySeconds: number
  /**
   * Run again on a node that is kept whenever the same install rebuilds or creates a node of an
   * earlier phase: configuration pulled from a server (a Puppet agent's run) is pulled again when
   * the server changed.
   */
  rerun: boolean
}

export interface NodeSpec {
  /** After expansion, e.g. runner1. */
  name: string
  /** The node entry's base name, e.g. runner. */
  role: string
  hostname: string
  /** Position in the expanded list, 0-based. */
  index: number
  phase: number
  image: string
  privileged: boolean
  /** Without the CAP_ prefix, upper case, deduplicated, sorted; ['ALL'] absorbs the rest. */
  capAdd: string[]
  env: Record<string, string>
  /** Environment variables whose value is a secret on the Docker host: name → reference
   *  (`env:BERTH_SECRET_…` or `file:<name>`), resolved only when the container is created. */
  secrets: Record<string, string>
  volumes: VolumeMount[]
  /** argv; a string in the file becomes ['sh', '-c', string]. */
  bootstrap: string[] | null
  bootstrapPolicy: BootstrapPolicy
  timeoutSeconds: number
  healthcheck: Healthcheck | null
  /** The container's process: argv, or null for the image's own. */
  command: string[] | null
  entrypoint: string[] | null
  init: boolean
  user: string | null
  workdir: string | null
  labels: Record<string, string>
  extraHosts: ExtraHost[]
  tmpfs: Tmpfs[]
  shmSize: number | null
  sysctls: Record<string, string>
  ulimits: Ulimit[]
  resources: Resources
  restart: RestartPolicy
  /** Published ports, one entry per port (ranges expanded). */
  ports: PortMapping[]
  files: NodeFile[]
  /** Swarm mode: the host it runs on (a name of the engines' configuration), spread over them, or
   *  spread over those whose Swarm node satisfies every constraint (placement.ts). */
  placement: { host: string } | { spread: true } | { constraints: string[] } | null
}

export interface Topology {
  name: string
  domain: string
  /** The top-level image, or else defaults.image, or else the first node's. */
  image: string
  /** `addresses`: pinned (static; swarm by default) or Docker's, /etc/hosts rewired (dynamic;
   *  swarm with `addresses: dynamic`). */
  network: { mode: NetworkMode; subnet: string | null; addresses: Addresses }
  nodes: NodeSpec[]
  hooks: { preSnapshot: string[] | null; postRestore: string[] | null }
}

/** RFC 1123 label, lower case only: Docker keeps the case, resolvers and people do not. */
export const HOSTNAME_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Linux HOST_NAME_MAX is 64 bytes including the terminating NUL. */
export const HOSTNAME_MAX = 63
export const MAX_NODES = 250
export const DEFAULT_TIMEOUT_SECONDS = 300
/**
 * Static mode gives node i the address subnet base + STATIC_FIRST_HOST + i, in the lower half
 * of the subnet; the upper half is left to Docker's own allocations (IPAM hands out addresses
 * from the bottom up otherwise, and a container started outside berth would take a node's).
 */
export const STATIC_FIRST_HOST = 10

/** Linux capabilities 0..40 (through CHECKPOINT_RESTORE, Linux 5.9), without the CAP_ prefix. */
export const CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
] as const
const CAPABILITY_SET: ReadonlySet<string> = new Set(CAPABILITIES)

// Docker bind-mounts these into every container and rewrites them on each start: a volume
// there would either hide Docker's file or be overwritten by it.
const DOCKER_MANAGED_PATHS = ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf']

/** Number of nodes a static-mode subnet of this size can address (see STATIC_FIRST_HOST). */
export function staticCapacity(size: number): number {
  return Math.max(0, size / 2 - STATIC_FIRST_HOST)
}

/** A placement constraint on a Swarm node, as `docker service create --constraint` writes it:
 *  `node.labels.KEY`, `node.hostname`, `node.role` or `node.id`, then `==` or `!=`, then a value. */
export const CONSTRAINT =
  /^node\.(labels\.[A-Za-z0-9][A-Za-z0-9._-]{0,62}|hostname|role|id) *(==|!=) *([A-Za-z0-9][A-Za-z0-9._-]{0,62})$/

const hostnameLabel = z.string().regex(HOSTNAME_LABEL, {
  error: (iss) =>
    `${show(iss.input)} is not a valid hostname label (lowercase letters, digits and '-', not starting or ending with '-')`,
})

const clusterName = z.string().regex(CLUSTER_NAME, {
  error: (iss) =>
    `${show(iss.input)} is not a valid cluster name (1 to 40 lowercase letters, digits and '-', not starting or ending with '-')`,
})

const domainName = z
  .string()
  .refine((d) => d.length <= 253 && d.split('.').every((label) => HOSTNAME_LABEL.test(label)), {
    error: (iss) =>
      `${show(iss.input)} is not a domain (lowercase hostname labels joined by dots, like codenvy.local)`,
  })

const REGISTRY =
  /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?$/
const REPOSITORY_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const TAG = /^\w[\w.-]{0,127}$/
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/

/** Why `ref` is not a Docker image reference (Docker's reference grammar, loosely), or null. */
function imageProblem(ref: string): string | null {
  if (ref === '') return 'must not be empty'
  const q = show(ref)
  if (/\s/.test(ref)) return `${q} is not a Docker image reference: it contains whitespace`
  let rest = ref
  const at = rest.indexOf('@')
  if (at >= 0) {
    if (!DIGEST.test(rest.slice(at + 1))) return `${q} has a malformed digest`
    rest = rest.slice(0, at)
  }
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) {
    if (!TAG.test(rest.slice(colon + 1))) return `${q} has a malformed tag`
    rest = rest.slice(0, colon)
  }
  const parts = rest.split('/')
  // Docker reads the first component as a registry only if it looks like a host.
  const first = parts[0]
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    if (!REGISTRY.test(first)) return `${q} has a malformed registry host`
    parts.shift()
  }
  if (parts.some((p) => p.toLowerCase() !== p)) {
    return `${q} is not a Docker image reference: repository names are lowercase`
  }
  if (rest.length > 255 || !parts.every((p) => REPOSITORY_COMPONENT.test(p))) {
    return `${q} is not a Docker image reference (like berth/demo:1)`
  }
  return null
}

export const imageRef = z.string().superRefine((ref, ctx) => {
  const problem = imageProblem(ref)
  if (problem) ctx.addIssue({ code: 'custom', message: problem })
})

/** A string runs through `sh -c`; a list is the argv itself. */
function toArgv(cmd: string | string[]): string[] {
  return typeof cmd === 'string' ? ['sh', '-c', cmd] : [...cmd]
}

const argv = z.array(z.string().min(1)).min(1)
const COMMAND = 'expected a command: a string (run by sh -c) or a list of arguments'
const command = oneOf([z.string().min(1), argv], COMMAND).transform(toArgv)
// null or false on a node switches off what defaults would give it.
const optionalCommand = oneOf(
  [z.string().min(1), argv, z.null(), z.literal(false)],
  `${COMMAND}, or null for none`
).transform((cmd) => (cmd === null || cmd === false ? null : toArgv(cmd)))

const HTTP_PROBE = /^http:\/\/:(\d{1,5})(\/[^\s#]*)?$/
const HealthcheckFields = z.strictObject({
  cmd: command.optional(),
  tcp: intIn(1, 65535).optional(),
  http: z
    .string()
    .transform((url, ctx) => {
      const m = HTTP_PROBE.exec(url)
      if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) {
        ctx.addIssue({
          code: 'custom',
          message: `${show(url)} is not a probe URL: write "http://:PORT/path" (the node's own address is filled in)`,
        })
        return z.NEVER
      }
      return { port: Number(m[1]), path: m[2] ?? '/' }
    })
    .optional(),
  expect: intIn(100, 599).optional(),
  intervalSeconds: intIn(1, 86400).default(10),
  timeoutSeconds: intIn(1, 86400).default(5),
  // Docker reads 0 retries as "use the default (3)": refuse it rather than surprise.
  retries: intIn(1, 100).default(3),
  startPeriodSeconds: intIn(0, 86400).default(0),
})
const HealthcheckEntry = HealthcheckFields.transform((h, ctx): Healthcheck => {
  const kinds = (['cmd', 'tcp', 'http'] as const).filter((k) => h[k] !== undefined)
  if (kinds.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      message: kinds.length
        ? `set one of ${kinds.join(', ')}, not both`
        : 'set one of cmd, tcp or http',
    })
    return z.NEVER
  }
  if (h.expect !== undefined && !h.http) {
    ctx.addIssue({ code: 'custom', path: ['expect'], message: 'expect goes with http' })
    return z.NEVER
  }
  const { expect, http, ...rest } = h
  return { ...rest, ...(http ? { http: { ...http, expect: expect ?? 200 } } : {}) }
})
const healthcheck = oneOf(
  [HealthcheckEntry, z.null(), z.literal(false)],
  'expected a healthcheck ({ cmd: … }, { tcp: PORT } or { http: "http://:PORT/path" }), or null for none'
).transform((h): Healthcheck | null => (h === null || h === false ? null : h))

const BootstrapEntry = z.strictObject({
  command,
  okExitCodes: z.array(intIn(0, 255)).min(1).default([0]),
  retries: intIn(0, 100).default(0),
  retryDelaySeconds: intIn(0, 3600).default(5),
  rerun: z.boolean().default(false),
})
export const DEFAULT_BOOTSTRAP_POLICY: BootstrapPolicy = {
  okExitCodes: [0],
  retries: 0,
  retryDelaySeconds: 5,
  rerun: false,
}
/** A command, null for none, or { command, okExitCodes, retries, retryDelaySeconds }. */
const bootstrapKey = oneOf(
  [z.string().min(1), argv, z.null(), z.literal(false), BootstrapEntry],
  `${COMMAND}, { command, okExitCodes, retries, retryDelaySeconds, rerun }, or null for none`
).transform((b): { argv: string[] | null; policy: BootstrapPolicy } => {
  if (b === null || b === false) return { argv: null, policy: DEFAULT_BOOTSTRAP_POLICY }
  if (typeof b === 'string' || Array.isArray(b))
    return { argv: toArgv(b), policy: DEFAULT_BOOTSTRAP_POLICY }
  const { command: cmd, ...policy } = b
  return { argv: cmd, policy }
})

function normalisePath(p: string): string {
  const out: string[] = []
  for (const segment of p.split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') out.pop()
    else out.push(segment)
  }
  return `/${out.join('/')}`
}

function targetProblem(target: string): string | null {
  const q = show(target)
  if (!target.startsWith('/')) return `target ${q} is not an absolute path`
  if (target === '/') return 'target "/" would cover the whole filesystem'
  if (normalisePath(target) !== target) {
    const meant = normalisePath(target)
    return `target ${q} is not a normalised path${meant === '/' ? '' : ` (did you mean ${show(meant)}?)`}`
  }
  // The engine may hand mounts to Docker as "name:target:mode".
  if (target.includes(':')) return `target ${q} must not contain ':'`
  if (DOCKER_MANAGED_PATHS.includes(target)) {
    return `target ${q} is managed by Docker, which rewrites it on every start`
  }
  return null
}

function volumeNameProblem(name: string): string | null {
  return VOLUME_NAME.test(name)
    ? null
    : `${show(name)} is not a valid volume name (up to 63 letters, digits, '_', '.' and '-', starting with a letter or digit)`
}

const VolumeEntry = z.strictObject({
  name: z.string().superRefine((name, ctx) => {
    const problem = volumeNameProblem(name)
    if (problem) ctx.addIssue({ code: 'custom', message: problem })
  }),
  target: z.string().superRefine((target, ctx) => {
    const problem = targetProblem(target)
    if (problem) ctx.addIssue({ code: 'custom', message: problem })
  }),
  external: z.boolean().default(false),
  readOnly: z.boolean().default(false),
})

// "name:/target" or "name:/target:ro|rw", as in `docker run -v`.
const volumeShorthand = z.string().transform((spec, ctx): VolumeMount => {
  const parts = spec.split(':')
  const [name, target, mode] = parts
  if (parts.length < 2 || parts.length > 3) {
    ctx.addIssue({
      code: 'custom',
      message: `${show(spec)} is not a volume (write "name:/target" or "name:/target:ro")`,
    })
    return z.NEVER
  }
  const problems = [
    volumeNameProblem(name),
    targetProblem(target),
    mode === undefined || mode === 'ro' || mode === 'rw'
      ? null
      : `${show(mode)} is not a mount mode (use ro or rw)`,
  ].filter((p) => p !== null)
  for (const message of problems) ctx.addIssue({ code: 'custom', message })
  return { name, target, external: false, readOnly: mode === 'ro' }
})

const volume = oneOf(
  [volumeShorthand, VolumeEntry],
  'expected a volume: "name:/target", "name:/target:ro" or { name, target, external, readOnly }'
)

/**
 * Where a secret is read on the Docker host when a node is created: an environment variable of
 * berth's own process, which must be named BERTH_SECRET_* (so no other variable of the host —
 * its cloud credentials, say — can be sent into a node), or a file `$BERTH_HOME/secrets/<name>`.
 */
export const SECRET_REF =
  /^(env:BERTH_SECRET_[A-Z0-9_]{1,64}|file:[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$/

const SecretValue = z.strictObject({
  secret: z.string().regex(SECRET_REF, {
    error: (iss) =>
      `${show(iss.input)} is not a secret reference (env:BERTH_SECRET_<NAME> or file:<name> under $BERTH_HOME/secrets)`,
  }),
})

export type EnvValue = string | { secret: string }

const envValue = oneOf(
  [z.string(), z.number(), z.boolean(), SecretValue],
  'expected a string, number or boolean, or { secret: <reference> }'
).transform((v): EnvValue => (typeof v === 'object' ? v : String(v)))

const env = z.record(z.string(), envValue).superRefine(
  (vars, ctx) => {
    for (const key of Object.keys(vars)) {
      if (!ENV_KEY.test(key)) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `${show(key)} is not a valid environment variable name (letters, digits and '_', not starting with a digit)`,
        })
      } else if (key.startsWith('BERTH_')) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `${key} is reserved: berth sets BERTH_* itself`,
        })
      }
    }
  },
  // Check the keys even when a value is wrong, so both are reported.
  { when: (payload) => typeof payload.value === 'object' && payload.value !== null }
)

function capabilityOf(s: string): string | null {
  const name = s.toUpperCase().replace(/^CAP_/, '')
  return name === 'ALL' || CAPABILITY_SET.has(name) ? name : null
}

const capability = z.string().transform((s, ctx) => {
  const name = capabilityOf(s)
  if (name !== null) return name
  const guess = s.toUpperCase().replace(/^CAP_/, '')
  ctx.addIssue({
    code: 'custom',
    message: `${show(s)} is not a Linux capability${didYouMean(guess, CAPABILITIES)}`,
  })
  return z.NEVER
})

const subnet = z.string().superRefine((s, ctx) => {
  const cidr = parseCidr(s)
  if (cidr === null) {
    ctx.addIssue({ code: 'custom', message: `${show(s)} is not an IPv4 CIDR (like 10.211.0.0/24)` })
    return
  }
  if (cidr.prefix < 16 || cidr.prefix > 28) {
    ctx.addIssue({
      code: 'custom',
      message: `${s} has prefix length /${cidr.prefix}; use /16 to /28`,
    })
  }
  if (formatCidr(cidr) !== s) {
    ctx.addIssue({
      code: 'custom',
      message: `${s} is not a network address (did you mean ${formatCidr(cidr)}?)`,
    })
  }
})

/** static: one bridge, pinned addresses; dynamic: Docker's addresses, /etc/hosts rewired; swarm:
 *  across the hosts of a Docker Swarm, on an attachable overlay — pinned addresses, or with
 *  `addresses: dynamic` the overlay's. */
export const NETWORK_MODES = ['static', 'dynamic', 'swarm'] as const
export type NetworkMode = (typeof NETWORK_MODES)[number]
export const ADDRESSES = ['pinned', 'dynamic'] as const
export type Addresses = (typeof ADDRESSES)[number]

/** How a mode gives addresses, when the file does not say (it may only in swarm mode). */
export const addressesOf = (mode: NetworkMode, addresses?: Addresses): Addresses =>
  addresses ?? (mode === 'dynamic' ? 'dynamic' : 'pinned')

const Network = z.strictObject({
  mode: z.enum(NETWORK_MODES).default('static'),
  subnet: subnet.optional(),
  addresses: z.enum(ADDRESSES).optional(),
})

/** What a product asks of its containers (runtime-keys.ts): allowed in defaults and on a node. */
const runtimeKeys = {
  command: processArgv.optional(),
  entrypoint: processArgv.optional(),
  init: z.boolean().optional(),
  user: user.optional(),
  workdir: absolutePath('workdir').optional(),
  labels: labels.optional(),
  extraHosts: extraHostsKey.optional(),
  tmpfs: tmpfsKey.optional(),
  shmSize: byteSize(1024, 'a size for /dev/shm').optional(),
  sysctls: sysctlsKey.optional(),
  ulimits: ulimitsKey.optional(),
  resources: resourcesKey.optional(),
  restart: restartKey.optional(),
  files: filesKey.optional(),
}

const Defaults = z.strictObject({
  image: imageRef.optional(),
  bootstrap: bootstrapKey.optional(),
  timeoutSeconds: intIn(1, 86400).optional(),
  env: env.optional(),
  capAdd: z.array(capability).optional(),
  healthcheck: healthcheck.optional(),
  privileged: z.boolean().optional(),
  ...runtimeKeys,
})

const NodeEntry = z.strictObject({
  name: hostnameLabel,
  count: intIn(1, 64).optional(),
  phase: intIn(0, 99).default(0),
  image: imageRef.optional(),
  privileged: z.boolean().optional(),
  capAdd: z.array(capability).optional(),
  env: env.optional(),
  volumes: z.array(volume).optional(),
  bootstrap: bootstrapKey.optional(),
  timeoutSeconds: intIn(1, 86400).optional(),
  healthcheck: healthcheck.optional(),
  ports: portsKey.optional(),
  placement: z
    .union([
      z.strictObject({ host: hostnameLabel }),
      z.strictObject({ spread: z.literal(true) }),
      z.strictObject({
        constraints: z
          .array(
            z
              .string()
              .regex(
                CONSTRAINT,
                'is not a constraint like node.labels.role==runner (node.labels.KEY, node.hostname, node.role or node.id; == or !=)'
              )
          )
          .min(1)
          .max(16),
      }),
    ])
    .optional(),
  ...runtimeKeys,
})

const Hooks = z.strictObject({
  preSnapshot: optionalCommand.optional(),
  postRestore: optionalCommand.optional(),
})

/** The file as written (before defaults and `count` are applied). */
export const TopologyFile = z.strictObject({
  name: clusterName,
  image: imageRef.optional(),
  domain: domainName,
  network: Network.optional(),
  defaults: Defaults.optional(),
  nodes: z.array(NodeEntry).min(1, { error: 'at least one node is required' }),
  hooks: Hooks.optional(),
})
export type TopologyFileInput = z.input<typeof TopologyFile>
type FileData = z.output<typeof TopologyFile>
export type TopologyFileData = FileData
type DefaultsData = z.output<typeof Defaults>

// Known keys per object, by path shape, for the "did you mean" of an unknown key.
const KNOWN_KEYS: Record<string, readonly string[]> = {
  '': Object.keys(TopologyFile.shape),
  network: Object.keys(Network.shape),
  defaults: Object.keys(Defaults.shape),
  'defaults.healthcheck': Object.keys(HealthcheckFields.shape),
  'defaults.bootstrap': Object.keys(BootstrapEntry.shape),
  'defaults.resources': Object.keys(resourcesKey.shape),
  'defaults.files[]': FILE_KEYS,
  'nodes[]': Object.keys(NodeEntry.shape),
  'nodes[].healthcheck': Object.keys(HealthcheckFields.shape),
  'nodes[].bootstrap': Object.keys(BootstrapEntry.shape),
  'nodes[].resources': Object.keys(resourcesKey.shape),
  'nodes[].files[]': FILE_KEYS,
  'nodes[].ports[]': PORT_KEYS,
  'nodes[].volumes[]': Object.keys(VolumeEntry.shape),
  hooks: Object.keys(Hooks.shape),
}

// ---------------------------------------------------------------------------------------------
// Issues

function shapeOf(path: Path): string {
  return formatPath(path.map((p) => (typeof p === 'number' ? 0 : p))).replace(/\[0\]/g, '[]')
}

const knownKeys = (path: Path) => KNOWN_KEYS[shapeOf(path)] ?? []

const TOP_ORDER = Object.keys(TopologyFile.shape)

// Group issues by top-level key in file order, then by node, keeping each group's own order.
function sortIssues(issues: RawIssue[]): RawIssue[] {
  const rank = (p: Path) => [
    p.length === 0 ? -1 : TOP_ORDER.indexOf(String(p[0])),
    typeof p[1] === 'number' ? p[1] : -1,
  ]
  return issues
    .map((issue, i) => ({ issue, i, r: rank(issue.path) }))
    .sort((a, b) => a.r[0] - b.r[0] || a.r[1] - b.r[1] || a.i - b.i)
    .map((x) => x.issue)
}

function invalid(issues: Issue[]): BerthError {
  return new BerthError('invalid_topology', issueLines(issues), { issues })
}

// ---------------------------------------------------------------------------------------------
// Second pass: checks across fields, run on whatever parts of the file are valid

/** What the second pass needs of a node entry; `undefined` where that part is invalid. */
interface NodeParts {
  name?: string
  /** `null` when the entry has no count. */
  count?: number | null
  /** The entry sets an image (valid or not: an invalid one is reported by the schema). */
  hasImage: boolean
  /** The entry sets a placement (swarm mode only). */
  placed?: boolean
  volumes: (VolumeMount | undefined)[]
  /** Each list as written on the node; `undefined` where invalid. */
  ports?: PortMapping[]
  files?: NodeFile[]
  tmpfs?: Tmpfs[]
  extraHosts?: ExtraHost[]
}

/** What the second pass needs of the file; `undefined` where that part is invalid. */
interface Parts {
  domain?: string
  /** `null` when the file has no top-level image. */
  image?: string | null
  network?: FileData['network'] | null
  defaults?: DefaultsData | null
  nodes: NodeParts[]
}

function partsOf(file: FileData): Parts {
  return {
    domain: file.domain,
    image: file.image ?? null,
    network: file.network ?? null,
    defaults: file.defaults ?? null,
    nodes: file.nodes.map((n) => ({
      name: n.name,
      count: n.count ?? null,
      hasImage: n.image !== undefined,
      placed: n.placement !== undefined,
      volumes: n.volumes ?? [],
      ports: n.ports ?? [],
      files: n.files ?? [],
      tmpfs: n.tmpfs ?? [],
      extraHosts: n.extraHosts ?? [],
    })),
  }
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function part<S extends z.ZodType>(schema: S, value: unknown): z.output<S> | undefined {
  const r = schema.safeParse(value)
  return r.success ? r.data : undefined
}

function optionalPart<S extends z.ZodType>(
  schema: S,
  value: unknown
): z.output<S> | null | undefined {
  return value === undefined ? null : part(schema, value)
}

// The file failed the schema: keep checking whatever parts of it are valid, down to single
// volumes, so that the first round of errors is the whole list.
function salvage(input: unknown): Parts {
  if (!isMapping(input)) return { nodes: [] }
  const nodes = Array.isArray(input.nodes) ? input.nodes : []
  return {
    domain: part(domainName, input.domain),
    image: optionalPart(imageRef, input.image),
    network: optionalPart(Network, input.network),
    defaults: optionalPart(Defaults, input.defaults),
    nodes: nodes.map((n: unknown): NodeParts => {
      if (!isMapping(n)) return { hasImage: true, volumes: [] }
      return {
        name: part(hostnameLabel, n.name),
        count: optionalPart(NodeEntry.shape.count, n.count),
        hasImage: n.image !== undefined,
        volumes: Array.isArray(n.volumes) ? n.volumes.map((v) => part(volume, v)) : [],
        ports: n.ports === undefined ? [] : part(portsKey, n.ports),
        files: n.files === undefined ? [] : part(filesKey, n.files),
        tmpfs: n.tmpfs === undefined ? [] : part(tmpfsKey, n.tmpfs),
        extraHosts: n.extraHosts === undefined ? [] : part(extraHostsKey, n.extraHosts),
      }
    }),
  }
}

function namesOf(node: { name: string; count?: number | null }): string[] {
  if (node.count == null) return [node.name]
  return Array.from({ length: node.count }, (_, i) => `${node.name}${i + 1}`)
}

function describeEntry(node: NodeParts): string {
  return node.count == null ? '' : ` (${node.name} × ${node.count})`
}

function crossCheck(parts: Parts): RawIssue[] {
  const issues: RawIssue[] = []
  const { total, exact } = checkNames(parts, issues)
  const count = exact ? `${total}` : `at least ${total}`
  if (total > MAX_NODES) {
    issues.push({
      path: ['nodes'],
      message: `${count} nodes after expansion; the limit is ${MAX_NODES}`,
    })
  }
  checkImages(parts, issues)
  checkVolumes(parts, issues)
  checkSubnet(parts, total, count, issues)
  checkPorts(parts, issues)
  checkFiles(parts, issues)
  checkExtraHosts(parts, issues)
  checkPlacement(parts, issues)
  return issues
}

/** A placement says which host of a swarm: without swarm mode there is only one. The addresses
 *  are said by the mode itself, but for swarm mode. */
function checkPlacement(parts: Parts, issues: RawIssue[]): void {
  if (parts.network?.addresses && parts.network.mode !== 'swarm')
    issues.push({
      path: ['network', 'addresses'],
      message: `is for network.mode swarm (${parts.network.mode ?? 'static'} mode's addresses are ${addressesOf(parts.network.mode ?? 'static')} already)`,
    })
  if (parts.network?.mode === 'swarm') return
  parts.nodes.forEach((node, i) => {
    if (node.placed) {
      issues.push({
        path: ['nodes', i, 'placement'],
        message: 'a placement needs network.mode swarm (a cluster on several hosts)',
      })
    }
  })
}

/** Two nodes, or two copies of a counted node, may not publish the same host port. */
function checkPorts(parts: Parts, issues: RawIssue[]): void {
  const taken: { port: PortMapping; owner: string }[] = []
  parts.nodes.forEach((node, i) => {
    if (!node.ports?.length || node.name === undefined) return
    if (node.count != null && node.count > 1) {
      issues.push({
        path: ['nodes', i, 'ports'],
        message: `"${node.name}" has count ${node.count}: every copy would publish ${showPort(node.ports[0])}; give each copy its own node entry`,
      })
      return
    }
    for (const port of node.ports) {
      const clash = taken.find((t) => portsClash(t.port, port))
      if (clash) {
        const whose =
          clash.owner === node.name ? 'twice by this node' : `also by node "${clash.owner}"`
        issues.push({
          path: ['nodes', i, 'ports'],
          message: `host port ${showPort(port)} is published ${whose}`,
        })
      } else taken.push({ port, owner: node.name })
    }
  })
}

/** Every file's target: a real path, not Docker's, not twice, not hidden by a volume or tmpfs. */
function checkFiles(parts: Parts, issues: RawIssue[]): void {
  const defaultFiles = parts.defaults?.files ?? []
  const checkList = (files: NodeFile[], at: Path, node: NodeParts | null) => {
    const seen = new Set<string>()
    files.forEach((f, j) => {
      const path = [...at, j, 'target']
      const problem = targetProblem(f.target)
      if (problem) return issues.push({ path, message: problem })
      if (seen.has(f.target))
        return issues.push({ path, message: `"${f.target}" is written twice` })
      seen.add(f.target)
      const under = (dir: string) => f.target === dir || f.target.startsWith(`${dir}/`)
      const mount = [
        ...(node?.volumes ?? []).flatMap((v) =>
          v && under(v.target) ? [`volume "${v.name}" at ${v.target}`] : []
        ),
        ...(node?.tmpfs ?? []).flatMap((t) =>
          under(t.target) ? [`the tmpfs at ${t.target}`] : []
        ),
      ][0]
      if (mount)
        issues.push({
          path,
          message: `"${f.target}" would be hidden by ${mount}: files go into the container's own filesystem`,
        })
    })
  }
  checkList(defaultFiles, ['defaults', 'files'], null)
  parts.nodes.forEach((node, i) => {
    if (!node.files) return
    checkList(node.files, ['nodes', i, 'files'], node)
    // A default file is written into every node: check it against each node's mounts too.
    const own = new Set(node.files.map((f) => f.target))
    const inherited = defaultFiles.filter((f) => !own.has(f.target) && !targetProblem(f.target))
    const before = issues.length
    checkList(inherited, ['nodes', i, 'files'], node)
    for (const issue of issues.slice(before)) issue.path = ['defaults', 'files']
  })
}

/** An extra host may name something outside the cluster, never one of its nodes. */
function checkExtraHosts(parts: Parts, issues: RawIssue[]): void {
  const names = new Map<string, string>()
  for (const node of parts.nodes) {
    if (node.name === undefined || node.count === undefined) continue
    for (const n of namesOf({ name: node.name, count: node.count })) {
      names.set(n, n)
      if (parts.domain) names.set(`${n}.${parts.domain}`, n)
    }
  }
  const check = (hosts: ExtraHost[] | undefined, at: Path) =>
    hosts?.forEach((h) => {
      const node = names.get(h.name.toLowerCase())
      if (node)
        issues.push({
          path: at,
          message: `"${h.name}" is node "${node}" of this cluster: an extra host may not shadow a node`,
        })
    })
  check(parts.defaults?.extraHosts, ['defaults', 'extraHosts'])
  parts.nodes.forEach((node, i) => check(node.extraHosts, ['nodes', i, 'extraHosts']))
}

/** Duplicates and hostname lengths, after `count` expansion. Returns the expanded node count. */
function checkNames(parts: Parts, issues: RawIssue[]): { total: number; exact: boolean } {
  const { domain } = parts
  const firstOwner = new Map<string, number>()
  let total = 0
  let exact = true

  // A domain this long leaves no room for any node name: say it once, not once per node.
  const domainTooLong = domain !== undefined && domain.length > HOSTNAME_MAX - 2
  if (domainTooLong) {
    issues.push({
      path: ['domain'],
      message: `${show(domain)} is ${domain.length} characters, which leaves no room for a node name in a ${HOSTNAME_MAX}-character hostname`,
    })
  }

  parts.nodes.forEach((node, i) => {
    const { name, count } = node
    if (name === undefined || count === undefined) {
      total += 1
      exact = false
      return
    }
    const names = namesOf({ name, count })
    total += names.length

    const clashes = new Map<number, string[]>()
    for (const n of names) {
      const owner = firstOwner.get(n)
      if (owner === undefined) firstOwner.set(n, i)
      else clashes.set(owner, [...(clashes.get(owner) ?? []), n])
    }
    for (const [owner, clashing] of clashes) {
      const quoted = clashing.map((n) => JSON.stringify(n)).join(', ')
      const here = `${quoted}${describeEntry(node)}`
      const there = `nodes[${owner}]${describeEntry(parts.nodes[owner])}`
      issues.push({
        path: ['nodes', i, 'name'],
        message:
          clashing.length === 1
            ? `${here} duplicates the node ${quoted} of ${there}`
            : `${here} duplicate nodes of the same names in ${there}`,
      })
    }

    if (domain !== undefined && !domainTooLong) {
      const longest = names.reduce((a, b) => (b.length >= a.length ? b : a))
      const hostname = `${longest}.${domain}`
      if (hostname.length > HOSTNAME_MAX) {
        issues.push({
          path: ['nodes', i, 'name'],
          message: `hostname "${hostname}" is ${hostname.length} characters; the limit is ${HOSTNAME_MAX}`,
        })
      }
    }
  })
  return { total, exact }
}

function checkImages(parts: Parts, issues: RawIssue[]): void {
  // An invalid top-level or defaults image is reported where it is; do not pile on.
  if (parts.image !== null || parts.defaults === undefined || parts.defaults?.image) return
  parts.nodes.forEach((node, i) => {
    if (node.hasImage) return
    issues.push({
      path: ['nodes', i, 'image'],
      message: 'no image (set image at the top level, in defaults, or on the node)',
    })
  })
}

function checkVolumes(parts: Parts, issues: RawIssue[]): void {
  parts.nodes.forEach((node, i) => {
    const where = node.name === undefined ? `nodes[${i}]` : `node "${node.name}"`
    const names = new Set<string>()
    const targets = new Set<string>()
    node.volumes.forEach((v, j) => {
      if (v === undefined) return
      if (names.has(v.name)) {
        issues.push({
          path: ['nodes', i, 'volumes', j],
          message: `volume "${v.name}" is mounted twice in ${where}`,
        })
      }
      if (targets.has(v.target)) {
        issues.push({
          path: ['nodes', i, 'volumes', j],
          message: `target "${v.target}" is used twice in ${where}`,
        })
      }
      names.add(v.name)
      targets.add(v.target)
    })
  })
}

function checkSubnet(parts: Parts, total: number, count: string, issues: RawIssue[]): void {
  const net = parts.network
  const cidr = net?.subnet === undefined ? null : parseCidr(net.subnet)
  if (!net || !cidr) return
  const pinned = addressesOf(net.mode ?? 'static', net.addresses) === 'pinned'
  const capacityOf = (size: number) => (pinned ? staticCapacity(size) : Math.max(0, size - 3)) // network, gateway, broadcast
  const capacity = capacityOf(cidr.size)
  if (total <= capacity) return
  let hint = ''
  for (let prefix = cidr.prefix - 1; prefix >= 16; prefix--) {
    if (capacityOf(2 ** (32 - prefix)) >= total) {
      hint = ` (a /${prefix} would do)`
      break
    }
  }
  const mode = pinned ? ` in ${net.mode ?? 'static'} mode` : ''
  issues.push({
    path: ['network', 'subnet'],
    message: `${net.subnet} holds at most ${capacity} nodes${mode}; the topology has ${count}${hint}`,
  })
}

// ---------------------------------------------------------------------------------------------
// Expansion

function mergeCaps(...lists: (string[] | undefined)[]): string[] {
  const all = new Set(lists.flatMap((l) => l ?? []))
  if (all.has('ALL')) return ['ALL']
  return [...all].sort()
}

/** Defaults' items, then the node's, one per key (the node's wins, in its place). */
function mergeBy<T>(key: (t: T) => string, ...lists: (T[] | undefined)[]): T[] {
  const out = new Map<string, T>()
  for (const item of lists.flatMap((l) => l ?? [])) {
    out.delete(key(item))
    out.set(key(item), structuredClone(item))
  }
  return [...out.values()]
}

function expand(file: FileData): Topology {
  const defaults: DefaultsData = file.defaults ?? {}
  const nodes: NodeSpec[] = []
  for (const entry of file.nodes) {
    for (const name of namesOf(entry)) {
      const bootstrap = entry.bootstrap !== undefined ? entry.bootstrap : defaults.bootstrap
      const health = entry.healthcheck !== undefined ? entry.healthcheck : defaults.healthcheck
      const env = { ...defaults.env, ...entry.env }
      const pick = <K extends keyof DefaultsData & keyof typeof entry>(key: K) =>
        structuredClone(entry[key] ?? defaults[key])
      nodes.push({
        name,
        role: entry.name,
        hostname: `${name}.${file.domain}`,
        index: nodes.length,
        phase: entry.phase,
        image: (entry.image ?? defaults.image ?? file.image)!,
        privileged: entry.privileged ?? defaults.privileged ?? false,
        capAdd: mergeCaps(defaults.capAdd, entry.capAdd),
        env: Object.fromEntries(
          Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string')
        ),
        secrets: Object.fromEntries(
          Object.entries(env).flatMap(([k, v]) => (typeof v === 'object' ? [[k, v.secret]] : []))
        ),
        volumes: (entry.volumes ?? []).map((v) => ({ ...v })),
        bootstrap: bootstrap?.argv ? [...bootstrap.argv] : null,
        bootstrapPolicy: { ...(bootstrap?.policy ?? DEFAULT_BOOTSTRAP_POLICY) },
        timeoutSeconds: entry.timeoutSeconds ?? defaults.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS,
        healthcheck: health ? structuredClone(health) : null,
        command: pick('command') ?? null,
        entrypoint: pick('entrypoint') ?? null,
        init: pick('init') ?? false,
        user: pick('user') ?? null,
        workdir: pick('workdir') ?? null,
        labels: { ...defaults.labels, ...entry.labels },
        extraHosts: mergeBy((h) => h.name, defaults.extraHosts, entry.extraHosts),
        tmpfs: mergeBy((t) => t.target, defaults.tmpfs, entry.tmpfs),
        shmSize: pick('shmSize') ?? null,
        sysctls: { ...defaults.sysctls, ...entry.sysctls },
        ulimits: mergeBy((u) => u.name, defaults.ulimits, entry.ulimits),
        resources: {
          memory: entry.resources?.memory ?? defaults.resources?.memory ?? null,
          cpus: entry.resources?.cpus ?? defaults.resources?.cpus ?? null,
          pids: entry.resources?.pids ?? defaults.resources?.pids ?? null,
        },
        restart: pick('restart') ?? { name: 'no', maxRetries: 0 },
        ports: (entry.ports ?? []).map((p) => ({ ...p })),
        files: mergeBy((f) => f.target, defaults.files, entry.files),
        placement: entry.placement ? { ...entry.placement } : null,
      })
    }
  }
  return {
    name: file.name,
    domain: file.domain,
    image: file.image ?? defaults.image ?? nodes[0].image,
    network: {
      mode: file.network?.mode ?? 'static',
      subnet: file.network?.subnet ?? null,
      addresses: addressesOf(file.network?.mode ?? 'static', file.network?.addresses),
    },
    nodes,
    hooks: {
      preSnapshot: file.hooks?.preSnapshot ?? null,
      postRestore: file.hooks?.postRestore ?? null,
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Entry points

/**
 * Validates an already-parsed topology and expands it. Throws BerthError('invalid_topology')
 * listing every issue, one `<path>: <reason>` per line.
 */
export function validateTopology(input: unknown, opts: { file?: string } = {}): Topology {
  return checkTopology(input, opts).topology
}

/**
 * The topology as written (defaults and `count` not applied: what the host policy reads, so its
 * refusals name the paths of the file) and expanded. Throws as validateTopology does.
 */
export function checkTopology(
  input: unknown,
  opts: { file?: string } = {}
): { file: TopologyFileData; topology: Topology } {
  const result = TopologyFile.safeParse(input, { error: errorMap })
  const raw: RawIssue[] = result.success ? [] : rawIssues(result.error.issues, { knownKeys })
  raw.push(...crossCheck(result.success ? partsOf(result.data) : salvage(input)))
  if (raw.length > 0) {
    const root = opts.file ?? 'topology'
    throw invalid(written(sortIssues(raw), root))
  }
  return { file: result.data!, topology: expand(result.data!) }
}

/** YAML or JSON text, or an already-parsed object (what a job spec or an HTTP body carries). */
export function readTopology(
  input: string | Record<string, unknown>,
  opts: { file?: string; format?: 'yaml' | 'json' } = {}
): { file: TopologyFileData; topology: Topology } {
  if (typeof input !== 'string') return checkTopology(input, opts)
  return checkTopology(parseTopologyText(input, opts), { file: opts.file ?? 'topology' })
}

/** The text's data, not yet checked: YAML (merge keys allowed) or JSON, by the file's name. */
export function parseTopologyText(
  text: string,
  opts: { file?: string; format?: 'yaml' | 'json' } = {}
): unknown {
  const file = opts.file ?? 'topology'
  const format = opts.format ?? (opts.file?.toLowerCase().endsWith('.json') ? 'json' : 'yaml')
  return format === 'json' ? readJson(text, file) : readYaml(text, file)
}

/** The error listing these issues, as the topology's own checks throw it. */
export function topologyError(issues: Issue[]): BerthError {
  return invalid(issues)
}

export function parseTopology(
  text: string,
  opts: { file?: string; format?: 'yaml' | 'json' } = {}
): Topology {
  return readTopology(text, opts).topology
}

/** Node indexes grouped by phase, in ascending phase order. */
export function phasesOf(t: Topology): number[][] {
  const byPhase = new Map<number, number[]>()
  for (const node of t.nodes) {
    const group = byPhase.get(node.phase)
    if (group) group.push(node.index)
    else byPhase.set(node.phase, [node.index])
  }
  return [...byPhase.keys()].sort((a, b) => a - b).map((phase) => byPhase.get(phase)!)
}

function readYaml(text: string, file: string): unknown {
  const lineCounter = new LineCounter()
  // Merge keys (<<: *base) let a file share settings between nodes beyond what defaults cover.
  const doc = YAML.parseDocument(text, { prettyErrors: false, lineCounter, merge: true })
  if (doc.errors.length > 0) {
    throw invalid(
      doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0])
        return { path: `${file}:${line}:${col}`, message: e.message }
      })
    )
  }
  if (doc.contents === null) throw invalid([{ path: file, message: 'the file is empty' }])
  try {
    return doc.toJS({ maxAliasCount: 1000 })
  } catch (err) {
    // Unresolvable or exploding aliases surface only here, without a position.
    throw invalid([{ path: file, message: (err as Error).message }])
  }
}

function readJson(text: string, file: string): unknown {
  const body = text.replace(/^\uFEFF/, '')
  try {
    return JSON.parse(body)
  } catch (err) {
    const message = (err as Error).message
    const { line, col } = jsonErrorPosition(body, message)
    const reason = message.replace(/ in JSON at position \d+.*$/, '').replace(/^(.*?), ".*$/, '$1')
    throw invalid([{ path: `${file}:${line}:${col}`, message: reason }])
  }
}

// V8 words JSON errors differently across versions and leaves some without a position; the
// YAML parser in its JSON schema locates those.
function jsonErrorPosition(text: string, message: string): { line: number; col: number } {
  const lineCol = /line (\d+) column (\d+)/.exec(message)
  if (lineCol) return { line: Number(lineCol[1]), col: Number(lineCol[2]) }
  const position = /at position (\d+)/.exec(message)
  if (position) return linePosOf(text, Number(position[1]))
  if (/end of JSON input/.test(message)) return linePosOf(text, text.length)
  const lineCounter = new LineCounter()
  const doc = YAML.parseDocument(text, { prettyErrors: false, lineCounter, schema: 'json' })
  const offset = doc.errors[0]?.pos[0]
  return offset === undefined ? { line: 1, col: 1 } : lineCounter.linePos(offset)
}

function linePosOf(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset).split('\n')
  return { line: before.length, col: before[before.length - 1].length + 1 }
}
