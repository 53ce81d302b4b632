import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import YAML from 'yaml'
import { createContext } from '../../scripts/engine/context.ts'
import { BerthError } from '../../scripts/engine/errors.ts'
import type { StepEvent } from '../../scripts/engine/events.ts'
import { installCluster } from '../../scripts/engine/install.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { clusterStatus, destroyCluster } from '../../scripts/engine/lifecycle.ts'
import { restoreCluster } from '../../scripts/engine/restore.ts'
import {
  listSnapshots,
  pruneSnapshots,
  snapshotCluster,
  snapshotDir,
  snapshotImage,
  snapshotsRoot,
} from '../../scripts/engine/snapshot.ts'
import { validateTopology, type Topology } from '../../scripts/engine/topology.ts'
import { hook, rejects, withTimeout } from '../helpers/async.ts'
import {
  assertHostsMatchInspect,
  cheLike,
  engine,
  ensureDemoImage,
  recordingContext,
  removeTestClusters,
} from '../helpers/docker.ts'

process.env.BERTH_HOME = mkdtempSync(join(tmpdir(), 'berth-snap-'))
const codenvy = YAML.parse(
  readFileSync(new URL('../../examples/codenvy.yaml', import.meta.url), 'utf8')
)
const topology = (name: string, patch: Record<string, unknown> = {}): Topology =>
  validateTopology({ ...structuredClone(codenvy), name, ...patch })

async function idsOf(cluster: string): Promise<Map<string, string>> {
  const cs = await engine.listContainers([`${LABEL.cluster}=${cluster}`])
  return new Map(cs.map((c) => [c.Labels[LABEL.node], c.Id]))
}

async function sha(id: string, path: string): Promise<string> {
  const r = await engine.exec(id, ['sha256sum', path])
  assert.is(r.exitCode, 0, r.stderr)
  return r.stdout.split(' ')[0]
}

/** Random binary data written inside a node (megabytes), returning its sha256. */
async function writeBlob(id: string, path: string, mb: number): Promise<string> {
  const r = await engine.exec(id, [
    'sh',
    '-c',
    `mkdir -p "$(dirname "$1")" && dd if=/dev/urandom of="$1" bs=1M count=${mb} 2>/dev/null`,
    'w',
    path,
  ])
  assert.is(r.exitCode, 0, r.stderr)
  return sha(id, path)
}

// ─────────────────────────────────────────────────────────────────────────────
const RoundTrip = suite('snapshot and restore')
const T = topology('t-snap')
const blobs = new Map<string, { node: string; path: string; sha: string }>()
let snapshotId = ''

RoundTrip.before(
  hook(async () => {
    await withTimeout(removeTestClusters('t-snap'), 60_000, 'cleanup')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
    await withTimeout(installCluster(recordingContext().ctx, T), 120_000, 'install')
  })
)
RoundTrip.after(hook(() => removeTestClusters('t-snap')))

