/**
 * Builds the demo image `berth/demo:1` offline: a root filesystem made in memory from the host's
 * Debian busybox-static and the scripts in ./demo/, imported with `docker import` (there is no
 * registry to pull from). The tar is deterministic, so its sha256 says whether the image the
 * engine holds is already this one.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { open, readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { promisify } from 'node:util'
import tar from 'tar-stream'
import type { Engine } from '../engine/docker.ts'
import { BerthError } from '../engine/errors.ts'
import { packagePath } from '../engine/package-root.ts'

export const DEMO_IMAGE = 'berth/demo:1'
export const DEMO_HASH_LABEL = 'berth.demo.hash'

const REPO = 'berth/demo'
const TAG = '1'
const SCRIPTS_DIR = packagePath('scripts', 'image', 'demo') + '/'
const FIX = 'apt-get install busybox-static'
const PT_INTERP = 3
// Every entry gets this mtime: the same inputs must give the same bytes, hence the same hash.
const MTIME = new Date('2015-01-01T00:00:00Z')

/** `docker import --change` lines. Part of the hash: changing one must rebuild the image. */
const CHANGES = ['ENV PATH=/bin:/usr/bin:/sbin:/usr/sbin', 'WORKDIR /', 'CMD ["/opt/demo/init"]']

const ETC: Record<string, string> = {
  'etc/passwd':
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  'etc/group': 'root:x:0:\nnogroup:x:65534:\n',
  // Names resolve from /etc/hosts first: that is the file berth wires with the peers.
  'etc/nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files\n',
}

interface Entry {
  type: 'file' | 'directory' | 'symlink'
  mode: number
  content?: Buffer
  linkname?: string
}

export interface DemoRootfs {
  tar: Buffer
  /** sha256 of the tar and of the import changes. */
  hash: string
}

/**
 * Refuses a busybox that cannot run alone in an empty image: a dynamically linked one names
 * its loader in a PT_INTERP program header, and that loader will not be in the image.
 */
export async function assertStaticBusybox(path: string): Promise<void> {
  const refuse = (why: string) =>
    new BerthError('preflight', `${path} ${why}: the demo image needs a static busybox (${FIX})`)
  let fd
  try {
    fd = await open(path, 'r')
  } catch {
    throw refuse('is missing')
  }
  try {
    if (!(await fd.stat()).isFile()) throw refuse('is not a file')
    const head = Buffer.alloc(64)
    await fd.read(head, 0, 64, 0)
    if (head.readUInt32BE(0) !== 0x7f454c46) throw refuse('is not an ELF executable')
    const is64 = head[4] === 2
    const le = head[5] === 1
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o))
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o))
    const u64 = (b: Buffer, o: number) => Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o))
    const phoff = is64 ? u64(head, 0x20) : u32(head, 0x1c)
    const phentsize = u16(head, is64 ? 0x36 : 0x2a)
    const phnum = u16(head, is64 ? 0x38 : 0x2c)
    const table = Buffer.alloc(phentsize * phnum)
    await fd.read(table, 0, table.length, phoff)
    for (let i = 0; i < phnum; i++) {
      if (u32(table, i * phentsize) === PT_INTERP) throw refuse('is dynamically linked')
    }
  } finally {
    await fd.close()
  }
}

/** Applet paths as busybox lists them (`bin/sh`, `usr/bin/wget`, …). */
async function appletPaths(busybox: string): Promise<string[]> {
  let stdout: string
  try {
    ;({ stdout } = await promisify(execFile)(busybox, ['--list-full']))
  } catch (err) {
    const why = `${busybox} --list-full failed: ${(err as Error).message} (${FIX})`
    throw new BerthError('preflight', why, { cause: err })
  }
  return stdout
    .split('\n')
    .map((line) => line.trim().replace(/^\/+/, ''))
    .filter((p) => p && p !== 'bin/busybox')
}

async function demoScripts(): Promise<[string, Entry][]> {
  const names = (await readdir(SCRIPTS_DIR)).sort()
  return Promise.all(
    names.map(async (name): Promise<[string, Entry]> => {
      const file = join(SCRIPTS_DIR, name)
      // Only the executable bit is kept: git tracks nothing else, so checkouts agree on it.
      const mode = (await stat(file)).mode & 0o100 ? 0o755 : 0o644
      return [`opt/demo/${name}`, { type: 'file', mode, content: await readFile(file) }]
    })
  )
}

