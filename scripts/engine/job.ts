/**
 * The job contract (docs/http-api.md, "The job contract"): a JSON spec in, job events out, the last one the result.
 * The CLI, `berth job run` and every dispatcher go through `runJob`: there is one engine.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { berthHome, createContext, DEFAULT_CONCURRENCY, note, type JobContext } from './context.ts'
import type { Engine } from './docker.ts'
import { asBerthError, BerthError, EXIT_CODES } from './errors.ts'
import { loadTopology } from './cluster-record.ts'
import type { Emit, NodeSummary, ResultEvent } from './events.ts'
import { installCluster } from './install.ts'
import { readJobLog } from './job-log.ts'
import { lockCluster, lockHolder, lockPath } from './cluster-lock.ts'
import { Journal, readJournal } from './journal.ts'
import { BERTH_VERSION } from './labels.ts'
import { recoverCluster } from './recovery.ts'
import {
  clusterStatus,
  destroyCluster,
  listClusters,
  rewireCluster,
  startCluster,
  stopCluster,
  summaries,
} from './lifecycle.ts'
import { EXPORT_FILE, JOB_ID, parseJobSpec, READ_ONLY, type JobSpec } from './job-spec.ts'
import { NEEDS_CLUSTER } from './job-kinds.ts'
import { restoreCluster } from './restore.ts'
import {
  pruneSnapshots,
  readSnapshots,
  removeSnapshot,
  snapshotCluster,
  type SnapshotManifest,
} from './snapshot.ts'
import { parseTopology, validateTopology, type Topology } from './topology.ts'
import { exportSnapshot, importSnapshot } from './transfer.ts'
import { upgradeCluster } from './upgrade.ts'

function topologyOf(spec: JobSpec): Topology {
  if (spec.topology === undefined) {
    throw new BerthError('invalid_job', `topology: required for kind "${spec.kind}"`)
  }
  const t =
    typeof spec.topology === 'string'
      ? parseTopology(spec.topology)
      : validateTopology(spec.topology)
  if (t.name !== spec.cluster) {
    throw new BerthError(
      'invalid_job',
      `cluster: "${spec.cluster}" does not match the topology's name "${t.name}"`
    )
  }
  return t
}

function requireFile(spec: JobSpec): string {
  const file = spec.options.file
  if (!file) throw new BerthError('invalid_job', `options.file: required for kind "${spec.kind}"`)
  if (isAbsolute(file)) return file
  if (!EXPORT_FILE.test(file)) {
    throw new BerthError(
      'invalid_job',
      `options.file: "${file}" must be an absolute path or a bare name like backup.tar (kept in $BERTH_HOME/exports)`
    )
  }
  mkdirSync(join(berthHome(), 'exports'), { recursive: true })
  return join(berthHome(), 'exports', file)
}

function requireSnapshot(spec: JobSpec): string {
  if (!spec.snapshot)
    throw new BerthError('invalid_job', `snapshot: required for kind "${spec.kind}"`)
  return spec.snapshot
}

/** What a listing shows of a snapshot: no topology, no per-file detail. */
function summary(m: SnapshotManifest) {
  const bytes = m.volumes.reduce((a, v) => a + v.size, 0)
  return {
    id: m.id,
    cluster: m.cluster,
    createdAt: m.createdAt,
    nodes: m.nodes.length,
    volumes: m.volumes.length,
    volumeBytes: bytes,
    windowMs: m.window.ms,
  }
}

/**
 * A read (status, snapshots, a plan) of a cluster whose journal was left by a job that died:
 * recovered first, under the lock, so that what the read shows is whole. A journal whose job is
 * alive is that job's business.
 */
async function recoverAbandoned(ctx: JobContext, cluster: string): Promise<string[]> {
  // A lock whose holder died with nothing to recover is taken over and let go, so it goes too.
  if (lockHolder(cluster) || !(readJournal(cluster) || existsSync(lockPath(cluster)))) return []
  const release = await lockCluster(ctx, cluster, 'recover', 10_000)
  try {
    return await recoverCluster(ctx, cluster)
  } finally {
    release()
  }
}

