import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { checkManifest, checkManifestText } from '../../scripts/engine/snapshot-manifest.ts'

const sha = (c: string) => c.repeat(64)

/** A manifest as snapshot.ts writes it: two nodes, one with a volume (and an external one). */
function manifest() {
  const node = (name: string, index: number, volumes: unknown[] = []) => ({
    name,
    role: name,
    hostname: `${name}.demo.local`,
    index,
    phase: 0,
    image: 'berth/demo:1',
    privileged: false,
    capAdd: [],
    env: { A: '1' },
    secrets: {},
    volumes,
    bootstrap: ['/opt/demo/bootstrap.sh'],
    timeoutSeconds: 300,
    healthcheck: {
      cmd: ['/opt/demo/health.sh'],
      intervalSeconds: 10,
      timeoutSeconds: 5,
      retries: 3,
      startPeriodSeconds: 0,
    },
    bootstrapPolicy: { okExitCodes: [0, 2], retries: 3, retryDelaySeconds: 5, rerun: true },
    command: ['sleep', 'infinity'],
    entrypoint: null,
    init: true,
    user: null,
    workdir: null,
    labels: { app: name },
    extraHosts: [],
    tmpfs: [],
    shmSize: null,
    sysctls: {},
    ulimits: [],
    resources: { memory: 67108864, cpus: null, pids: null },
    restart: { name: 'unless-stopped', maxRetries: 0 },
    ports:
      index === 0
        ? [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]
        : [],
    files: [
      {
        target: '/etc/app.conf',
        data: Buffer.from('a=1\n').toString('base64'),
        mode: 0o640,
        owner: null,
      },
    ],
    placement: null,
  })
  return {
    format: 1,
    id: 'nightly',
    cluster: 'demo',
    createdAt: '2026-12-06T10:00:00.000Z',
    berthVersion: '0.1.0',
    job: 'j1',
    topology: {
      name: 'demo',
      domain: 'demo.local',
      image: 'berth/demo:1',
      network: { mode: 'static', subnet: null, addresses: 'pinned' },
      nodes: [
        node('api', 0),
        node('data', 1, [
          { name: 'data', target: '/var/lib/demo', external: false, readOnly: false },
          { name: 'shared', target: '/shared', external: true, readOnly: true },
        ]),
      ],
      hooks: { preSnapshot: null, postRestore: ['sh', '-c', 'true'] },
    },
    network: { mode: 'static', subnet: '10.1.0.0/24' },
    window: {
      pausedAt: '2026-12-06T10:00:00.000Z',
      unpausedAt: '2026-12-06T10:00:01.000Z',
      ms: 1000,
    },
    nodes: ['api', 'data'].map((name) => ({
      name,
      hostname: `${name}.demo.local`,
      ip: '10.1.0.10',
      image: { ref: `berth-snap/demo.${name}:nightly`, id: `sha256:${sha('a')}` },
      bootstrapped: true,
    })),
    volumes: [
      {
        node: 'data',
        name: 'data',
        target: '/var/lib/demo',
        file: 'volumes/data.data.tar',
        sha256: sha('b'),
        size: 10240,
      },
    ],
  }
}

const why = (value: unknown) => {
  const r = checkManifest(value)
  return r.ok ? 'ok' : r.why
}

const test = suite('snapshot manifests')

test('a manifest as snapshot writes it passes, unchanged', () => {
  const r = checkManifest(manifest())
  assert.ok(r.ok)
  assert.equal(r.ok && r.manifest, manifest())
})

test('a manifest from before secrets existed passes, with none', () => {
  const m = manifest()
  for (const n of m.topology.nodes) delete (n as { secrets?: unknown }).secrets
  const r = checkManifest(m)
  assert.ok(r.ok)
  assert.equal(r.ok && r.manifest.topology.nodes.map((n) => n.secrets), [{}, {}])
})

