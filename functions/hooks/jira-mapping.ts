/**
 * From a Jira issue event to the install it asks for, or the reason it asks for none. Pure: no
 * store, no HTTP, so every rule here is a unit test.
 *
 * - `jira:issue_created` acts when the issue carries the label.
 * - `jira:issue_updated` acts only when this very update added the label (the changelog shows it
 *   in `toString` and not in `fromString`): editing a labelled issue again does not reinstall.
 * - The cluster is the issue field `clusterField`; the stored topology is `topologyField` when
 *   set and filled in, else the cluster's own name.
 * - Whether anyone may install that is the allow rules' to say (jiraRulesFor): labelling an issue
 *   is not a grant.
 */
import { CLUSTER_NAME } from '../../scripts/engine/labels.ts'
import { anyMatch } from '../../scripts/engine/patterns.ts'
import type { z } from 'zod'
import type { JiraConfig } from './config.ts'

type Config = Pick<z.infer<typeof JiraConfig>, 'label' | 'clusterField' | 'topologyField'>

export type JiraDecision =
  | { action: 'ignore'; reason: string }
  /** The issue asks for an install but cannot be acted on: `field` names what is wrong. */
  | { action: 'invalid'; issueKey: string | null; actor: string; field: string; message: string }
  | {
      action: 'install'
      issueKey: string
      actor: string
      cluster: string
      topologyRef: string
      /** What the allow rules match on. */
      project: string
      user: string | null
      reporter: string | null
    }

/** Jira's own issue keys: project key, dash, number (OPS-17). */
export const ISSUE_KEY = /^[A-Z][A-Z0-9_]{0,49}-[1-9][0-9]{0,9}$/

const EVENTS = ['jira:issue_created', 'jira:issue_updated']

const isObject = (v: unknown): v is Record<string, unknown> =>
  !!v && typeof v === 'object' && !Array.isArray(v)

/** Jira keeps labels as a list; a changelog writes them space-separated (labels hold no spaces). */
const labelsIn = (s: unknown): string[] =>
  typeof s === 'string' ? s.split(/\s+/).filter(Boolean) : []

export function decideJira(payload: unknown, config: Config): JiraDecision {
  if (!isObject(payload)) return { action: 'ignore', reason: 'the body is not a Jira event' }
  const event = payload.webhookEvent
  if (typeof event !== 'string' || !EVENTS.includes(event)) {
    return {
      action: 'ignore',
      reason: `event ${JSON.stringify(event ?? null)} is not handled (only ${EVENTS.join(', ')})`,
    }
  }
  const actor = actorOf(payload.user)
  const issue = payload.issue
  const fields = isObject(issue) && isObject(issue.fields) ? issue.fields : null
  const key = isObject(issue) ? issue.key : undefined
  if (typeof key !== 'string' || !ISSUE_KEY.test(key)) {
    return {
      action: 'invalid',
      issueKey: null,
      actor,
      field: 'issue.key',
      message: 'issue.key: missing or not a Jira issue key',
    }
  }
  const label = config.label
  if (event === 'jira:issue_created') {
    const labels = fields?.labels
    if (!Array.isArray(labels) || !labels.includes(label))
      return { action: 'ignore', reason: `${key} does not carry the label "${label}"` }
  } else if (!labelJustAdded(payload.changelog, label)) {
    return { action: 'ignore', reason: `this update of ${key} did not add the label "${label}"` }
  }

  const cluster = fieldValue(fields, config.clusterField)
  const invalid = (field: string, what: string): JiraDecision => {
    const path = `issue.fields.${field}`
    return { action: 'invalid', issueKey: key, actor, field: path, message: `${path}: ${what}` }
  }
  if (cluster === undefined)
    return invalid(config.clusterField, 'missing or empty (hooks.jira.clusterField)')
  if (!CLUSTER_NAME.test(cluster))
    return invalid(config.clusterField, `"${cluster.slice(0, 60)}" is not a valid cluster name`)
  let topologyRef = cluster
  if (config.topologyField) {
    const named = fieldValue(fields, config.topologyField)
    if (named !== undefined && !CLUSTER_NAME.test(named)) {
      return invalid(config.topologyField, `"${named.slice(0, 60)}" is not a valid topology name`)
    }
    topologyRef = named ?? cluster
  }
  const reporter =
    isObject(fields?.reporter) && typeof fields.reporter.accountId === 'string'
      ? fields.reporter.accountId
      : null
  const user =
    isObject(payload.user) && typeof payload.user.accountId === 'string'
      ? payload.user.accountId
      : null
  return {
    action: 'install',
    issueKey: key,
    actor,
    cluster,
    topologyRef,
    project: key.slice(0, key.lastIndexOf('-')),
    user,
    reporter,
  }
}

export type JiraRule = z.infer<typeof JiraConfig>['allow'][number]

/**
 * The rules that allow this install: every field a rule gives must match (projects, the event's
 * user, the reporter, the user's groups, the cluster, the template). `groups` is asked for only
 * when a rule names groups, and only once.
 */
export async function jiraRulesFor(
  rules: JiraRule[],
  d: {
    project: string
    user: string | null
    reporter: string | null
    cluster: string
    topologyRef: string
  },
  groupsOf: (user: string) => Promise<string[]>
): Promise<JiraRule[]> {
  let groups: string[] | undefined
  const out: JiraRule[] = []
  for (const r of rules) {
    if (r.projects && !r.projects.includes(d.project)) continue
    if (r.users && !(d.user && r.users.includes(d.user))) continue
    if (r.reporters && !(d.reporter && r.reporters.includes(d.reporter))) continue
    if (!anyMatch(r.clusters, d.cluster)) continue
    // Without templates, an issue installs only the cluster's own stored topology.
    if (!anyMatch(r.templates ?? [d.cluster], d.topologyRef)) continue
    if (r.groups) {
      if (!d.user) continue
      groups ??= await groupsOf(d.user)
      if (!r.groups.some((g) => groups!.includes(g))) continue
    }
    out.push(r)
  }
  return out
}

function labelJustAdded(changelog: unknown, label: string): boolean {
  const items = isObject(changelog) && Array.isArray(changelog.items) ? changelog.items : []
  return items.some((i) => {
    if (!isObject(i)) return false
    // Jira names the new value `toString`: typed as a plain field, not as Object's method.
    const item: { field?: unknown; fromString?: unknown; toString?: unknown } = i
    return (
      item.field === 'labels' &&
      labelsIn(item.toString).includes(label) &&
      !labelsIn(item.fromString).includes(label)
    )
  })
}

/**
 * A text field's string, or a single-select field's `value` (`{ id, value, self }`), trimmed;
 * undefined when absent or empty. Nothing else is read as a name.
 */
export function fieldValue(
  fields: Record<string, unknown> | null,
  name: string
): string | undefined {
  const raw = fields && Object.hasOwn(fields, name) ? fields[name] : undefined
  const v = isObject(raw) ? raw.value : raw
  if (typeof v !== 'string') return undefined
  return v.trim() || undefined
}

/** `jira:<accountId>` (stable), else `jira:<displayName>` (server/DC payloads), else `jira:unknown`. */
function actorOf(user: unknown): string {
  const u = isObject(user) ? user : {}
  const who = [u.accountId, u.displayName, u.name].find((v) => typeof v === 'string' && v.trim())
  return `jira:${((who as string | undefined) ?? 'unknown').trim().slice(0, 100)}`
}
