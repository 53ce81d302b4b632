/**
 * Every job kind, once: the scope a caller needs over HTTP, whether it only reads, whether it
 * names a cluster, whether a signed hook may start it, and its command line. Every list of kinds
 * is derived from this table — the job spec's enum, the queue's read-only kinds, the HTTP scopes
 * and request enum, the hooks' kinds, Slack's verbs, `berth --help` — and `satisfies` makes a kind without an
 * entry, or an entry without a field, a type error. Pure: the Worker imports it too.
 */

/** The options a job spec can carry (job-spec.ts's JobOptions has exactly these keys). */
export type JobOption =
  | 'plan'
  | 'keepFailed'
  | 'volumes'
  | 'concurrency'
  | 'tag'
  | 'keep'
  | 'as'
  | 'domain'
  | 'ports'
  | 'placement'
  | 'image'
  | 'file'
  | 'job'
  | 'offset'

/** The scopes a job kind can need (`admin` is for tokens and audit, never a job's). */
export type KindScope = 'read' | 'install' | 'snapshot' | 'restore'

export interface KindInfo {
  /** What a caller needs over HTTP; null: not a job the HTTP API takes (the host's own reads). */
  scope: KindScope | null
  /** Reads only: holds no cluster in the queue and takes no lock up front. */
  readOnly: boolean
  /** The spec must name a cluster. */
  cluster: boolean
  /** A signed hook (hooks.generic.<name>.job.kind) may start it. */
  hook: boolean
  /** A verb of Slack's `/berth` (besides `jobs` and `help`, which are not jobs). */
  slack: boolean
  /** The options it takes: any other is refused (`plan` on a destroy must not skip its lock). */
  options: readonly JobOption[]
  /** `berth <usage>` in the help, with what to know about it. */
  usage: string
}

export const JOB_KIND_TABLE = {
  install: {
    scope: 'install',
    readOnly: false,
    cluster: true,
    slack: true,
    hook: true,
    options: ['plan', 'keepFailed', 'concurrency'],
    usage: 'install <topology.yaml> [--plan] [--keep-failed] [--concurrency N]',
  },
  repair: {
    scope: 'install',
    readOnly: false,
    cluster: true,
    slack: false,
    hook: false,
    options: ['plan', 'keepFailed', 'concurrency'],
    usage: 'repair  <cluster>           (mends drift: converges on what was installed last)',
  },
  status: {
    scope: 'read',
    readOnly: true,
    cluster: true,
    slack: true,
    hook: false,
    options: ['concurrency'],
    usage:
      'status  <cluster>           (exit 8: drift — nodes missing, paused, off their network…)',
  },
  start: {
    scope: 'install',
    readOnly: false,
    cluster: true,
    slack: false,
    hook: true,
    options: ['concurrency'],
    usage: 'start   <cluster>           (dynamic mode: rewires every /etc/hosts)',
  },
  stop: {
    scope: 'install',
    readOnly: false,
    cluster: true,
    slack: false,
    hook: true,
    options: ['concurrency'],
    usage: 'stop    <cluster>',
  },
  rewire: {
    scope: 'install',
    readOnly: false,
    cluster: true,
    slack: false,
    hook: true,
    options: ['concurrency'],
    usage: 'rewire  <cluster>           (dynamic mode: rewrite /etc/hosts from current IPs)',
  },
  destroy: {
    scope: 'restore',
    readOnly: false,
    cluster: true,
    slack: true,
    hook: false,
    options: ['volumes', 'concurrency'],
    usage: 'destroy <cluster> [--volumes]',
  },
  snapshot: {
    scope: 'snapshot',
    readOnly: false,
    cluster: true,
    slack: true,
    hook: true,
    options: ['tag', 'keep', 'concurrency'],
    usage: 'snapshot <cluster> [--tag T] [--keep N]',
  },
  snapshots: {
    scope: 'read',
    readOnly: true,
    cluster: true,
    slack: false,
    hook: false,
    options: [],
    usage: 'snapshots <cluster>',
  },
  'snapshot-rm': {
    scope: 'restore',
    readOnly: false,
    cluster: true,
    slack: false,
    hook: false,
    options: [],
    usage: 'snapshot rm <cluster> <snapshot>',
  },
  restore: {
    scope: 'restore',
    readOnly: false,
    cluster: true,
    slack: true,
    hook: true,
    options: ['as', 'domain', 'ports', 'placement', 'concurrency'],
    usage:
      'restore <cluster> <snapshot> [--as NEW] [--domain D] [--ports offset:N|none] [--placement same|spread|host=H[,H…]]',
  },
  upgrade: {
    scope: 'install',
    readOnly: false,
    cluster: true,
    slack: false,
    hook: true,
    options: ['image', 'concurrency'],
    usage:
      'upgrade <cluster> --image IMAGE | <topology.yaml>   (snapshot first; rolls back on failure)',
  },
  export: {
    scope: 'snapshot',
    readOnly: false,
    cluster: true,
    slack: false,
    hook: false,
    options: ['file'],
    usage: 'export <cluster> <snapshot> -o FILE.tar          (one file: manifest, volumes, images)',
  },
  // The cluster is named by the file's manifest; its lock is taken once that is read.
  import: {
    scope: null,
    readOnly: true,
    cluster: false,
    slack: false,
    hook: false,
    options: ['file'],
    usage: 'import FILE.tar                                  (every checksum verified first)',
  },
  clusters: {
    scope: null,
    readOnly: true,
    cluster: false,
    slack: false,
    hook: false,
    options: [],
    usage: 'clusters                    (every cluster on this Docker host)',
  },
  log: {
    scope: null,
    readOnly: true,
    cluster: false,
    slack: false,
    hook: false,
    options: ['job', 'offset'],
    usage: "job log <job>               (the job's full log on this host: lines and events)",
  },
} as const satisfies Record<string, KindInfo>

