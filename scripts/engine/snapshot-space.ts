/**
 * Room for a snapshot, asked before anything is paused. A snapshot writes its volume archives
 * under $BERTH_HOME/snapshots and, through `docker commit`, one layer per node into Docker's root
 * directory. A disk that fills midway used to end as tar's view of it ("Cannot write: Connection
 * reset by peer": its pipe closed) after the cluster had been frozen for nothing. So the sizes
 * are estimated first — a volume from its data (volume-data.ts), a node's writable layer from
 * Docker (SizeRw) — and a snapshot that cannot fit is refused, saying where, how much it needs
 * and how much there is. A disk that fills anyway (someone else writes to it meanwhile) ends as
 * the same kind of message.
 */
import { stat, statfs } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { directFiles } from './container-files.ts'
import { berthHome, type JobContext } from './context.ts'
import { BerthError } from './errors.ts'
import { clusterFilter } from './labels.ts'
import { volumeArchiveSizes } from './volume-data.ts'

const MB = 1024 ** 2

export interface Disk {
  /** The directory written to, as the user knows it. */
  path: string
  /** The filesystem it is on (st_dev): two paths on one disk share its room. */
  dev: number
  /** Bytes an unprivileged writer may still use: root's reserve is the system's, not ours. */
  free: number
}

/** What a snapshot needs, and where. */
export interface SnapshotSpace {
  archives: Disk & { need: number }
  /** Null when Docker's root directory is not on this machine (a remote engine). */
  layers: (Disk & { need: number }) | null
}

/** The disk that holds `path`, measured at its nearest existing ancestor. */
async function diskOf(path: string): Promise<Disk> {
  let at = path
  for (;;) {
    const st = await stat(at).catch(() => null)
    if (st) {
      const fs = await statfs(at)
      return { path, dev: st.dev, free: fs.bavail * fs.bsize }
    }
    if (dirname(at) === at) throw new Error(`no part of ${path} exists`)
    at = dirname(at)
  }
}

// The cluster runs on between the estimate and the pause, and the manifest comes on top.
const withMargin = (bytes: number) => Math.ceil(bytes * 1.01) + MB

const mb = (bytes: number, round: (n: number) => number) => `${round(bytes / MB)} MB`
const sizes = (need: number, free: number) =>
  `needs ~${mb(need, Math.ceil)}, has ${mb(free, Math.floor)}`

export const snapshotsHome = () => join(berthHome(), 'snapshots')

/**
 * Estimates what snapshot `id` of `nodes` will write, and refuses (`preflight`) when a disk
 * cannot hold it. Nothing is paused or written yet.
 */
export async function checkSnapshotSpace(
  ctx: JobContext,
  cluster: string,
  id: string,
  nodes: { name: string; id: string; volumes: string[] }[]
): Promise<SnapshotSpace> {
  const volumes = nodes.flatMap((n) => n.volumes)
  const volumeSizes = await volumeArchiveSizes(ctx, volumes)
  const unknown = [...volumeSizes].filter(([, size]) => size === null).map(([v]) => v)
  if (unknown.length) {
    ctx.log(`preflight: the size of ${unknown.join(', ')} is not known here; not counted`)
  }
  const archiveBytes = [...volumeSizes.values()].reduce((a: number, b) => a + (b ?? 0), 0)
  const layerSizes = await ctx.engine.writableLayerSizes(clusterFilter(cluster))
  const layerBytes = nodes.reduce((a, n) => a + (layerSizes.get(n.id) ?? 0), 0)

  const archives = { ...(await diskOf(snapshotsHome())), need: withMargin(archiveBytes) }
  // Docker's root directory is a path on this machine only when berth runs on the Docker host.
  const root = directFiles() ? (await ctx.engine.info()).DockerRootDir : null
  const rootDisk = root ? await diskOf(root).catch(() => null) : null
  const layers = rootDisk && { ...rootDisk, need: withMargin(layerBytes) }
  const into = (bytes: number, disk: Disk) =>
    `~${mb(bytes, Math.ceil)} into ${disk.path} (${mb(disk.free, Math.floor)} free)`
  ctx.log(
    `preflight: volume archives ${into(archiveBytes, archives)}` +
      (layers ? `, container layers ${into(layerBytes, layers)}` : '')
  )
  const refuse = (disk: Disk, need: number, what: string) =>
    new BerthError(
      'preflight',
      `no space left on ${disk.path} (${sizes(need, disk.free)}): ${what} would not fit; nothing was paused or written`,
      { step: 'preflight' }
    )
  const ofArchives = `the volume archives of snapshot "${id}"`
  const ofLayers = `the container layers snapshot "${id}" commits`
  if (layers && layers.dev === archives.dev) {
    const need = archives.need + layers.need
    if (need > archives.free) {
      const both = `${ofArchives} (~${mb(archiveBytes, Math.ceil)}) and the container layers it commits into ${layers.path} (~${mb(layerBytes, Math.ceil)}), on the same disk,`
      throw refuse(archives, need, both)
    }
    return { archives, layers }
  }
  if (archives.need > archives.free) throw refuse(archives, archives.need, ofArchives)
  if (layers && layers.need > layers.free) throw refuse(layers, layers.need, ofLayers)
  return { archives, layers }
}

/** A write that failed for want of room: ours (ENOSPC), or the daemon's during a commit. */
export function noSpaceSide(err: unknown): 'archives' | 'layers' | null {
  if ((err as NodeJS.ErrnoException)?.code === 'ENOSPC') return 'archives'
  const daemon = err instanceof BerthError && err.code === 'engine'
  return daemon && /no space left on device/i.test(err.message) ? 'layers' : null
}

/**
 * The error for a disk that filled while snapshot `id` was written, measured once the partial
 * snapshot is gone (what a retry would have); null when the disk in question is not known.
 */
export async function diskFilled(
  space: SnapshotSpace,
  err: unknown,
  id: string
): Promise<BerthError | null> {
  const side = noSpaceSide(err)
  const disk = side === 'archives' ? space.archives : side === 'layers' ? space.layers : null
  if (!disk) return null
  const now = await diskOf(disk.path).catch(() => disk)
  const shared = space.layers && space.layers.dev === space.archives.dev
  const need = shared ? space.archives.need + (space.layers?.need ?? 0) : disk.need
  const how = side === 'archives' ? 'written' : 'committed'
  return new BerthError(
    'preflight',
    `no space left on ${disk.path} (${sizes(need, now.free)}): the disk filled up while snapshot "${id}" was ${how}; the partial snapshot was removed and the cluster unpaused`,
    { step: side === 'archives' ? 'archive' : 'commit', cause: err }
  )
}
