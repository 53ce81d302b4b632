/**
 * transfer: a snapshot as one portable tar file, and back, so it can move to another Docker host
 * without a registry. The file holds `manifest.json` first, then each volume archive, then each
 * node's image as `docker save` wrote it (`images/<node>.tar`), and last `berth-export.json`, an
 * index giving every member's size and sha256.
 *
 * Import trusts nothing until the index has been read and every member checked against it: the
 * members are extracted into a staging directory, images are loaded only once every checksum
 * passes, and the staging directory is renamed into place last. A truncated or altered file
 * leaves nothing behind. Everything is streamed: memory stays flat whatever the snapshot's size.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { link, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable, Transform, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import tar from 'tar-stream'
import { checkpoint, note, type JobContext } from './context.ts'
import { BerthError } from './errors.ts'
import { BERTH_VERSION, SNAPSHOT_ID } from './labels.ts'
import { verifySnapshot } from './restore.ts'
import { readManifest, snapshotDir, snapshotsRoot, type SnapshotManifest } from './snapshot.ts'
import { checkManifest, MANIFEST, VOLUME_FILE } from './snapshot-manifest.ts'
import { HOSTNAME_LABEL } from './topology.ts'

export const EXPORT_INDEX = 'berth-export.json'
/** manifest.json and the index are read into memory: bound them, whatever a file claims. */
const MAX_JSON = 16 * 1024 * 1024

export interface ExportMember {
  name: string
  size: number
  sha256: string
}

export interface ExportIndex {
  format: 1
  kind: 'berth-export'
  cluster: string
  id: string
  berthVersion: string
  /** Every member but the index itself, in the order they appear in the file. */
  members: ExportMember[]
}

const imageMember = (node: string) => `images/${node}.tar`

/** Passes bytes through while counting and hashing them (`add` for bytes read by hand). */
function hashing() {
  const hash = createHash('sha256')
  let size = 0
  const add = (chunk: Buffer) => {
    hash.update(chunk)
    size += chunk.length
  }
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      add(chunk)
      done(null, chunk)
    },
  })
  return { stream, add, size: () => size, result: () => ({ sha256: hash.digest('hex'), size }) }
}

const short = (sha: string) => `${sha.slice(0, 12)}…`

// ── export ───────────────────────────────────────────────────────────────────

/**
 * Writes snapshot `id` of `cluster` as one tar file to `out` (a path, or a stream that is ended
 * when done). A path is written beside itself as `.partial-<job>` and renamed over `out` only
 * when complete, so a failed export never leaves a file that looks whole.
 */