RoundTrip(
  'a snapshot pauses every node before the first commit and unpauses after the last archive',
  async () => {
    const ids = await idsOf(T.name)
    for (const [node, path] of [
      ['api', '/opt/work/layer.bin'],
      ['runner1', '/opt/work/layer.bin'],
      ['data', '/var/lib/demo/volume.bin'],
    ]) {
      blobs.set(`${node}:${path}`, {
        node,
        path,
        sha: await writeBlob(ids.get(node) as string, path, 3),
      })
    }
    const since = Math.floor(Date.now() / 1000) - 1
    const events = await engine.events(
      { type: ['container'], label: [`${LABEL.cluster}=${T.name}`] },
      since
    )
    const seen: { action: string; id: string; t: number }[] = []
    events.on('data', (buf: Buffer) => {
      for (const line of buf.toString().split('\n').filter(Boolean)) {
        const e = JSON.parse(line)
        seen.push({ action: e.Action ?? e.status, id: e.id, t: e.timeNano })
      }
    })
    const { ctx, events: jobEvents } = recordingContext()
    const m = await withTimeout(snapshotCluster(ctx, T.name, { tag: 'first' }), 120_000, 'snapshot')
    await new Promise((r) => setTimeout(r, 500))
    ;(events as unknown as { destroy(): void }).destroy()
    snapshotId = m.id
    const times = (action: string) =>
      seen.filter((e) => e.action.startsWith(action)).map((e) => e.t)
    const pauses = times('pause')
    const commits = times('commit')
    const unpauses = times('unpause')
    // Volume data is read with tar on this host (no Docker event): its end is berth's 'archive'
    // step, on the same clock as the daemon's events (ns → ms).
    const archives = jobEvents
      .filter(
        (e): e is StepEvent => e.type === 'step' && e.step === 'archive' && e.state === 'done'
      )
      .map((e) => e.t * 1e6)
    assert.is(pauses.length, 8, 'every node paused')
    assert.is(commits.length, 8, 'every node committed')
    assert.is(unpauses.length, 8, 'every node unpaused')
    assert.is(archives.length, 1, 'the data volume archived')
    assert.ok(Math.max(...pauses) < Math.min(...commits), 'every pause before the first commit')
    assert.ok(Math.min(...unpauses) > Math.max(...commits), 'every unpause after the last commit')
    assert.ok(
      Math.min(...unpauses) > Math.max(...archives),
      'every unpause after the last volume archive'
    )
    assert.ok(m.window.ms >= 0 && m.window.ms < 60_000, `window ${m.window.ms} ms`)
    const status = await clusterStatus(ctx, T.name)
    assert.ok(
      status.nodes.every((n) => n.state === 'running' && n.health === 'healthy'),
      'the cluster runs on, untouched'
    )
  }
)

RoundTrip('the manifest describes the snapshot and listing reads it from disk', async () => {
  const [m] = await listSnapshots(T.name)
  assert.is(m.id, 'first')
  assert.is(m.topology.name, T.name)
  assert.is(m.nodes.length, 8)
  assert.ok(m.nodes.every((n) => n.image.id.startsWith('sha256:') && n.ip && n.bootstrapped))
  assert.equal(
    m.volumes.map((v) => v.file),
    ['volumes/data.data.tar']
  )
  assert.match(m.volumes[0].sha256, /^[0-9a-f]{64}$/)
  assert.ok(m.volumes[0].size > 3 * 1024 * 1024)
})

RoundTrip(
  '--as restores beside the original, in another domain: same data byte for byte, new addresses, wired, healthy',
  async () => {
    const { ctx, events } = recordingContext()
    const r = await withTimeout(
      restoreCluster(ctx, T.name, snapshotId, { as: 't-snap-copy', domain: 'copy.local' }),
      120_000,
      'restore'
    )
    assert.is(r.cluster, 't-snap-copy')
    assert.ok(
      r.nodes.every((n) => n.hostname === `${n.name}.copy.local`),
      'hostnames in the new domain'
    )
    const copy = topology('t-snap-copy', { domain: 'copy.local' })
    await assertHostsMatchInspect(copy)
    const ids = await idsOf('t-snap-copy')
    for (const b of blobs.values())
      assert.is(await sha(ids.get(b.node) as string, b.path), b.sha, `${b.node}:${b.path}`)
    const original = await clusterStatus(ctx, T.name)
    const restored = await clusterStatus(ctx, 't-snap-copy')
    assert.ok(restored.nodes.every((n) => n.health === 'healthy' && n.bootstrap === 'done'))
    assert.is.not(
      restored.subnet,
      original.subnet,
      'the original holds its subnet, so the copy gets another'
    )
    assert.is(
      events.filter((e) => e.type === 'step' && e.step === 'bootstrap').length,
      0,
      'no bootstrap re-run'
    )
    assert.ok(
      original.nodes.every((n) => n.state === 'running'),
      'the original runs on'
    )
  }
)

