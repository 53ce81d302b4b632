/**
 * An expanded topology as berth stored it: in a snapshot's manifest, in the cluster's record
 * (`$BERTH_HOME/clusters/<c>/topology.json`), in a restore's journal. Read back through this schema,
 * so that a record written by an older berth gets today's defaults for keys it did not have (a
 * snapshot taken before `ports` existed restores with no ports) and a damaged one is refused.
 *
 * Pure: no fs, no docker.
 */
import { z } from 'zod'
import { CLUSTER_NAME } from './labels.ts'
import {
  ADDRESSES,
  addressesOf,
  DEFAULT_BOOTSTRAP_POLICY,
  HOSTNAME_LABEL,
  NETWORK_MODES,
  type Topology,
} from './topology.ts'

export const quote = (v: unknown) => {
  const s = JSON.stringify(v) ?? String(v)
  return s.length > 80 ? `${s.slice(0, 80)}…` : s
}
/** A schema's own message for a value that is there; a missing one falls through to "required". */
export const not = (what: string) => (iss: { input?: unknown }) =>
  iss.input === undefined ? undefined : `${quote(iss.input)} is not ${what}`

const count = z.number().int().min(0)
const argv = z.array(z.string())
const int = z.number().int()

const ExpandedNode = z.object({
  name: z.string().regex(HOSTNAME_LABEL, { error: not('a node name') }),
  role: z.string(),
  hostname: z.string().min(1),
  index: count,
  phase: int,
  image: z.string().min(1),
  privileged: z.boolean(),
  capAdd: z.array(z.string()),
  env: z.record(z.string(), z.string()),
  // Records written before a key existed have no such key: its default is what that berth did.
  secrets: z.record(z.string(), z.string()).default({}),
  volumes: z.array(
    z.object({
      name: z.string().min(1),
      target: z.string().min(1),
      external: z.boolean(),
      readOnly: z.boolean(),
    })
  ),
  bootstrap: argv.nullable(),
  bootstrapPolicy: z
    .object({
      okExitCodes: z.array(int).min(1),
      retries: count,
      retryDelaySeconds: count,
      rerun: z.boolean().default(false),
    })
    .default(DEFAULT_BOOTSTRAP_POLICY),
  timeoutSeconds: z.number().int().min(1),
  healthcheck: z
    .object({
      cmd: argv.optional(),
      tcp: int.optional(),
      http: z.object({ port: int, path: z.string(), expect: int }).optional(),
      intervalSeconds: count,
      timeoutSeconds: count,
      retries: count,
      startPeriodSeconds: count,
    })
    .nullable(),
  command: argv.nullable().default(null),
  entrypoint: argv.nullable().default(null),
  init: z.boolean().default(false),
  user: z.string().nullable().default(null),
  workdir: z.string().nullable().default(null),
  labels: z.record(z.string(), z.string()).default({}),
  extraHosts: z.array(z.object({ name: z.string(), ip: z.string() })).default([]),
  tmpfs: z.array(z.object({ target: z.string(), options: z.string() })).default([]),
  shmSize: count.nullable().default(null),
  sysctls: z.record(z.string(), z.string()).default({}),
  ulimits: z.array(z.object({ name: z.string(), soft: int, hard: int })).default([]),
  resources: z
    .object({ memory: count.nullable(), cpus: z.number().nullable(), pids: count.nullable() })
    .default({ memory: null, cpus: null, pids: null }),
  restart: z
    .object({ name: z.enum(['no', 'on-failure', 'unless-stopped', 'always']), maxRetries: count })
    .default({ name: 'no', maxRetries: 0 }),
  ports: z
    .array(
      z.object({
        hostIp: z.string(),
        hostPort: int,
        containerPort: int,
        protocol: z.enum(['tcp', 'udp']),
      })
    )
    .default([]),
  files: z
    .array(
      z.object({ target: z.string(), data: z.string(), mode: int, owner: z.string().nullable() })
    )
    .default([]),
  placement: z
    .union([
      z.object({ host: z.string() }),
      z.object({ spread: z.literal(true) }),
      z.object({ constraints: z.array(z.string()) }),
    ])
    .nullable()
    .default(null),
})

export const ExpandedTopology: z.ZodType<Topology> = z.object({
  name: z.string().regex(CLUSTER_NAME, { error: not('a cluster name') }),
  domain: z.string().min(1),
  image: z.string().min(1),
  // A record written before `addresses` existed: the mode's own.
  network: z
    .object({
      mode: z.enum(NETWORK_MODES),
      subnet: z.string().nullable(),
      addresses: z.enum(ADDRESSES).optional(),
    })
    .transform((n) => ({ ...n, addresses: addressesOf(n.mode, n.addresses) })),
  nodes: z.array(ExpandedNode).min(1),
  hooks: z.object({ preSnapshot: argv.nullable(), postRestore: argv.nullable() }),
})