export async function exportSnapshot(
  ctx: JobContext,
  cluster: string,
  id: string,
  out: NodeJS.WritableStream | string
): Promise<{ bytes: number; sha256: string }> {
  const manifest = await readManifest(cluster, id)
  const taken = (file: string) =>
    new BerthError(
      'conflict',
      `${file} exists: an export never replaces a file (remove it, or export under another name)`
    )
  if (typeof out === 'string' && (await stat(out).catch(() => null))) throw taken(out)
  await ctx.steps.timed('verify', undefined, () => verifySnapshot(ctx, manifest))
  checkpoint(ctx)

  const dir = snapshotDir(cluster, id)
  // `docker save` is spooled next to the snapshot (same disk, off the heap) to learn its size,
  // which a tar header needs before the first byte of the member.
  const spool = join(snapshotsRoot(cluster), `.${id}.exporting-${ctx.job}`)
  const partial = typeof out === 'string' ? `${out}.partial-${ctx.job}` : null
  // Every header carries the snapshot's time, so exporting one snapshot twice gives one file.
  const mtime = new Date(manifest.createdAt)
  const pack = tar.pack()
  // Failures reach us through the pipeline and the entries' callbacks; an unheard 'error' on
  // an emitter would crash the process instead.
  pack.on('error', () => {})
  const whole = hashing()
  let writing: Promise<void> | undefined
  if (partial) note(ctx, { op: 'export', partial, spool })
  try {
    await mkdir(spool, { recursive: true })
    const sink = partial
      ? createWriteStream(partial, { flags: 'wx' })
      : (out as NodeJS.WritableStream)
    writing = pipeline(Readable.from(pack, { objectMode: false }), whole.stream, sink as Writable)
    // A failed sink destroys the pack, which fails the member being written: no hang.
    writing.catch((err: Error) => pack.destroy(err))

    const members: ExportMember[] = []
    const damaged = (member: string, why: string) =>
      new BerthError(
        'snapshot_damaged',
        `snapshot "${id}" is damaged: ${member}: ${why}; nothing was exported`,
        {
          step: 'archive',
        }
      )
    await ctx.steps.timed('archive', undefined, async () => {
      members.push(await addFile(pack, MANIFEST, join(dir, MANIFEST), mtime))
      for (const v of manifest.volumes) {
        const m = await addFile(pack, v.file, join(dir, v.file), mtime)
        // verifySnapshot read it a moment ago; this catches a file changed since.
        if (m.sha256 !== v.sha256) {
          throw damaged(v.file, `sha256 ${short(m.sha256)}, the manifest says ${short(v.sha256)}`)
        }
        members.push(m)
      }
    })
    for (const n of manifest.nodes) {
      checkpoint(ctx)
      const file = join(spool, `${n.name}.tar`)
      const saved = await ctx.steps.timed('image', n.name, () => saveImage(ctx, n.image.ref, file))
      const m = await addFile(pack, imageMember(n.name), file, mtime)
      if (m.sha256 !== saved.sha256) {
        throw damaged(imageMember(n.name), 'changed on disk while it was exported')
      }
      members.push(m)
      await rm(file, { force: true })
    }
    const index: ExportIndex = {
      format: 1,
      kind: 'berth-export',
      cluster,
      id,
      berthVersion: BERTH_VERSION,
      members,
    }
    await addBuffer(pack, EXPORT_INDEX, Buffer.from(JSON.stringify(index, null, 2) + '\n'), mtime)
    pack.finalize()
    await writing
    // link, not rename: a file that appeared meanwhile (another export of that name) is kept.
    if (partial) {
      await link(partial, out as string).catch((err) => {
        throw (err as NodeJS.ErrnoException).code === 'EEXIST' ? taken(out as string) : err
      })
      await rm(partial, { force: true })
    }
  } catch (err) {
    pack.destroy(err as Error)
    await writing?.catch(() => {})
    if (partial) await rm(partial, { force: true })
    throw err
  } finally {
    await rm(spool, { recursive: true, force: true })
  }
  const { sha256, size } = whole.result()
  ctx.log(`export ${cluster}/${id}: ${size} bytes, sha256 ${sha256}`)
  return { bytes: size, sha256 }
}

/** One file as a member, hashed as it streams (the size is taken from the file, up front). */
async function addFile(
  pack: tar.Pack,
  name: string,
  path: string,
  mtime: Date
): Promise<ExportMember> {
  const { size } = await stat(path)
  const h = hashing()
  await new Promise<void>((resolve, reject) => {
    const source = createReadStream(path)
    // tar-stream fails the entry itself when fewer or more bytes than `size` arrive.
    const entry = pack.entry({ name, size, mode: 0o644, mtime }, (err) => {
      if (err) {
        source.destroy()
        reject(err)
      } else resolve()
    })
    source.on('error', (err) => entry.destroy(err))
    // The entry's failure is the callback's to report; unheard, its 'error' would crash node.
    entry.on('error', () => {})
    source.pipe(h.stream).pipe(entry)
  })
  return { name, ...h.result() }
}

function addBuffer(pack: tar.Pack, name: string, content: Buffer, mtime: Date): Promise<void> {
  return new Promise((resolve, reject) => {
    pack
      .entry({ name, size: content.length, mode: 0o644, mtime }, content, (err) =>
        err ? reject(err) : resolve()
      )
      .on('error', () => {})
  })
}

/** `docker save` of one image into a file, hashed as it is written. */
async function saveImage(
  ctx: JobContext,
  ref: string,
  file: string
): Promise<{ sha256: string; size: number }> {
  const h = hashing()
  try {
    const stream = await ctx.engine.saveImage(ref)
    await pipeline(stream, h.stream, createWriteStream(file))
  } catch (err) {
    throw engineError(`Saving image "${ref}"`, err)
  }
  return h.result()
}

function engineError(what: string, err: unknown): BerthError {
  if (err instanceof BerthError) return err
  const e = err as Error & { statusCode?: number; json?: { message?: string } }
  const message = `${what}: ${e?.json?.message ?? e?.message ?? String(err)}`
  return new BerthError(e?.statusCode === 404 ? 'not_found' : 'engine', message, { cause: err })
}

// ── import ───────────────────────────────────────────────────────────────────

