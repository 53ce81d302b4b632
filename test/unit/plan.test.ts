/**
 * The planner without Docker: `plan(topology, observed)` is pure, so each case is a topology and
 * a hand-made observation (what `observe` would read from Docker), and the answer is the plan as
 * `berth install --plan` prints it — a golden text.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { entriesOf, managedBlock, withManagedBlock } from '../../scripts/engine/hosts.ts'
import { createOptions } from '../../scripts/engine/nodes.ts'
import { formatPlan, plan, type Observed, type ObservedNode } from '../../scripts/engine/plan.ts'
import { parseTopology, type Topology } from '../../scripts/engine/topology.ts'

const JOB = 'j_golden'
const SECRETS = new Map<string, string>()

function topology(extra = '', mode = 'static', subnet = '10.211.0.0/24'): Topology {
  return parseTopology(
    [
      'name: gold',
      'image: berth/demo:1',
      'domain: gold.local',
      `network: { mode: ${mode}${subnet ? `, subnet: ${subnet}` : ''} }`,
      'defaults: { bootstrap: [/opt/demo/bootstrap.sh], resources: { memory: 64m } }',
      'nodes:',
      '  - { name: master, phase: 0 }',
      '  - { name: data, phase: 1 }',
      '  - { name: api, phase: 2 }',
      extra,
    ].join('\n')
  )
}

const nothing = (t: Topology): Observed => ({
  cluster: t.name,
  network: null,
  recorded: null,
  used: [],
  nodes: new Map(),
})

/** What Docker holds once `t` was installed as planned: every node running, bootstrapped, wired. */
function installed(t: Topology): Observed {
  const first = plan(t, nothing(t), { job: JOB, secrets: SECRETS })
  const net = first.plan.network
  const nodes = new Map<string, ObservedNode>()
  // Static: the planned addresses; dynamic: the ones Docker gave (made up here).
  const ipOf = new Map(
    t.nodes.map((n, i) => [n.name, first.addresses?.get(n.name) ?? `10.99.0.${i + 2}`])
  )
  const entries = entriesOf(
    t.nodes.map((n) => ({ name: n.name, hostname: n.hostname, ip: ipOf.get(n.name)! }))
  )
  const hostsFile = withManagedBlock('127.0.0.1\tlocalhost\n', managedBlock(t.name, entries))
  for (const node of t.nodes) {
    const ip = first.addresses?.get(node.name) ?? null
    const placement =
      t.network.mode === 'static'
        ? { network: net.name, ip: ip!, hosts: first.hosts }
        : { network: net.name }
    nodes.set(node.name, {
      id: `id-${node.name}`,
      state: 'running',
      network: net.name,
      pinnedIp: ip,
      ip: ipOf.get(node.name)!,
      spec: createOptions(t, node, placement, JOB, SECRETS).hash,
      bootstrapped: node.bootstrap ? true : null,
      health: null,
      hosts: hostsFile,
    })
  }
  return {
    cluster: t.name,
    network: { id: 'net-1', name: net.name, mode: t.network.mode, subnet: net.subnet },
    recorded: { name: net.name, subnet: net.subnet },
    used: [{ subnet: net.subnet!, network: net.name, id: 'net-1' }],
    nodes,
  }
}

const golden = (t: Topology, o: Observed) =>
  formatPlan(plan(t, o, { job: JOB, secrets: SECRETS }).plan)

test('a new static cluster: the network made on the subnet asked for, every node made with its address', () => {
  const t = topology()
  assert.fixture(
    golden(t, nothing(t)),
    [
      'cluster gold',
      '  network berth.gold: create (new cluster) 10.211.0.0/24',
      '  create    master           10.211.0.10     new node',
      '  create    data             10.211.0.11     new node',
      '  create    api              10.211.0.12     new node',
    ].join('\n')
  )
})

test('installed as planned: everything kept', () => {
  const t = topology()
  assert.fixture(
    golden(t, installed(t)),
    [
      'cluster gold',
      '  network berth.gold: keep (exists) 10.211.0.0/24',
      '  keep      master           10.211.0.10     unchanged and healthy',
      '  keep      data             10.211.0.11     unchanged and healthy',
      '  keep      api              10.211.0.12     unchanged and healthy',
    ].join('\n')
  )
})

test('drift, each kind planned: paused, missing, off its network, wrong /etc/hosts, bootstrap unfinished', () => {
  const t = topology('  - { name: site, phase: 2 }\n  - { name: worker, phase: 2 }')
  const o = installed(t)
  o.nodes.get('master')!.state = 'paused'
  o.nodes.delete('data')
  o.nodes.get('api')!.network = null
  o.nodes.get('site')!.hosts = withManagedBlock(
    '127.0.0.1\tlocalhost\n',
    managedBlock(t.name, [{ ip: '10.211.0.9', hostname: 'master.gold.local', short: 'master' }])
  )
  o.nodes.get('worker')!.bootstrapped = false
  assert.fixture(
    golden(t, o),
    [
      'cluster gold',
      '  network berth.gold: keep (exists) 10.211.0.0/24',
      '  start     master           10.211.0.10     paused: unpause it',
      '  create    data             10.211.0.11     missing: made again',
      '  reconnect api              10.211.0.12     not on its network: connect it again',
      '  rewire    site             10.211.0.13     /etc/hosts is wrong: master.gold.local resolves to 10.211.0.9, expected 10.211.0.10',
      '  keep      worker           10.211.0.14     unchanged; bootstrap not finished',
    ].join('\n')
  )
})

