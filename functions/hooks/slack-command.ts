/**
 * `/berth <verb> <cluster> [args]`: parsed into a job request, checked against the configured
 * permissions, and the short replies a person reads in Slack. Pure: no I/O. Everything the user
 * typed is data; names are validated here with the same rules as the API.
 */
import type { ResultEvent } from '../../scripts/engine/events.ts'
import { CLUSTER_NAME, SNAPSHOT_ID } from '../../scripts/engine/labels.ts'
import { anyMatch } from '../../scripts/engine/patterns.ts'
import type { Level } from '../../scripts/engine/policy.ts'
import { SLACK_KINDS, type SlackKind } from '../../scripts/engine/job-kinds.ts'
import type { JobRequestBody } from '../job-request.ts'
import { highest, type Principal, type Right } from '../principal.ts'
import type { JobRecord } from '../store/store.ts'

/** The job kinds Slack starts by name (the table in job-kinds.ts), then `jobs` and `help`. */
export const SLACK_VERBS = [...SLACK_KINDS, 'jobs', 'help'] as const
export type SlackVerb = SlackKind | 'jobs' | 'help'

export type SlackCommand =
  | { verb: 'help' }
  | { verb: 'jobs'; cluster?: string }
  | { verb: 'status' | 'destroy'; cluster: string }
  | { verb: 'install'; cluster: string; topologyRef: string }
  | { verb: 'snapshot'; cluster: string; keep?: number; tag?: string }
  | { verb: 'restore'; cluster: string; snapshot: string }

export const SLACK_HELP = [
  '*berth* — what you can ask:',
  '`/berth install <cluster> [from <stored-topology>]` — install or converge from a stored topology',
  '`/berth snapshot <cluster> [keep <N>] [tag <id>]` — consistent snapshot of every node',
  '`/berth restore <cluster> <snapshot>` — asks you to confirm first',
  '`/berth destroy <cluster>` — asks you to confirm first (volumes are kept)',
  '`/berth status <cluster>` · `/berth jobs [cluster]` · `/berth help`',
].join('\n')

export function parseSlackCommand(text: string): SlackCommand | { error: string } {
  const words = text.trim().split(/\s+/).filter(Boolean)
  const [verb, cluster, ...rest] = words
  if (!verb || verb === 'help') return { verb: 'help' }
  if (!(SLACK_VERBS as readonly string[]).includes(verb))
    return { error: `unknown command "${verb.slice(0, 40)}"` }
  if (verb === 'jobs' && !cluster) return { verb: 'jobs' }
  if (!cluster) return { error: `\`/berth ${verb}\` needs a cluster name` }
  if (!CLUSTER_NAME.test(cluster))
    return { error: `"${cluster.slice(0, 60)}" is not a valid cluster name` }
  const extra = () => ({
    error: `unexpected "${rest.join(' ').slice(0, 60)}" after \`/berth ${verb} ${cluster}\``,
  })
  switch (verb as Exclude<SlackVerb, 'help'>) {
    case 'jobs':
    case 'status':
    case 'destroy':
      return rest.length ? extra() : { verb: verb as 'jobs' | 'status' | 'destroy', cluster }
    case 'install': {
      if (!rest.length) return { verb: 'install', cluster, topologyRef: cluster }
      if (rest.length === 2 && rest[0] === 'from' && CLUSTER_NAME.test(rest[1]))
        return { verb: 'install', cluster, topologyRef: rest[1] }
      return extra()
    }
    case 'snapshot': {
      const out: SlackCommand = { verb: 'snapshot', cluster }
      for (let i = 0; i < rest.length; i += 2) {
        const [key, value] = [rest[i], rest[i + 1]]
        if (key === 'keep' && /^[1-9]\d{0,2}$/.test(value ?? '')) out.keep = Number(value)
        else if (key === 'tag' && SNAPSHOT_ID.test(value ?? '')) out.tag = value
        else return extra()
      }
      return out
    }
    case 'restore': {
      const [snapshot, ...more] = rest
      if (!snapshot)
        return {
          error: '`/berth restore` needs a snapshot id (see `/berth jobs` or the snapshots list)',
        }
      if (!SNAPSHOT_ID.test(snapshot))
        return { error: `"${snapshot.slice(0, 60)}" is not a valid snapshot id` }
      return more.length ? extra() : { verb: 'restore', cluster, snapshot }
    }
  }
  return { error: `unknown command "${verb}"` }
}

