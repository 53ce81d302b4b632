/**
 * What a real product asks of its containers, as topology keys: the process (`command`,
 * `entrypoint`, `init`, `user`, `workdir`), its surroundings (`labels`, `extraHosts`, `tmpfs`,
 * `shmSize`, `sysctls`, `ulimits`), its limits (`resources`), its `restart` policy and its
 * published `ports`. Names and forms are compose's where compose has the concept; each schema
 * turns the forms a user may write into one value the engine uses as it is.
 *
 * Pure: no fs, no docker.
 */
import { z } from 'zod'
import { didYouMean, intIn, oneOf, show } from './topology-kit.ts'

// ---------------------------------------------------------------------------------------------
// Addresses (no node:net here: the Worker validates topologies too)

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
export const isIPv4 = (s: string) => IPV4.test(s)
/** IPv6, loosely: hex groups and colons, at most one '::', an optional IPv4 tail. */
export function isIPv6(s: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.split('::').length > 2) return false
  const tail = s.includes('.') ? s.slice(s.lastIndexOf(':') + 1) : null
  if (tail !== null && !isIPv4(tail)) return false
  const groups = (tail === null ? s : s.slice(0, s.lastIndexOf(':') + 1) + '0:0')
    .split(':')
    .filter((g) => g !== '')
  return (
    groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g)) &&
    (s.includes('::') ? groups.length < 8 : groups.length === 8)
  )
}
const isIP = (s: string) => isIPv4(s) || isIPv6(s)

// ---------------------------------------------------------------------------------------------
// Byte sizes: "512m", "2g", "1.5g", 1048576 — Docker's units (k, m, g, t are powers of 1024).

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
}

/** Bytes of "512m", "2g", "1.5g", "64kb", or a plain number of bytes; null when not a size. */
export function parseBytes(v: string | number): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : null
  const m = /^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$/i.exec(v)
  if (!m) return null
  const bytes = Math.round(Number(m[1]) * UNITS[m[2].toLowerCase()])
  return Number.isSafeInteger(bytes) ? bytes : null
}

export function formatBytes(n: number): string {
  for (const [unit, size] of [
    ['g', 1024 ** 3],
    ['m', 1024 ** 2],
    ['k', 1024],
  ] as const) {
    if (n >= size && n % (size / 1024) === 0) return `${+(n / size).toFixed(2)}${unit}`
  }
  return `${n}`
}

export const byteSize = (min: number, what: string) =>
  oneOf(
    [z.string(), z.number()],
    `expected ${what}: a size like "512m" or "2g", or a number of bytes`
  ).transform((v, ctx) => {
    const bytes = parseBytes(v)
    if (bytes === null) {
      ctx.addIssue({
        code: 'custom',
        message: `${show(v)} is not a size (write a number with k, m, g or t, like "512m" or "1.5g")`,
      })
      return z.NEVER
    }
    if (bytes < min) {
      ctx.addIssue({
        code: 'custom',
        message: `${show(v)} is too small: at least ${formatBytes(min)}`,
      })
      return z.NEVER
    }
    return bytes
  })

// ---------------------------------------------------------------------------------------------
// command, entrypoint: a string is split into words as compose does (quotes kept together), not
// run through a shell; a list is the argv itself.

/** Splits a command line into words: whitespace separates, quotes and backslashes group. */
export function splitWords(line: string): string[] | string {
  const words: string[] = []
  let word = ''
  let inWord = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (c === "'") {
      const end = line.indexOf("'", i + 1)
      if (end < 0) return `unclosed ' at character ${i + 1}`
      word += line.slice(i + 1, end)
      i = end
      inWord = true
    } else if (c === '"') {
      let j = i + 1
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && '"\\$`'.includes(line[j + 1] ?? '')) j++
        word += line[j]
      }
      if (j >= line.length) return `unclosed " at character ${i + 1}`
      i = j
      inWord = true
    } else if (c === '\\') {
      if (i + 1 < line.length) word += line[++i]
      inWord = true
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word)
      word = ''
      inWord = false
    } else {
      word += c
      inWord = true
    }
  }
  if (inWord) words.push(word)
  return words
}

