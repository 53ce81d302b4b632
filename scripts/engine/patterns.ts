/**
 * Name patterns with `*` (any run of characters, `/` and `:` included; everything else literal):
 * cluster grants (`team-a-*`), Slack and Jira rules, image and volume allowlists. Pure.
 */

const cache = new Map<string, RegExp>()

export function globMatch(pattern: string, name: string): boolean {
  let re = cache.get(pattern)
  if (!re) {
    const body = pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&'))
      .join('.*')
    re = new RegExp(`^${body}$`)
    if (cache.size < 1000) cache.set(pattern, re)
  }
  return re.test(name)
}

export const anyMatch = (patterns: readonly string[], name: string) =>
  patterns.some((p) => globMatch(p, name))

/** Cluster names or globs over them: what a grant or a rule may name. */
export const CLUSTER_PATTERN = /^[a-z0-9*-]{1,40}$/
