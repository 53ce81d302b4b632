/**
 * snapshot: one consistent point in time for the whole cluster. Every node is paused, each is
 * committed with `pause=false`, every volume is archived, then all are unpaused — no restart, no
 * rewiring. `docker commit` takes the writable layer only, so volume data is archived beside it
 * (volume-data.ts: directly when local, else through a helper container; works with any image).
 *
 * Before the pause, the room it will take is checked (snapshot-space.ts): a disk that cannot hold
 * it refuses the snapshot with the cluster never frozen.
 *
 * A snapshot is a directory `$BERTH_HOME/snapshots/<cluster>/<id>/` (manifest.json and one tar
 * per volume) plus one committed image per node. It is written as `.<id>.partial-<job>` and
 * renamed into place only once complete, so a failed snapshot can never pass for a good one.
 */
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream, type Dirent } from 'node:fs'
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { loadTopology } from './cluster-record.ts'
import { readMarker } from './container-files.ts'
import { berthHome, checkpoint, note, type JobContext } from './context.ts'
import { BerthError } from './errors.ts'
import { BERTH_VERSION, LABEL, SNAPSHOT_ID } from './labels.ts'
import { readCluster, volumeSource } from './nodes.ts'
import { mapLimit } from './pool.ts'
import {
  checkManifestText,
  MANIFEST,
  MAX_MANIFEST_BYTES,
  snapshotImage,
} from './snapshot-manifest.ts'
import { checkSnapshotSpace, diskFilled, noSpaceSide } from './snapshot-space.ts'
import { SwarmEngine } from './swarm-engine.ts'
import { readVolume } from './volume-data.ts'
import type { Topology } from './topology.ts'

export { snapshotImage }

export interface SnapshotVolume {
  node: string
  name: string
  target: string
  file: string
  sha256: string
  size: number
}

export interface SnapshotNode {
  name: string
  hostname: string
  ip: string | null
  image: { ref: string; id: string }
  bootstrapped: boolean
  /** A swarm cluster's node: the host it ran on (its image is kept on the manager). */
  host?: string
}

export interface SnapshotManifest {
  format: 1
  id: string
  cluster: string
  createdAt: string
  berthVersion: string
  job: string
  topology: Topology
  network: { mode: string; subnet: string | null }
  /** First pause to last unpause: the time the cluster was frozen. */
  window: { pausedAt: string; unpausedAt: string; ms: number }
  nodes: SnapshotNode[]
  volumes: SnapshotVolume[]
}

/** A snapshot whose manifest cannot be trusted: listed with the reason, never restored. */
export interface DamagedSnapshot {
  id: string
  cluster: string
  /** Why, naming the part at fault: `manifest.json: nodes: required`. */
  damaged: string
}

export const isDamaged = (s: SnapshotManifest | DamagedSnapshot): s is DamagedSnapshot =>
  'damaged' in s

export const snapshotsRoot = (cluster: string) => join(berthHome(), 'snapshots', cluster)
export const snapshotDir = (cluster: string, id: string) => join(snapshotsRoot(cluster), id)

/**
 * `<cluster>-<yyyymmdd-hhmmss>` (UTC), then `-2`, `-3`… when a snapshot of that second exists:
 * two snapshots in one second are two snapshots, not a conflict. Free for sure: jobs on a cluster
 * run one at a time under its lock. At most 40 + 16 + 4 characters, within SNAPSHOT_ID's 64.
 */
async function defaultId(cluster: string): Promise<string> {
  const base = `${cluster}-${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`
  for (let n = 1; ; n++) {
    const id = n === 1 ? base : `${base}-${n}`
    if (!(await stat(snapshotDir(cluster, id)).catch(() => null))) return id
  }
}

/** Passes bytes through while counting and hashing them. */
function digest() {
  const hash = createHash('sha256')
  let size = 0
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk)
      size += chunk.length
      done(null, chunk)
    },
  })
  return { stream, result: () => ({ sha256: hash.digest('hex'), size }) }
}

export async function fileDigest(path: string): Promise<{ sha256: string; size: number }> {
  // 1 MiB reads: hashing 160 MB takes ~0.15 s instead of ~0.24 s with the default 64 KiB.
  const hash = createHash('sha256')
  let size = 0
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer)
    size += (chunk as Buffer).length
  }
  return { sha256: hash.digest('hex'), size }
}

