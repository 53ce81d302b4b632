import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { tokenPrincipal } from '../../functions/principal.ts'
import {
  checkPolicy,
  DEFAULT_POLICY,
  levelFor,
  PolicyConfig,
  type Level,
} from '../../scripts/engine/policy.ts'
import { readTopology } from '../../scripts/engine/topology.ts'

const check = (t: object, level: Level = 'restricted', policy = DEFAULT_POLICY) =>
  checkPolicy(readTopology(t as Record<string, unknown>).file, level, policy).map(
    (i) => `${i.path}: ${i.message}`
  )

const memory = { resources: { memory: '64m' } }
const base = { name: 'p', image: 'berth/demo:1', domain: 'p.local', defaults: memory }

test('restricted refuses what escapes to the host, naming the path in the file and the rule', () => {
  const t = {
    ...base,
    defaults: { capAdd: ['NET_ADMIN'], ...memory },
    nodes: [
      { name: 'a' },
      { name: 'b', count: 2, privileged: true },
      { name: 'runner', capAdd: ['chown', 'SYS_ADMIN'], image: 'berth-snap/other.data:nightly' },
      { name: 'd', volumes: [{ name: 'other.data.db', target: '/db', external: true }] },
      { name: 'e', image: 'evil/miner:1', env: { KEY: { secret: 'file:aws' }, PLAIN: 'x' } },
    ],
  }
  assert.equal(check(t), [
    'defaults.capAdd[0]: NET_ADMIN is not allowed by policy "restricted" (allowed: NET_BIND_SERVICE)',
    'nodes[1].privileged: privileged: true is not allowed by policy "restricted" (only an admin token at level privileged may run privileged nodes)',
    'nodes[2].image: "berth-snap/other.data:nightly" is a snapshot image: snapshots are reachable only through restore, not by policy "restricted"',
    'nodes[2].capAdd[0]: CHOWN is not allowed by policy "restricted" (allowed: NET_BIND_SERVICE)',
    'nodes[2].capAdd[1]: SYS_ADMIN is not allowed by policy "restricted" (allowed: NET_BIND_SERVICE)',
    'nodes[3].volumes[0]: external volume "other.data.db" is not allowed by policy "restricted" (allowed: none)',
    'nodes[4].image: image "evil/miner:1" is not allowed by policy "restricted" (allowed: berth/*)',
    'nodes[4].env.KEY: secret "file:aws" is not allowed by policy "restricted" (allowed: none)',
  ])
})

test("baseline allows Docker's default capabilities and nothing past them; privileged allows everything", () => {
  const t = { ...base, nodes: [{ name: 'a', capAdd: ['CHOWN', 'SYS_ADMIN'] }] }
  assert.equal(check(t, 'baseline'), [
    'nodes[0].capAdd[1]: SYS_ADMIN is not allowed by policy "baseline" (allowed: AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT)',
  ])
  assert.equal(
    check(
      {
        ...base,
        nodes: [{ name: 'a', privileged: true, capAdd: ['ALL'], image: 'berth-snap/x.y:z' }],
      },
      'privileged'
    ),
    []
  )
})

test('the node cap counts nodes after count', () => {
  assert.equal(
    check({
      ...base,
      nodes: [
        { name: 'a', count: 20 },
        { name: 'b', count: 13 },
      ],
    }),
    ['nodes: 33 nodes; policy "restricted" allows at most 32 in one cluster']
  )
})

test('the demo topology needs more than restricted for its runner (SYS_ADMIN), and nothing else', () => {
  const { file } = readTopology(
    readFileSync(new URL('../../examples/codenvy.yaml', import.meta.url), 'utf8')
  )
  assert.equal(
    checkPolicy(file, 'restricted', DEFAULT_POLICY).map((i) => i.path),
    ['nodes[5].capAdd[0]']
  )
  const che = readTopology(
    readFileSync(new URL('../../examples/che.yaml', import.meta.url), 'utf8')
  )
  assert.equal(checkPolicy(che.file, 'restricted', DEFAULT_POLICY), [])
})

test('a policy file may widen the allowlists, but never to a dangerous capability', () => {
  const ok = PolicyConfig.parse({
    restricted: {
      images: ['registry.local/*'],
      externalVolumes: ['shared-*'],
      secrets: ['file:app-*'],
    },
  })
  const t = {
    ...base,
    image: 'registry.local/app:2',
    nodes: [
      {
        name: 'a',
        volumes: [{ name: 'shared-cache', target: '/c', external: true }],
        env: { K: { secret: 'file:app-db' } },
      },
    ],
  }
  assert.equal(check(t, 'restricted', ok), [])
  const bad = PolicyConfig.safeParse({
    restricted: { capabilities: ['SYS_ADMIN'] },
    baseline: { capabilities: ['CAP_BPF'] },
    clusters: { 'lab-*': 'privileged' },
  })
  assert.equal(
    bad.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    [
      'restricted.capabilities.0: SYS_ADMIN can never be allowed below privileged (allowed at most: AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT)',
      'baseline.capabilities.0: BPF can never be allowed below privileged (allowed at most: AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT)',
      'clusters.lab-*: Invalid option: expected one of "restricted"|"baseline"',
    ]
  )
})

