/**
 * upgrade, export and import, killed at their event boundaries (walk.ts). An upgrade leaves the
 * cluster all old or all new (rolled back to the snapshot it took first, as its failure would);
 * an export leaves the whole file or none; an import, the whole snapshot or none — and no image of
 * it loaded outside one.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { LABEL } from '../../scripts/engine/labels.ts'
import { listSnapshots } from '../../scripts/engine/snapshot.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import { engine, ensureDemoImage, removeTestClusters } from '../helpers/docker.ts'
import { assertCluster, mark, marks, phaseIn, run, smallTopology, walkScenario } from './walk.ts'

const home = mkdtempSync(join(tmpdir(), 'berth-crash-upgrade-'))

const ok = async (spec: object) => {
  const r = await run(spec)
  assert.ok(r.result.ok, `${JSON.stringify(spec).slice(0, 120)}: ${r.result.message}`)
  return r.result
}

/** Every node's RELEASE variable: one value when the cluster is all one version. */
async function releases(cluster: string): Promise<string[]> {
  const seen = new Set<string>()
  for (const c of await engine.listContainers([`${LABEL.cluster}=${cluster}`])) {
    const env = (await engine.inspectContainer(c.Id)).Config.Env
    seen.add(env.find((e) => e.startsWith('RELEASE='))?.slice(8) ?? '')
  }
  return [...seen].sort()
}

const Walk = suite('crash: upgrade, export and import killed at every step, then the next command')
Walk.before(
  hook(async () => {
    process.env.BERTH_HOME = home
    await removeTestClusters('t-crash-u')
    await removeTestClusters('t-crash-x')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
  })
)
Walk.after(
  hook(async () => {
    await removeTestClusters('t-crash-u')
    await removeTestClusters('t-crash-x')
  })
)

Walk(
  'upgrade: again, the new definition everywhere; status, the cluster all old or all new, its volume data kept',
  async () => {
    const U = 't-crash-u'
    const v1 = smallTopology(U, 'static', {
      defaults: { bootstrap: smallTopology(U, 'static').defaults.bootstrap, env: { RELEASE: '1' } },
    })
    const v2 = { ...v1, defaults: { ...v1.defaults, env: { RELEASE: '2' } } }
    await ok({ kind: 'install', cluster: U, topology: v1 })
    await walkScenario(home, {
      name: 'upgrade',
      cluster: U,
      spec: { kind: 'upgrade', cluster: U, topology: v2 },
      phaseOf: phaseIn(v1),
      async prepare() {
        // Back at release 1 with data A, and no snapshot an earlier run took.
        await ok({ kind: 'install', cluster: U, topology: v1 })
        await mark(U, 'A')
        for (const m of await listSnapshots(U))
          await ok({ kind: 'snapshot-rm', cluster: U, snapshot: m.id })
      },
      async again() {
        assert.equal(await releases(U), ['2'])
        await assertCluster(v2, 'upgrade again')
      },
      async status(code, result) {
        assert.is(code, 0, result.message)
        const seen = await releases(U)
        assert.is(seen.length, 1, `one release everywhere: ${seen.join(',')}`)
        await assertCluster(
          seen[0] === '1' ? v1 : v2,
          `upgrade, then status (release ${seen.join(',')})`
        )
        const data = await marks(U)
        assert.ok(data.includes('A'), `the volume data is kept: ${data.join(',')}`)
      },
    })
  }
)

Walk(
  'export, then import: again, the file (or the snapshot) whole; status finds it whole or not there',
  async () => {
    const X = 't-crash-x'
    const t = smallTopology(X, 'static')
    await ok({ kind: 'install', cluster: X, topology: t })
    await mark(X, 'A')
    await ok({ kind: 'snapshot', cluster: X, options: { tag: 'x1' } })
    const file = join(home, 'crash-export.tar')
    const reference = join(home, 'crash-reference.tar')
    await ok({ kind: 'export', cluster: X, snapshot: 'x1', options: { file: reference } })
    const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex')
    await walkScenario(home, {
      name: 'export',
      cluster: X,
      spec: { kind: 'export', cluster: X, snapshot: 'x1', options: { file } },
      phaseOf: phaseIn(t),
      prepare: async () => rmSync(file, { force: true }),
      // Killed once the file was whole: it is never replaced.
      acceptAgain: (r) =>
        r.ok || (r.code === 'conflict' && /never replaces a file/.test(r.message ?? '')),
      async again() {
        assert.is(sha(file), sha(reference), 'the file is the export, byte for byte')
      },
      statusSpec: { kind: 'snapshots', cluster: X },
      async status(code, result) {
        assert.is(code, 0, result.message)
        if (existsSync(file)) assert.is(sha(file), sha(reference), 'a file there is whole')
        assert.equal(
          readdirSync(home).filter((n) => n.startsWith('crash-export.tar.')),
          [],
          'no partial file'
        )
      },
    })
    await walkScenario(home, {
      name: 'import',
      cluster: X,
      spec: { kind: 'import', options: { file: reference } },
      phaseOf: phaseIn(t),
      async prepare() {
        const r = await run({ kind: 'snapshot-rm', cluster: X, snapshot: 'x1' })
        assert.ok(r.result.ok || r.result.code === 'not_found', r.result.message)
      },
      // Killed once it was whole: the snapshot is there, and an import never overwrites one.
      acceptAgain: (r) => r.ok || r.code === 'conflict',
      async again() {
        assert.ok(
          (await listSnapshots(X)).some((m) => m.id === 'x1'),
          'imported'
        )
        const restored = await run({
          kind: 'restore',
          cluster: X,
          snapshot: 'x1',
          options: { as: 't-crash-x2' },
        })
        assert.ok(restored.result.ok, restored.result.message)
        assert.equal(await marks('t-crash-x2'), ['A'], 'and it restores with its data')
        await ok({ kind: 'destroy', cluster: 't-crash-x2', options: { volumes: true } })
      },
      statusSpec: { kind: 'snapshots', cluster: X },
      async status(code, result) {
        assert.is(code, 0, result.message)
      },
    })
  }
)

Walk.run()