RoundTrip(
  'restored into its own name after a destroy, it keeps its subnet and addresses',
  async () => {
    const before = await clusterStatus(recordingContext().ctx, T.name)
    await destroyCluster(recordingContext().ctx, T.name, { volumes: true })
    const r = await withTimeout(
      restoreCluster(recordingContext().ctx, T.name, snapshotId),
      120_000,
      'restore'
    )
    const ips = new Map(r.nodes.map((n) => [n.name, n.ip]))
    for (const n of before.nodes) assert.is(ips.get(n.name), n.ip, `${n.name} keeps ${n.ip}`)
    const ids = await idsOf(T.name)
    for (const b of blobs.values()) assert.is(await sha(ids.get(b.node) as string, b.path), b.sha)
    // Install sees the restored nodes as the same nodes: nothing to rebuild.
    const again = await installCluster(recordingContext().ctx, T, { plan: true })
    assert.ok(
      again.plan.nodes.every((i) => i.action === 'keep'),
      JSON.stringify(again.plan.nodes)
    )
  }
)

RoundTrip(
  'restoring over the running cluster builds beside it, swaps when healthy, and undoes later changes',
  async () => {
    const before = await idsOf(T.name)
    // Changes made after the snapshot: the restore must undo them.
    await writeBlob(before.get('data') as string, '/var/lib/demo/volume.bin', 1)
    await writeBlob(before.get('api') as string, '/opt/work/layer.bin', 1)
    const { ctx, events } = recordingContext()
    await withTimeout(
      restoreCluster(ctx, T.name, snapshotId),
      180_000,
      'restore over the running cluster'
    )
    const after = await idsOf(T.name)
    assert.is(after.size, 8)
    for (const [node, id] of after)
      assert.is.not(id, before.get(node), `${node} is a new container`)
    const names = (await engine.listContainers([`${LABEL.cluster}=${T.name}`]))
      .map((c) => c.Names[0])
      .sort()
    assert.equal(
      names,
      T.nodes.map((n) => `/${T.name}.${n.name}`).sort(),
      'only the canonical names are left'
    )
    for (const b of blobs.values())
      assert.is(
        await sha(after.get(b.node) as string, b.path),
        b.sha,
        `${b.node}:${b.path} as in the snapshot`
      )
    await assertHostsMatchInspect(T)
    assert.is(
      (await engine.listNetworks([`${LABEL.cluster}=${T.name}`])).length,
      1,
      'the old network is gone'
    )
    assert.is(
      (await engine.listVolumes([`${LABEL.cluster}=${T.name}`])).length,
      1,
      'the old volume is gone'
    )
    const swap = events.find(
      (e) => e.type === 'step' && e.step === 'swap' && e.state === 'done'
    ) as StepEvent
    const healthy = events.filter(
      (e) => e.type === 'step' && e.step === 'health' && e.state === 'done'
    ) as StepEvent[]
    assert.ok(
      swap && healthy.length >= 8 && healthy.every((h) => h.t <= swap.t),
      'swapped only once every staged node was healthy'
    )
    const status = await clusterStatus(ctx, T.name)
    assert.ok(status.nodes.every((n) => n.state === 'running' && n.health === 'healthy'))
    const again = await installCluster(recordingContext().ctx, T, { plan: true })
    assert.ok(
      again.plan.nodes.every((i) => i.action === 'keep'),
      'install sees the restored cluster as its own'
    )
  }
)

RoundTrip(
  'a corrupted volume archive is refused before anything is created, naming it',
  async () => {
    const file = join(snapshotDir(T.name, snapshotId), 'volumes', 'data.data.tar')
    const bytes = readFileSync(file)
    bytes[bytes.length - 2000] ^= 0xff
    writeFileSync(file, bytes)
    const err = (await rejects(
      restoreCluster(recordingContext().ctx, T.name, snapshotId, { as: 't-snap-bad' })
    )) as BerthError
    assert.is(err.code, 'snapshot_damaged')
    assert.match(err.message, /volumes\/data\.data\.tar: sha256/)
    assert.is((await engine.listContainers([`${LABEL.cluster}=t-snap-bad`])).length, 0)
    assert.is((await engine.listVolumes([`${LABEL.cluster}=t-snap-bad`])).length, 0)
  }
)