/** One permission rule: a request passes when any rule matches all of its given fields. */
export interface SlackRule {
  users?: string[]
  channels?: string[]
  /** Verbs allowed (help is always allowed). */
  kinds: string[]
  /** Cluster names or globs with `*`. */
  clusters: string[]
  /** The host-policy level of what this rule lets a user install. */
  level?: Level
}

function rulesFor(
  rules: SlackRule[],
  who: { user: string; channel: string },
  verb: string | undefined,
  cluster?: string
): SlackRule[] {
  return rules.filter(
    (r) =>
      (!r.users || r.users.includes(who.user)) &&
      (!r.channels || r.channels.includes(who.channel)) &&
      (verb === undefined || r.kinds.includes(verb)) &&
      (cluster === undefined || anyMatch(r.clusters, cluster))
  )
}

export function slackAllowed(
  rules: SlackRule[],
  who: { user: string; channel: string },
  verb: string,
  cluster?: string
): boolean {
  return verb === 'help' || rulesFor(rules, who, verb, cluster).length > 0
}

/** The Slack verb that grants each right; pruning (a snapshot's keep) is removal, as restore. */
const VERB_OF: Partial<Record<Right, SlackVerb>> = {
  install: 'install',
  snapshot: 'snapshot',
  restore: 'restore',
  destroy: 'destroy',
  read: 'status',
  prune: 'restore',
}

/**
 * A Slack user in a channel, as admission sees them: the rules are the grants, the channel owns
 * what they create (a team's channel, not one person), the rules that match give the level.
 */
export function slackPrincipal(
  rules: SlackRule[],
  who: { user: string; channel: string },
  defaultLevel: Level
): Principal {
  return {
    actor: `slack:${who.user}`,
    owner: `slack:${who.channel || 'unknown-channel'}`,
    level: (cluster) =>
      highest(
        rulesFor(rules, who, undefined, cluster).map((r) => r.level),
        defaultLevel
      ),
    denies(right, cluster) {
      const verb = VERB_OF[right]
      if (verb && slackAllowed(rules, who, verb, cluster)) return null
      const why =
        right === 'prune' ? ' (snapshot … keep removes snapshots: it needs the restore verb)' : ''
      return `no rule under hooks.slack.allow lets ${who.user} ${right === 'prune' ? 'prune snapshots of' : (verb ?? right)} ${cluster} from this channel${why}`
    },
  }
}

/** The verbs that become a job (the others are answered at once). */
export type JobCommand =
  | Extract<SlackCommand, { verb: 'install' | 'snapshot' | 'restore' }>
  | { verb: 'destroy'; cluster: string }

/** The same request body the API takes, so submitJob checks a Slack job exactly like any other. */
export function jobRequestOf(cmd: JobCommand): JobRequestBody {
  switch (cmd.verb) {
    case 'install':
      return { kind: 'install', cluster: cmd.cluster, topologyRef: cmd.topologyRef }
    case 'snapshot': {
      const options = {
        ...(cmd.keep ? { keep: cmd.keep } : {}),
        ...(cmd.tag ? { tag: cmd.tag } : {}),
      }
      return {
        kind: 'snapshot',
        cluster: cmd.cluster,
        ...(Object.keys(options).length ? { options } : {}),
      }
    }
    case 'restore':
      return { kind: 'restore', cluster: cmd.cluster, snapshot: cmd.snapshot }
    case 'destroy':
      return { kind: 'destroy', cluster: cmd.cluster }
  }
}