/** Runs a cluster hook on every node; a non-zero exit stops the job, naming the node. */
export async function runHook(
  ctx: JobContext,
  which: 'preSnapshot' | 'postRestore',
  cmd: string[] | null,
  nodes: { name: string; id: string }[]
): Promise<void> {
  if (!cmd) return
  await mapLimit(nodes, ctx.concurrency, async (n) => {
    const r = await ctx.engine.exec(n.id, cmd, { timeoutMs: 120_000, signal: ctx.signal })
    ctx.log(`${which}: exit ${r.exitCode} ${(r.stdout + r.stderr).trim()}`, n.name)
    if (r.exitCode !== 0) {
      throw new BerthError(
        'hook_failed',
        `node "${n.name}": the ${which} hook failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().slice(-400)}`,
        { node: n.name, step: which, exitCode: r.exitCode, output: r.stderr }
      )
    }
  })
}

export async function snapshotCluster(
  ctx: JobContext,
  cluster: string,
  opts: { tag?: string; topology?: Topology } = {}
): Promise<SnapshotManifest> {
  const { steps, engine } = ctx
  // A job run again after its server died (same job id) may have finished before the crash:
  // then its snapshot is the answer, and no second one is taken.
  const done = (await listSnapshots(cluster)).find((m) => m.job === ctx.job)
  if (done) {
    ctx.log(`snapshot ${done.id} was already taken by this job (before an interruption)`)
    return done
  }
  const topology = opts.topology ?? (await loadTopology(cluster))
  await sweepLeftovers(
    ctx,
    cluster,
    topology.nodes.map((n) => n.name)
  )
  const id = opts.tag ?? (await defaultId(cluster))
  if (!SNAPSHOT_ID.test(id)) {
    throw new BerthError(
      'invalid_job',
      `tag: "${id}" is not a valid snapshot id (a-z, 0-9, '.', '_', '-'; at most 64)`
    )
  }
  const final = snapshotDir(cluster, id)
  if (await stat(final).catch(() => null)) {
    throw new BerthError(
      'conflict',
      `snapshot "${id}" of cluster "${cluster}" exists; a snapshot is never overwritten`
    )
  }
  const state = await readCluster(engine, cluster)
  const nodes = topology.nodes.map((n) => {
    const s = state.nodes.get(n.name)
    if (!s)
      throw new BerthError('not_found', `node "${n.name}" of cluster "${cluster}" does not exist`, {
        node: n.name,
      })
    if (s.state !== 'running') {
      throw new BerthError(
        'conflict',
        `node "${n.name}" is ${s.state}: start the cluster before a snapshot`,
        { node: n.name }
      )
    }
    return { spec: n, state: s }
  })
  const handles = nodes.map((n) => ({ name: n.spec.name, id: n.state.id }))

  await steps.timed('hook', undefined, () =>
    runHook(ctx, 'preSnapshot', topology.hooks.preSnapshot, handles)
  )
  checkpoint(ctx)
  const bootstrapped = await Promise.all(
    nodes.map(async (n) => !!(await readMarker(ctx, n.state.id)))
  )
  // After the hook, whose work is often to get data onto disk (a dump, a flush) before the pause.
  const archived = (n: (typeof nodes)[number]) =>
    n.spec.volumes
      .filter((v) => !v.external)
      .map((v) => n.state.mounts.get(v.target) ?? volumeSource(topology, n.spec, v))
  const space = await steps.timed('preflight', undefined, () =>
    checkSnapshotSpace(
      ctx,
      cluster,
      id,
      nodes.map((n) => ({ name: n.spec.name, id: n.state.id, volumes: archived(n) }))
    )
  )
  checkpoint(ctx)

  const partial = join(snapshotsRoot(cluster), `.${id}.partial-${ctx.job}`)
  const images: string[] = []
  const paused: string[] = []
  let pausedAt = 0
  let unpausedAt = 0
  const volumes: SnapshotVolume[] = []
  const committed: SnapshotNode[] = []
  try {
    await mkdir(join(partial, 'volumes'), { recursive: true })
    try {
      // Recorded before the first pause, and each pause before it is made: whatever dies next —
      // this process, the event's write — the cluster is unpaused (below, or by the next command).
      note(ctx, { op: 'snapshot', id })
      note(ctx, { op: 'pause', ids: nodes.map((n) => n.state.id) })
      pausedAt = Date.now()
      await mapLimit(nodes, nodes.length, async (n) => {
        paused.push(n.state.id)
        await steps.timed('pause', n.spec.name, () =>
          engine.pauseContainer(n.state.id, n.spec.name)
        )
      })
      await mapLimit(nodes, ctx.concurrency, async (n, i) => {
        const repo = snapshotImage(cluster, n.spec.name)
        const imageId = await steps.timed('commit', n.spec.name, () =>
          engine.commitContainer(n.state.id, {
            repo,
            tag: id,
            name: n.spec.name,
            labels: { [LABEL.snapshot]: id, [LABEL.cluster]: cluster, [LABEL.node]: n.spec.name },
            // Secrets are read again on the host at restore.
            blankEnv: Object.keys(n.spec.secrets ?? {}),
          })
        )
        images.push(`${repo}:${id}`)
        committed[i] = {
          name: n.spec.name,
          hostname: n.spec.hostname,
          ip: n.state.ip,
          image: { ref: `${repo}:${id}`, id: imageId },
          bootstrapped: bootstrapped[i],
          ...(n.state.host ? { host: n.state.host } : {}),
        }
        for (const v of n.spec.volumes.filter((v) => !v.external)) {
          const file = `${n.spec.name}.${v.name}.tar`
          const digestOf = await steps.timed('archive', n.spec.name, () =>
            archiveVolume(
              ctx,
              cluster,
              n.state.image,
              n.state.mounts.get(v.target) ?? volumeSource(topology, n.spec, v),
              join(partial, 'volumes', file)
            )
          )
          volumes.push({
            node: n.spec.name,
            name: v.name,
            target: v.target,
            file: `volumes/${file}`,
            ...digestOf,
          })
        }
      })
    } finally {
      // Always unpaused, whatever failed: a snapshot must never leave the cluster frozen.
      await Promise.all(
        paused.map((pid) =>
          engine.unpauseContainer(pid).catch((e) => ctx.log(`unpause failed: ${e}`))
        )
      )
      if (paused.length) note(ctx, { op: 'unpaused' })
      unpausedAt = Date.now()
      if (paused.length) steps.done('unpause', undefined, unpausedAt - pausedAt)
    }
    // Out of the pause window: images of nodes with secrets are committed once more.
    await mapLimit(nodes, ctx.concurrency, async (n, i) => {
      if (!Object.keys(n.spec.secrets ?? {}).length) return
      committed[i].image.id = await withoutSecrets(
        ctx,
        cluster,
        committed[i].image.ref,
        committed[i].image.id,
        committed[i].host
      )
    })
    // A swarm cluster's images, each committed on its node's host, are gathered on the manager:
    // a host lost later loses no snapshot.
    if (engine instanceof SwarmEngine && topology.network.mode === 'swarm') {
      await mapLimit(committed, ctx.concurrency, (c) =>
        steps.timed('image', c.name, () => engine.gather(c.image.ref, c.image.id))
      )
    }
    const manifest: SnapshotManifest = {
      format: 1,
      id,
      cluster,
      createdAt: new Date(pausedAt).toISOString(),
      berthVersion: BERTH_VERSION,
      job: ctx.job,
      topology,
      network: {
        mode: topology.network.mode,
        subnet:
          state.network?.IPAM?.Config?.find((c) => c.Subnet && !c.Subnet.includes(':'))?.Subnet ??
          null,
      },
      window: {
        pausedAt: new Date(pausedAt).toISOString(),
        unpausedAt: new Date(unpausedAt).toISOString(),
        ms: unpausedAt - pausedAt,
      },
      nodes: committed,
      volumes: volumes.sort((a, b) => a.file.localeCompare(b.file)),
    }
    await writeFile(join(partial, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n')
    await rename(partial, final)
    note(ctx, { op: 'snapshot-done', id })
    ctx.log(
      `snapshot ${id}: ${committed.length} images, ${volumes.length} volumes, window ${manifest.window.ms} ms`
    )
    return manifest
  } catch (err) {
    const removed = await Promise.allSettled(images.map((ref) => engine.removeImage(ref)))
    // The partial directory's name is all that tells the next sweep which images to look for.
    if (removed.every((r) => r.status === 'fulfilled'))
      await rm(partial, { recursive: true, force: true })
    else
      ctx.log(
        `could not remove every image of the failed snapshot ${id}: ${partial} is kept for the next snapshot to sweep`
      )
    throw (await diskFilled(space, err, id)) ?? err
  }
}

/**
 * `docker commit` records the committed container's own config in the image (Docker 20.10's
 * `ContainerConfig`), secret values and all, whatever `ENV KEY=` says of the image's config. So an
 * image of a node with secrets is committed again, under the same tag, from a container made of it
 * (whose config holds the blanked values). The first stays on the host as its untagged parent, as
 * the node's own container does: root's, and removed with the snapshot. `docker save` (an export)
 * writes the config of the image saved only.
 */
async function withoutSecrets(
  ctx: JobContext,
  cluster: string,
  ref: string,
  first: string,
  host: string | undefined
): Promise<string> {
  const [repo, tag] = [ref.slice(0, ref.lastIndexOf(':')), ref.slice(ref.lastIndexOf(':') + 1)]
  // On the node's host (swarm), so that the image with the secrets never leaves it.
  const id = await ctx.engine.createContainer({
    name: `berth-reseal-${ctx.job}-${Math.random().toString(36).slice(2, 8)}`,
    Image: first,
    Labels: {
      [LABEL.cluster]: cluster,
      [LABEL.job]: ctx.job,
      ...(host ? { [LABEL.host]: host } : {}),
    },
    HostConfig: { NetworkMode: 'none' },
  })
  try {
    return await ctx.engine.commitContainer(id, { repo, tag, labels: {} })
  } finally {
    await ctx.engine.removeContainer(id)
  }
}

/** A volume's data as a tar file, hashed as it is written (volume-data.ts says how it is read). */
async function archiveVolume(
  ctx: JobContext,
  cluster: string,
  image: string,
  volume: string,
  file: string
): Promise<{ sha256: string; size: number }> {
  const d = digest()
  let written: unknown
  try {
    await readVolume(ctx, cluster, volume, image, (tar) =>
      pipeline(tar, d.stream, createWriteStream(file)).catch((err) => {
        written = err
        throw err
      })
    )
  } catch (err) {
    // tar tells of the pipe the failed file closed on it ("Cannot write: Connection reset by
    // peer"); the file's own error (ENOSPC) says what happened.
    throw noSpaceSide(written) ? written : err
  }
  return d.result()
}

const notFound = (cluster: string, id: string) =>
  new BerthError(
    'not_found',
    `no snapshot "${id}" of cluster "${cluster}" (looked in ${snapshotDir(cluster, id)})`
  )

/** An id becomes a directory name: anything else could name a path anywhere (`../x`). */
function checkId(id: string): void {
  if (!SNAPSHOT_ID.test(id)) {
    throw new BerthError(
      'invalid_job',
      `snapshot: "${id}" is not a valid snapshot id (a-z, 0-9, '.', '_', '-'; at most 64)`
    )
  }
}

/**
 * A snapshot as stored: its manifest, checked, or what is wrong with it. Throws only when there
 * is no such snapshot (or the id is not one): damage is an answer, for listing and removal.
 */
export async function readSnapshot(
  cluster: string,
  id: string
): Promise<SnapshotManifest | DamagedSnapshot> {
  checkId(id)
  const dir = snapshotDir(cluster, id)
  const damaged = (why: string): DamagedSnapshot => ({ id, cluster, damaged: why })
  let text: string
  try {
    const { size } = await stat(join(dir, MANIFEST))
    if (size > MAX_MANIFEST_BYTES)
      return damaged(`${MANIFEST}: ${size} bytes, too large for a manifest`)
    text = await readFile(join(dir, MANIFEST), 'utf8')
  } catch (err) {
    // Listing runs beside removals: a directory gone meanwhile is no snapshot, not a damaged one.
    if (!(await stat(dir).catch(() => null))) throw notFound(cluster, id)
    const code = (err as NodeJS.ErrnoException).code
    return damaged(
      `${MANIFEST}: ${code === 'ENOENT' ? 'missing' : `cannot be read (${code ?? (err as Error).message})`}`
    )
  }
  const r = checkManifestText(text)
  if (!r.ok) return damaged(r.why)
  // A manifest copied from another snapshot would have that snapshot's images removed with this one.
  if (r.manifest.id !== id)
    return damaged(`${MANIFEST}: id: "${r.manifest.id}", but the snapshot's directory is "${id}"`)
  if (r.manifest.cluster !== cluster) {
    return damaged(
      `${MANIFEST}: cluster: "${r.manifest.cluster}", but the snapshot is kept under "${cluster}"`
    )
  }
  return r.manifest
}

/** The manifest of a whole snapshot; a damaged one is refused (`snapshot_damaged`), naming why. */
export async function readManifest(cluster: string, id: string): Promise<SnapshotManifest> {
  const s = await readSnapshot(cluster, id)
  if (isDamaged(s)) {
    throw new BerthError(
      'snapshot_damaged',
      `snapshot "${id}" of cluster "${cluster}" is damaged: ${s.damaged}; it cannot be restored or exported, only removed (berth snapshot rm ${cluster} ${id}); nothing was changed`,
      { step: 'verify' }
    )
  }
  return s
}

/**
 * Every snapshot of a cluster, read from what is stored (never from a cache): the whole ones
 * newest first, the damaged ones by id (their times cannot be trusted).
 */
export async function readSnapshots(
  cluster: string
): Promise<{ snapshots: SnapshotManifest[]; damaged: DamagedSnapshot[] }> {
  const entries = await readdir(snapshotsRoot(cluster), { withFileTypes: true }).catch(
    () => [] as Dirent[]
  )
  const snapshots: SnapshotManifest[] = []
  const damaged: DamagedSnapshot[] = []
  for (const e of entries) {
    // Dot names are work in progress (LEFTOVER); no other name that is not an id is berth's.
    if (!e.isDirectory() || !SNAPSHOT_ID.test(e.name)) continue
    const s = await readSnapshot(cluster, e.name).catch((err) => {
      if (err instanceof BerthError && err.code === 'not_found') return null
      throw err
    })
    if (s && isDamaged(s)) damaged.push(s)
    else if (s) snapshots.push(s)
  }
  snapshots.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id))
  damaged.sort((a, b) => a.id.localeCompare(b.id))
  return { snapshots, damaged }
}

