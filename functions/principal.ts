/**
 * Who asks for a job, whatever the entry: a bearer token, a Slack user in a channel, a Jira
 * labeller, a signed hook, a schedule. Each is a Principal — what it may do to which cluster
 * (Rundeck's subject × resource × action), the policy level it brings, and the identity that owns
 * what it creates — so admission (admission.ts) is one function for every entry.
 * Runtime-neutral.
 */
import type { Level } from '../scripts/engine/policy.ts'
import { anyMatch } from '../scripts/engine/patterns.ts'
import { KIND_SCOPE, type HttpKind } from '../scripts/engine/job-kinds.ts'
import type { Scope } from './middleware/auth.ts'

export { KIND_SCOPE, type HttpKind }

/**
 * A right over one cluster: a job kind; `read` (see it, its jobs and logs); `prune` (remove
 * snapshots through a snapshot's `keep`: removal, so what snapshot-rm needs).
 */
export type Right = HttpKind | 'read' | 'prune'

/** The scope behind a right. */
export const scopeOf = (right: Right): Scope =>
  right === 'read' ? 'read' : right === 'prune' ? 'restore' : KIND_SCOPE[right]

export interface Principal {
  /** Who asked, as jobs and the audit record it: `ci`, `slack:U1`, `jira:<account>`, `hook:nightly`. */
  actor: string
  /** Who owns a cluster this principal creates: `token:ci`, `slack:C1`, `jira:OPS`, `hook:nightly`. */
  owner: string
  /** The policy level this entry brings to `cluster` (before the cluster's own override). */
  level(cluster: string): Level
  /** Why `right` on `cluster` is not granted, or null when it is. */
  denies(right: Right, cluster: string): string | null
}

export interface TokenGrant {
  name: string
  scopes: string[]
  /** Cluster names or globs the token may act on. */
  clusters: string[]
  /** null: admin tokens privileged, others the policy's default. */
  level: Level | null
}

export function tokenPrincipal(t: TokenGrant, defaultLevel: Level): Principal {
  const admin = t.scopes.includes('admin')
  return {
    actor: t.name,
    owner: `token:${t.name}`,
    level: () => t.level ?? (admin ? 'privileged' : defaultLevel),
    denies(right, cluster) {
      const scope = scopeOf(right)
      if (!admin && !t.scopes.includes(scope)) {
        const why = right === 'prune' ? ' (options.keep prunes snapshots, which is removal)' : ''
        return `the token "${t.name}" lacks the "${scope}" scope${why}`
      }
      if (!anyMatch(t.clusters, cluster)) {
        return `the token "${t.name}" may not act on cluster "${cluster}" (its clusters: ${t.clusters.join(', ')})`
      }
      return null
    },
  }
}

/** A principal whose every right comes from one fixed job: a generic hook, a schedule. */
export function fixedPrincipal(o: {
  actor: string
  /** Default: the actor. */
  owner?: string
  level: Level
  cluster: string
  /** The rights the configuration grants on `cluster`. */
  rights: Right[]
}): Principal {
  return {
    actor: o.actor,
    owner: o.owner ?? o.actor,
    level: () => o.level,
    denies(right, cluster) {
      if (cluster === o.cluster && o.rights.includes(right)) return null
      return `${o.actor} may ${o.rights.join(', ')} cluster "${o.cluster}" only`
    },
  }
}

const LEVEL_ORDER: Level[] = ['restricted', 'baseline', 'privileged']
/** The highest of some levels (the rules that grant a thing, taken together), else `fallback`. */
export function highest(levels: (Level | undefined)[], fallback: Level): Level {
  const given = levels.filter((l): l is Level => !!l)
  if (!given.length) return fallback
  return given.reduce((a, b) => (LEVEL_ORDER.indexOf(b) > LEVEL_ORDER.indexOf(a) ? b : a))
}
