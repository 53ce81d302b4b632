/**
 * The job request: what POST /v1/jobs takes, what every hook and schedule builds, and what the
 * OpenAPI document publishes. Runtime-neutral.
 */
import { z } from 'zod'
import { clusterName, EXPORT_FILE, JobOptions } from '../scripts/engine/job-spec.ts'
import { SNAPSHOT_ID } from '../scripts/engine/labels.ts'
import { HTTP_KINDS, optionIssues } from '../scripts/engine/job-kinds.ts'

/** Over HTTP an export goes to $BERTH_HOME/exports on the host, never to a path the caller picks. */
const HttpJobOptions = JobOptions.extend({
  file: z
    .string()
    .regex(
      EXPORT_FILE,
      'must be a bare file name like backup.tar (written to $BERTH_HOME/exports on the host)'
    )
    .optional(),
})

export const JobRequest = z
  .strictObject({
    kind: z.enum(HTTP_KINDS),
    cluster: clusterName,
    topology: z
      .union([z.string(), z.record(z.string(), z.unknown())])
      .optional()
      .describe(
        'the topology, as YAML/JSON text or an object; required for install unless topologyRef names a stored one'
      ),
    topologyRef: clusterName
      .optional()
      .describe('the name of a topology stored with PUT /v1/topologies/{name}'),
    snapshot: z.string().regex(SNAPSHOT_ID, 'is not a valid snapshot id').optional(),
    options: HttpJobOptions.optional(),
  })
  .superRefine((req, ctx) => {
    for (const issue of optionIssues(req.kind, req.options))
      ctx.addIssue({ code: 'custom', ...issue })
  })

export type JobRequestBody = z.infer<typeof JobRequest>