export type JobKind = keyof typeof JOB_KIND_TABLE

/** Each option given (not undefined) that `kind` does not take, at its path. */
export function optionIssues(
  kind: JobKind,
  options: object | undefined
): { path: string[]; message: string }[] {
  if (!Object.hasOwn(JOB_KIND_TABLE, kind)) return []
  const takes: readonly string[] = JOB_KIND_TABLE[kind].options
  return Object.entries(options ?? {})
    .filter(([name, value]) => value !== undefined && !takes.includes(name))
    .map(([name]) => ({
      path: ['options', name],
      message: `not an option of "${kind}" (${takes.length ? `it takes ${takes.join(', ')}` : 'it takes none'})`,
    }))
}
/** The kinds the HTTP API takes: those with a scope. */
export type HttpKind = {
  [K in JobKind]: (typeof JOB_KIND_TABLE)[K]['scope'] extends null ? never : K
}[JobKind]
/** The kinds a signed hook may start. */
export type HookKind = {
  [K in JobKind]: (typeof JOB_KIND_TABLE)[K]['hook'] extends true ? K : never
}[JobKind]

const entries = Object.entries(JOB_KIND_TABLE) as [JobKind, KindInfo][]

export const JOB_KINDS = Object.keys(JOB_KIND_TABLE) as [JobKind, ...JobKind[]]
/** Kinds that hold no cluster in the queue and take no lock up front. */
export const READ_ONLY: ReadonlySet<string> = new Set(
  entries.filter(([, k]) => k.readOnly).map(([name]) => name)
)
/** Kinds whose spec must name a cluster. */
export const NEEDS_CLUSTER: ReadonlySet<string> = new Set(
  entries.filter(([, k]) => k.cluster).map(([name]) => name)
)
/** The scope each HTTP kind needs. */
export const KIND_SCOPE = Object.fromEntries(
  entries.filter(([, k]) => k.scope).map(([name, k]) => [name, k.scope])
) as Record<HttpKind, KindScope>
export const HTTP_KINDS = Object.keys(KIND_SCOPE) as [HttpKind, ...HttpKind[]]
export const HOOK_KINDS = entries.filter(([, k]) => k.hook).map(([name]) => name) as [
  HookKind,
  ...HookKind[],
]
/** The kinds Slack's `/berth` starts, by their own name. */
export type SlackKind = {
  [K in JobKind]: (typeof JOB_KIND_TABLE)[K]['slack'] extends true ? K : never
}[JobKind]
export const SLACK_KINDS = entries.filter(([, k]) => k.slack).map(([name]) => name) as SlackKind[]
/** The help's lines for the job commands, in the table's order. */
export const KIND_USAGE = entries.map(([, k]) => `  berth ${k.usage}`).join('\n')
