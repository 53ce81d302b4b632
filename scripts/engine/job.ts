/**
 * The job contract (DESIGN.md): a JSON spec in, job events out, the last one the result.
 * The CLI, `berth job run` and every dispatcher go through `runJob`: there is one engine.
 */
import { z } from 'zod'
import { createContext, DEFAULT_CONCURRENCY } from './context.ts'
import type { DockerEngine } from './docker.ts'
import { asBerthError, BerthError } from './errors.ts'
import type { Emit, NodeSummary, ResultEvent } from './events.ts'
import { installCluster } from './install.ts'
import { clusterStatus, destroyCluster, rewireCluster, startCluster, stopCluster, summaries } from './lifecycle.ts'
import { CLUSTER_NAME, SNAPSHOT_ID } from './labels.ts'
import { restoreCluster } from './restore.ts'
import {
  listSnapshots,
  pruneSnapshots,
  removeSnapshot,
  snapshotCluster,
  type SnapshotManifest,
} from './snapshot.ts'
import { imageRef, parseTopology, validateTopology, type Topology } from './topology.ts'
import { exportSnapshot, importSnapshot } from './transfer.ts'
import { upgradeCluster } from './upgrade.ts'

export const JOB_KINDS = [
  'install',
  'status',
  'start',
  'stop',
  'rewire',
  'destroy',
  'snapshot',
  'snapshots',
  'snapshot-rm',
  'restore',
  'upgrade',
  'export',
  'import',
] as const

const clusterName = z.string().regex(CLUSTER_NAME, 'is not a valid cluster name')

export const JobSpecSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'is not a valid job id').optional(),
  kind: z.enum(JOB_KINDS),
  /** Required for every kind but import, which takes the cluster from the file. */
  cluster: clusterName.optional(),
  /** A topology object, or its YAML/JSON text. */
  topology: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
  snapshot: z.string().optional(),
  options: z
    .strictObject({
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
      /** upgrade: the new image of every node on the cluster's default image. */
      image: imageRef.optional(),
      /** export: the file to write; import: the file to read (paths on the Docker host). */
      file: z.string().min(1).max(4096).optional(),
    })
    .default({}),
})

export type JobSpec = z.infer<typeof JobSpecSchema>

export function parseJobSpec(input: unknown): JobSpec {
  const r = JobSpecSchema.safeParse(input)
  if (r.success) return r.data
  const issues = r.error.issues.map((i) => ({ path: i.path.join('.') || '(spec)', message: i.message }))
  throw new BerthError('invalid_job', issues.map((i) => `${i.path}: ${i.message}`).join('\n'), { issues })
}

function topologyOf(spec: JobSpec): Topology {
  if (spec.topology === undefined) {
    throw new BerthError('invalid_job', `topology: required for kind "${spec.kind}"`)
  }
  const t =
    typeof spec.topology === 'string' ? parseTopology(spec.topology) : validateTopology(spec.topology)
  if (t.name !== spec.cluster) {
    throw new BerthError('invalid_job', `cluster: "${spec.cluster}" does not match the topology's name "${t.name}"`)
  }
  return t
}

function requireFile(spec: JobSpec): string {
  if (!spec.options.file) throw new BerthError('invalid_job', `options.file: required for kind "${spec.kind}"`)
  return spec.options.file
}

function requireSnapshot(spec: JobSpec): string {
  if (!spec.snapshot) throw new BerthError('invalid_job', `snapshot: required for kind "${spec.kind}"`)
  return spec.snapshot
}

/** What a listing shows of a snapshot: no topology, no per-file detail. */
function summary(m: SnapshotManifest) {
  const bytes = m.volumes.reduce((a, v) => a + v.size, 0)
  return { id: m.id, cluster: m.cluster, createdAt: m.createdAt, nodes: m.nodes.length, volumes: m.volumes.length, volumeBytes: bytes, windowMs: m.window.ms }
}

export interface RunJobOptions {
  engine: DockerEngine
  emit: Emit
  signal?: AbortSignal
  echo?: (line: string) => void
  logDir?: string | null
}

