/**
 * The job spec: what `berth job run` reads, what every dispatcher sends, what the HTTP API
 * checks before it queues anything (and publishes in its OpenAPI document). Pure: no fs, no
 * docker, so the Worker imports it too.
 */
import { z } from 'zod'
import { BerthError } from './errors.ts'
import { CLUSTER_NAME, SNAPSHOT_ID } from './labels.ts'
import { LEVELS } from './policy.ts'
import { imageRef } from './topology.ts'
import { JOB_KINDS, optionIssues, type JobOption } from './job-kinds.ts'
import { issueLines, zodIssues } from './zod-issues.ts'

export { JOB_KINDS, READ_ONLY } from './job-kinds.ts'

export const JOB_ID = /^[A-Za-z0-9_.-]{1,64}$/

export const clusterName = z.string().regex(CLUSTER_NAME, 'is not a valid cluster name')

export const JobOptions = z.strictObject({
  plan: z.boolean().optional(),
  keepFailed: z.boolean().optional(),
  volumes: z.boolean().optional(),
  concurrency: z.number().int().min(1).max(64).optional(),
  /** snapshot: the snapshot's id; --keep N prunes all but the newest N afterwards. */
  tag: z.string().regex(SNAPSHOT_ID, 'is not a valid snapshot id').optional(),
  keep: z.number().int().min(1).max(1000).optional(),
  /** restore: beside the original under another name, and/or another domain. */
  as: clusterName.optional(),
  domain: z.string().min(1).max(200).optional(),
  /** restore: the published ports of the restored nodes: each host port + N, or none at all. */
  ports: z
    .string()
    .regex(/^(offset:\d{1,5}|none)$/, 'is not offset:N or none')
    .optional(),
  /** restore of a swarm cluster: where its nodes go. `same` (the default): each on the host it
   *  was on; `spread`: dealt over the hosts that answer; `host=a[,b…]`: dealt over these. */
  placement: z
    .string()
    .regex(
      /^(same|spread|host=[a-z0-9-]{1,63}(,[a-z0-9-]{1,63})*)$/,
      'is not same, spread or host=NAME[,NAME…]'
    )
    .optional(),
  /** upgrade: the new image of every node on the cluster's default image. */
  image: imageRef.optional(),
  /** export: the file to write; import: the file to read. An absolute path on the Docker host,
   *  or a bare name (backup.tar) kept in $BERTH_HOME/exports. */
  file: z.string().min(1).max(4096).optional(),
  /** log: whose log to read ($BERTH_HOME/jobs/<job>.log), from which byte on. */
  job: z.string().regex(JOB_ID, 'is not a valid job id').optional(),
  offset: z.number().int().min(0).optional(),
})

// JobOptions' keys are exactly the table's JobOption names: one missing on either side fails tsc.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const optionNamesAgree: Same<keyof z.infer<typeof JobOptions>, JobOption> = true
void optionNamesAgree

/**
 * What the service admitted the job as (functions/admission.ts), for the checks only the host can
 * make: who owns a cluster it creates, whether it may take over or shrink someone's cluster, and
 * the level the host's own state is checked against (another cluster's volume). Absent when a
 * person runs berth at the host's shell: that person is root already.
 */
export const Admission = z.strictObject({
  /** `token:ci`, `slack:C1`, `jira:OPS`, `hook:nightly`: recorded as the owner of a new cluster. */
  owner: z.string().min(1).max(200),
  level: z.enum(LEVELS),
  /** The caller holds the restore scope on the cluster: it may install over a cluster it does not
   *  own, and with a topology that removes nodes. */
  remove: z.boolean(),
})
export type Admission = z.infer<typeof Admission>

export const JobSpecSchema = z
  .strictObject({
    id: z.string().regex(JOB_ID, 'is not a valid job id').optional(),
    kind: z.enum(JOB_KINDS),
    /** Required for every kind but import (the cluster comes from the file), clusters and log. */
    cluster: clusterName.optional(),
    /** A topology object, or its YAML/JSON text. */
    topology: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
    snapshot: z.string().optional(),
    options: JobOptions.default({}),
    admission: Admission.optional(),
  })
  .superRefine((spec, ctx) => {
    for (const issue of optionIssues(spec.kind, spec.options))
      ctx.addIssue({ code: 'custom', ...issue })
  })

export type JobSpec = z.infer<typeof JobSpecSchema>

export function parseJobSpec(input: unknown): JobSpec {
  const r = JobSpecSchema.safeParse(input)
  if (r.success) return r.data
  const issues = zodIssues(r.error, '(spec)')
  throw new BerthError('invalid_job', issueLines(issues), { issues })
}

/** A bare file name (what the HTTP API allows): it lives in $BERTH_HOME/exports. */
export const EXPORT_FILE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,126}\.tar$/
