/**
 * restore in its three forms — over the running cluster, beside it (--as), after a destroy —
 * killed at its event boundaries (walk.ts): it leaves exactly the old cluster or exactly the new
 * one (every node's container layer and volume agree), never a mix, and nothing staged.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hook, withTimeout } from '../helpers/async.ts'
import { ensureDemoImage, removeTestClusters } from '../helpers/docker.ts'
import { assertCluster, mark, marks, phaseIn, run, smallTopology, walkScenario } from './walk.ts'

const home = mkdtempSync(join(tmpdir(), 'berth-crash-restore-'))
const S = 't-crash-rs'
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

const Walk = suite('crash: restore killed at every step, then the next command')
Walk.before(
  hook(async () => {
    process.env.BERTH_HOME = home
    await removeTestClusters('t-crash-r')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
    await ok({ kind: 'install', cluster: S, topology })
    await mark(S, 'A')
    await ok({ kind: 'snapshot', cluster: S, options: { tag: 'base' } })
  })
)
Walk.after(hook(() => removeTestClusters('t-crash-r')))

Walk(
  "restore over the running cluster: again, the snapshot's data; status, exactly the old or the new cluster",
  async () => {
    await walkScenario(home, {
      name: 'restore (over a running cluster)',
      cluster: S,
      spec: { kind: 'restore', cluster: S, snapshot: 'base' },
      phaseOf: phaseIn(topology),
      // The running cluster holds B; the snapshot, A.
      prepare: () => mark(S, 'B'),
      async again() {
        assert.equal(await marks(S), ['A'])
        await assertCluster(topology, 'restore again')
      },
      async status(code, result) {
        assert.is(code, 0, result.message)
        const seen = await marks(S)
        assert.ok(seen.length === 1, `every node agrees: ${seen.join(',')}`)
        await assertCluster(topology, `restore, then status (${seen.join(',')})`)
      },
    })
  }
)

Walk(
  'restore beside it (--as): again, the copy whole; status finds the copy whole or gone',
  async () => {
    const copy = 't-crash-r2'
    await walkScenario(home, {
      name: 'restore (beside, --as)',
      cluster: copy,
      spec: { kind: 'restore', cluster: S, snapshot: 'base', options: { as: copy } },
      phaseOf: phaseIn(topology),
      prepare: () => gone({ kind: 'destroy', cluster: copy, options: { volumes: true } }),
      async again() {
        assert.equal(await marks(copy), ['A'])
        await assertCluster({ ...topology, name: copy }, 'restore --as again')
      },
      async status(code, result) {
        assert.ok([0, 5].includes(code), `status exit ${code}: ${result.message}`)
        if (code === 0) {
          assert.equal(await marks(copy), ['A'])
          await assertCluster({ ...topology, name: copy }, 'restore --as, then status')
        }
      },
    })
  }
)

Walk(
  'restore after a destroy: again, the cluster back whole; status finds it whole or gone',
  async () => {
    const R = 't-crash-rd'
    const t = smallTopology(R, 'static')
    await ok({ kind: 'install', cluster: R, topology: t })
    await mark(R, 'A')
    await ok({ kind: 'snapshot', cluster: R, options: { tag: 'base' } })
    await walkScenario(home, {
      name: 'restore (after destroy)',
      cluster: R,
      spec: { kind: 'restore', cluster: R, snapshot: 'base' },
      phaseOf: phaseIn(t),
      prepare: () => gone({ kind: 'destroy', cluster: R, options: { volumes: true } }),
      async again() {
        assert.equal(await marks(R), ['A'])
        await assertCluster(t, 'restore after destroy again')
      },
      async status(code, result) {
        assert.ok([0, 5].includes(code), `status exit ${code}: ${result.message}`)
        if (code === 0) {
          assert.equal(await marks(R), ['A'])
          await assertCluster(t, 'restore after destroy, then status')
        }
      },
    })
  }
)

Walk.run()