export const processArgv = oneOf(
  [z.string(), z.array(z.string()).min(1)],
  'expected a command: a string (split into words as compose does) or a list of arguments'
).transform((v, ctx) => {
  if (Array.isArray(v)) return v
  const words = splitWords(v)
  if (typeof words === 'string' || words.length === 0) {
    ctx.addIssue({
      code: 'custom',
      message: typeof words === 'string' ? `${show(v)}: ${words}` : 'must not be empty',
    })
    return z.NEVER
  }
  return words
})

// ---------------------------------------------------------------------------------------------
// user, workdir, labels, extraHosts

const NAME_OR_ID = /^([a-z_][a-z0-9_.-]{0,31}\$?|\d{1,10})$/
/** Whether `user` (name, uid, name:group, uid:gid) names root. */
export const isRootUser = (user: string) => /^(root|0)(:|$)/.test(user)

export const user = z.string().superRefine((u, ctx) => {
  const parts = u.split(':')
  if (parts.length > 2 || !parts.every((p) => NAME_OR_ID.test(p))) {
    ctx.addIssue({
      code: 'custom',
      message: `${show(u)} is not a user (a name or uid, optionally :group or :gid, like app or 1000:1000)`,
    })
  }
})

export const absolutePath = (what: string) =>
  z.string().superRefine((p, ctx) => {
    if (!p.startsWith('/'))
      ctx.addIssue({ code: 'custom', message: `${what} ${show(p)} is not an absolute path` })
    else if (p.split('/').some((s) => s === '.' || s === '..') || /\/\/|.\/$/.test(p)) {
      ctx.addIssue({ code: 'custom', message: `${what} ${show(p)} is not a normalised path` })
    }
  })

/** `{a: "1"}` or `["a=1"]` (compose's two forms) → a mapping. */
function keyValues(what: string) {
  return oneOf(
    [
      z.record(
        z.string(),
        oneOf([z.string(), z.number(), z.boolean()], 'expected a string, number or boolean')
      ),
      z.array(z.string()),
    ],
    `expected ${what}: a mapping or a list of "key=value"`
  ).transform((v, ctx) => {
    if (!Array.isArray(v))
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)]))
    const out: Record<string, string> = {}
    v.forEach((item, i) => {
      const eq = item.indexOf('=')
      if (eq <= 0)
        ctx.addIssue({ code: 'custom', path: [i], message: `${show(item)} is not "key=value"` })
      else out[item.slice(0, eq)] = item.slice(eq + 1)
    })
    return out
  })
}

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$/
export const labels = keyValues('labels').superRefine((l, ctx) => {
  for (const key of Object.keys(l)) {
    if (!LABEL_KEY.test(key))
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `${show(key)} is not a label key (letters, digits, '.', '-', '_' and '/')`,
      })
    else if (/^berth\./i.test(key))
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `${key}: labels berth.* are berth's own (it finds its nodes by them)`,
      })
  }
})

const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

export interface ExtraHost {
  name: string
  ip: string
}

/** `["ldap.corp:10.0.0.5"]`, `["ldap.corp=10.0.0.5"]` or `{ldap.corp: 10.0.0.5}`. */
export const extraHostsKey = oneOf(
  [z.array(z.string()), z.record(z.string(), z.string())],
  'expected extra hosts: a list of "name:address" or a mapping of name to address'
).transform((v, ctx): ExtraHost[] => {
  const pairs: [string, string, PropertyKey][] = Array.isArray(v)
    ? v.map((s, i) => {
        const sep = s.includes('=') ? s.indexOf('=') : s.indexOf(':')
        return sep < 0 ? [s, '', i] : [s.slice(0, sep), s.slice(sep + 1), i]
      })
    : Object.entries(v).map(([k, ip]) => [k, ip, k])
  const out: ExtraHost[] = []
  for (const [name, ip, at] of pairs) {
    if (!HOST_NAME.test(name))
      ctx.addIssue({ code: 'custom', path: [at], message: `${show(name)} is not a host name` })
    else if (!isIP(ip))
      ctx.addIssue({
        code: 'custom',
        path: [at],
        message: `${show(ip)} is not an IP address (write "name:address", like "ldap.corp:10.0.0.5")`,
      })
    else out.push({ name, ip })
  }
  return out
})

