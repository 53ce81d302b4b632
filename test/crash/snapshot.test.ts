/**
 * snapshot killed at its event boundaries (walk.ts): the snapshot is whole or not there, and no
 * node is ever left paused.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { listSnapshots } from '../../scripts/engine/snapshot.ts'
import { verifySnapshot } from '../../scripts/engine/restore.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import { ensureDemoImage, recordingContext, removeTestClusters } from '../helpers/docker.ts'
import { assertCluster, mark, marks, phaseIn, run, smallTopology, walkScenario } from './walk.ts'

const home = mkdtempSync(join(tmpdir(), 'berth-crash-snapshot-'))
const S = 't-crash-s'
const topology = smallTopology(S, 'static')

const ok = async (spec: object) => {
  const r = await run(spec)
  assert.ok(r.result.ok, `${JSON.stringify(spec).slice(0, 120)}: ${r.result.message}`)
  return r.result
}
const gone = async (spec: object) => {
  const r = await run(spec)
  assert.ok(r.result.ok || r.result.code === 'not_found', r.result.message)
}

/** The snapshot is there whole (every archive and image as its manifest says), or not at all. */
async function wholeOrAbsent(cluster: string, id: string, must: boolean, what: string) {
  const m = (await listSnapshots(cluster)).find((x) => x.id === id)
  if (!m) return assert.not.ok(must, `${what}: snapshot ${id} is missing`)
  await verifySnapshot(recordingContext().ctx, m)
}

const Walk = suite('crash: snapshot killed at every step, then the next command')
Walk.before(
  hook(async () => {
    process.env.BERTH_HOME = home
    await removeTestClusters('t-crash-s')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
    await ok({ kind: 'install', cluster: S, topology })
    await mark(S, 'A')
  })
)
Walk.after(hook(() => removeTestClusters('t-crash-s')))

Walk(
  'snapshot: again, the snapshot is whole; status finds it whole or gone, and nothing paused',
  async () => {
    await walkScenario(home, {
      name: 'snapshot',
      cluster: S,
      spec: { kind: 'snapshot', cluster: S, options: { tag: 's1' } },
      phaseOf: phaseIn(topology),
      prepare: () => gone({ kind: 'snapshot-rm', cluster: S, snapshot: 's1' }),
      // Killed once it had finished: the tag is taken by the snapshot it made, never overwritten.
      acceptAgain: (r) =>
        r.ok || (r.code === 'conflict' && /never overwritten/.test(r.message ?? '')),
      async again() {
        await wholeOrAbsent(S, 's1', true, 'snapshot again')
        assert.equal(await marks(S), ['A'], 'the cluster itself is as it was')
        await assertCluster(topology, 'snapshot again')
      },
      async status(code, result) {
        assert.is(code, 0, result.message)
        await wholeOrAbsent(S, 's1', false, 'snapshot, then status')
        assert.equal(await marks(S), ['A'])
      },
    })
  }
)

Walk.run()