/** The whole snapshots of a cluster, newest first. */
export async function listSnapshots(cluster: string): Promise<SnapshotManifest[]> {
  return (await readSnapshots(cluster)).snapshots
}

/**
 * The image tags of snapshot `id`: those `named` (by a manifest that can be trusted) and those
 * Docker finds by the labels every snapshot image is committed with, so that a snapshot whose
 * manifest is damaged still takes its images with it. Only tags of the snapshot's own
 * repositories (berth-snap/<cluster>.<node>:<id>): an image built FROM a snapshot image
 * inherits its labels, and is the user's.
 */
async function snapshotImages(
  ctx: JobContext,
  cluster: string,
  id: string,
  named: string[]
): Promise<string[]> {
  const labelled = await ctx.engine.listImages([
    `${LABEL.snapshot}=${id}`,
    `${LABEL.cluster}=${cluster}`,
  ])
  const own = (tag: string) => tag.startsWith(snapshotImage(cluster, '')) && tag.endsWith(`:${id}`)
  return [...new Set([...named, ...labelled.filter(own)])]
}

/** The images a moved-aside snapshot's manifest names, when it can be trusted. */
async function namedImages(dir: string, cluster: string, id: string): Promise<string[]> {
  const text = await readFile(join(dir, MANIFEST), 'utf8').catch(() => null)
  const r = text === null ? null : checkManifestText(text)
  return r?.ok && r.manifest.id === id && r.manifest.cluster === cluster
    ? r.manifest.nodes.map((n) => n.image.ref)
    : []
}