export interface RunJobOptions {
  engine: Engine
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
    job: typeof rawId === 'string' && JOB_ID.test(rawId) ? rawId : undefined,
    emit: opts.emit,
    signal: opts.signal,
    echo: opts.echo,
    logDir: opts.logDir,
  })
  const job = ctx.job
  let spec: JobSpec | undefined
  let release: (() => void) | undefined
  let recovered: string[] = []
  const finish = (r: Omit<ResultEvent, 'type' | 't' | 'job' | 'ms'>, exitCode: number) => {
    // A job that ends, well or not, has finished or undone its own changes — unless the engine
    // went away under it: then its journal stays, for the next command to finish the job.
    if (ctx.journal) {
      if (ctx.left.length || r.code === 'engine_gone') ctx.journal.keep()
      else ctx.journal.close()
    }
    // Released before the result is told, so whoever runs next on the cluster need not wait.
    release?.()
    const result = ctx.redact<ResultEvent>({
      type: 'result',
      t: Date.now(),
      job,
      ms: Date.now() - t0,
      ...r,
      ...(recovered.length ? { recovered } : {}),
      version: BERTH_VERSION,
    })
    ctx.emit(result)
    return { result, exitCode }
  }
  try {
    spec = parseJobSpec(input)
    ctx.admission = spec.admission
    ctx.concurrency = spec.options.concurrency ?? DEFAULT_CONCURRENCY
    if (!spec.cluster && NEEDS_CLUSTER.has(spec.kind)) {
      throw new BerthError('invalid_job', `cluster: required for kind "${spec.kind}"`)
    }
    let cluster = spec.cluster ?? ''
    ctx.steps.start('job', undefined, `${spec.kind} ${cluster}`)
    ctx.log(`job ${job}: ${spec.kind} ${cluster}`)
    let nodes: NodeSummary[] | undefined
    let data: unknown
    let exitCode = 0
    // `plan` changes nothing; every other changing kind waits for the cluster's lock, recovers
    // what a job that died on the cluster left, and keeps a journal of its own.
    const target = spec.options.as ?? cluster
    if (!READ_ONLY.has(spec.kind) && !spec.options.plan) {
      release = await lockCluster(ctx, target, spec.kind)
      recovered = await recoverCluster(ctx, target)
      ctx.journal = new Journal(target, job)
      note(ctx, { op: 'begin', kind: spec.kind, cluster: target, pid: process.pid })
    } else if (target) {
      recovered = await recoverAbandoned(ctx, target)
    }
    switch (spec.kind) {
      case 'clusters':
        data = { clusters: await listClusters(ctx) }
        break
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
        // Read well, but the cluster is not what berth made: a code of its own, for scripts.
        if (s.drift.length) exitCode = EXIT_CODES.drift
        break
      }
      case 'repair': {
        // Converge on what was installed last, so that only drift is mended.
        const r = await installCluster(ctx, await loadTopology(cluster), spec.options)
        nodes = r.nodes
        data = { plan: r.plan }
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
        const pruned = spec.options.keep
          ? await pruneSnapshots(ctx, cluster, spec.options.keep)
          : []
        data = { snapshot: summary(m), pruned }
        break
      }
      case 'snapshots': {
        // A damaged one is listed too, as { id, cluster, damaged }: it still holds disk and
        // images, and its owner has to learn why it cannot be restored.
        const { snapshots, damaged } = await readSnapshots(cluster)
        data = { snapshots: [...snapshots.map(summary), ...damaged] }
        break
      }
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
      case 'export': {
        const file = requireFile(spec)
        data = { file, ...(await exportSnapshot(ctx, cluster, requireSnapshot(spec), file)) }
        break
      }
      case 'import': {
        // The cluster is known only once the file's manifest is read: locked, recovered and
        // journalled then, before anything is written.
        const m = await importSnapshot(ctx, requireFile(spec), async (name) => {
          release = await lockCluster(ctx, name, 'import')
          recovered = await recoverCluster(ctx, name)
          ctx.journal = new Journal(name, job)
          note(ctx, { op: 'begin', kind: 'import', cluster: name, pid: process.pid })
        })
        cluster = m.cluster
        data = { snapshot: summary(m) }
        break
      }
      case 'log': {
        // Read-only and chunked: the way to the full log through a document that runs only
        // `berth job run` (SsmDispatcher.log), one SSM answer per chunk.
        if (!spec.options.job)
          throw new BerthError('invalid_job', 'options.job: required for kind "log"')
        data = readJobLog(spec.options.job, spec.options.offset ?? 0)
        break
      }
      case 'restore': {
        const r = await restoreCluster(ctx, cluster, requireSnapshot(spec), {
          as: spec.options.as,
          domain: spec.options.domain,
          ports: spec.options.ports,
          placement: spec.options.placement,
        })
        nodes = r.nodes
        data = {
          restored: r.cluster,
          snapshot: r.manifest.id,
          ...(r.ports ? { ports: r.ports } : {}),
        }
        break
      }
    }
    // Done: from here on nothing is left to finish or undo, whatever happens to this process.
    ctx.journal?.close()
    ctx.journal = undefined
    ctx.steps.done('job', undefined, Date.now() - t0)
    return finish(
      { kind: spec.kind, cluster, ok: true, nodes, ...(data ? { data } : {}) },
      exitCode
    )
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