// ---------------------------------------------------------------------------------------------
// tmpfs, sysctls, ulimits

export interface Tmpfs {
  target: string
  /** Mount options as Docker takes them: "size=64m,mode=1777", or ''. */
  options: string
}

const TMPFS_OPTION =
  /^(size|mode|uid|gid|nr_inodes|nr_blocks)=[0-9a-zA-Z]+$|^(ro|rw|noexec|exec|nosuid|suid|nodev|dev|sync|async|noatime|atime)$/
export const tmpfsKey = oneOf(
  [z.string(), z.array(z.string())],
  'expected tmpfs mounts: "/path" or a list of "/path[:size=64m,mode=1777]"'
).transform((v, ctx): Tmpfs[] =>
  (Array.isArray(v) ? v : [v]).flatMap((spec, i) => {
    const colon = spec.indexOf(':')
    const target = colon < 0 ? spec : spec.slice(0, colon)
    const options = colon < 0 ? '' : spec.slice(colon + 1)
    const path = Array.isArray(v) ? [i] : []
    if (!target.startsWith('/') || target === '/') {
      ctx.addIssue({
        code: 'custom',
        path,
        message: `${show(spec)}: the target must be an absolute path other than /`,
      })
      return []
    }
    const bad = options ? options.split(',').filter((o) => !TMPFS_OPTION.test(o)) : []
    if (bad.length) {
      ctx.addIssue({
        code: 'custom',
        path,
        message: `${show(spec)}: ${bad.map((b) => show(b)).join(', ')} is not a tmpfs option (size=…, mode=…, uid=…, gid=…, ro, noexec, nosuid, nodev)`,
      })
      return []
    }
    return [{ target, options }]
  })
)

// Docker accepts only sysctls a container has its own copy of (they are namespaced).
const NAMESPACED_SYSCTL =
  /^(kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)|fs\.mqueue\.[a-z_]+|net\.[a-z0-9_.\-*]+)$/
export const sysctlsKey = keyValues('sysctls').superRefine((s, ctx) => {
  for (const key of Object.keys(s)) {
    if (!NAMESPACED_SYSCTL.test(key)) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `${key} is not a namespaced sysctl (a container may set only net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.*)`,
      })
    }
  }
})

export const ULIMITS = [
  'core',
  'cpu',
  'data',
  'fsize',
  'locks',
  'memlock',
  'msgqueue',
  'nice',
  'nofile',
  'nproc',
  'rss',
  'rtprio',
  'rttime',
  'sigpending',
  'stack',
] as const

export interface Ulimit {
  name: string
  soft: number
  hard: number
}

const limitValue = z
  .number({ error: (iss) => `expected a number, or -1 for unlimited, got ${show(iss.input)}` })
  .int({ error: 'must be an integer' })
  .min(-1, { error: 'must be -1 (unlimited) or more' })
export const ulimitsKey = z
  .record(
    z.string(),
    oneOf(
      [limitValue, z.strictObject({ soft: limitValue, hard: limitValue })],
      'expected a number or { soft, hard }'
    )
  )
  .transform((v, ctx): Ulimit[] => {
    const out: Ulimit[] = []
    for (const [name, value] of Object.entries(v)) {
      if (!(ULIMITS as readonly string[]).includes(name)) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `${show(name)} is not a ulimit${didYouMean(name, ULIMITS)} (one of ${ULIMITS.join(', ')})`,
        })
        continue
      }
      const { soft, hard } = typeof value === 'number' ? { soft: value, hard: value } : value
      if (hard !== -1 && (soft === -1 || soft > hard)) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `soft ${soft} is above hard ${hard}`,
        })
        continue
      }
      out.push({ name, soft, hard })
    }
    return out.sort((a, b) => a.name.localeCompare(b.name))
  })

// ---------------------------------------------------------------------------------------------
// resources, restart

export interface Resources {
  /** Bytes; the container's memory limit, swap included (no swap beyond it). */
  memory: number | null
  cpus: number | null
  pids: number | null
}

/** Docker's smallest memory limit. */
export const MIN_MEMORY = 6 * 1024 ** 2

