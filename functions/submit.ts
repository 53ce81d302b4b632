/**
 * The one way a job is created, whoever asks: the API, Slack, Jira, a generic hook or a schedule.
 * Admits it (admission.ts: the principal's grants, then the host policy over its topology — a
 * refusal is a 403 naming each path and rule, audited, with nothing created), checks the topology
 * (a bad file is a 422 naming the path, not a failed job), returns the job already made for an
 * idempotency key (422 if the body differs), records the job and audits it.
 */
import { BerthError } from '../scripts/engine/errors.ts'
import type { Policy } from '../scripts/engine/policy.ts'
import { readTopology, type TopologyFileData } from '../scripts/engine/topology.ts'
import { grantRefusal, policyAdmission, type Refusal } from './admission.ts'
import { conflict, invalid, JobError, notFound } from './errors.ts'
import type { JobRequestBody } from './job-request.ts'
import type { Principal } from './principal.ts'
import type { Queue, NotifyTarget } from './queue.ts'
import { StoreConflictError, type JobRecord, type Store } from './store/store.ts'

export type { JobRequestBody }

export interface SubmitDeps {
  store: Store
  queue: Queue
  policy: Policy
  /** Most jobs one actor may have waiting at once (429 past it). */
  maxQueuedPerActor?: number
}

export interface Submitter {
  who: Principal
  /** Where from (an address, a channel, an issue key), for the audit. */
  source: string | null
  /** Same key and same body hash → the same job; same key, other body → 422. */
  idempotencyKey: string | null
  bodyHash: string
  /** 409 instead of queueing behind a busy cluster. */
  noWait?: boolean
  /** Where to report the job's start and end (recorded with a new job, before it can start). */
  notify?: NotifyTarget[]
}

export const DEFAULT_MAX_QUEUED_PER_ACTOR = 20

export async function submitJob(
  deps: SubmitDeps,
  req: JobRequestBody,
  s: Submitter
): Promise<{ job: JobRecord; existing: boolean }> {
  const { store, queue } = deps
  const actor = s.who.actor
  const refuse = async (r: Refusal): Promise<never> => {
    const detail = {
      rule: r.rule,
      ...(r.issues ? { issues: r.issues } : { reason: r.error.message }),
    }
    await store.audit({
      actor,
      source: s.source,
      action: `job.${req.kind}`,
      target: req.cluster,
      outcome: 'refused',
      detail,
    })
    throw r.error
  }
  const denied = grantRefusal(s.who, req)
  if (denied) return refuse(denied)

  let topology: unknown = req.topology
  if (req.topologyRef) {
    const stored = await store.getTopology(req.topologyRef)
    if (!stored) throw notFound(`no stored topology named "${req.topologyRef}"`)
    topology = stored.text
  }
  let file: TopologyFileData | null = null
  if (topology !== undefined) {
    try {
      const t = readTopology(topology as string | Record<string, unknown>)
      if (t.topology.name !== req.cluster)
        throw invalid(
          `cluster: "${req.cluster}" does not match the topology's name "${t.topology.name}"`
        )
      file = t.file
    } catch (err) {
      if (err instanceof BerthError) throw invalid(err.message, err.info.issues)
      throw err
    }
  } else if (req.kind === 'install') {
    throw invalid('topology: required for an install (or topologyRef naming a stored one)')
  }
  const admitted = policyAdmission(deps.policy, s.who, req, file)
  if ('error' in admitted) return refuse(admitted)
  const { admission } = admitted

  const same = (seen: JobRecord) => {
    if (seen.bodyHash !== s.bodyHash) {
      throw new JobError(
        'idempotency_mismatch',
        'this Idempotency-Key was used with a different body'
      )
    }
    return { job: seen, existing: true }
  }
  const key = s.idempotencyKey
  if (key) {
    const seen = await store.findJobByIdempotencyKey(key)
    if (seen) return same(seen)
  }
  if (s.noWait && (await queue.isBusy(req.cluster)))
    throw conflict(`cluster "${req.cluster}" is busy with another job`)
  const max = deps.maxQueuedPerActor ?? DEFAULT_MAX_QUEUED_PER_ACTOR
  const waiting = await store.countJobs({ requestedBy: actor, states: ['queued'] })
  if (waiting >= max) {
    throw new JobError(
      'too_many_jobs',
      `${actor} has ${waiting} jobs waiting already (at most ${max}); wait for them to start`
    )
  }
  const spec = {
    kind: req.kind,
    cluster: req.cluster,
    ...(topology !== undefined ? { topology } : {}),
    ...(req.snapshot ? { snapshot: req.snapshot } : {}),
    ...(req.options ? { options: req.options } : {}),
    admission,
  }
  let job: JobRecord
  try {
    job = await queue.submit(
      {
        kind: req.kind,
        cluster: req.cluster,
        spec,
        requestedBy: actor,
        source: s.source,
        idempotencyKey: key,
        bodyHash: s.bodyHash,
      },
      s.notify
    )
  } catch (err) {
    // Two requests with one key at the same moment: the first one in made the job.
    const seen =
      key && err instanceof StoreConflictError ? await store.findJobByIdempotencyKey(key) : null
    if (!seen) throw err
    return same(seen)
  }
  await store.audit({
    actor,
    source: s.source,
    action: `job.${req.kind}`,
    target: req.cluster,
    outcome: 'accepted',
    detail: { job: job.id, level: admission.level },
  })
  return { job, existing: false }
}