/** Runs one job to its end. Never throws: a failure is the result event (and a non-zero code). */
export async function runJob(
  input: unknown,
  opts: RunJobOptions
): Promise<{ result: ResultEvent; exitCode: number }> {
  const t0 = Date.now()
  // The id is taken before validation so that even a refused spec is reported under its id.
  const rawId = (input as { id?: unknown } | null)?.id
  const ctx = createContext({
    engine: opts.engine,
    job: typeof rawId === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(rawId) ? rawId : undefined,
    emit: opts.emit,
    signal: opts.signal,
    echo: opts.echo,
    logDir: opts.logDir,
  })
  const job = ctx.job
  let spec: JobSpec | undefined
  const finish = (r: Omit<ResultEvent, 'type' | 't' | 'job' | 'ms'>, exitCode: number) => {
    const result: ResultEvent = { type: 'result', t: Date.now(), job, ms: Date.now() - t0, ...r }
    opts.emit(result)
    return { result, exitCode }
  }
  try {
    spec = parseJobSpec(input)
    ctx.concurrency = spec.options.concurrency ?? DEFAULT_CONCURRENCY
    if (!spec.cluster && spec.kind !== 'import') {
      throw new BerthError('invalid_job', `cluster: required for kind "${spec.kind}"`)
    }
    let cluster = spec.cluster ?? ''
    ctx.steps.start('job', undefined, `${spec.kind} ${cluster}`)
    ctx.log(`job ${job}: ${spec.kind} ${cluster}`)
    let nodes: NodeSummary[] | undefined
    let data: unknown
    switch (spec.kind) {
      case 'install': {
        const topology = topologyOf(spec)
        const r = await installCluster(ctx, topology, spec.options)
        nodes = spec.options.plan ? undefined : r.nodes
        data = spec.options.plan ? { plan: r.plan } : undefined
        break
      }
      case 'status': {
        const s = await clusterStatus(ctx, cluster)
        nodes = summaries(s)
        data = s
        break
      }
      case 'start':
        await startCluster(ctx, cluster)
        nodes = summaries(await clusterStatus(ctx, cluster))
        break
      case 'stop':
        await stopCluster(ctx, cluster)
        break
      case 'rewire':
        await rewireCluster(ctx, cluster)
        break
      case 'destroy':
        data = await destroyCluster(ctx, cluster, { volumes: spec.options.volumes })
        break
      case 'snapshot': {
        const topology = spec.topology === undefined ? undefined : topologyOf(spec)
        const m = await snapshotCluster(ctx, cluster, { tag: spec.options.tag, topology })
        const pruned = spec.options.keep ? await pruneSnapshots(ctx, cluster, spec.options.keep) : []
        data = { snapshot: summary(m), pruned }
        break
      }
      case 'snapshots':
        data = { snapshots: (await listSnapshots(cluster)).map(summary) }
        break
      case 'snapshot-rm':
        await removeSnapshot(ctx, cluster, requireSnapshot(spec))
        break
      case 'upgrade': {
        const topology = spec.topology === undefined ? undefined : topologyOf(spec)
        const r = await upgradeCluster(ctx, cluster, { image: spec.options.image, topology })
        nodes = r.nodes
        data = { snapshot: r.snapshot }
        break
      }
      case 'export':
        data = { file: spec.options.file, ...(await exportSnapshot(ctx, cluster, requireSnapshot(spec), requireFile(spec))) }
        break
      case 'import': {
        const m = await importSnapshot(ctx, requireFile(spec))
        cluster = m.cluster
        data = { snapshot: summary(m) }
        break
      }
      case 'restore': {
        const r = await restoreCluster(ctx, cluster, requireSnapshot(spec), {
          as: spec.options.as,
          domain: spec.options.domain,
        })
        nodes = r.nodes
        data = { restored: r.cluster, snapshot: r.manifest.id }
        break
      }
    }
    ctx.steps.done('job', undefined, Date.now() - t0)
    return finish({ kind: spec.kind, cluster, ok: true, nodes, ...(data ? { data } : {}) }, 0)
  } catch (err) {
    const e = asBerthError(err)
    ctx.log(`job ${job} failed: ${e.message}`)
    if (e.code === 'internal' && err instanceof Error && err.stack) ctx.log(err.stack)
    return finish(
      {
        kind: spec?.kind ?? 'unknown',
        cluster: spec?.cluster ?? (input as { cluster?: string })?.cluster ?? '',
        ok: false,
        code: e.code,
        message: e.message,
        ...(e.info.node ? { node: e.info.node } : {}),
        ...(e.info.step ? { step: e.info.step } : {}),
        ...(e.info.issues ? { data: { issues: e.info.issues } } : {}),
      },
      e.exitCode
    )
  }
}