/** Slack reads `&`, `<` and `>` as markup (`<!channel>`, `<@U1>`): text from outside is escaped. */
export const escapeSlack = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

export function describe(cmd: { verb: string; cluster: string; snapshot?: string }): string {
  return `${cmd.verb} *${cmd.cluster}*${cmd.snapshot ? ` from snapshot \`${cmd.snapshot}\`` : ''}`
}

export function refusalText(user: string, verb: string, cluster?: string): string {
  return `Sorry <@${user}>, you are not allowed to \`${verb}\`${cluster ? ` *${cluster}*` : ''} from here. A berth admin can grant it with a rule under \`hooks.slack.allow\`.`
}

/**
 * Where a new job stands: `ahead` is how many jobs on its cluster run or wait before it (-1: it
 * has already finished).
 */
export function acceptedText(
  cmd: { verb: string; cluster: string; snapshot?: string },
  job: JobRecord,
  ahead: number
): string {
  const place =
    ahead < 0
      ? 'it has already finished'
      : `place in queue: ${ahead + 1}${ahead ? ` (${ahead} ahead of it on ${job.cluster})` : job.state === 'running' ? ' (running now)' : ' (next to run)'}`
  return `:inbox_tray: ${describe(cmd)} accepted — job \`${job.id}\`, ${place}. I will post here when it starts and when it ends.`
}

export function duplicateText(job: JobRecord): string {
  return `Already received: job \`${job.id}\` (${job.kind} *${job.cluster}*) is ${job.state}.`
}

/** What `status <cluster>` reads of the engine's answer. */
interface StatusData {
  nodes?: {
    name: string
    hostname: string
    state: string
    ip: string | null
    bootstrap?: string
    health?: string
  }[]
  network?: string | null
  subnet?: string | null
}

const MAX_LINES = 10

/** `status <cluster>`, kept short: one line per node, ten at most. */
export function statusText(cluster: string, result: ResultEvent): string {
  if (!result.ok) {
    if (result.code === 'not_found')
      return `There is no cluster named *${cluster}* on this Docker host.`
    return `Sorry — I could not read *${cluster}*: ${escapeSlack((result.message ?? result.code ?? 'unknown error').slice(0, 300))}`
  }
  const s = (result.data ?? {}) as StatusData
  const nodes = s.nodes ?? []
  const head = `*${cluster}*: ${nodes.length} node${nodes.length === 1 ? '' : 's'}${s.subnet ? ` on ${s.subnet}` : ''}`
  const lines = nodes.slice(0, MAX_LINES).map((n) => {
    const notes = [
      n.state,
      n.health && n.health !== 'none' ? n.health : null,
      n.bootstrap === 'pending' ? 'bootstrap pending' : null,
    ]
    return `• ${n.hostname} — ${notes.filter(Boolean).join(', ')}${n.ip ? ` · ${n.ip}` : ''}`
  })
  if (nodes.length > MAX_LINES) lines.push(`… and ${nodes.length - MAX_LINES} more`)
  return [head, ...lines].join('\n')
}

function ago(iso: string, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000))
  if (s < 90) return `${s} s ago`
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h ago`
  return `${Math.round(s / 86400)} d ago`
}

/** `jobs [cluster]`: the latest few, newest first. */
export function jobsText(cluster: string | undefined, jobs: JobRecord[], nowMs: number): string {
  if (!jobs.length) return cluster ? `No jobs for *${cluster}* yet.` : 'No jobs yet.'
  const lines = jobs.map((j) => {
    const r = j.result as ResultEvent | null
    const why =
      j.state === 'failed' && r?.message
        ? `: ${escapeSlack(r.message.split('\n')[0].slice(0, 80))}`
        : ''
    return `• \`${j.id}\` ${j.kind} *${j.cluster}* — ${j.state}${why} · ${ago(j.createdAt, nowMs)} · ${escapeSlack(j.requestedBy)}`
  })
  return [`Latest jobs${cluster ? ` on *${cluster}*` : ''}:`, ...lines].join('\n')
}