/**
 * Removes a snapshot, whole or damaged, and its images. The directory is moved aside first
 * (`.<id>.removing-<job>`: from then on the snapshot is not listed), then the images go, then
 * the directory. A removal that dies or fails midway leaves that directory, and with it the id
 * of images nothing else names: the next removal of the id finishes it, as does the next
 * snapshot's sweep.
 */
export async function removeSnapshot(ctx: JobContext, cluster: string, id: string): Promise<void> {
  checkId(id)
  const root = snapshotsRoot(cluster)
  // Every writer of these holds the cluster's lock, as this job does: they are stale.
  const aside = (await readdir(root).catch(() => [] as string[]))
    .filter((name) => {
      const m = name.match(LEFTOVER)
      return m?.[1] === id && m[2] === 'removing'
    })
    .map((name) => join(root, name))
  const named: string[] = []
  if (await stat(snapshotDir(cluster, id)).catch(() => null)) {
    const s = await readSnapshot(cluster, id)
    if (await inUse(cluster, id)) {
      throw new BerthError(
        'conflict',
        `snapshot "${id}" is being restored right now; remove it when the restore ends`
      )
    }
    if (isDamaged(s))
      ctx.log(`snapshot ${id} is damaged (${s.damaged}): its images are found by their labels`)
    else named.push(...s.nodes.map((n) => n.image.ref))
    const trash = join(root, `.${id}.removing-${ctx.job}`)
    await rename(snapshotDir(cluster, id), trash)
    aside.push(trash)
  } else if (aside.length) {
    ctx.log(
      `snapshot ${id}: finishing a removal that did not end (${aside.map((d) => basename(d)).join(', ')})`
    )
  } else {
    throw notFound(cluster, id)
  }
  for (const dir of aside) named.push(...(await namedImages(dir, cluster, id)))
  await Promise.all(
    (await snapshotImages(ctx, cluster, id, named)).map((ref) => ctx.engine.removeImage(ref))
  )
  for (const dir of aside) await rm(dir, { recursive: true, force: true })
}

