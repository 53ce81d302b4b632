import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs'
import { copyFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { BerthError } from '../../scripts/engine/errors.ts'
import { installCluster } from '../../scripts/engine/install.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { destroyCluster } from '../../scripts/engine/lifecycle.ts'
import { restoreCluster } from '../../scripts/engine/restore.ts'
import {
  removeSnapshot,
  snapshotCluster,
  snapshotDir,
  snapshotsRoot,
  type SnapshotManifest,
} from '../../scripts/engine/snapshot.ts'
import { validateTopology } from '../../scripts/engine/topology.ts'
import { exportSnapshot, importSnapshot } from '../../scripts/engine/transfer.ts'
import { hook, rejects, withTimeout } from '../helpers/async.ts'
import {
  cheLike,
  engine,
  ensureDemoImage,
  recordingContext,
  removeTestClusters,
  docker,
} from '../helpers/docker.ts'

process.env.BERTH_HOME = mkdtempSync(join(tmpdir(), 'berth-xfer-'))
const files = mkdtempSync(join(tmpdir(), 'berth-xfer-files-'))

const T = validateTopology(cheLike('t-xfer'))
const ID = 'one'
const exported = join(files, 'one.tar')
const blobs = new Map<string, string>() // path → sha256
let manifest: SnapshotManifest

async function nodeId(): Promise<string> {
  const [c] = await engine.listContainers([`${LABEL.cluster}=${T.name}`])
  assert.ok(c, 'the node exists')
  return c.Id
}

async function sha(id: string, path: string): Promise<string> {
  const r = await engine.exec(id, ['sha256sum', path])
  assert.is(r.exitCode, 0, r.stderr)
  return r.stdout.split(' ')[0]
}

/** This host forgets the snapshot and its images, as a fresh Docker host would not have them. */
async function forget(): Promise<void> {
  if ((await engine.listContainers([`${LABEL.cluster}=${T.name}`])).length) {
    await destroyCluster(recordingContext().ctx, T.name, { volumes: true })
  }
  if (statSync(snapshotDir(T.name, ID), { throwIfNoEntry: false })) {
    await removeSnapshot(recordingContext().ctx, T.name, ID)
  }
  for (const n of manifest.nodes) {
    assert.is(await engine.inspectImage(n.image.ref), null, `${n.image.ref} is gone`)
  }
}

/** Nothing of the snapshot on this host: no directory (not even a staging one), no image. */
async function assertNothingImported(): Promise<void> {
  assert.equal(readdirSync(snapshotsRoot(T.name)), [], 'no snapshot or staging directory')
  for (const n of manifest.nodes) {
    assert.is(await engine.inspectImage(n.image.ref), null, `${n.image.ref} not loaded`)
  }
  const images = await docker.listImages({
    filters: { reference: [`berth-snap/${T.name}.*`] },
  })
  assert.is(images.length, 0, 'no berth-snap image of the cluster')
}

/** Offset and size of a member's data in a plain (ustar, small members) tar file. */
function memberData(file: string, name: string): { offset: number; size: number } {
  const fd = openSync(file, 'r')
  try {
    const header = Buffer.alloc(512)
    for (let at = 0; readSync(fd, header, 0, 512, at) === 512 && header[0] !== 0;) {
      const size = parseInt(header.subarray(124, 136).toString().replace(/\0.*$/, '').trim(), 8)
      const member = header.subarray(0, 100).toString().replace(/\0.*$/, '')
      if (member === name) return { offset: at + 512, size }
      at += 512 + Math.ceil(size / 512) * 512
    }
  } finally {
    closeSync(fd)
  }
  throw new Error(`no member ${name} in ${file}`)
}

const Transfer = suite('export and import')

Transfer.before(
  hook(async () => {
    await withTimeout(removeTestClusters('t-xfer'), 60_000, 'cleanup')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
    await withTimeout(installCluster(recordingContext().ctx, T), 120_000, 'install')
    const id = await nodeId()
    for (const path of ['/projects/volume.bin', '/opt/work/layer.bin']) {
      const r = await engine.exec(id, [
        'sh',
        '-c',
        'mkdir -p "$(dirname "$1")" && dd if=/dev/urandom of="$1" bs=1M count=2 2>/dev/null',
        'w',
        path,
      ])
      assert.is(r.exitCode, 0, r.stderr)
      blobs.set(path, await sha(id, path))
    }
    manifest = await withTimeout(
      snapshotCluster(recordingContext().ctx, T.name, { tag: ID }),
      60_000,
      'snapshot'
    )
    await withTimeout(
      exportSnapshot(recordingContext().ctx, T.name, ID, exported),
      60_000,
      'export'
    )
  })
)
Transfer.after(
  hook(async () => {
    await removeTestClusters('t-xfer')
    await rm(files, { recursive: true, force: true })
    await rm(process.env.BERTH_HOME as string, { recursive: true, force: true })
  })
)

Transfer(
  'an export imported into a fresh Docker state restores the data byte for byte',
  async () => {
    await forget()
    const { ctx } = recordingContext()
    const m = await withTimeout(importSnapshot(ctx, exported), 60_000, 'import')
    assert.is(m.id, ID)
    for (const n of manifest.nodes) {
      assert.is((await engine.inspectImage(n.image.ref))?.Id, n.image.id, 'the same image id')
    }
    assert.equal(
      readdirSync(snapshotsRoot(T.name)),
      [ID],
      'the snapshot, and no staging directory left'
    )
    await withTimeout(restoreCluster(recordingContext().ctx, T.name, ID), 60_000, 'restore')
    const id = await nodeId()
    for (const [path, want] of blobs) assert.is(await sha(id, path), want, path)
  }
)

Transfer(
  'importing an id the cluster already has is a conflict, and the snapshot is untouched',
  async () => {
    const before = statSync(join(snapshotDir(T.name, ID), 'manifest.json')).mtimeMs
    const err = (await rejects(importSnapshot(recordingContext().ctx, exported))) as BerthError
    assert.instance(err, BerthError)
    assert.is(err.code, 'conflict')
    assert.match(err.message, /snapshot "one" of cluster "t-xfer" exists/)
    assert.is(statSync(join(snapshotDir(T.name, ID), 'manifest.json')).mtimeMs, before)
    assert.equal(readdirSync(snapshotsRoot(T.name)), [ID], 'no staging directory left')
  }
)

Transfer('a truncated export is refused as damaged and nothing is imported', async () => {
  await forget()
  const cut = join(files, 'cut.tar')
  await copyFile(exported, cut)
  truncateSync(cut, Math.floor(statSync(exported).size * 0.6))
  const err = (await rejects(importSnapshot(recordingContext().ctx, cut))) as BerthError
  assert.instance(err, BerthError)
  assert.is(err.code, 'snapshot_damaged')
  assert.match(
    err.message,
    /images\/che\.tar: the file ends inside it, after \d+ of \d+ bytes: it is truncated/,
    'names the member it was cut in'
  )
  assert.match(err.message, /nothing was imported/)
  await assertNothingImported()

  // Cut exactly between two members, tar-stream sees a clean end: the missing index tells.
  await copyFile(exported, cut)
  truncateSync(cut, memberData(exported, 'berth-export.json').offset - 512)
  const early = (await rejects(importSnapshot(recordingContext().ctx, cut))) as BerthError
  assert.is(early.code, 'snapshot_damaged')
  assert.match(early.message, /berth-export\.json: missing: the file is truncated/)
  await assertNothingImported()
})

Transfer('an export with a flipped byte in a volume archive is refused, naming it', async () => {
  await forget()
  const bad = join(files, 'bad.tar')
  await copyFile(exported, bad)
  const member = manifest.volumes[0].file
  const { offset, size } = memberData(bad, member)
  const fd = openSync(bad, 'r+')
  const byte = Buffer.alloc(1)
  readSync(fd, byte, 0, 1, offset + Math.floor(size / 2))
  byte[0] ^= 0xff
  writeSync(fd, byte, 0, 1, offset + Math.floor(size / 2))
  closeSync(fd)
  const err = (await rejects(importSnapshot(recordingContext().ctx, bad))) as BerthError
  assert.instance(err, BerthError)
  assert.is(err.code, 'snapshot_damaged')
  assert.match(err.message, /volumes\/che\.workspace\.tar: sha256 [0-9a-f]{12}…, the index says/)
  await assertNothingImported()
})

Transfer.run()
