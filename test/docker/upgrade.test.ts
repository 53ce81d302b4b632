import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { BerthError } from '../../scripts/engine/errors.ts'
import { installCluster } from '../../scripts/engine/install.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { clusterStatus } from '../../scripts/engine/lifecycle.ts'
import { listSnapshots } from '../../scripts/engine/snapshot.ts'
import { validateTopology } from '../../scripts/engine/topology.ts'
import { upgradeCluster } from '../../scripts/engine/upgrade.ts'
import { hook, rejects, withTimeout } from '../helpers/async.ts'
import { engine, ensureDemoImage, recordingContext, removeTestClusters } from '../helpers/docker.ts'

process.env.BERTH_HOME = mkdtempSync(join(tmpdir(), 'berth-upgrade-'))

const GOOD = 't-up/demo:2'
const BROKEN = 't-up/broken:1'
const T = validateTopology({
  name: 't-up',
  image: 'berth/demo:1',
  domain: 'up.local',
  defaults: {
    bootstrap: ['/opt/demo/bootstrap.sh'],
    healthcheck: { cmd: ['/opt/demo/health.sh'] },
    timeoutSeconds: 30,
  },
  nodes: [
    { name: 'master', phase: 0 },
    { name: 'data', phase: 1, volumes: ['data:/var/lib/demo'] },
    { name: 'api', phase: 2 },
  ],
})

/** An image made offline from the demo image with one file changed (docker commit). */
async function variant(ref: string, file: string, content: string, mode = 0o644): Promise<void> {
  const [repo, tag] = ref.split(':')
  const id = await engine.createContainer({
    name: `t-up-build-${tag}-${Date.now()}`,
    Image: 'berth/demo:1',
    Labels: { [LABEL.cluster]: 't-up-build' },
  })
  try {
    await engine.writeFiles(id, '/', [{ name: file, content, mode }])
    await engine.commitContainer(id, { repo, tag, labels: { 'berth.test': 't-up' } })
  } finally {
    await engine.removeContainer(id)
  }
}

const Upgrade = suite('upgrade')

Upgrade.before(
  hook(async () => {
    await removeTestClusters('t-up')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
    await variant(GOOD, 'VERSION', '2\n')
    await variant(
      BROKEN,
      'opt/demo/bootstrap.sh',
      '#!/bin/sh\necho "bootstrap: this image is broken" >&2\nexit 42\n',
      0o755
    )
    await withTimeout(installCluster(recordingContext().ctx, T), 90_000, 'install')
  })
)
Upgrade.after(
  hook(async () => {
    await removeTestClusters('t-up')
    await engine.removeImage(GOOD)
    await engine.removeImage(BROKEN)
  })
)

async function node(name: string): Promise<string> {
  return (await engine.listContainers([`${LABEL.cluster}=t-up`, `${LABEL.node}=${name}`]))[0].Id
}

Upgrade(
  'moves every node to the new image, keeps volumes and bootstraps again, after a snapshot',
  async () => {
    const records =
      (await engine.readFile(await node('data'), '/var/lib/demo/records'))?.toString() ?? ''
    assert.match(records, /^record 1 data/)
    const { ctx, events } = recordingContext()
    const r = await withTimeout(upgradeCluster(ctx, 't-up', { image: GOOD }), 120_000, 'upgrade')
    assert.match(r.snapshot, /^t-up-pre-upgrade-/)
    assert.equal(
      (await listSnapshots('t-up')).map((m) => m.id),
      [r.snapshot]
    )
    const status = await clusterStatus(ctx, 't-up')
    for (const n of status.nodes) {
      assert.is(n.image, GOOD, `${n.name} runs the new image`)
      assert.is(n.health, 'healthy')
    }
    assert.is((await engine.readFile(await node('api'), '/VERSION'))?.toString(), '2\n')
    const after =
      (await engine.readFile(await node('data'), '/var/lib/demo/records'))?.toString() ?? ''
    assert.ok(after.startsWith(records), 'the volume kept its records')
    assert.match(after, /^record 2 data/m, 'and the data node was bootstrapped again')
    const order = events
      .filter((e) => e.type === 'step' && e.step === 'bootstrap' && e.state === 'done')
      .map((e) => (e as { node: string }).node)
    assert.equal(order, ['master', 'data', 'api'], 'rebuilt node by node in phase order')
  }
)

Upgrade('an upgrade to a broken image rolls back to the snapshot and says so', async () => {
  const records =
    (await engine.readFile(await node('data'), '/var/lib/demo/records'))?.toString() ?? ''
  const err = (await withTimeout(
    rejects(upgradeCluster(recordingContext().ctx, 't-up', { image: BROKEN })),
    180_000,
    'upgrade'
  )) as BerthError
  assert.instance(err, BerthError)
  assert.is(err.code, 'bootstrap_failed')
  assert.match(err.message, /upgrade failed and was rolled back to snapshot t-up-pre-upgrade-/)
  assert.match(err.message, /this image is broken/)
  const status = await clusterStatus(recordingContext().ctx, 't-up')
  assert.is(status.nodes.length, 3)
  for (const n of status.nodes) {
    assert.is(
      n.image,
      `berth-snap/t-up.${n.name}:${(err.message.match(/snapshot (t-up-pre-upgrade-\S+?);/) ?? [])[1]}`
    )
    assert.is(n.health, 'healthy', `${n.name} healthy after the rollback`)
  }
  assert.is(
    (await engine.readFile(await node('data'), '/var/lib/demo/records'))?.toString(),
    records,
    'volume data as before'
  )
})

Upgrade('a missing image is refused before any snapshot or change', async () => {
  const before = (await listSnapshots('t-up')).length
  const ids = await node('api')
  const err = (await rejects(
    upgradeCluster(recordingContext().ctx, 't-up', { image: 't-up/absent:9' })
  )) as BerthError
  assert.is(err.code, 'preflight')
  assert.is((await listSnapshots('t-up')).length, before)
  assert.is(await node('api'), ids)
})

Upgrade.run()