/** `.<id>.<what>-<job>`: the work of a job in progress, in a cluster's snapshots directory. */
const LEFTOVER = /^\.(.+)\.(partial|exporting|removing)-([A-Za-z0-9_.-]{1,64})$/

/**
 * Removes what a snapshot, an export or a snapshot removal of this cluster left behind when its
 * process died — the half-written directory, the export's spool, the half-removed snapshot, and
 * their images — so that crashes do not fill the disk. Runs under the cluster's lock, which
 * every writer of those holds, before this job writes anything: whatever is there is stale, an
 * earlier run of this very job included. An import's `.importing-*` is written without the
 * lock, and is left alone.
 */
export async function sweepLeftovers(
  ctx: JobContext,
  cluster: string,
  nodes: string[] = []
): Promise<void> {
  const root = snapshotsRoot(cluster)
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const m = name.match(LEFTOVER)
    if (!m) continue
    const [, id, what, job] = m
    const dir = join(root, name)
    // A snapshot of that id made since (an import, a tag used again) owns the id's images now.
    const live = !!(await stat(snapshotDir(cluster, id)).catch(() => null))
    const named =
      what === 'removing'
        ? await namedImages(dir, cluster, id)
        : nodes.map((n) => `${snapshotImage(cluster, n)}:${id}`)
    try {
      const images =
        what === 'exporting' || live ? [] : await snapshotImages(ctx, cluster, id, named)
      await Promise.all(images.map((ref) => ctx.engine.removeImage(ref)))
      await rm(dir, { recursive: true, force: true })
      ctx.log(
        `removed ${name}${images.length ? ` and its images` : ''}: left by job ${job}, which died before it finished`
      )
    } catch (err) {
      // Kept: its name is all that tells the next sweep which images to look for.
      ctx.log(
        `could not remove ${name} (left by job ${job}) and its images: ${(err as Error).message}; the next snapshot tries again`
      )
    }
  }
}