RoundTrip.run()

// ─────────────────────────────────────────────────────────────────────────────
const Safety = suite('snapshot and restore safety')
const small = (name: string, hooks: Record<string, string> = {}) =>
  validateTopology(cheLike(name, { hooks }))

Safety.before(hook(() => removeTestClusters('t-safe')))
Safety.after(hook(() => removeTestClusters('t-safe')))

Safety('a failing preSnapshot hook leaves the cluster running and no snapshot behind', async () => {
  const t = small('t-safe-pre', { preSnapshot: 'echo flushing; exit 5' })
  await installCluster(recordingContext().ctx, t)
  const err = (await rejects(
    snapshotCluster(recordingContext().ctx, t.name, { tag: 'never' })
  )) as BerthError
  assert.is(err.code, 'hook_failed')
  assert.match(err.message, /node "che": the preSnapshot hook failed \(exit 5\)/)
  assert.equal(await listSnapshots(t.name), [])
  const left = (() => {
    try {
      return readdirSync(snapshotsRoot(t.name))
    } catch {
      return [] // the hook failed before anything was written
    }
  })()
  assert.equal(left, [], 'no partial directory')
  const s = await clusterStatus(recordingContext().ctx, t.name)
  assert.is(s.nodes[0].state, 'running')
})

Safety(
  'a failing postRestore hook removes the half-built restore; the original keeps its containers',
  async () => {
    const t = small('t-safe-post', { postRestore: 'exit 7' })
    await installCluster(recordingContext().ctx, t)
    const before = await idsOf(t.name)
    await snapshotCluster(recordingContext().ctx, t.name, { tag: 'one' })
    const err = (await rejects(
      restoreCluster(recordingContext().ctx, t.name, 'one', { as: 't-safe-post2' })
    )) as BerthError
    assert.is(err.code, 'hook_failed')
    assert.equal(await idsOf(t.name), before, 'same container ids')
    assert.is((await engine.listContainers([`${LABEL.cluster}=t-safe-post2`])).length, 0)
    assert.is((await engine.listVolumes([`${LABEL.cluster}=t-safe-post2`])).length, 0)
    assert.is((await engine.listNetworks([`${LABEL.cluster}=t-safe-post2`])).length, 0)
  }
)

Safety(
  'a failing postRestore hook over the running cluster leaves it untouched and nothing staged',
  async () => {
    const t = small('t-safe-over', { postRestore: 'exit 7' })
    await installCluster(recordingContext().ctx, t)
    await snapshotCluster(recordingContext().ctx, t.name, { tag: 'one' })
    const before = await idsOf(t.name)
    const err = (await rejects(restoreCluster(recordingContext().ctx, t.name, 'one'))) as BerthError
    assert.is(err.code, 'hook_failed')
    assert.equal(await idsOf(t.name), before, 'same container ids')
    const all = await engine.listContainers([`${LABEL.cluster}=${t.name}`])
    assert.equal(
      all.map((c) => [c.Names[0], c.State]),
      [['/t-safe-over.che', 'running']],
      'nothing staged is left'
    )
    assert.is((await engine.listNetworks([`${LABEL.cluster}=${t.name}`])).length, 1)
    assert.is((await engine.listVolumes([`${LABEL.cluster}=${t.name}`])).length, 1)
  }
)

Safety(
  'restore refuses a target whose volumes are left over, and never overwrites them',
  async () => {
    const t = small('t-safe-left')
    await installCluster(recordingContext().ctx, t)
    await snapshotCluster(recordingContext().ctx, t.name, { tag: 'one' })
    await destroyCluster(recordingContext().ctx, t.name) // volumes kept
    const err = (await rejects(restoreCluster(recordingContext().ctx, t.name, 'one'))) as BerthError
    assert.is(err.code, 'conflict')
    assert.match(
      err.message,
      /cluster "t-safe-left" has no nodes but volumes \(t-safe-left\.che\.workspace\) left/
    )
  }
)

