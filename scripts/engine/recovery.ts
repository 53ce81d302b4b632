/**
 * Recovery: what the next command on a cluster does, before anything else, when it finds the
 * journal of a job that died (journal.ts). Each step is idempotent, so a recovery killed in its
 * turn is run again whole by the command after it; the journal goes only once all are done.
 *
 * - Paused nodes are unpaused.
 * - Bootstraps the dead job left running are stopped (and waited for) before anyone runs one again.
 * - A restore's swap is rolled back (the old names back, the staged cluster removed) unless every
 *   rename was done, then forward (the old nodes, network and volumes removed): the cluster is the
 *   old one or the new one, never a mix.
 * - What the dead job created — containers, volumes, a network, helpers, a partial snapshot and its
 *   images, an export's partial file, an import's staging and images — is removed (found by the
 *   `berth.job` label and the journal). An install or repair that died is taken back to what was
 *   there before it; what it had already removed (a replaced node) is drift, which `status` shows
 *   and `install` or `repair` repairs.
 * - A destroy is finished; an upgrade that died while converging is rolled back to the snapshot it
 *   took first, as its own failure would have.
 */
import { rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { readOwner, releaseOwner } from './cluster-record.ts'
import type { JobContext } from './context.ts'
import { engineGone } from './docker.ts'
import { BerthError } from './errors.ts'
import { dropJournal, readJournal, type Stamped } from './journal.ts'
import { sleep } from './retry.ts'
import { ExpandedTopology } from './topology-record.ts'
import { LABEL, clusterFilter } from './labels.ts'
import { sweepLeftovers } from './snapshot.ts'

type Of<K extends Stamped['op']> = Extract<Stamped, { op: K }>

const find = <K extends Stamped['op']>(records: Stamped[], op: K) =>
  records.filter((r): r is Of<K> => r.op === op)
const has = (records: Stamped[], op: Stamped['op']) => records.some((r) => r.op === op)

/** How long Docker gets to finish the calls a dead job had under way. */
const SETTLE_MS = 1000

/** How long an orphaned bootstrap gets to end after SIGTERM before SIGKILL. */
const EXEC_GRACE_MS = 5000

/**
 * Recovers the journal left on `cluster`, if any (the caller holds the cluster's lock). Returns
 * what it did, one line each, also said in the job's events and log.
 */
export async function recoverCluster(ctx: JobContext, cluster: string): Promise<string[]> {
  const records = readJournal(cluster)
  if (!records) return []
  const begin = find(records, 'begin')[0]
  if (!begin) {
    dropJournal(cluster)
    return []
  }
  const t0 = Date.now()
  ctx.steps.start('recover', undefined, `${begin.kind} job ${begin.job} died on ${cluster}`)
  // Docker finishes a call whose caller died (a create, a pause): what the dead job last asked for
  // lands within a moment. Recovery acts once it has.
  await sleep(SETTLE_MS)
  const done: string[] = []
  const say = (line: string) => {
    done.push(line)
    ctx.log(`recovery: ${line}`)
  }
  try {
    await unpause(ctx, records, say)
    await stopOrphans(ctx, records, say)
    const kind = begin.kind
    if (kind === 'restore') await recoverRestore(ctx, cluster, begin.job, records, say)
    else if (kind === 'destroy') await finishDestroy(ctx, cluster, records, say)
    else if (kind === 'upgrade' && has(records, 'converge'))
      await rollBackUpgrade(ctx, cluster, records, say)
    else if (kind === 'export') await removeExport(records, say)
    else if (kind === 'import') await removeImport(ctx, records, say)
    // Whatever the kind: what the dead job created (but a swapped restore's nodes, which are the
    // cluster now), and an unfinished snapshot of it.
    const swapped = kind === 'restore' && has(records, 'swapped')
    if (!swapped) await removeCreated(ctx, cluster, begin.job, say)
    await removeUnfinishedSnapshots(ctx, cluster, begin.job, records, say)
    await sweepLeftovers(ctx, cluster)
    await releaseIfGone(ctx, cluster, begin.job, say)
  } catch (err) {
    ctx.steps.fail('recover', undefined, (err as Error).message.split('\n')[0])
    throw new BerthError(
      engineGone(err) ? 'engine_gone' : 'engine',
      `recovering what job ${begin.job} (${begin.kind}) left on cluster "${cluster}" failed: ${(err as Error).message}; it is tried again by the next command`,
      { step: 'recover', cause: err }
    )
  }
  dropJournal(cluster)
  ctx.steps.done(
    'recover',
    undefined,
    Date.now() - t0,
    done.length ? done.join('; ') : 'nothing was left'
  )
  return done.length ? done : [`job ${begin.job} (${begin.kind}) had left nothing to undo`]
}

async function unpause(ctx: JobContext, records: Stamped[], say: (l: string) => void) {
  const last = (op: Stamped['op']) => records.map((r) => r.op).lastIndexOf(op)
  if (last('pause') < 0 || last('unpaused') > last('pause')) return
  for (const r of find(records, 'pause')) {
    for (const id of r.ids) {
      const info = await ctx.engine.inspectContainer(id).catch(() => null)
      if (!info?.State.Paused) continue
      await ctx.engine.unpauseContainer(id, info.Name.replace(/^\//, ''))
      say(`unpaused ${info.Name.replace(/^\//, '')}`)
    }
  }
}

/** A bootstrap the dead job started and never saw end: stopped, and waited for. */
async function stopOrphans(ctx: JobContext, records: Stamped[], say: (l: string) => void) {
  const ended = new Set(find(records, 'exec-end').map((r) => r.exec))
  for (const r of find(records, 'exec').filter((r) => !ended.has(r.exec))) {
    const info = await ctx.engine.inspectExec(r.exec)
    if (!info?.Running) continue
    // A remote engine's process cannot be signalled from here: then it is given its own timeout.
    const stopped = await ctx.engine.stopExec(
      r.exec,
      EXEC_GRACE_MS,
      ctx.engine.local ? 5000 : r.timeoutMs
    )
    if (!stopped)
      throw new BerthError(
        'engine',
        `the bootstrap of node ${r.node} that job ${r.job} left running (exec ${r.exec.slice(0, 12)}) does not end; it would run beside the next one`
      )
    say(`stopped the bootstrap of node ${r.node} that the dead job left running (pid ${info.Pid})`)
  }
}

/**
 * Everything labelled with the dead job on this cluster: its containers, volumes, network. A call
 * the job had made may still be under way in Docker when it died (a create answered after the
 * kill): passes repeat until one finds nothing.
 */
async function removeCreated(
  ctx: JobContext,
  cluster: string,
  job: string,
  say: (l: string) => void
) {
  const filter = [...clusterFilter(cluster), `${LABEL.job}=${job}`]
  const removed = {
    containers: new Set<string>(),
    volumes: new Set<string>(),
    networks: new Set<string>(),
  }
  for (let pass = 1; ; pass++) {
    const [containers, volumes, networks] = await Promise.all([
      ctx.engine.listContainers(filter),
      ctx.engine.listVolumes(filter),
      ctx.engine.listNetworks(filter),
    ])
    if (!containers.length && !volumes.length && !networks.length) break
    try {
      for (const c of containers) {
        await ctx.engine.removeContainer(c.Id, c.Names[0]?.replace(/^\//, ''))
        removed.containers.add(c.Names[0]?.replace(/^\//, '') ?? c.Id)
      }
      for (const v of volumes) {
        await ctx.engine.removeVolume(v.Name)
        removed.volumes.add(v.Name)
      }
      for (const n of networks) {
        await ctx.engine.removeNetwork(n.Id)
        removed.networks.add(n.Name)
      }
    } catch (err) {
      if (engineGone(err) || pass >= 10) throw err
      await sleep(300)
    }
  }
  if (removed.containers.size)
    say(
      `removed ${removed.containers.size} container(s) it had made: ${[...removed.containers].join(', ')}`
    )
  if (removed.volumes.size)
    say(`removed ${removed.volumes.size} volume(s) it had made: ${[...removed.volumes].join(', ')}`)
  if (removed.networks.size) say(`removed network ${[...removed.networks].join(', ')}`)
}

/** A snapshot it began and never put in place: the partial directory and the images. */
async function removeUnfinishedSnapshots(
  ctx: JobContext,
  cluster: string,
  job: string,
  records: Stamped[],
  say: (l: string) => void
) {
  const { snapshotDir, snapshotsRoot } = await import('./snapshot.ts')
  const finished = new Set(find(records, 'snapshot-done').map((r) => r.id))
  for (const { id } of find(records, 'snapshot')) {
    if (finished.has(id) || (await stat(snapshotDir(cluster, id)).catch(() => null))) continue
    await rm(join(snapshotsRoot(cluster), `.${id}.partial-${job}`), {
      recursive: true,
      force: true,
    })
    const images = await ctx.engine.listImages([
      `${LABEL.snapshot}=${id}`,
      ...clusterFilter(cluster),
    ])
    for (const ref of images) await ctx.engine.removeImage(ref)
    say(
      `removed the unfinished snapshot ${id}${images.length ? ` and its ${images.length} image(s)` : ''}`
    )
  }
}

/**
 * A restore over a running cluster: before every rename was done, back (the old names on the old
 * nodes, the staged cluster removed); after, forward (the old nodes, network and volumes removed).
 */
async function recoverRestore(
  ctx: JobContext,
  cluster: string,
  job: string,
  records: Stamped[],
  say: (l: string) => void
) {
  const stage = find(records, 'stage')[0]
  if (!stage) return // a restore into a new name: removeCreated takes back all it made
  const swap = find(records, 'swap')[0]
  if (swap && has(records, 'swapped')) {
    const { saveTopology } = await import('./cluster-record.ts')
    for (const id of swap.old.ids) await ctx.engine.removeContainer(id)
    if (swap.old.network) await ctx.engine.removeNetwork(swap.old.network)
    for (const name of swap.old.volumes) {
      const info = await ctx.engine.inspectVolume(name)
      if (info?.Labels?.[LABEL.cluster] === cluster) await ctx.engine.removeVolume(name)
    }
    // The rehearsals of nodes that publish ports: their finals took their place.
    for (const c of await ctx.engine.listContainers([
      ...clusterFilter(cluster),
      `${LABEL.restore}=${stage.id}`,
    ])) {
      if (!c.Names?.includes(`/${cluster}.${c.Labels[LABEL.node]}`))
        await ctx.engine.removeContainer(c.Id)
    }
    const { removeSwapImages } = await import('./lifecycle.ts')
    await removeSwapImages(ctx, cluster)
    // Read as any stored topology is: one journalled by an older berth gets today's defaults.
    await saveTopology(ExpandedTopology.parse(swap.topology))
    say(`finished the restore's swap: the old nodes, network and volumes removed`)
    return
  }
  if (swap) {
    // The staged nodes first, so that the canonical names are free for the old ones.
    const ordered = [
      ...swap.renames.filter((r) => r.from.includes('.r')),
      ...swap.renames.filter((r) => !r.from.includes('.r')),
    ]
    for (const r of ordered) {
      const info = await ctx.engine.inspectContainer(r.id).catch(() => null)
      if (info && info.Name !== `/${r.from}`) await ctx.engine.renameContainer(r.id, r.from)
    }
    say("rolled the restore's swap back: the old nodes have their names again")
  }
  const filter = [...clusterFilter(cluster), `${LABEL.restore}=${stage.id}`]
  const staged = await ctx.engine.listContainers(filter)
  for (const c of staged) await ctx.engine.removeContainer(c.Id)
  // Old nodes the swap had stopped to free their ports (now that the staged ones let go of them).
  for (const id of swap?.stopped ?? []) {
    const info = await ctx.engine.inspectContainer(id).catch(() => null)
    if (info && !info.State.Running) {
      await ctx.engine.startContainer(id)
      say(
        `started ${info.Name.replace(/^\//, '')} again (the swap had stopped it to move its ports)`
      )
    }
  }
  for (const n of await ctx.engine.listNetworks(filter)) await ctx.engine.removeNetwork(n.Id)
  for (const v of await ctx.engine.listVolumes(filter)) await ctx.engine.removeVolume(v.Name)
  const { removeSwapImages } = await import('./lifecycle.ts')
  await removeSwapImages(ctx, cluster)
  say(
    `removed what the restore had staged beside the cluster (.r${stage.id}: ${staged.length} container(s))`
  )
  void job
}

async function finishDestroy(
  ctx: JobContext,
  cluster: string,
  records: Stamped[],
  say: (l: string) => void
) {
  const { destroyCluster } = await import('./lifecycle.ts')
  const volumes = find(records, 'destroy')[0]?.volumes ?? false
  try {
    await destroyCluster(ctx, cluster, { volumes })
    say(`finished the destroy${volumes ? ' (with its volumes)' : ''}`)
  } catch (err) {
    if (!(err instanceof BerthError && err.code === 'not_found')) throw err
  }
}

/** An upgrade that died converging: back to the snapshot it took first, as its failure would. */
async function rollBackUpgrade(
  ctx: JobContext,
  cluster: string,
  records: Stamped[],
  say: (l: string) => void
) {
  const snapshot = find(records, 'upgrade-snapshot')[0]?.id
  if (!snapshot) return
  const { destroyCluster } = await import('./lifecycle.ts')
  const { restoreCluster } = await import('./restore.ts')
  const { claimOwner } = await import('./cluster-record.ts')
  const owner = await readOwner(cluster)
  await destroyCluster(ctx, cluster, { volumes: true }).catch((err) => {
    if (!(err instanceof BerthError && err.code === 'not_found')) throw err
  })
  await restoreCluster(ctx, cluster, snapshot)
  if (owner) await claimOwner(cluster, owner.owner, owner.job)
  say(`rolled the interrupted upgrade back to snapshot ${snapshot}`)
}

async function removeExport(records: Stamped[], say: (l: string) => void) {
  for (const r of find(records, 'export')) {
    await rm(r.partial, { force: true })
    await rm(r.spool, { recursive: true, force: true })
    say(`removed the unfinished export ${r.partial}`)
  }
}

async function removeImport(ctx: JobContext, records: Stamped[], say: (l: string) => void) {
  const { snapshotDir } = await import('./snapshot.ts')
  const [r] = find(records, 'import')
  if (!r) return
  // Put in place before the job died: the import is whole, its images the snapshot's.
  if (await stat(snapshotDir(r.cluster, r.id)).catch(() => null)) return
  await rm(r.staging, { recursive: true, force: true })
  for (const l of find(records, 'image-load')) await ctx.engine.removeImage(l.ref)
  say(`removed the unfinished import of ${r.cluster}/${r.id}`)
}

/** A cluster the dead job had begun, now with nothing of it left, is nobody's again. */
async function releaseIfGone(
  ctx: JobContext,
  cluster: string,
  job: string,
  say: (l: string) => void
) {
  const owner = await readOwner(cluster)
  if (owner?.job !== job) return
  const [c, n, v] = await Promise.all([
    ctx.engine.listContainers(clusterFilter(cluster)),
    ctx.engine.listNetworks(clusterFilter(cluster)),
    ctx.engine.listVolumes(clusterFilter(cluster)),
  ])
  if (c.length || n.length || v.length) return
  await releaseOwner(cluster)
  say(`cluster "${cluster}" no longer exists`)
}
