/**
 * A restore over a running cluster whose node publishes a port, killed at its event boundaries
 * (walk.ts): the port moves from the old node to the restored one at the swap, through a stopped
 * original, a stopped rehearsal and a final container started in their place. Whatever the kill,
 * the next command leaves exactly one container holding the port — the cluster's node, running —
 * and the cluster exactly old or exactly new; nothing staged, no image of the swap left unused.
 * Dynamic mode, so that the swap's rewiring of the new addresses is walked too.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { LABEL } from '../../scripts/engine/labels.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import { engine, ensureDemoImage, removeTestClusters, docker } from '../helpers/docker.ts'
import { assertCluster, mark, marks, phaseIn, run, smallTopology, walkScenario } from './walk.ts'

const home = mkdtempSync(join(tmpdir(), 'berth-crash-restore-ports-'))
const C = 't-crash-pm'
const PORT = 18650
const topology = smallTopology(C, 'dynamic', {
  nodes: [
    { name: 'master', phase: 0 },
    { name: 'data', phase: 1, volumes: ['data:/data'] },
    {
      name: 'api',
      phase: 1,
      init: true,
      command: ['httpd', '-f', '-p', '8080', '-h', '/'],
      ports: [`${PORT}:8080`],
    },
  ],
})

/** Exactly one container holds the port: the cluster's api node, running. */
async function portHeldByTheNode(what: string) {
  const holders = (await docker.listContainers({ all: true })).filter(
    (c) =>
      (c.Ports ?? []).some((p) => p.PublicPort === PORT) ||
      (c.Names ?? []).some((n) => n.startsWith(`/${C}.api`))
  )
  const running = holders.filter((c) => c.State === 'running')
  assert.equal(
    running.map((c) => c.Names[0]),
    [`/${C}.api`],
    `${what}: who holds ${PORT}`
  )
  assert.ok(
    (running[0].Ports ?? []).some((p) => p.PublicPort === PORT && p.IP === '127.0.0.1'),
    `${what}: the node publishes ${PORT}`
  )
  const res = await fetch(`http://127.0.0.1:${PORT}/etc/crash-mark`, {
    signal: AbortSignal.timeout(3000),
  })
  return (await res.text()).trim()
}

const Walk = suite(
  'crash: a restore moving a published port, killed at every step, then the next command'
)
Walk.before(
  hook(async () => {
    process.env.BERTH_HOME = home
    await removeTestClusters(C)
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
    const r = await run({ kind: 'install', cluster: C, topology })
    assert.ok(r.result.ok, r.result.message)
    await mark(C, 'A')
    assert.ok((await run({ kind: 'snapshot', cluster: C, options: { tag: 'base' } })).result.ok)
  })
)
Walk.after(hook(() => removeTestClusters(C)))

Walk(
  "restore over the running cluster with a published port: the port is the old node's or the new one's, never nobody's",
  async () => {
    await walkScenario(home, {
      name: 'restore (over a running cluster, a port moving)',
      cluster: C,
      spec: { kind: 'restore', cluster: C, snapshot: 'base' },
      phaseOf: phaseIn(topology),
      prepare: () => mark(C, 'B'),
      async again() {
        assert.equal(await marks(C), ['A'])
        await assertCluster(topology, 'restore again')
        assert.is(
          await portHeldByTheNode('restore again'),
          'A',
          "the page the port serves is the restored node's"
        )
      },
      async status(code, result) {
        assert.is(code, 0, result.message)
        const seen = await marks(C)
        assert.ok(seen.length === 1, `every node agrees: ${seen.join(',')}`)
        await assertCluster(topology, `restore, then status (${seen.join(',')})`)
        assert.is(await portHeldByTheNode('restore, then status'), seen[0])
        assert.equal((await engine.listContainers([`${LABEL.cluster}=${C}`])).length, 3)
      },
    })
  }
)

Walk.run()