Safety(
  '--keep N prunes the oldest and never the newest; a snapshot id is never reused',
  async () => {
    const t = small('t-safe-keep')
    await installCluster(recordingContext().ctx, t)
    for (const tag of ['a1', 'a2', 'a3'])
      await snapshotCluster(recordingContext().ctx, t.name, { tag })
    const dup = (await rejects(
      snapshotCluster(recordingContext().ctx, t.name, { tag: 'a3' })
    )) as BerthError
    assert.is(dup.code, 'conflict')
    const pruned = await pruneSnapshots(recordingContext().ctx, t.name, 2)
    assert.equal(pruned, ['a1'])
    assert.equal(
      (await listSnapshots(t.name)).map((m) => m.id),
      ['a3', 'a2']
    )
    assert.is(await engine.inspectImage('berth-snap/t-safe-keep.che:a1'), null, 'its image is gone')
    await pruneSnapshots(recordingContext().ctx, t.name, 0)
    assert.equal(
      (await listSnapshots(t.name)).map((m) => m.id),
      ['a3'],
      'keep 0 still keeps the newest'
    )
  }
)

Safety(
  'snapshots taken within one second get ids of their own (-2 after the first), none refused or overwritten',
  async () => {
    // Back to back until two fall in one second (a small snapshot takes well under one).
    const taken: { id: string; ms: number }[] = []
    let same: [string, string] | undefined
    for (let i = 0; i < 8 && !same; i++) {
      const t0 = Date.now()
      const m = await snapshotCluster(recordingContext().ctx, 't-safe-keep')
      taken.push({ id: m.id, ms: Date.now() - t0 })
      const prev = taken.at(-2)?.id
      if (prev && !/-\d$/.test(prev) && m.id.startsWith(`${prev}-`)) same = [prev, m.id]
    }
    assert.ok(same, `no two in one second: ${JSON.stringify(taken)}`)
    assert.match(same[0], /^t-safe-keep-\d{8}-\d{6}$/)
    assert.is(same[1], `${same[0]}-2`)
    const listed = (await listSnapshots('t-safe-keep')).map((m) => m.id)
    for (const { id } of taken) assert.ok(listed.includes(id), `${id} is listed`)
    assert.is(new Set(taken.map((t) => t.id)).size, taken.length)
  }
)

Safety(
  'the next snapshot removes what crashed snapshots, exports and removals left behind, images too; an import under way is left alone',
  async () => {
    const cluster = 't-safe-keep'
    const root = snapshotsRoot(cluster)
    const [node] = await engine.listContainers([`${LABEL.cluster}=${cluster}`])
    // A removal killed after its first step (the directory moved aside, the images still there).
    const doomed = await snapshotCluster(recordingContext().ctx, cluster, { tag: 'doomed' })
    renameSync(snapshotDir(cluster, 'doomed'), join(root, '.doomed.removing-jdead2'))
    // A snapshot killed after its commit and part of an archive: a directory and a real image.
    mkdirSync(join(root, '.crashed.partial-jdead1', 'volumes'), { recursive: true })
    writeFileSync(
      join(root, '.crashed.partial-jdead1', 'volumes', 'che.workspace.tar'),
      Buffer.alloc(1 << 20)
    )
    await engine.commitContainer(node.Id, {
      repo: snapshotImage(cluster, 'che'),
      tag: 'crashed',
      name: 'che',
      labels: {},
    })
    // An export's spool, and an import in progress (written without the lock).
    mkdirSync(join(root, '.a3.exporting-jdead3'))
    writeFileSync(join(root, '.a3.exporting-jdead3', 'image.tar'), Buffer.alloc(1 << 20))
    mkdirSync(join(root, '.incoming.importing-0a1b2c3d'))

    const said: string[] = []
    await snapshotCluster(
      createContext({ engine, emit: () => {}, logDir: null, echo: (line) => said.push(line) }),
      cluster
    )
    assert.equal(
      readdirSync(root)
        .filter((n) => n.startsWith('.'))
        .sort(),
      ['.incoming.importing-0a1b2c3d']
    )
    assert.is(
      await engine.inspectImage(`${snapshotImage(cluster, 'che')}:crashed`),
      null,
      "the crashed snapshot's image is gone"
    )
    assert.is(
      await engine.inspectImage(doomed.nodes[0].image.ref),
      null,
      "the half-removed snapshot's image is gone"
    )
    for (const job of ['jdead1', 'jdead2', 'jdead3'])
      assert.ok(
        said.some((m) => m.includes(`left by job ${job}`)),
        `the log names ${job}`
      )
    assert.ok(
      (await listSnapshots(cluster)).some((m) => m.id === 'a3'),
      'the snapshot an export was reading stays'
    )
  }
)

