import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { connection, readEnginesFile } from '../../scripts/engine/engines.ts'
import { BerthError } from '../../scripts/engine/errors.ts'
import { placeNodes, type HostFacts } from '../../scripts/engine/placement.ts'
import { parseTopology } from '../../scripts/engine/topology.ts'

const swarm = (nodes: string[], mode = 'swarm') =>
  parseTopology(
    [
      'name: s',
      'image: berth/demo:1',
      'domain: s.local',
      `network: { mode: ${mode} }`,
      'nodes:',
      ...nodes,
    ].join('\n')
  )

const fails = (fn: () => unknown): BerthError => {
  try {
    fn()
  } catch (err) {
    assert.instance(err, BerthError)
    return err as BerthError
  }
  throw new Error('did not fail')
}

test('placement: a named host; spread nodes each to the least-loaded host; the rest on the manager', () => {
  const t = swarm([
    '  - { name: master, placement: { host: lab2 } }',
    '  - { name: runner, count: 4, placement: { spread: true } }',
    '  - { name: data }',
  ])
  const placed = placeNodes(t, ['lab1', 'lab2', 'lab3'])!
  // master on lab2 and data on lab1 first; then the runners where there are fewest nodes.
  assert.equal(Object.fromEntries(placed), {
    master: 'lab2',
    runner1: 'lab3',
    runner2: 'lab1',
    runner3: 'lab2',
    runner4: 'lab3',
    data: 'lab1',
  })
})

test('placement: a spread node stays on the host it runs on; only new ones are dealt', () => {
  const t = swarm(['  - { name: runner, count: 3, placement: { spread: true } }'])
  const now = new Map([
    ['runner1', 'lab3'],
    ['runner2', 'lab3'],
  ])
  assert.equal(Object.fromEntries(placeNodes(t, ['lab1', 'lab2', 'lab3'], now)!), {
    runner1: 'lab3',
    runner2: 'lab3',
    runner3: 'lab1',
  })
  // A host gone from the engines: its nodes are dealt again.
  assert.equal(Object.fromEntries(placeNodes(t, ['lab1', 'lab2'], now)!), {
    runner1: 'lab1',
    runner2: 'lab2',
    runner3: 'lab1',
  })
})

test('placement: an unknown host, or swarm mode without engines, is refused naming the node', () => {
  const t = swarm(['  - { name: master, placement: { host: lab9 } }'])
  const e = fails(() => placeNodes(t, ['lab1', 'lab2']))
  assert.is(e.code, 'preflight')
  assert.is(
    e.message,
    'nodes[0] (master): placement.host "lab9" is not a host of the swarm (lab1, lab2)'
  )
  assert.match(
    fails(() => placeNodes(t, undefined)).message,
    /network\.mode swarm needs the swarm's engines: an engines file/
  )
  assert.is(placeNodes(swarm(['  - { name: a }'], 'static'), ['lab1']), null)
})

test('placement constraints: spread over the hosts whose Swarm node meets them all; none → refused naming node, constraint and hosts', () => {
  const facts = new Map<string, HostFacts>([
    ['lab1', { id: 'n1', hostname: 'berth-lab1', role: 'manager', labels: {} }],
    ['lab2', { id: 'n2', hostname: 'berth-lab2', role: 'worker', labels: { role: 'runner' } }],
    [
      'lab3',
      { id: 'n3', hostname: 'berth-lab3', role: 'worker', labels: { role: 'runner', disk: 'ssd' } },
    ],
  ])
  const hosts = ['lab1', 'lab2', 'lab3']
  const t = swarm([
    '  - { name: master }',
    '  - { name: runner, count: 3, placement: { constraints: ["node.labels.role==runner"] } }',
    '  - { name: db, placement: { constraints: ["node.labels.disk == ssd", "node.role!=manager"] } }',
    '  - { name: api, placement: { constraints: ["node.hostname==berth-lab1"] } }',
  ])
  assert.equal(Object.fromEntries(placeNodes(t, hosts, new Map(), facts)!), {
    master: 'lab1',
    runner1: 'lab2',
    runner2: 'lab3',
    runner3: 'lab2',
    db: 'lab3',
    api: 'lab1',
  })
  // A node stays where it runs while its host still qualifies.
  const now = new Map([['runner1', 'lab3']])
  assert.is(placeNodes(t, hosts, now, facts)!.get('runner1'), 'lab3')
  assert.is(placeNodes(t, hosts, new Map([['runner1', 'lab1']]), facts)!.get('runner1'), 'lab2')

  const none = swarm([
    '  - { name: gpu, placement: { constraints: ["node.labels.role==runner", "node.labels.gpu==yes"] } }',
  ])
  assert.is(
    fails(() => placeNodes(none, hosts, new Map(), facts)).message,
    'nodes[0] (gpu): no host of the swarm satisfies placement.constraints[1] "node.labels.gpu==yes" (lab1: hostname berth-lab1, role manager, labels none; lab2: hostname berth-lab2, role worker, labels role=runner; lab3: hostname berth-lab3, role worker, labels role=runner disk=ssd)'
  )
  const bad = fails(() =>
    swarm(['  - { name: a, placement: { constraints: ["engine.labels.x==1"] } }'])
  )
  assert.equal(
    bad.info.issues?.map((i) => i.path),
    ['nodes[0].placement.constraints[0]']
  )
})