/**
 * Reads an export (a path, or a stream that is consumed, and destroyed on failure) into
 * `$BERTH_HOME/snapshots/<cluster>/<id>/` and the Docker images it names. An id the cluster
 * already has is refused (`conflict`); a truncated or altered file is refused
 * (`snapshot_damaged`, naming the member) and nothing is imported.
 */
export async function importSnapshot(
  ctx: JobContext,
  input: NodeJS.ReadableStream | string,
  /** Told the cluster once the manifest names it, before anything is written (the job locks it). */
  onCluster: (cluster: string) => Promise<void> = async () => {}
): Promise<SnapshotManifest> {
  const what = typeof input === 'string' ? `export file "${input}"` : 'the export'
  const damaged = (member: string, why: string) =>
    new BerthError(
      'snapshot_damaged',
      `${what} is damaged: ${member}: ${why}; nothing was imported`,
      { step: 'verify' }
    )

  const source: NodeJS.ReadableStream = typeof input === 'string' ? createReadStream(input) : input
  const extract = tar.extract()
  extract.on('error', () => {}) // reported by its iterator, in receive()
  source.on('error', (err: Error) => extract.destroy(err))
  source.pipe(extract)

  let staging: string | null = null
  const loaded: string[] = []
  try {
    const got = await ctx.steps.timed('archive', undefined, () =>
      receive(extract, damaged, async (m) => {
        await onCluster(m.cluster)
        // Refused before a byte of it is written: an existing snapshot is never overwritten.
        await refuseExisting(ctx, m)
        staging = join(
          snapshotsRoot(m.cluster),
          `.${m.id}.importing-${randomBytes(4).toString('hex')}`
        )
        note(ctx, { op: 'import', staging, cluster: m.cluster, id: m.id })
        await mkdir(join(staging, 'volumes'), { recursive: true })
        await mkdir(join(staging, 'images'), { recursive: true })
        return staging
      })
    )
    const { manifest, index, members } = got
    staging = got.staging
    await ctx.steps.timed('verify', undefined, async () =>
      checkMembers(manifest, index, members, damaged)
    )
    checkpoint(ctx)

    // Only now, with every byte accounted for, does anything reach Docker. Asked again: an
    // extraction can take minutes, and another job may have made the snapshot meanwhile.
    await refuseExisting(ctx, manifest)
    for (const n of manifest.nodes) {
      const have = await ctx.engine.inspectImage(n.image.ref)
      if (have?.Id === n.image.id) {
        ctx.log(`image ${n.image.ref} is already here`, n.name)
        continue
      }
      note(ctx, { op: 'image-load', ref: n.image.ref })
      await ctx.steps.timed('image', n.name, () =>
        loadImage(ctx, join(staging as string, imageMember(n.name)), n.image.ref)
      )
      loaded.push(n.image.ref)
      const image = await ctx.engine.inspectImage(n.image.ref)
      if (!image) throw damaged(imageMember(n.name), `does not hold ${n.image.ref}`)
      if (image.Id !== n.image.id) {
        throw damaged(
          imageMember(n.name),
          `loaded as ${image.Id.slice(7, 19)}, the manifest says ${n.image.id.slice(7, 19)}`
        )
      }
    }
    await rm(join(staging, 'images'), { recursive: true, force: true })
    const final = snapshotDir(manifest.cluster, manifest.id)
    try {
      await rename(staging, final)
    } catch (err) {
      // Another import of the same id finished first (rename onto a non-empty directory fails).
      if (
        (err as NodeJS.ErrnoException).code === 'ENOTEMPTY' ||
        (err as NodeJS.ErrnoException).code === 'EEXIST'
      ) {
        throw conflict(manifest)
      }
      throw err
    }
    staging = null
    ctx.log(
      `import ${manifest.cluster}/${manifest.id}: ${manifest.nodes.length} images, ${manifest.volumes.length} volumes`
    )
    return manifest
  } catch (err) {
    ;(source as Readable).destroy?.()
    extract.destroy()
    if (staging) await rm(staging, { recursive: true, force: true })
    for (const ref of loaded) {
      await ctx.engine.removeImage(ref).catch((e) => ctx.log(`cleanup after a failed import: ${e}`))
    }
    throw err
  }
}

interface Received {
  manifest: SnapshotManifest
  index: ExportIndex
  staging: string
  members: Map<string, ExportMember>
}

type Damaged = (member: string, why: string) => BerthError

/**
 * Extracts every member into the staging directory, hashing as it goes. Returns only once the
 * archive has ended cleanly: tar-stream fails a stream that ends inside a member.
 */
