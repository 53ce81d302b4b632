/**
 * The one way a job is created, whoever asks: the API, Slack, Jira, a generic hook or a schedule.
 * Checks the topology (so a bad file is a 422 naming the path, not a failed job), returns the
 * job already made for an idempotency key (422 if the body differs), records the job and audits it.
 * Permission checks are the caller's: a token's scope, a Slack rule, a hook's fixed template.
 */
import type { z } from 'zod'
import { BerthError } from '../scripts/engine/errors.ts'
import { parseTopology, validateTopology } from '../scripts/engine/topology.ts'
import { conflict, invalid, JobError, notFound } from './errors.ts'
import type { Queue, NotifyTarget } from './queue.ts'
import type { JobRequest } from './routes/jobs.ts'
import { StoreConflictError, type JobRecord, type Store } from './store/store.ts'

export type JobRequestBody = z.infer<typeof JobRequest>

export interface Submitter {
  /** Who asked: a token's name, `slack:<user>`, `jira:<account>`, `hook:<name>`, `schedule:<name>`. */
  actor: string
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

export async function submitJob(
  deps: { store: Store; queue: Queue },
  req: JobRequestBody,
  who: Submitter
): Promise<{ job: JobRecord; existing: boolean }> {
  const { store, queue } = deps
  let topology: unknown = req.topology
  if (req.topologyRef) {
    const stored = await store.getTopology(req.topologyRef)
    if (!stored) throw notFound(`no stored topology named "${req.topologyRef}"`)
    topology = stored.text
  }
  if (topology !== undefined) {
    try {
      const t = typeof topology === 'string' ? parseTopology(topology) : validateTopology(topology)
      if (t.name !== req.cluster) throw invalid(`cluster: "${req.cluster}" does not match the topology's name "${t.name}"`)
    } catch (err) {
      if (err instanceof BerthError) throw invalid(err.message)
      throw err
    }
  } else if (req.kind === 'install') {
    throw invalid('topology: required for an install (or topologyRef naming a stored one)')
  }

  const same = (seen: JobRecord) => {
    if (seen.bodyHash !== who.bodyHash) {
      throw new JobError(422, 'idempotency_mismatch', 'this Idempotency-Key was used with a different body')
    }
    return { job: seen, existing: true }
  }
  const key = who.idempotencyKey
  if (key) {
    const seen = await store.findJobByIdempotencyKey(key)
    if (seen) return same(seen)
  }
  if (who.noWait && (await queue.isBusy(req.cluster))) throw conflict(`cluster "${req.cluster}" is busy with another job`)
  const spec = {
    kind: req.kind,
    cluster: req.cluster,
    ...(topology !== undefined ? { topology } : {}),
    ...(req.snapshot ? { snapshot: req.snapshot } : {}),
    ...(req.options ? { options: req.options } : {}),
  }
  let job: JobRecord
  try {
    job = await queue.submit({
      kind: req.kind,
      cluster: req.cluster,
      spec,
      requestedBy: who.actor,
      source: who.source,
      idempotencyKey: key,
      bodyHash: who.bodyHash,
    }, who.notify)
  } catch (err) {
    // Two requests with one key at the same moment: the first one in made the job.
    const seen = key && err instanceof StoreConflictError ? await store.findJobByIdempotencyKey(key) : null
    if (!seen) throw err
    return same(seen)
  }
  await store.audit({ actor: who.actor, source: who.source, action: `job.${req.kind}`, target: req.cluster, outcome: 'accepted', detail: { job: job.id } })
  return { job, existing: false }
}
