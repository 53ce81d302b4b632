import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { $ } from 'zx'
import type { ResultEvent } from '../../scripts/engine/events.ts'
import { installCluster } from '../../scripts/engine/install.ts'
import { runJob } from '../../scripts/engine/job.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { snapshotDir, snapshotsRoot } from '../../scripts/engine/snapshot.ts'
import { validateTopology } from '../../scripts/engine/topology.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import {
  cheLike,
  engine,
  ensureDemoImage,
  recordingContext,
  removeTestClusters,
} from '../helpers/docker.ts'

const home = mkdtempSync(join(tmpdir(), 'berth-dmg-'))
const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname
const sh = $({
  quiet: true,
  nothrow: true,
  env: { ...process.env, BERTH_HOME: home, NO_COLOR: '1', FORCE_COLOR: '0' },
})

const C = 't-dmg-man'

/** A job as every entry runs it: its result event and its exit code. */
async function job(
  spec: Record<string, unknown>
): Promise<{ result: ResultEvent; exitCode: number }> {
  return withTimeout(
    runJob({ cluster: C, ...spec }, { engine, emit: () => {}, logDir: null }),
    120_000,
    `${String(spec.kind)} job`
  )
}

async function snapshot(tag: string, keep?: number) {
  const r = await job({ kind: 'snapshot', options: { tag, ...(keep ? { keep } : {}) } })
  assert.is(r.exitCode, 0, r.result.message)
  return r.result.data as { pruned: string[] }
}

/** The snapshot image tags Docker holds for a snapshot id of the cluster, found by label. */
async function imagesOf(id: string): Promise<string[]> {
  const images = await engine.listImages([`${LABEL.snapshot}=${id}`, `${LABEL.cluster}=${C}`])
  return images.filter((ref) => !ref.startsWith('sha256:')).sort()
}

const listed = async () => {
  const r = await job({ kind: 'snapshots' })
  assert.is(r.exitCode, 0, r.result.message)
  return (r.result.data as { snapshots: Record<string, unknown>[] }).snapshots
}

const manifestOf = (id: string) => join(snapshotDir(C, id), 'manifest.json')
const leftovers = () => readdirSync(snapshotsRoot(C)).filter((n) => n.startsWith('.'))

// ─────────────────────────────────────────────────────────────────────────────
const Damaged = suite('damaged snapshot manifests')

Damaged.before(
  hook(async () => {
    // Set here, not at import: every file of the tier is imported before any suite runs, and
    // this one's CLI calls name this home.
    process.env.BERTH_HOME = home
    await withTimeout(removeTestClusters('t-dmg-man'), 60_000, 'cleanup')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
    await withTimeout(
      installCluster(recordingContext().ctx, validateTopology(cheLike(C))),
      120_000,
      'install'
    )
    await snapshot('good1')
    await snapshot('empty')
    writeFileSync(manifestOf('empty'), '{}')
  })
)
Damaged.after(hook(() => removeTestClusters('t-dmg-man')))

Damaged(
  'an empty {} manifest is listed as damaged with the reason; whole ones keep their summary',
  async () => {
    const all = await listed()
    assert.equal(Object.keys(all[0]).sort(), [
      'cluster',
      'createdAt',
      'id',
      'nodes',
      'volumeBytes',
      'volumes',
      'windowMs',
    ])
    assert.is(all[0].id, 'good1')
    assert.equal(all[1], {
      id: 'empty',
      cluster: C,
      damaged: 'manifest.json: format: required; id: required; cluster: required; and 8 more',
    })
    const cli = await sh`node ${BIN} snapshots ${C}`
    assert.is(cli.exitCode, 0, cli.stderr)
    assert.match(cli.stdout, /good1 /)
    assert.match(cli.stdout, /empty +damaged: manifest\.json: format: required/)
    assert.match(cli.stdout, new RegExp(`remove it with: berth snapshot rm ${C} empty`))
  }
)

Damaged('a damaged snapshot does not stop the next snapshot of the cluster', async () => {
  await snapshot('good2')
  assert.equal(
    (await listed()).map((s) => s.id),
    ['good2', 'good1', 'empty']
  )
})

Damaged(
  'restore and export of a damaged snapshot exit 6 naming the reason, and create nothing',
  async () => {
    const restore = await job({
      kind: 'restore',
      snapshot: 'empty',
      options: { as: 't-dmg-man-copy' },
    })
    assert.is(restore.exitCode, 6)
    assert.is(restore.result.code, 'snapshot_damaged')
    assert.match(
      restore.result.message ?? '',
      /^snapshot "empty" of cluster "t-dmg-man" is damaged: manifest\.json: format: required;/
    )
    assert.match(restore.result.message ?? '', /berth snapshot rm t-dmg-man empty/)
    assert.is((await engine.listContainers([`${LABEL.cluster}=t-dmg-man-copy`])).length, 0)
    const file = join(home, 'empty-export.tar')
    const exported = await job({ kind: 'export', snapshot: 'empty', options: { file } })
    assert.is(exported.exitCode, 6)
    assert.match(exported.result.message ?? '', /is damaged: manifest\.json: format: required/)
    assert.not.ok(existsSync(file), 'no export file')
    const cli = await sh`node ${BIN} restore ${C} empty --as t-dmg-man-copy`
    assert.is(cli.exitCode, 6, cli.stdout)
  }
)