/** The root filesystem of the demo image, as a deterministic tar. */
export async function demoRootfs(busybox = '/bin/busybox'): Promise<DemoRootfs> {
  await assertStaticBusybox(busybox)
  const entries = new Map<string, Entry>([
    ['bin/busybox', { type: 'file', mode: 0o755, content: await readFile(busybox) }],
    ['root', { type: 'directory', mode: 0o700 }],
    ['tmp', { type: 'directory', mode: 0o1777 }],
  ])
  for (const p of await appletPaths(busybox)) {
    entries.set(p, { type: 'symlink', mode: 0o777, linkname: '/bin/busybox' })
  }
  for (const [p, text] of Object.entries(ETC)) {
    entries.set(p, { type: 'file', mode: 0o644, content: Buffer.from(text) })
  }
  for (const [p, e] of await demoScripts()) entries.set(p, e)
  for (const p of [...entries.keys()]) {
    for (let dir = parentOf(p); dir; dir = parentOf(dir)) {
      if (!entries.has(dir)) entries.set(dir, { type: 'directory', mode: 0o755 })
    }
  }

  const pack = tar.pack()
  // Code-point order, not locale order: the bytes must not depend on the host's locale.
  const paths = [...entries.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  for (const name of paths) {
    const e = entries.get(name)!
    const header = { name, type: e.type, mode: e.mode, mtime: MTIME, uid: 0, gid: 0 }
    const full = { ...header, uname: 'root', gname: 'root', linkname: e.linkname }
    if (e.content) pack.entry(full, e.content)
    else pack.entry(full)
  }
  pack.finalize()
  const chunks: Buffer[] = []
  for await (const chunk of pack) chunks.push(chunk as Buffer)
  const bytes = Buffer.concat(chunks)
  const hash = createHash('sha256').update(bytes).update(CHANGES.join('\n')).digest('hex')
  return { tar: bytes, hash }
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/')
  return i < 0 ? '' : p.slice(0, i)
}

/**
 * Builds `berth/demo:1` unless the engine already holds an image with the same hash label.
 * `force` rebuilds anyway; `busybox` points at another static busybox binary.
 */
export async function buildDemoImage(
  engine: Engine,
  opts: { force?: boolean; busybox?: string } = {}
): Promise<{ image: string; id: string; built: boolean; hash: string }> {
  const { tar: rootfs, hash } = await demoRootfs(opts.busybox)
  const present = await engine.inspectImage(DEMO_IMAGE)
  if (present && !opts.force && present.Config?.Labels?.[DEMO_HASH_LABEL] === hash) {
    engine.log.debug(`Image "${DEMO_IMAGE}" is up to date (${hash.slice(0, 12)})`)
    return { image: DEMO_IMAGE, id: present.Id, built: false, hash }
  }

  engine.log.debug(`Building image "${DEMO_IMAGE}" (${hash.slice(0, 12)}, ${rootfs.length} bytes)…`)
  await engine.importImage(Readable.from([rootfs]), {
    repo: REPO,
    tag: TAG,
    changes: [...CHANGES, `LABEL ${DEMO_HASH_LABEL}=${hash}`],
  })
  const info = await engine.inspectImage(DEMO_IMAGE)
  if (!info) {
    throw new BerthError('engine', `Image "${DEMO_IMAGE}" is missing right after its import`)
  }
  engine.log.debug(`Built image "${DEMO_IMAGE}" as ${info.Id}`)
  if (present && present.Id !== info.Id) await pruneImage(engine, present.Id)
  return { image: DEMO_IMAGE, id: info.Id, built: true, hash }
}

/**
 * The image this build replaced is now untagged. Remove it if nothing uses it; without
 * `force` the engine refuses while a container still runs on it, which is what we want.
 */
async function pruneImage(engine: Engine, id: string): Promise<void> {
  const removed = await engine.removeImageIfUnused(id)
  engine.log.debug(`${removed ? 'Removed' : 'Kept (in use)'} the replaced image ${id}`)
}