async function receive(
  extract: tar.Extract,
  damaged: Damaged,
  /** Called once manifest.json is read: checks it is welcome, returns the staging directory. */
  stage: (manifest: SnapshotManifest) => Promise<string>
): Promise<Received> {
  let manifest: SnapshotManifest | null = null
  let index: ExportIndex | null = null
  let staging: string | null = null
  let expected = new Set<string>()
  const members = new Map<string, ExportMember>()
  let current: { name: string; size: number; read: () => number } | null = null
  try {
    for await (const entry of extract) {
      const { name, size = 0, type } = entry.header
      if (type !== 'file') throw damaged(name, `is a ${type}, not a file`)
      if (members.has(name) || (name === EXPORT_INDEX && index)) {
        throw damaged(name, 'appears twice')
      }
      const h = hashing()
      current = { name, size, read: h.size }
      if (!manifest) {
        if (name !== MANIFEST) {
          throw damaged(
            name,
            `comes first: this is not a berth export (one begins with ${MANIFEST})`
          )
        }
        if (size > MAX_JSON) throw damaged(name, `${size} bytes, too large for a manifest`)
        const bytes = await readSmall(entry, h)
        manifest = parseManifest(bytes, damaged)
        staging = await stage(manifest)
        await writeFile(join(staging, MANIFEST), bytes)
        expected = new Set([
          ...manifest.volumes.map((v) => v.file),
          ...manifest.nodes.map((n) => imageMember(n.name)),
        ])
      } else if (name === EXPORT_INDEX) {
        if (size > MAX_JSON) throw damaged(name, `${size} bytes, too large for an index`)
        index = parseIndex(await readSmall(entry, h), damaged)
      } else {
        if (!expected.has(name)) {
          throw damaged(name, 'is not part of the snapshot the manifest describes')
        }
        await pipeline(
          Readable.from(entry as AsyncIterable<Buffer>, { objectMode: false }),
          h.stream,
          createWriteStream(join(staging as string, name))
        )
      }
      if (name !== EXPORT_INDEX) members.set(name, { name, ...h.result() })
      current = null
    }
  } catch (err) {
    if (err instanceof BerthError) throw err
    // An error with a syscall is the disk's (ENOSPC…), not the file's: report it as it is.
    if ((err as NodeJS.ErrnoException).syscall) throw err
    const message = (err as Error).message
    if (current && /unexpected end/i.test(message)) {
      throw damaged(
        current.name,
        `the file ends inside it, after ${current.read()} of ${current.size} bytes: it is truncated`
      )
    }
    throw damaged(
      current ? current.name : 'the tar structure',
      `${message}: the file is truncated or altered`
    )
  }
  if (!manifest || !staging) throw damaged(MANIFEST, 'missing: this is not a berth export')
  if (!index) throw damaged(EXPORT_INDEX, 'missing: the file is truncated')
  return { manifest, index, staging, members }
}