Damaged(
  '--keep counts whole snapshots only, and leaves a damaged one for an explicit rm',
  async () => {
    const { pruned } = await snapshot('good3', 2)
    assert.equal(pruned, ['good1'])
    assert.equal(
      (await listed()).map((s) => s.id),
      ['good3', 'good2', 'empty']
    )
    assert.equal(await imagesOf('good1'), [], 'the pruned snapshot took its image')
    assert.equal(
      await imagesOf('empty'),
      [`berth-snap/${C}.che:empty`],
      'the damaged one still has its image'
    )
  }
)

Damaged(
  'snapshot rm removes a damaged snapshot and its images, found by their labels',
  async () => {
    const cli = await sh`node ${BIN} snapshot rm ${C} empty`
    assert.is(cli.exitCode, 0, cli.stdout + cli.stderr)
    assert.not.ok(existsSync(snapshotDir(C, 'empty')))
    assert.equal(leftovers(), [])
    assert.equal(await imagesOf('empty'), [])
    assert.equal(
      await imagesOf('good2'),
      [`berth-snap/${C}.che:good2`],
      'other snapshots keep theirs'
    )
  }
)

Damaged('a manifest that is not JSON: listed, refused, and removed with its images', async () => {
  await snapshot('garbled')
  writeFileSync(manifestOf('garbled'), '{"format": 1, "id": "garb')
  const entry = (await listed()).find((s) => s.id === 'garbled')
  assert.match(String(entry?.damaged), /^manifest\.json: not valid JSON \(/)
  const restore = await job({
    kind: 'restore',
    snapshot: 'garbled',
    options: { as: 't-dmg-man-copy' },
  })
  assert.is(restore.exitCode, 6)
  assert.match(restore.result.message ?? '', /is damaged: manifest\.json: not valid JSON/)
  const rm = await job({ kind: 'snapshot-rm', snapshot: 'garbled' })
  assert.is(rm.exitCode, 0, rm.result.message)
  assert.not.ok(existsSync(snapshotDir(C, 'garbled')))
  assert.equal(await imagesOf('garbled'), [])
})

Damaged(
  "a manifest copied from another snapshot is damaged, and removing it spares the other's images",
  async () => {
    await snapshot('twin')
    copyFileSync(manifestOf('good3'), manifestOf('twin'))
    const entry = (await listed()).find((s) => s.id === 'twin')
    assert.is(entry?.damaged, `manifest.json: id: "good3", but the snapshot's directory is "twin"`)
    const rm = await job({ kind: 'snapshot-rm', snapshot: 'twin' })
    assert.is(rm.exitCode, 0, rm.result.message)
    assert.equal(await imagesOf('twin'), [])
    assert.equal(await imagesOf('good3'), [`berth-snap/${C}.che:good3`])
    const restore = await job({
      kind: 'restore',
      snapshot: 'good3',
      options: { as: 't-dmg-man-copy' },
    })
    assert.is(restore.exitCode, 0, restore.result.message)
    await job({ kind: 'destroy', cluster: 't-dmg-man-copy', options: { volumes: true } })
  }
)

Damaged(
  'a removal that died after moving the directory aside is finished by the next rm of the id',
  async () => {
    await snapshot('half')
    writeFileSync(manifestOf('half'), '')
    renameSync(snapshotDir(C, 'half'), join(snapshotsRoot(C), '.half.removing-jdead1'))
    assert.ok(!(await listed()).some((s) => s.id === 'half'), 'not listed once moved aside')
    const rm = await job({ kind: 'snapshot-rm', snapshot: 'half' })
    assert.is(rm.exitCode, 0, rm.result.message)
    assert.equal(leftovers(), [])
    assert.equal(await imagesOf('half'), [])
    const again = await job({ kind: 'snapshot-rm', snapshot: 'half' })
    assert.is(again.exitCode, 5, 'then there is nothing left to remove')
  }
)

Damaged(
  "...and by the next snapshot's sweep, images included, though its manifest is damaged",
  async () => {
    await snapshot('half2')
    writeFileSync(manifestOf('half2'), '{}')
    renameSync(snapshotDir(C, 'half2'), join(snapshotsRoot(C), '.half2.removing-jdead2'))
    await snapshot('after')
    assert.equal(leftovers(), [])
    assert.equal(await imagesOf('half2'), [])
  }
)

Damaged('snapshot rm refuses an id that is not one, before touching anything', async () => {
  const r = await job({ kind: 'snapshot-rm', snapshot: '../t-dmg-other/x' })
  assert.is(r.exitCode, 2)
  assert.match(r.result.message ?? '', /"\.\.\/t-dmg-other\/x" is not a valid snapshot id/)
})

Damaged.run()
