/**
 * The crash walk (test/crash/walk.ts) on a cluster across hosts: a swarm install of the seed's
 * small shape — the master on lab1, the node with a volume and the other spread to lab2 and lab3 —
 * SIGKILLed after each of its events, then the next command (the install again, or status), and
 * the cluster checked whole on every host: nothing paused, nothing left over, every /etc/hosts
 * right, no bootstrap run twice at once.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { globalAgent } from 'node:http'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { jobEngine } from '../../scripts/engine/engines.ts'
import { processLogger } from '../../scripts/engine/logger.ts'
import { hook } from '../helpers/async.ts'
import {
  assertCluster,
  GUARDED_BOOTSTRAP,
  phaseIn,
  run,
  smallTopology,
  walkOn,
  walkScenario,
} from '../crash/walk.ts'

const LAB = new URL('../../scripts/host/swarm-lab.sh', import.meta.url).pathname
const home = mkdtempSync(join(tmpdir(), 'berth-swarm-walk-'))
const C = 't-swarm-walk'

const lab = (...args: string[]) => {
  const r = spawnSync('bash', [LAB, ...args], { encoding: 'utf8' })
  assert.is(r.status, 0, `swarm-lab.sh ${args.join(' ')}: ${r.stderr}`)
  return r.stdout.trim()
}

const topology = smallTopology(C, 'static', {
  network: { mode: 'swarm' },
  defaults: { bootstrap: GUARDED_BOOTSTRAP },
  nodes: [
    { name: 'master', phase: 0, placement: { host: 'lab1' } },
    { name: 'data', phase: 1, volumes: ['data:/data'], placement: { spread: true } },
    { name: 'api', phase: 1, placement: { spread: true } },
  ],
})

const Walk = suite('crash: a swarm install killed at every step, then the next command')
Walk.before(
  hook(async () => {
    process.env.BERTH_HOME = home
    lab('up', '3')
    lab('swarm', '3')
    lab('load', '3', 'berth/demo:1')
    const engines = join(home, 'engines.yaml')
    writeFileSync(engines, lab('engines', '3') + '\n')
    walkOn(jobEngine(processLogger(process.stderr, {}), { BERTH_ENGINES: engines }), {
      BERTH_ENGINES: engines,
    })
  })
)
Walk.after(
  hook(async () => {
    await run({ kind: 'destroy', cluster: C, options: { volumes: true } })
    lab('down')
    // This process's keep-alive connections to the lab's sockets outlive its daemons, and the
    // next file (the same process) starts new daemons on the same paths: closed here, so that no
    // request of that file is written into a dead one (EPIPE).
    globalAgent.destroy()
  })
)

Walk('the install run again converges across hosts; status finds it whole or gone', async () => {
  await walkScenario(home, {
    name: 'install (swarm, three hosts)',
    cluster: C,
    spec: { kind: 'install', cluster: C, topology },
    phaseOf: phaseIn(topology),
    async prepare() {
      const r = await run({ kind: 'destroy', cluster: C, options: { volumes: true } })
      assert.ok(r.result.ok || r.result.code === 'not_found', r.result.message)
    },
    again: () => assertCluster(topology, 'swarm install again'),
    async status(code, result) {
      assert.ok([0, 5].includes(code), `status exit ${code}: ${result.message}`)
      if (code === 0) await assertCluster(topology, 'swarm install, then status')
    },
  })
})

Walk.run()