test('addresses: pinned by default across hosts, dynamic when asked; refused outside swarm mode', () => {
  assert.is(swarm(['  - { name: a }']).network.addresses, 'pinned')
  assert.is(swarm(['  - { name: a }'], 'dynamic').network.addresses, 'dynamic')
  assert.is(swarm(['  - { name: a }'], 'swarm, addresses: dynamic').network.addresses, 'dynamic')
  const e = fails(() => swarm(['  - { name: a }'], 'static, addresses: dynamic'))
  assert.equal(e.info.issues, [
    {
      path: 'network.addresses',
      message: "is for network.mode swarm (static mode's addresses are pinned already)",
    },
  ])
})

test('a placement outside swarm mode is refused at its path', () => {
  const e = fails(() => swarm(['  - { name: a, placement: { host: lab1 } }'], 'static'))
  assert.equal(e.info.issues, [
    {
      path: 'nodes[0].placement',
      message: 'a placement needs network.mode swarm (a cluster on several hosts)',
    },
  ])
})

test('the engines file: hosts by URL, the manager one of them, each problem named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-engines-'))
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text)
    return join(dir, name)
  }
  const good = file(
    'good.yaml',
    'manager: lab1\nhosts:\n  lab1: unix:///run/lab1.sock\n  lab2: tcp://10.0.0.2:2375\n  lab3: ssh://berth@10.0.0.3\n'
  )
  assert.equal(readEnginesFile({ BERTH_ENGINES: good })?.engines.manager, 'lab1')
  assert.equal(
    ['unix:///run/lab1.sock', 'tcp://10.0.0.2:2375', 'ssh://berth@10.0.0.3:2222'].map(connection),
    [
      { socketPath: '/run/lab1.sock' },
      { protocol: 'http', host: '10.0.0.2', port: 2375 },
      { protocol: 'ssh', host: '10.0.0.3', port: 2222, username: 'berth' },
    ]
  )
  const bad = file('bad.yaml', 'manager: lab9\nhosts:\n  lab1: http://x\n')
  assert.match(
    fails(() => readEnginesFile({ BERTH_ENGINES: bad })).message,
    /hosts\.lab1: is not unix:\/\/\/path, tcp:\/\/host:port or ssh:\/\/user@host/
  )
  const noManager = file('nomgr.yaml', 'manager: lab9\nhosts:\n  lab1: unix:///run/lab1.sock\n')
  assert.match(
    fails(() => readEnginesFile({ BERTH_ENGINES: noManager })).message,
    /manager: "lab9" is not one of the hosts \(lab1\)/
  )
  // tcp:// with TLS: the client's certificate and the CA from a DOCKER_CERT_PATH-style directory.
  const tls = join(dir, 'tls')
  mkdirSync(tls)
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(tls, f), `${f} text`)
  const withTls = file(
    'tls.yaml',
    `manager: lab1\nhosts:\n  lab1: unix:///run/lab1.sock\n  lab2: { url: 'tcp://10.0.0.2:2376', tls: ${tls} }\n`
  )
  const lab2 = connection(readEnginesFile({ BERTH_ENGINES: withTls })!.engines.hosts.lab2)
  assert.equal(
    { ...lab2, ca: String(lab2.ca), cert: String(lab2.cert), key: String(lab2.key) },
    {
      protocol: 'https',
      host: '10.0.0.2',
      port: 2376,
      ca: 'ca.pem text',
      cert: 'cert.pem text',
      key: 'key.pem text',
    }
  )
  const tlsOnSocket = file(
    'tls-socket.yaml',
    `manager: lab1\nhosts:\n  lab1: { url: 'unix:///run/lab1.sock', tls: ${tls} }\n`
  )
  assert.match(
    fails(() => readEnginesFile({ BERTH_ENGINES: tlsOnSocket })).message,
    /hosts\.lab1\.tls: tls is for a tcp:\/\/ engine/
  )
  const missing = file(
    'tls-missing.yaml',
    `manager: lab1\nhosts:\n  lab1: { url: 'tcp://10.0.0.2:2376', tls: ${join(dir, 'none')} }\n`
  )
  assert.match(
    fails(() => connection(readEnginesFile({ BERTH_ENGINES: missing })!.engines.hosts.lab1))
      .message,
    /engines file: tcp:\/\/10\.0\.0\.2:2376: tls: .*\/none\/ca\.pem: ENOENT/
  )
  assert.is(readEnginesFile({ BERTH_HOME: dir }), null, 'no file, no BERTH_ENGINES: one engine')
  file('engines.yaml', 'manager: lab1\nhosts:\n  lab1: unix:///run/lab1.sock\n')
  assert.is(
    readEnginesFile({ BERTH_HOME: dir })?.file,
    join(dir, 'engines.yaml'),
    '$BERTH_HOME/engines.yaml'
  )
})

test.run()
