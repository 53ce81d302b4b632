/**
 * POST /hooks/jira: a Jira admin webhook (issue created / updated) starts an install.
 *
 * 1. The signature (`X-Hub-Signature: sha256=…`, HMAC of the raw body with hooks.jira.secret) is
 *    checked before the body is parsed: 401 and nothing written otherwise.
 * 2. jira-mapping.ts decides: ignore (200 `{ ok, ignored }`), invalid (422 naming the field, an
 *    audit row, and — Jira shows the answer to nobody — a comment on the issue saying why, when
 *    a Jira connection is configured), or install. A refused install is told the same way.
 * 3. The allow rules (hooks.jira.allow) must let this user of this project install this cluster from
 *    this template; otherwise the refusal is told like an invalid one.
 * 4. A redelivery (the same signed body) answers 200 with the job it made.
 * 5. The job goes through submitJob (owned by `jira:<project>`, at the rules' policy level); its
 *    start and end are commented on the issue (notify.ts).
 */
import { Hono } from 'hono'
import YAML from 'yaml'
import { forbidden, invalid, JobError, notFound, unauthorized } from '../errors.ts'
import { sha256Hex } from '../sha256.ts'
import { postJiraComment } from '../notify.ts'
import { fixedPrincipal, highest } from '../principal.ts'
import { view } from '../routes/jobs.ts'
import { submitJob, type JobRequestBody } from '../submit.ts'
import type { JobRecord } from '../store/store.ts'
import { background } from './background.ts'
import type { HookDeps } from './deps.ts'
import { decideJira, jiraRulesFor } from './jira-mapping.ts'
import { verifyHubSignature } from './signatures.ts'

export function jiraRoutes(deps: HookDeps) {
  const { store } = deps
  const app = new Hono()

  app.post('/', async (c) => {
    const jira = deps.hooks.jira
    if (!jira) throw notFound('the jira hook is not configured (hooks.jira)')
    const address = [`address ${deps.client?.(c) ?? 'unknown'}`]
    deps.limiter?.check(address)
    const raw = await c.req.text()
    const verdict = await verifyHubSignature(jira.secret, c.req.header('x-hub-signature'), raw)
    if (!verdict.ok) {
      deps.limiter?.fail(address)
      throw unauthorized(`X-Hub-Signature: ${verdict.reason}`)
    }

    let payload: unknown
    try {
      payload = JSON.parse(raw)
    } catch {
      throw invalid('the body is not JSON')
    }
    const decision = decideJira(payload, jira)
    if (decision.action === 'ignore') return c.json({ ok: true, ignored: decision.reason })

    const refuse = async (
      err: JobError,
      issueKey: string | null,
      cluster: string | null = null
    ) => {
      await store.audit({
        actor: decision.actor,
        source: issueKey,
        action: 'hook.jira',
        target: cluster,
        outcome: `refused: ${err.message}`,
        detail: { status: err.status },
      })
      if (issueKey && jira.baseUrl && jira.authorization) {
        const said = postJiraComment(
          { baseUrl: jira.baseUrl, authorization: jira.authorization },
          issueKey,
          `:x: no install from this issue: ${err.message}`
        )
        background(c, said, `jira: the comment on ${issueKey}`)
      }
      return err
    }
    const duplicate = (j: JobRecord) => c.json({ ok: true, duplicate: true, job: view(j) }, 200)
    if (decision.action === 'invalid')
      throw await refuse(invalid(decision.message), decision.issueKey)

    const { issueKey, actor, cluster, topologyRef, project } = decision
    const bodyHash = await sha256Hex(raw)
    // The signed body is the delivery: Jira's retries and any re-send of it are one job. The
    // identifier header is not signed (anyone may change it), so it only finds what it named before.
    const idempotencyKey = `jira:body:${bodyHash}`
    const delivery = c.req.header('x-atlassian-webhook-identifier')?.trim()
    // Looked up first, so a retry is answered with its job even if the stored topology changed since.
    const seen =
      (await store.findJobByIdempotencyKey(idempotencyKey)) ??
      (delivery ? await store.findJobByIdempotencyKey(`jira:${delivery.slice(0, 200)}`) : null)
    if (seen) return duplicate(seen)

    let job: JobRecord
    try {
      const rules = await jiraRulesFor(jira.allow, decision, (user) => jiraGroups(jira, user))
      if (!rules.length) {
        const who = decision.user ? `account ${decision.user}` : 'an unknown user'
        throw forbidden(
          `no rule in hooks.jira.allow lets ${who} of project ${project} install cluster "${cluster}" from the topology "${topologyRef}"`
        )
      }
      const who = fixedPrincipal({
        actor,
        owner: `jira:${project}`,
        level: highest(
          rules.map((r) => r.level),
          deps.policy.default
        ),
        cluster,
        rights: ['install'],
      })
      const req = await installRequest(deps, cluster, topologyRef)
      // Without a connection to comment through, there is nobody to report to.
      const notify =
        jira.baseUrl && jira.authorization
          ? [{ channel: 'jira' as const, target: { issueKey } }]
          : []
      const r = await submitJob(deps, req, {
        who,
        source: issueKey,
        idempotencyKey,
        bodyHash,
        notify,
      })
      if (r.existing) return duplicate(r.job)
      job = r.job
    } catch (err) {
      if (err instanceof JobError && err.status < 500) throw await refuse(err, issueKey, cluster)
      throw err
    }
    return c.json({ ok: true, job: view(job) }, 202)
  })

  return app
}

/** The groups of a Jira user, asked of Jira's REST API (v3, `user/groups`). */
async function jiraGroups(
  jira: { baseUrl?: string; authorization?: string },
  accountId: string
): Promise<string[]> {
  if (!jira.baseUrl || !jira.authorization) return []
  const url = `${jira.baseUrl.replace(/\/$/, '')}/rest/api/3/user/groups?accountId=${encodeURIComponent(accountId)}`
  const res = await fetch(url, {
    headers: { accept: 'application/json', authorization: jira.authorization },
    signal: AbortSignal.timeout(10_000),
  })
  if (!res.ok) {
    await res.body?.cancel()
    throw new JobError(
      'jira_unreachable',
      `could not read the groups of account ${accountId} from Jira (HTTP ${res.status}); nothing was installed`
    )
  }
  const body = await res.json()
  return Array.isArray(body)
    ? body
        .map((g) => (g as { name?: unknown })?.name)
        .filter((n): n is string => typeof n === 'string')
    : []
}

/**
 * The install: by reference when the stored topology is the cluster's own; a stored topology of
 * another name is a template, installed under the issue's cluster name (its `name` replaced).
 */
async function installRequest(
  deps: HookDeps,
  cluster: string,
  topologyRef: string
): Promise<JobRequestBody> {
  if (topologyRef === cluster) return { kind: 'install', cluster, topologyRef }
  const stored = await deps.store.getTopology(topologyRef)
  if (!stored)
    throw notFound(`no stored topology named "${topologyRef}" (hooks.jira.topologyField)`)
  const template: unknown = YAML.parse(stored.text, { merge: true })
  if (!template || typeof template !== 'object' || Array.isArray(template)) {
    throw invalid(`the stored topology "${topologyRef}" is not a mapping`)
  }
  return {
    kind: 'install',
    cluster,
    topology: { ...(template as Record<string, unknown>), name: cluster },
  }
}
