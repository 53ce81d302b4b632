/**
 * install, static and dynamic, killed at its event boundaries (walk.ts): the same install again
 * converges on the topology; `status` instead finds the cluster whole or not there at all.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { LABEL } from '../../scripts/engine/labels.ts'
import { validateTopology } from '../../scripts/engine/topology.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import { assertHostsMatchInspect, engine, ensureDemoImage, removeTestClusters } from '../helpers/docker.ts'
import { assertNothingLeft, phaseIn, pointsOf, reports, run, runProcess, smallTopology } from './walk.ts'

const home = mkdtempSync(join(tmpdir(), 'berth-crash-install-'))

const Install = suite('crash: install killed at every step, then the next command')
Install.before(hook(async () => {
  // Set here, not at import (every file of the tier is imported first): the killed job and the
  // command after it must share this home.
  process.env.BERTH_HOME = home
  await removeTestClusters('t-crash-i')
  await withTimeout(ensureDemoImage(), 120_000, 'demo image')
}))
Install.after(hook(() => removeTestClusters('t-crash-i')))

/** The cluster is exactly the topology: one running, bootstrapped node each, hosts right. */
async function assertInstalled(raw: ReturnType<typeof smallTopology>, what: string) {
  const t = validateTopology(raw)
  const containers = await engine.listContainers([`${LABEL.cluster}=${t.name}`])
  assert.equal(containers.map((c) => c.Labels[LABEL.node]).sort(), t.nodes.map((n) => n.name).sort(), `${what}: the nodes`)
  assert.ok(containers.every((c) => c.State === 'running'), `${what}: all running`)
  await assertHostsMatchInspect(t)
  const status = await run({ kind: 'status', cluster: t.name })
  const s = status.result.data as { drift: unknown[]; nodes: { bootstrap: string }[] }
  assert.equal(s.drift, [], `${what}: no drift`)
  assert.ok(s.nodes.every((n) => n.bootstrap === 'done'), `${what}: every node bootstrapped`)
}

for (const mode of ['static', 'dynamic'] as const) {
  Install(`${mode}: killed after any event, the install run again converges, and status finds it whole or gone`, async () => {
    const t0 = Date.now()
    const name = `t-crash-i${mode[0]}`
    const topology = smallTopology(name, mode)
    const spec = { kind: 'install', cluster: name, topology }
    const reset = async () => {
      const r = await run({ kind: 'destroy', cluster: name, options: { volumes: true } })
      assert.ok(r.result.ok || r.result.code === 'not_found', r.result.message)
    }
    await reset()
    const clean = await runProcess(spec, { BERTH_HOME: home })
    assert.is(clean.code, 0, clean.stderr)
    const points = pointsOf(clean.events, phaseIn(topology))
    let runs = 0
    for (const p of points) {
      for (const next of ['again', 'status'] as const) {
        const what = `${mode}, killed after ${p.step} ${p.state} #${p.n} (phase ${p.phase}), then ${next}`
        await reset()
        const killed = await runProcess(spec, { BERTH_HOME: home, BERTH_FAULT: `kill-after:${p.step}:${p.state}:${p.n}` })
        assert.is(killed.signal, 'SIGKILL', `${what}: the job was killed (${killed.code})`)
        runs++
        if (next === 'again') {
          const again = await run(spec)
          assert.ok(again.result.ok, `${what}: ${again.result.message}`)
          await assertInstalled(topology, what)
        } else {
          const status = await run({ kind: 'status', cluster: name })
          assert.ok([0, 5].includes(status.exitCode), `${what}: status exit ${status.exitCode}: ${status.result.message}`)
          if (status.exitCode === 0) await assertInstalled(topology, what)
        }
        await assertNothingLeft(home, name, what)
      }
    }
    reports.push({ scenario: `install (${mode})`, points: points.length, runs, ms: Date.now() - t0 })
    console.log(`  install (${mode}): ${points.length} kill points, ${runs} kills, every one recovered (${((Date.now() - t0) / 1000).toFixed(0)} s)`)
  })
}

Install.run()