export const resourcesKey = z.strictObject({
  memory: byteSize(MIN_MEMORY, 'a memory limit').optional(),
  cpus: z
    .number({ error: (iss) => `expected a number of CPUs like 1.5, got ${show(iss.input)}` })
    .min(0.01, { error: 'must be at least 0.01' })
    .max(1024, { error: 'must be at most 1024' })
    .optional(),
  pids: intIn(1, 4194304).optional(),
})

export interface RestartPolicy {
  name: 'no' | 'on-failure' | 'unless-stopped' | 'always'
  maxRetries: number
}

export const restartKey = oneOf(
  [z.string(), z.literal(false)],
  'expected a restart policy: no, on-failure[:N], unless-stopped or always'
).transform((v, ctx): RestartPolicy => {
  if (v === false || v === 'no') return { name: 'no', maxRetries: 0 }
  const m = /^(on-failure)(?::(\d{1,4}))?$|^(unless-stopped|always)$/.exec(v)
  if (!m) {
    ctx.addIssue({
      code: 'custom',
      message: `${show(v)} is not a restart policy (no, on-failure, on-failure:N, unless-stopped or always)`,
    })
    return z.NEVER
  }
  return m[1]
    ? { name: 'on-failure', maxRetries: Number(m[2] ?? 0) }
    : { name: m[3] as RestartPolicy['name'], maxRetries: 0 }
})

// ---------------------------------------------------------------------------------------------
// ports

export interface PortMapping {
  hostIp: string
  hostPort: number
  containerPort: number
  protocol: 'tcp' | 'udp'
}

/** Where a port is published when the entry names no host address: this machine only. */
export const DEFAULT_HOST_IP = '127.0.0.1'
/** Ports one entry may publish (Docker runs a proxy process per port). */
export const MAX_PORT_RANGE = 100

function portRange(s: string): [number, number] | null {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s)
  if (!m) return null
  const a = Number(m[1])
  const b = m[2] === undefined ? a : Number(m[2])
  return a >= 1 && b <= 65535 && a <= b ? [a, b] : null
}

function mappings(
  hostIp: string,
  host: string,
  container: string,
  protocol: string
): PortMapping[] | string {
  if (!isIPv4(hostIp)) return `${show(hostIp)} is not an IPv4 host address`
  if (protocol !== 'tcp' && protocol !== 'udp')
    return `${show(protocol)} is not a protocol (tcp or udp)`
  const h = portRange(host)
  const c = portRange(container)
  if (!h) return `host port ${show(host)} is not a port or range from 1 to 65535`
  if (!c) return `container port ${show(container)} is not a port or range from 1 to 65535`
  const size = h[1] - h[0] + 1
  if (size !== c[1] - c[0] + 1)
    return `the host range ${host} and the container range ${container} differ in size`
  if (size > MAX_PORT_RANGE) return `${size} ports in one entry; at most ${MAX_PORT_RANGE}`
  return Array.from({ length: size }, (_, i) => ({
    hostIp,
    hostPort: h[0] + i,
    containerPort: c[0] + i,
    protocol,
  }))
}

/** "8080:80", "127.0.0.1:8443:443", "5000-5010:5000-5010", "53:53/udp". */
function parsePortString(spec: string): PortMapping[] | string {
  const slash = spec.lastIndexOf('/')
  const protocol = slash < 0 ? 'tcp' : spec.slice(slash + 1)
  const parts = (slash < 0 ? spec : spec.slice(0, slash)).split(':')
  if (parts.length === 1)
    return `${show(spec)} names no host port: write "HOST:CONTAINER" (like "8080:80"); berth publishes only the ports you choose`
  if (parts.length > 3)
    return `${show(spec)} is not a port mapping ("[HOST_IP:]HOST:CONTAINER[/udp]")`
  const [hostIp, host, container] = parts.length === 3 ? parts : [DEFAULT_HOST_IP, ...parts]
  return mappings(hostIp, host, container, protocol)
}

const portNumber = oneOf([z.number(), z.string()], 'expected a port or range').transform(String)
const PortEntry = z.strictObject({
  target: portNumber,
  published: portNumber,
  hostIp: z.string().default(DEFAULT_HOST_IP),
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
})