test('a network that is gone comes back with its recorded name and subnet; its nodes keep their addresses', () => {
  const t = topology('', 'static', '')
  const o = installed(t)
  const recorded = o.recorded!
  o.network = null
  o.used = []
  const p = plan(t, o, { job: JOB, secrets: SECRETS }).plan
  assert.equal(
    [p.network.action, p.network.name, p.network.subnet],
    ['create', recorded.name, recorded.subnet]
  )
  assert.equal(
    p.nodes.map((n) => [n.node, n.action, n.ip]),
    t.nodes.map((n) => [n.name, 'reconnect', o.nodes.get(n.name)!.pinnedIp])
  )
})

const gold = (nodes: string[]) =>
  parseTopology(
    [
      'name: gold',
      'image: berth/demo:1',
      'domain: gold.local',
      'network: { mode: static, subnet: 10.211.0.0/24 }',
      'defaults: { bootstrap: [/opt/demo/bootstrap.sh], resources: { memory: 64m } }',
      'nodes:',
      ...nodes,
    ].join('\n')
  )

test('a changed definition replaces that node only', () => {
  const o = installed(gold(['  - { name: master, phase: 0 }', '  - { name: data, phase: 1 }']))
  const after = gold([
    '  - { name: master, phase: 0 }',
    '  - { name: data, phase: 1, env: { LEVEL: "2" } }',
  ])
  assert.equal(
    plan(after, o, { job: JOB, secrets: SECRETS }).plan.nodes.map((n) => [
      n.node,
      n.action,
      n.reason,
    ]),
    [
      ['master', 'keep', 'unchanged and healthy'],
      ['data', 'replace', 'its definition changed'],
    ]
  )
})

test('static mode: a node gone from the topology is removed, and its peers rebuilt (their hosts entries are part of them)', () => {
  const o = installed(gold(['  - { name: master, phase: 0 }', '  - { name: old, phase: 1 }']))
  assert.equal(
    plan(gold(['  - { name: master, phase: 0 }']), o, {
      job: JOB,
      secrets: SECRETS,
    }).plan.nodes.map((n) => [n.node, n.action]),
    [
      ['master', 'replace'],
      ['old', 'remove'],
    ]
  )
})

test('dynamic mode: a node gone from the topology is removed, its peers kept', () => {
  const dyn = (nodes: string[]) =>
    parseTopology(
      [
        'name: gold',
        'image: berth/demo:1',
        'domain: gold.local',
        'network: { mode: dynamic }',
        'nodes:',
        ...nodes,
      ].join('\n')
    )
  const o = installed(dyn(['  - { name: master }', '  - { name: old }']))
  assert.equal(
    plan(dyn(['  - { name: master }']), o, { job: JOB, secrets: SECRETS }).plan.nodes.map((n) => [
      n.node,
      n.action,
    ]),
    [
      ['master', 'keep'],
      ['old', 'remove'],
    ]
  )
})

test('a mode change replaces the network and every node on it', () => {
  const o = installed(topology())
  const p = plan(topology('', 'dynamic', ''), o, { job: JOB, secrets: SECRETS }).plan
  assert.equal(p.network.action, 'replace')
  assert.is(p.network.reason, 'mode changes from static to dynamic')
  assert.ok(
    p.nodes.every((n) => n.action === 'replace'),
    formatPlan(p)
  )
})

test('rerun: a node of a later phase bootstraps again when a node of an earlier phase is rebuilt', () => {
  const text = (level: string) =>
    [
      'name: gold',
      'image: berth/demo:1',
      'domain: gold.local',
      'network: { mode: static, subnet: 10.211.0.0/24 }',
      'defaults: { bootstrap: [/opt/demo/bootstrap.sh], resources: { memory: 64m } }',
      'nodes:',
      `  - { name: master, phase: 0, env: { LEVEL: "${level}" } }`,
      '  - { name: agent, phase: 1, bootstrap: { command: [/opt/demo/bootstrap.sh], rerun: true } }',
      '  - { name: plain, phase: 1 }',
    ].join('\n')
  const o = installed(parseTopology(text('1')))
  const p = plan(parseTopology(text('2')), o, { job: JOB, secrets: SECRETS }).plan
  assert.equal(
    p.nodes.map((n) => [n.node, n.action, !!n.bootstrap]),
    [
      ['master', 'replace', false],
      ['agent', 'keep', true],
      ['plain', 'keep', false],
    ]
  )
  assert.match(
    p.nodes[1].reason,
    /bootstrap again \(rerun\): node master of an earlier phase is rebuilt/
  )
})

test.run()