Safety(
  'Eclipse Che (examples/che.yaml): workspace files survive snapshot, destroy and restore',
  async () => {
    const che = YAML.parse(
      readFileSync(new URL('../../examples/che.yaml', import.meta.url), 'utf8')
    )
    const t = validateTopology({ ...che, name: 't-safe-che' })
    await installCluster(recordingContext().ctx, t)
    const id = (await idsOf(t.name)).get('che') as string
    const project = await writeBlob(id, '/projects/app/src/main.bin', 2)
    const welcome = await sha(id, '/projects/welcome.txt')
    await snapshotCluster(recordingContext().ctx, t.name, { tag: 'ws' })
    await destroyCluster(recordingContext().ctx, t.name, { volumes: true })
    assert.is(
      (await engine.listVolumes([`${LABEL.cluster}=${t.name}`])).length,
      0,
      'the workspace volume is gone'
    )
    await restoreCluster(recordingContext().ctx, t.name, 'ws')
    const back = (await idsOf(t.name)).get('che') as string
    assert.is(await sha(back, '/projects/app/src/main.bin'), project)
    assert.is(await sha(back, '/projects/welcome.txt'), welcome)
  }
)

Safety(
  'without direct access to Docker files (a remote engine): archive API, exec and helpers do it all',
  async () => {
    process.env.BERTH_DIRECT_FILES = '0'
    try {
      const t = validateTopology({
        name: 't-safe-remote',
        image: 'berth/demo:1',
        domain: 'remote.local',
        network: { mode: 'dynamic' },
        defaults: { healthcheck: { cmd: ['/opt/demo/health.sh'] } },
        nodes: [
          { name: 'master', bootstrap: ['/opt/demo/bootstrap.sh'] },
          {
            name: 'data',
            phase: 1,
            volumes: ['data:/var/lib/demo'],
            bootstrap: ['/opt/demo/bootstrap.sh'],
          },
        ],
      })
      await installCluster(recordingContext().ctx, t)
      await assertHostsMatchInspect(t)
      const id = (await idsOf(t.name)).get('data') as string
      const blob = await writeBlob(id, '/var/lib/demo/blob.bin', 2)
      await snapshotCluster(recordingContext().ctx, t.name, { tag: 'r1' })
      await destroyCluster(recordingContext().ctx, t.name, { volumes: true })
      const { ctx, events } = recordingContext()
      await restoreCluster(ctx, t.name, 'r1')
      await assertHostsMatchInspect(t)
      assert.is(
        await sha((await idsOf(t.name)).get('data') as string, '/var/lib/demo/blob.bin'),
        blob
      )
      assert.is(
        events.filter((e) => e.type === 'step' && e.step === 'bootstrap').length,
        0,
        'bootstrap markers came back'
      )
    } finally {
      delete process.env.BERTH_DIRECT_FILES
    }
  }
)

Safety.run()
