/**
 * A job the server runs again after a crash keeps its id. When the first run had finished just
 * before the crash, the second must not do the work twice: same snapshot, same containers.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { runJob } from '../../scripts/engine/job.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { listSnapshots } from '../../scripts/engine/snapshot.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import { cheLike, engine, ensureDemoImage, removeTestClusters } from '../helpers/docker.ts'

process.env.BERTH_HOME = mkdtempSync(join(tmpdir(), 'berth-rerun-'))
const run = async (spec: object) =>
  (await runJob(spec, { engine, emit: () => {}, logDir: null })).result

const ids = async (cluster: string) =>
  (await engine.listContainers([`${LABEL.cluster}=${cluster}`])).map((c) => c.Id).sort()

const Rerun = suite('a job run again with its id')
Rerun.before(
  hook(async () => {
    await removeTestClusters('t-rerun')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
    const r = await run({ kind: 'install', cluster: 't-rerun', topology: cheLike('t-rerun') })
    assert.ok(r.ok, r.message)
  })
)
Rerun.after(hook(() => removeTestClusters('t-rerun')))

Rerun('snapshot: the second run returns the snapshot the first one took', async () => {
  const first = await run({ id: 'j-rerun-snap', kind: 'snapshot', cluster: 't-rerun' })
  const again = await run({ id: 'j-rerun-snap', kind: 'snapshot', cluster: 't-rerun' })
  assert.ok(first.ok && again.ok, again.message)
  const id = (first.data as { snapshot: { id: string } }).snapshot.id
  assert.is((again.data as { snapshot: { id: string } }).snapshot.id, id)
  assert.equal(
    (await listSnapshots('t-rerun')).map((m) => m.id),
    [id],
    'one snapshot, not two'
  )
})

Rerun('restore: the second run finds the nodes the first one built and leaves them', async () => {
  const [snapshot] = await listSnapshots('t-rerun')
  const first = await run({
    id: 'j-rerun-restore',
    kind: 'restore',
    cluster: 't-rerun',
    snapshot: snapshot.id,
  })
  assert.ok(first.ok, first.message)
  const built = await ids('t-rerun')
  const t0 = Date.now()
  const again = await run({
    id: 'j-rerun-restore',
    kind: 'restore',
    cluster: 't-rerun',
    snapshot: snapshot.id,
  })
  assert.ok(again.ok, again.message)
  assert.equal(await ids('t-rerun'), built, 'the same containers')
  assert.ok(Date.now() - t0 < 3000, 'and no work done')
  // Another restore job does restore again.
  const other = await run({
    id: 'j-rerun-other',
    kind: 'restore',
    cluster: 't-rerun',
    snapshot: snapshot.id,
  })
  assert.ok(other.ok, other.message)
  assert.is.not((await ids('t-rerun'))[0], built[0])
})

Rerun.run()
