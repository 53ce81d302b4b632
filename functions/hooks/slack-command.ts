/**
 * `/berth <verb> <cluster> [args]`: parsed into a job request, checked against the configured
 * permissions. Pure: no I/O. Everything the user typed is data; names are validated here with
 * the same rules as the API.
 */
import { CLUSTER_NAME, SNAPSHOT_ID } from '../../scripts/engine/labels.ts'

export const SLACK_VERBS = ['install', 'snapshot', 'restore', 'destroy', 'status', 'jobs', 'help'] as const
export type SlackVerb = (typeof SLACK_VERBS)[number]

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
  if (!(SLACK_VERBS as readonly string[]).includes(verb)) return { error: `unknown command "${verb.slice(0, 40)}"` }
  if (verb === 'jobs' && !cluster) return { verb: 'jobs' }
  if (!cluster) return { error: `\`/berth ${verb}\` needs a cluster name` }
  if (!CLUSTER_NAME.test(cluster)) return { error: `"${cluster.slice(0, 60)}" is not a valid cluster name` }
  const extra = () => ({ error: `unexpected "${rest.join(' ').slice(0, 60)}" after \`/berth ${verb} ${cluster}\`` })
  switch (verb as SlackVerb) {
    case 'jobs':
    case 'status':
    case 'destroy':
      return rest.length ? extra() : { verb: verb as 'jobs' | 'status' | 'destroy', cluster }
    case 'install': {
      if (!rest.length) return { verb: 'install', cluster, topologyRef: cluster }
      if (rest.length === 2 && rest[0] === 'from' && CLUSTER_NAME.test(rest[1])) return { verb: 'install', cluster, topologyRef: rest[1] }
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
      if (!snapshot) return { error: '`/berth restore` needs a snapshot id (see `/berth jobs` or the snapshots list)' }
      if (!SNAPSHOT_ID.test(snapshot)) return { error: `"${snapshot.slice(0, 60)}" is not a valid snapshot id` }
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
}

const glob = (pattern: string, name: string) =>
  new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\-]/g, '\\$&')).join('.*')}$`).test(name)

export function slackAllowed(rules: SlackRule[], who: { user: string; channel: string }, verb: string, cluster?: string): boolean {
  if (verb === 'help') return true
  return rules.some(
    (r) =>
      (!r.users || r.users.includes(who.user)) &&
      (!r.channels || r.channels.includes(who.channel)) &&
      r.kinds.includes(verb) &&
      (cluster === undefined || r.clusters.some((p) => glob(p, cluster)))
  )
}