const portEntry = oneOf(
  [z.string(), z.number(), PortEntry],
  'expected a port: "HOST:CONTAINER", "IP:HOST:CONTAINER[/udp]" or { target, published, hostIp, protocol }'
).transform((v, ctx): PortMapping[] => {
  const r =
    typeof v === 'object'
      ? mappings(v.hostIp, v.published, v.target, v.protocol)
      : parsePortString(String(v))
  if (typeof r === 'string') {
    ctx.addIssue({ code: 'custom', message: r })
    return z.NEVER
  }
  return r
})

export const PORT_KEYS = Object.keys(PortEntry.shape)
export const portsKey = z.array(portEntry).transform((lists) => lists.flat())

/** Whether two published ports would take the same host socket. */
export function portsClash(a: PortMapping, b: PortMapping): boolean {
  return (
    a.hostPort === b.hostPort &&
    a.protocol === b.protocol &&
    (a.hostIp === b.hostIp || a.hostIp === '0.0.0.0' || b.hostIp === '0.0.0.0')
  )
}

export const showPort = (p: PortMapping) => `${p.hostIp}:${p.hostPort}/${p.protocol}`

/**
 * Where a published port is reached, as a URL: http:// for TCP (https:// when the container port
 * is 443 or 8443: a guess from the port, the product decides what it speaks), udp:// for UDP.
 */
export function publishedUrl(p: PortMapping): string {
  const scheme =
    p.protocol === 'udp' ? 'udp' : [443, 8443].includes(p.containerPort) ? 'https' : 'http'
  return `${scheme}://${p.hostIp}:${p.hostPort}`
}

// ---------------------------------------------------------------------------------------------
// files: written into the container before it starts

export interface NodeFile {
  target: string
  /** The content, base64. */
  data: string
  mode: number
  /** A user (name or uid, optionally :group), resolved in the container's own /etc/passwd. */
  owner: string | null
}

/** One file's most, after decoding; a topology's files travel in its job and its records. */
export const MAX_FILE_BYTES = 1024 * 1024

const FileEntry = z.strictObject({
  target: z.string(),
  content: z.string().optional(),
  /** Only in a topology file on disk: read from this path, relative to the file's folder. */
  source: z.string().optional(),
  encoding: z.enum(['utf8', 'base64']).default('utf8'),
  mode: z
    .string({
      error: (iss) =>
        typeof iss.input === 'number'
          ? `write the mode as a quoted octal string, like "0640" (a bare ${iss.input} is read as decimal by YAML)`
          : `expected a mode like "0640", got ${show(iss.input)}`,
    })
    .regex(/^0?[0-7]{3,4}$/, {
      error: (iss) => `${show(iss.input)} is not an octal mode like "0640"`,
    })
    .default('0644'),
  owner: user.optional(),
})

export const FILE_KEYS = Object.keys(FileEntry.shape)
export const filesKey = z.array(FileEntry).transform((entries, ctx): NodeFile[] =>
  entries.flatMap((f, i) => {
    if (f.source !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [i, 'source'],
        message:
          'source is read only from a topology file on disk (berth install <file>); a topology sent as data carries the file in content',
      })
      return []
    }
    if (f.content === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [i],
        message: 'content (or, in a topology file on disk, source) is required',
      })
      return []
    }
    const data =
      f.encoding === 'base64' ? Buffer.from(f.content, 'base64') : Buffer.from(f.content, 'utf8')
    if (
      f.encoding === 'base64' &&
      data.toString('base64').replace(/=+$/, '') !== f.content.replace(/\s/g, '').replace(/=+$/, '')
    ) {
      ctx.addIssue({ code: 'custom', path: [i, 'content'], message: 'is not base64' })
      return []
    }
    if (data.length > MAX_FILE_BYTES) {
      ctx.addIssue({
        code: 'custom',
        path: [i, 'content'],
        message: `${data.length} bytes; a file may hold at most ${MAX_FILE_BYTES}`,
      })
      return []
    }
    return [
      {
        target: f.target,
        data: data.toString('base64'),
        mode: parseInt(f.mode, 8),
        owner: f.owner ?? null,
      },
    ]
  })
)
export type FileEntryInput = z.input<typeof FileEntry>
