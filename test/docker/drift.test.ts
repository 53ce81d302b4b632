/**
 * Drift — a cluster that is no longer what berth made it, by hand or by accident — seen by
 * `status` (exit 8, each problem named) and mended by `repair` (or `install`): a node paused,
 * removed, cut off its network, its /etc/hosts overwritten, the network removed while the cluster
 * was stopped. And a node that fails in any phase, in both modes: a result, and nothing left.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { ResultEvent } from '../../scripts/engine/events.ts'
import { runJob } from '../../scripts/engine/job.ts'
import { LABEL, networkName } from '../../scripts/engine/labels.ts'
import { validateTopology } from '../../scripts/engine/topology.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import {
  assertHostsMatchInspect,
  engine,
  ensureDemoImage,
  removeTestClusters,
} from '../helpers/docker.ts'

const home = mkdtempSync(join(tmpdir(), 'berth-drift-'))
const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname
const run = async (spec: object) => runJob(spec, { engine, emit: () => {}, logDir: null })
const docker = (...args: string[]) => {
  const r = spawnSync('docker', args, { encoding: 'utf8' })
  assert.is(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}`)
}

const topology = (name: string, mode: 'static' | 'dynamic') => ({
  name,
  image: 'berth/demo:1',
  domain: 'drift.local',
  network: { mode },
  nodes: [
    { name: 'master', phase: 0, bootstrap: 'true' },
    { name: 'data', phase: 1, volumes: ['data:/data'], bootstrap: 'true' },
    { name: 'api', phase: 1, bootstrap: 'true' },
  ],
})
const id = async (cluster: string, node: string) =>
  (await engine.listContainers([`${LABEL.cluster}=${cluster}`, `${LABEL.node}=${node}`]))[0]?.Id

const Drift = suite('drift: status names it (exit 8), repair and install mend it')
Drift.before(
  hook(async () => {
    process.env.BERTH_HOME = home
    await removeTestClusters('t-drift')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
  })
)
Drift.after(hook(() => removeTestClusters('t-drift')))

for (const mode of ['static', 'dynamic'] as const) {
  Drift(
    `${mode}: paused, removed, disconnected and rewritten nodes are named by status and mended by repair`,
    async () => {
      const C = `t-drift-${mode[0]}`
      const t = topology(C, mode)
      assert.ok((await run({ kind: 'install', cluster: C, topology: t })).result.ok)
      const clean = await run({ kind: 'status', cluster: C })
      assert.equal([clean.exitCode, (clean.result.data as { drift: unknown[] }).drift], [0, []])

      docker('pause', `${C}.master`)
      docker('rm', '-f', `${C}.api`)
      docker('network', 'disconnect', networkName(C), `${C}.data`)
      const dataBefore = await id(C, 'data')
      // A node whose hosts file someone rewrote (master's, once it is running again).
      const status = await run({ kind: 'status', cluster: C })
      assert.is(status.exitCode, 8, 'drift has an exit code of its own')
      const drift = (status.result.data as { drift: { node?: string; problem: string }[] }).drift
      assert.equal(drift.map((d) => `${d.node}: ${d.problem}`).sort(), [
        'api: missing: its container is gone',
        `data: not on its network ${networkName(C)}`,
        'master: paused',
      ])
      const cli = spawnSync(process.execPath, [BIN, 'status', C], {
        encoding: 'utf8',
        env: { ...process.env, BERTH_HOME: home, NO_COLOR: '1' },
      })
      assert.is(cli.status, 8)
      assert.match(cli.stdout, /! node api: missing: its container is gone/)
      assert.match(cli.stdout, new RegExp(`berth repair ${C} mends it`))

      const repaired = await run({ kind: 'repair', cluster: C })
      assert.ok(repaired.result.ok, repaired.result.message)
      const plan = (repaired.result.data as { plan: { nodes: { node: string; action: string }[] } })
        .plan.nodes
      assert.equal(Object.fromEntries(plan.map((i) => [i.node, i.action])), {
        master: 'start',
        data: 'reconnect',
        api: 'create',
      })
      assert.is(
        await id(C, 'data'),
        dataBefore,
        'the disconnected node is the same container, reconnected'
      )
      await assertHostsMatchInspect(validateTopology(t))
      assert.equal((await run({ kind: 'status', cluster: C })).exitCode, 0)

      // A hosts file written over by hand: named, then rewired by install.
      const master = await id(C, 'master')
      assert.is(
        (await engine.exec(master, ['sh', '-c', 'echo "127.0.0.1 localhost" > /etc/hosts']))
          .exitCode,
        0
      )
      const wrong = await run({ kind: 'status', cluster: C })
      assert.is(wrong.exitCode, 8)
      assert.match(
        JSON.stringify((wrong.result.data as { drift: unknown[] }).drift),
        /master.*\/etc\/hosts is wrong/
      )
      const installed = await run({ kind: 'install', cluster: C, topology: t })
      assert.ok(installed.result.ok, installed.result.message)
      assert.is(await id(C, 'master'), master, 'rewired, not rebuilt')
      await assertHostsMatchInspect(validateTopology(t))
    }
  )
}

Drift(
  'the network removed while the cluster was stopped: status names it; start fails no more once repair made it again',
  async () => {
    const C = 't-drift-net'
    const t = topology(C, 'static')
    assert.ok((await run({ kind: 'install', cluster: C, topology: t })).result.ok)
    const ipsBefore = new Map<string, string>()
    for (const c of await engine.listContainers([`${LABEL.cluster}=${C}`]))
      ipsBefore.set(c.Labels[LABEL.node], Object.values(c.NetworkSettings.Networks)[0].IPAddress)
    assert.ok((await run({ kind: 'stop', cluster: C })).result.ok)
    docker('network', 'rm', networkName(C))
    const status = await run({ kind: 'status', cluster: C })
    assert.is(status.exitCode, 8)
    assert.match(
      JSON.stringify((status.result.data as { drift: unknown[] }).drift),
      new RegExp(`its network ${networkName(C)} is gone`)
    )
    const repaired = await run({ kind: 'repair', cluster: C })
    assert.ok(repaired.result.ok, repaired.result.message)
    for (const c of await engine.listContainers([`${LABEL.cluster}=${C}`])) {
      assert.is(c.State, 'running')
      assert.is(
        Object.values(c.NetworkSettings.Networks)[0].IPAddress,
        ipsBefore.get(c.Labels[LABEL.node]),
        'the same address, on the same subnet'
      )
    }
    await assertHostsMatchInspect(validateTopology(t))
  }
)

Drift(
  'a node that fails to start in any phase, in both modes, while another phase bootstraps: a result, and nothing left',
  async () => {
    for (const mode of ['static', 'dynamic'] as const) {
      for (const phase of [0, 1]) {
        const C = `t-drift-fail-${mode[0]}${phase}`
        const broken = {
          name: C,
          image: 'berth/demo:1',
          domain: 'drift.local',
          network: { mode },
          nodes: [
            { name: 'master', phase: 0, bootstrap: 'sleep 1' },
            { name: 'good', phase: 1, bootstrap: 'true' },
            // Its image's command does not exist: Docker creates the container and refuses to start it.
            { name: 'broken', phase, image: 't-drift/nocmd:1', bootstrap: 'true' },
          ],
        }
        const r = spawnSync(process.execPath, [BIN, 'job', 'run'], {
          input: JSON.stringify({ kind: 'install', cluster: C, topology: broken }),
          encoding: 'utf8',
          env: { ...process.env, BERTH_HOME: home },
        })
        const lines = r.stdout.trim().split('\n')
        const result = JSON.parse(lines[lines.length - 1]) as ResultEvent
        assert.is(
          result.type,
          'result',
          `${mode} phase ${phase}: the last line is the result (${r.stderr.slice(-300)})`
        )
        assert.is(result.ok, false)
        assert.is(result.node, 'broken', `${mode} phase ${phase}: ${result.message}`)
        assert.not.match(r.stderr, /rejection nobody awaited/, 'no stray rejection')
        const left = [
          ...(await engine.listContainers([`${LABEL.cluster}=${C}`])).map((c) => c.Names[0]),
          ...(await engine.listNetworks([`${LABEL.cluster}=${C}`])).map((n) => n.Name),
          ...(await engine.listVolumes([`${LABEL.cluster}=${C}`])).map((v) => v.Name),
        ]
        assert.equal(left, [], `${mode} phase ${phase}: nothing left`)
      }
    }
  }
)

Drift.before(
  hook(async () => {
    // An image whose command does not exist: its containers are created, then refused at start.
    const tar = spawnSync(
      'sh',
      [
        '-c',
        'docker image inspect t-drift/nocmd:1 >/dev/null 2>&1 || (docker create --name t-drift-src berth/demo:1 >/dev/null && docker export t-drift-src | docker import -c "CMD [\\"/no/such/command\\"]" - t-drift/nocmd:1 >/dev/null; docker rm -f t-drift-src >/dev/null)',
      ],
      { encoding: 'utf8' }
    )
    assert.is(tar.status, 0, tar.stderr)
  })
)

Drift.run()