async function readSmall(
  entry: AsyncIterable<unknown>,
  h: ReturnType<typeof hashing>
): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of entry as AsyncIterable<Buffer>) {
    h.add(chunk)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** Every member the index lists was read whole and matches it; nothing else was in the file. */
function checkMembers(
  manifest: SnapshotManifest,
  index: ExportIndex,
  members: Map<string, ExportMember>,
  damaged: Damaged
): void {
  if (index.cluster !== manifest.cluster || index.id !== manifest.id) {
    throw damaged(
      EXPORT_INDEX,
      `describes ${index.cluster}/${index.id}, the manifest ${manifest.cluster}/${manifest.id}`
    )
  }
  const listed = new Map(index.members.map((m) => [m.name, m]))
  for (const m of members.values()) {
    if (!listed.has(m.name)) throw damaged(m.name, `is not listed in ${EXPORT_INDEX}`)
  }
  for (const want of index.members) {
    const got = members.get(want.name)
    if (!got) throw damaged(want.name, 'missing from the file')
    if (got.size !== want.size) {
      throw damaged(want.name, `${got.size} bytes, the index says ${want.size}`)
    }
    if (got.sha256 !== want.sha256) {
      throw damaged(want.name, `sha256 ${short(got.sha256)}, the index says ${short(want.sha256)}`)
    }
  }
  for (const v of manifest.volumes) {
    const got = members.get(v.file)
    if (!got) throw damaged(v.file, 'missing from the file')
    if (got.size !== v.size || got.sha256 !== v.sha256) {
      throw damaged(
        v.file,
        `sha256 ${short(got.sha256)} (${got.size} bytes), the manifest says ${short(v.sha256)} (${v.size} bytes)`
      )
    }
  }
  for (const n of manifest.nodes) {
    const name = imageMember(n.name)
    if (!members.has(name)) throw damaged(name, 'missing from the file')
  }
}

const conflict = (m: SnapshotManifest) =>
  new BerthError(
    'conflict',
    `snapshot "${m.id}" of cluster "${m.cluster}" exists; a snapshot is never overwritten by an import`
  )

/** The snapshot id is new to this host, and no image tag it would load points elsewhere. */
async function refuseExisting(ctx: JobContext, m: SnapshotManifest): Promise<void> {
  if (await stat(snapshotDir(m.cluster, m.id)).catch(() => null)) throw conflict(m)
  for (const n of m.nodes) {
    const have = await ctx.engine.inspectImage(n.image.ref)
    if (have && have.Id !== n.image.id) {
      throw new BerthError(
        'conflict',
        `image ${n.image.ref} exists as ${have.Id.slice(7, 19)}, the export holds ${n.image.id.slice(7, 19)}; it is never overwritten: remove it first`,
        { node: n.name }
      )
    }
  }
}

/** `docker load` of one image tar; the engine reports a bad tar in the stream, not by status. */
async function loadImage(ctx: JobContext, file: string, ref: string): Promise<void> {
  try {
    await ctx.engine.loadImage(createReadStream(file), ref)
  } catch (err) {
    throw engineError(`Loading image "${ref}"`, err)
  }
}

function parseJson(bytes: Buffer, member: string, damaged: Damaged): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(bytes.toString('utf8'))
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>
  } catch {
    // reported below
  }
  throw damaged(member, 'is not a JSON object')
}

/** Its names become paths and image tags: each is checked before it is used as one. */
function parseManifest(bytes: Buffer, damaged: Damaged): SnapshotManifest {
  const m = parseJson(bytes, MANIFEST, damaged) as unknown as SnapshotManifest
  const json = JSON.stringify
  const problem = (): string | null => {
    if (m.format !== 1) return `format ${json(m.format)} is not one this berth reads (1)`
    if (typeof m.cluster !== 'string' || !HOSTNAME_LABEL.test(m.cluster)) {
      return `cluster ${json(m.cluster)} is not a cluster name`
    }
    if (typeof m.id !== 'string' || !SNAPSHOT_ID.test(m.id)) {
      return `id ${json(m.id)} is not a snapshot id`
    }
    if (!Array.isArray(m.nodes) || !Array.isArray(m.volumes)) {
      return 'nodes and volumes must be lists'
    }
    for (const n of m.nodes) {
      if (typeof n?.name !== 'string' || !HOSTNAME_LABEL.test(n.name)) {
        return `node ${json(n?.name)} is not a node name`
      }
      if (typeof n.image?.ref !== 'string' || typeof n.image?.id !== 'string') {
        return `node "${n.name}" has no image ref and id`
      }
    }
    for (const v of m.volumes) {
      if (typeof v?.file !== 'string' || !VOLUME_FILE.test(v.file)) {
        return `volume file ${json(v?.file)} is not volumes/<name>.tar`
      }
    }
    const names = [...m.nodes.map((n) => n.name), ...m.volumes.map((v) => v.file)]
    return new Set(names).size === names.length ? null : 'a node or volume file appears twice'
  }
  const why = problem()
  if (why) throw damaged(MANIFEST, why)
  // Then what a snapshot on disk is checked against: an import is never listed as damaged.
  const checked = checkManifest(m)
  if (!checked.ok) throw damaged(MANIFEST, checked.why.slice(`${MANIFEST}: `.length))
  return checked.manifest
}

function parseIndex(bytes: Buffer, damaged: Damaged): ExportIndex {
  const i = parseJson(bytes, EXPORT_INDEX, damaged) as unknown as ExportIndex
  const ok =
    i.format === 1 &&
    i.kind === 'berth-export' &&
    Array.isArray(i.members) &&
    i.members.every(
      (m) =>
        typeof m?.name === 'string' &&
        Number.isSafeInteger(m.size) &&
        /^[0-9a-f]{64}$/.test(m.sha256)
    )
  if (!ok) throw damaged(EXPORT_INDEX, 'is not a berth export index (format 1)')
  return i
}