test('levels: a cluster override (first match) wins over the entry; admin tokens are privileged unless they name a level', () => {
  const policy = PolicyConfig.parse({ clusters: { 'lab-*': 'baseline', 'prod-*': 'restricted' } })
  assert.is(levelFor(policy, 'restricted', 'lab-1'), 'baseline')
  assert.is(levelFor(policy, 'privileged', 'prod-1'), 'restricted')
  assert.is(levelFor(policy, 'restricted', 'dev-1'), 'restricted')
  const admin = tokenPrincipal(
    { name: 'root', scopes: ['admin'], clusters: ['*'], level: null },
    'restricted'
  )
  const ci = tokenPrincipal(
    { name: 'ci', scopes: ['install'], clusters: ['team-a-*'], level: null },
    'restricted'
  )
  assert.is(admin.level('x'), 'privileged')
  assert.is(ci.level('x'), 'restricted')
  assert.is(ci.denies('install', 'team-a-web'), null)
  assert.is(
    ci.denies('install', 'team-b-web'),
    'the token "ci" may not act on cluster "team-b-web" (its clusters: team-a-*)'
  )
  assert.is(
    ci.denies('prune', 'team-a-web'),
    'the token "ci" lacks the "restore" scope (options.keep prunes snapshots, which is removal)'
  )
  assert.is(ci.denies('read', 'team-a-web'), 'the token "ci" lacks the "read" scope')
})

test('restricted: ports only on the allowed addresses and ranges, safe sysctls only, no root user, a memory limit on every node', () => {
  const t = {
    name: 'p',
    image: 'berth/demo:1',
    domain: 'p.local',
    nodes: [
      {
        name: 'web',
        ports: ['8080:80', '0.0.0.0:8443:443', '80:8000'],
        resources: { memory: '128m' },
      },
      {
        name: 'db',
        user: 'root',
        sysctls: { 'net.ipv4.tcp_keepalive_time': 600, 'net.core.somaxconn': 1024 },
      },
      { name: 'ok', user: '1000:1000', resources: { memory: '1g' } },
    ],
  }
  assert.equal(check(t), [
    'nodes[0].ports: 0.0.0.0:8443/tcp: host address 0.0.0.0 is not allowed by policy "restricted" (allowed: 127.0.0.1)',
    'nodes[0].ports: 127.0.0.1:80/tcp: host port 80 is not allowed by policy "restricted" (allowed: 1024-65535)',
    'nodes[1].user: user "root" is root, which policy "restricted" does not allow a topology to ask for',
    'nodes[1].sysctls.net.core.somaxconn: net.core.somaxconn is not allowed by policy "restricted" (allowed: kernel.shm_rmid_forced, net.ipv4.ip_local_port_range, net.ipv4.ip_local_reserved_ports, net.ipv4.ip_unprivileged_port_start, net.ipv4.ping_group_range, net.ipv4.tcp_syncookies, net.ipv4.tcp_keepalive_time, net.ipv4.tcp_keepalive_intvl, net.ipv4.tcp_keepalive_probes, net.ipv4.tcp_fin_timeout)',
    'nodes[1].resources.memory: node "db" has no memory limit; policy "restricted" requires one (set resources.memory on the node or in defaults)',
  ])
  // Baseline lets root and no memory limit through; its ports and sysctls are the same by default.
  assert.equal(
    check(t, 'baseline').map((l) => l.split(':')[0]),
    ['nodes[0].ports', 'nodes[0].ports', 'nodes[1].sysctls.net.core.somaxconn']
  )
  const wide = PolicyConfig.parse({
    restricted: {
      ports: { addresses: ['0.0.0.0'], ranges: ['80', '8000-9000'] },
      sysctls: ['net.*'],
      requireMemoryLimit: false,
      rootUser: true,
    },
  })
  assert.equal(check(t, 'restricted', wide), [])
  assert.equal(
    PolicyConfig.safeParse({
      restricted: { ports: { addresses: ['localhost'], ranges: ['http'] } },
    }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    [
      'restricted.ports.addresses.0: is not an IPv4 address',
      'restricted.ports.ranges.0: is not a port or range like 8000-8999',
    ]
  )
})

test('swarm hosts: every host by default; a list (globs) limits placement.host, and then every node must name one', () => {
  const swarm = {
    ...base,
    network: { mode: 'swarm' },
    nodes: [
      { name: 'master', placement: { host: 'lab1' } },
      { name: 'runner', placement: { host: 'build-7' } },
      { name: 'api', placement: { spread: true } },
      { name: 'site' },
    ],
  }
  assert.equal(check(swarm), [], 'the default: any host the engines file names')
  const limited = PolicyConfig.parse({ restricted: { hosts: ['lab1', 'build-*'] } })
  assert.equal(check(swarm, 'restricted', limited), [
    'nodes[2].placement: policy "restricted" allows only the hosts lab1, build-*: name one (placement.host); spread, constraints or no placement may reach any host of the swarm',
    'nodes[3].placement: policy "restricted" allows only the hosts lab1, build-*: name one (placement.host); spread, constraints or no placement may reach any host of the swarm',
  ])
  const lab1 = PolicyConfig.parse({ restricted: { hosts: ['lab1'] } })
  assert.equal(check(swarm, 'restricted', lab1).slice(0, 1), [
    'nodes[1].placement.host: host "build-7" is not allowed by policy "restricted" (allowed: lab1)',
  ])
  assert.equal(check(swarm, 'baseline', lab1), [], "another level's list is its own")
  assert.equal(check(swarm, 'privileged', lab1), [])
  assert.equal(
    check({ ...base, nodes: [{ name: 'a' }] }, 'restricted', lab1),
    [],
    'a cluster on one engine has no host to choose'
  )
})
test.run()
