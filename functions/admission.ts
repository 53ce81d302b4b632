/**
 * Admission: the one check every job passes before it is recorded, whoever asks (a token, Slack,
 * Jira, a generic hook, a schedule). In order:
 * 1. the principal's grants: the kind's scope on the cluster (and on a restore's `--as` target),
 *    and the right to prune when `options.keep` would remove snapshots;
 * 2. the host policy, at the level this principal brings to this cluster (or the cluster's
 *    override): the topology as written, an upgrade's image and a restore's placement.
 * A refusal is a 403 naming each path and rule, audited, with nothing created. What only the host
 * can check (a cluster's owner, nodes a topology would remove, another cluster's volume) travels
 * with the job as its `admission`.
 * Runtime-neutral.
 */
import type { Admission } from '../scripts/engine/job-spec.ts'
import {
  checkPolicy,
  hostIssue,
  imageIssue,
  levelFor,
  type Policy,
  type PolicyIssue,
} from '../scripts/engine/policy.ts'
import type { TopologyFileData } from '../scripts/engine/topology.ts'
import { issueLines } from '../scripts/engine/zod-issues.ts'
import { forbidden, type JobError } from './errors.ts'
import type { JobRequestBody } from './job-request.ts'
import type { Principal } from './principal.ts'

export type Refusal = { error: JobError; rule: string; issues?: PolicyIssue[] }

/** Grants first: cheap, and a caller without the scope learns nothing about the policy. */
export function grantRefusal(who: Principal, req: JobRequestBody): Refusal | null {
  const asks: [Parameters<Principal['denies']>[0], string][] = [[req.kind, req.cluster]]
  if (req.options?.as) asks.push([req.kind, req.options.as])
  if (req.options?.keep) asks.push(['prune', req.cluster])
  for (const [right, cluster] of asks) {
    const why = who.denies(right, cluster)
    if (why) return { error: forbidden(why), rule: right === 'prune' ? 'prune' : 'grant' }
  }
  return null
}

/** The host policy over what the job would create; the admission the job carries when allowed. */
export function policyAdmission(
  policy: Policy,
  who: Principal,
  req: JobRequestBody,
  file: TopologyFileData | null
): { admission: Admission } | Refusal {
  const target = req.options?.as ?? req.cluster
  const level = levelFor(policy, who.level(target), target)
  const issues = file ? checkPolicy(file, level, policy) : []
  if (req.options?.image) {
    const issue = imageIssue(req.options.image, level, policy, 'options.image')
    if (issue) issues.push(issue)
  }
  const placement = req.options?.placement
  if (placement && placement !== 'same') {
    const hosts = placement.startsWith('host=') ? placement.slice(5).split(',') : [null]
    for (const h of hosts) {
      const issue = hostIssue(h, level, policy, 'options.placement')
      if (issue) issues.push(issue)
    }
  }
  if (issues.length) {
    const error = forbidden(
      `refused by the host policy:\n${issueLines(issues)}`,
      issues.map(({ path, message }) => ({ path, message }))
    )
    return { error, rule: `policy:${level}`, issues }
  }
  return { admission: { owner: who.owner, level, remove: who.denies('restore', target) === null } }
}