test("a manifest from before network.addresses passes, with its mode's own", () => {
  for (const [mode, addresses] of [
    ['static', 'pinned'],
    ['dynamic', 'dynamic'],
    ['swarm', 'pinned'],
  ] as const) {
    const m = manifest()
    m.topology.network = { mode, subnet: null } as typeof m.topology.network
    const r = checkManifest(m)
    assert.ok(r.ok)
    assert.is(r.ok && r.manifest.topology.network.addresses, addresses, mode)
  }
})

test('a manifest from before the runtime keys passes, each with the default that berth used then', () => {
  const m = manifest()
  const newer = [
    'bootstrapPolicy',
    'command',
    'entrypoint',
    'init',
    'user',
    'workdir',
    'labels',
    'extraHosts',
    'tmpfs',
    'shmSize',
    'sysctls',
    'ulimits',
    'resources',
    'restart',
    'ports',
    'files',
  ]
  for (const n of m.topology.nodes) for (const k of newer) delete (n as Record<string, unknown>)[k]
  const r = checkManifest(m)
  assert.ok(r.ok)
  const n = r.ok ? r.manifest.topology.nodes[0] : null
  assert.equal(n?.bootstrapPolicy, {
    okExitCodes: [0],
    retries: 0,
    retryDelaySeconds: 5,
    rerun: false,
  })
  assert.equal(
    [n?.command, n?.init, n?.ports, n?.files, n?.restart],
    [null, false, [], [], { name: 'no', maxRetries: 0 }]
  )
  assert.equal(n?.resources, { memory: null, cpus: null, pids: null })
})

test('an empty object names the first missing keys and counts the rest', () => {
  assert.is(why({}), 'manifest.json: format: required; id: required; cluster: required; and 8 more')
})

test('a missing or mistyped key is named by its path', () => {
  const { nodes: _, ...noNodes } = manifest()
  assert.is(why(noNodes), 'manifest.json: nodes: required')
  const m = manifest()
  ;(m.volumes[0] as { size: unknown }).size = '10240'
  assert.is(why(m), 'manifest.json: volumes[0].size: expected a number, got "10240"')
  assert.is(why([]), 'manifest.json: expected a mapping, got a list')
})

test('a format this berth does not know is damage, named as such', () => {
  assert.is(
    why({ ...manifest(), format: 2 }),
    'manifest.json: format: 2 is not a format this berth reads (1)'
  )
})

test('text that is not JSON is named as such', () => {
  const r = checkManifestText('nope\n')
  assert.ok(!r.ok)
  assert.match(!r.ok ? r.why : '', /^manifest\.json: not valid JSON \(/)
  assert.not.match(!r.ok ? r.why : '', /\n/, 'one line')
})

test('a volume file outside volumes/ is refused: it becomes a path', () => {
  const m = manifest()
  m.volumes[0].file = '../../../etc/shadow'
  assert.is(
    why(m),
    'manifest.json: volumes[0].file: "../../../etc/shadow" is not volumes/<name>.tar'
  )
})

test("an image that is not the snapshot's own is refused: removal deletes what the manifest names", () => {
  const m = manifest()
  m.nodes[0].image.ref = 'berth/demo:1'
  assert.is(
    why(m),
    `manifest.json: nodes[0].image.ref: "berth/demo:1" is not this snapshot's image (berth-snap/demo.api:nightly)`
  )
})

test('a node without an image or a volume without an archive is damage: restore would build it empty', () => {
  const m = manifest()
  m.nodes.pop()
  m.volumes = []
  assert.is(
    why(m),
    'manifest.json: nodes: no image for node "data"; volumes: no archive for volume "data" of node "data"'
  )
})

test('an entry the topology does not have, or one given twice, is damage', () => {
  const m = manifest()
  m.nodes.push({ ...m.nodes[1] })
  m.volumes.push({ ...m.volumes[0], name: 'shared', file: 'volumes/data.shared.tar' })
  assert.is(
    why(m),
    'manifest.json: nodes[2].name: node "data" appears twice; volumes[1]: volume "shared" of node "data" is not a volume of the topology'
  )
})

test.run()
