/**
 * install, static and dynamic, killed at its event boundaries (walk.ts): the same install again
 * converges on the topology; `status` instead finds the cluster whole or not there at all.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hook, withTimeout } from '../helpers/async.ts'
import { ensureDemoImage, removeTestClusters } from '../helpers/docker.ts'
import { assertCluster, phaseIn, run, smallTopology, walkScenario } from './walk.ts'

const home = mkdtempSync(join(tmpdir(), 'berth-crash-install-'))

const Install = suite('crash: install killed at every step, then the next command')
Install.before(
  hook(async () => {
    // Set here, not at import (every file of the tier is imported first): the killed job and the
    // command after it must share this home.
    process.env.BERTH_HOME = home
    await removeTestClusters('t-crash-i')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
  })
)
Install.after(hook(() => removeTestClusters('t-crash-i')))

for (const mode of ['static', 'dynamic'] as const) {
  Install(
    `${mode}: the install run again converges; status finds the cluster whole or gone`,
    async () => {
      const name = `t-crash-i${mode[0]}`
      const topology = smallTopology(name, mode)
      await walkScenario(home, {
        name: `install (${mode})`,
        cluster: name,
        spec: { kind: 'install', cluster: name, topology },
        phaseOf: phaseIn(topology),
        async prepare() {
          const r = await run({ kind: 'destroy', cluster: name, options: { volumes: true } })
          assert.ok(r.result.ok || r.result.code === 'not_found', r.result.message)
        },
        again: () => assertCluster(topology, `install (${mode}) again`),
        async status(code, result) {
          assert.ok([0, 5].includes(code), `status exit ${code}: ${result.message}`)
          if (code === 0) await assertCluster(topology, `install (${mode}), then status`)
        },
      })
    }
  )
}

Install.run()