const IN_USE = /^\.in-use-(\d+)-/

/**
 * Marks a snapshot as read by a running restore until `release` (a file naming the process, so
 * a crashed restore's mark is recognised as stale).
 */
export async function markInUse(
  cluster: string,
  id: string,
  job: string
): Promise<() => Promise<void>> {
  const file = join(snapshotDir(cluster, id), `.in-use-${process.pid}-${job}`)
  await writeFile(file, new Date().toISOString())
  return () => rm(file, { force: true })
}

async function inUse(cluster: string, id: string): Promise<boolean> {
  const entries = await readdir(snapshotDir(cluster, id)).catch(() => [] as string[])
  return entries.some((e) => {
    const pid = Number(e.match(IN_USE)?.[1])
    if (!pid) return false
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  })
}

/**
 * Keeps the newest `keep` whole snapshots: never the newest, never one a running restore reads.
 * A damaged snapshot is neither counted nor pruned. Not counted: it is not one of the N a user
 * keeps to restore from. Not pruned: a rule that runs unattended (a schedule's keep) must not
 * destroy what someone should look at first — a manifest a newer berth wrote (read after a
 * downgrade), a disk error — so it stays listed, with its reason, until an explicit
 * `snapshot rm`.
 */
export async function pruneSnapshots(
  ctx: JobContext,
  cluster: string,
  keep: number
): Promise<string[]> {
  const { snapshots, damaged } = await readSnapshots(cluster)
  for (const d of damaged) {
    ctx.log(
      `snapshot ${d.id} is damaged (${d.damaged}): not counted, not pruned; berth snapshot rm ${cluster} ${d.id} removes it`
    )
  }
  const doomed = []
  for (const m of snapshots.slice(Math.max(1, keep)))
    if (!(await inUse(cluster, m.id))) doomed.push(m)
  for (const m of doomed) await removeSnapshot(ctx, cluster, m.id)
  return doomed.map((m) => m.id)
}
