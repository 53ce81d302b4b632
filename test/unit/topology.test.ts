import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { BerthError } from '../../scripts/engine/errors.ts'
import {
  HOSTNAME_LABEL,
  parseTopology,
  phasesOf,
  validateTopology,
  type Topology,
} from '../../scripts/engine/topology.ts'

function example(file: string): Topology {
  const text = readFileSync(new URL(`../../examples/${file}`, import.meta.url), 'utf8')
  return parseTopology(text, { file })
}

/** A valid topology to break one key at a time. */
function base(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'demo',
    image: 'berth/demo:1',
    domain: 'demo.local',
    nodes: [{ name: 'master' }],
    ...extra,
  }
}

function failure(fn: () => unknown): BerthError {
  try {
    fn()
  } catch (err) {
    if (err instanceof BerthError) return err
    throw err
  }
  throw new Error('expected a BerthError, but the topology was accepted')
}

/** Asserts that `input` is refused and that one line of the message is exactly `line`. */
function refuses(input: unknown, line: string): BerthError {
  const err = failure(() => validateTopology(input))
  assert.is(err.code, 'invalid_topology')
  const lines = err.message.split('\n')
  assert.ok(lines.includes(line), `expected the line\n  ${line}\nin\n  ${lines.join('\n  ')}`)
  return err
}

// ---------------------------------------------------------------------------------------------
// Examples

test('the codenvy example expands to the eight nodes of the 2015 installer', () => {
  const t = example('codenvy.yaml')
  const names = ['master', 'data', 'api', 'site', 'builder1', 'runner1', 'datasource', 'analytics']
  assert.equal(
    t.nodes.map((n) => n.name),
    names
  )
  assert.equal(
    t.nodes.map((n) => n.hostname),
    names.map((n) => `${n}.codenvy.local`)
  )
  assert.equal(
    t.nodes.map((n) => n.index),
    [0, 1, 2, 3, 4, 5, 6, 7]
  )
  assert.equal(phasesOf(t), [[0], [1], [2, 3, 4, 5, 6, 7]])
  assert.ok(t.nodes.every((n) => n.image === 'berth/demo:1'))
  assert.equal(t.network, { mode: 'static', subnet: null, addresses: 'pinned' })
})

test('the codenvy example gives every node the defaults and the runner its capability', () => {
  const t = example('codenvy.yaml')
  for (const node of t.nodes) {
    assert.equal(node.bootstrap, ['/opt/demo/bootstrap.sh'])
    assert.is(node.timeoutSeconds, 120)
    assert.equal(node.healthcheck, {
      cmd: ['/opt/demo/health.sh'],
      intervalSeconds: 30,
      timeoutSeconds: 5,
      retries: 3,
      startPeriodSeconds: 0,
    })
  }
  const runner = t.nodes.find((n) => n.name === 'runner1')!
  assert.is(runner.role, 'runner')
  assert.equal(runner.capAdd, ['SYS_ADMIN'])
  assert.is(runner.privileged, false)
  const data = t.nodes.find((n) => n.name === 'data')!
  assert.equal(data.volumes, [
    { name: 'data', target: '/var/lib/demo', external: false, readOnly: false },
  ])
  assert.equal(t.hooks, { preSnapshot: ['sh', '-c', 'sync'], postRestore: null })
})

test('the che example is one node with its workspace volume and its IDE port on this host', () => {
  const t = example('che.yaml')
  assert.is(t.name, 'che')
  assert.is(t.nodes.length, 1)
  const [che] = t.nodes
  assert.is(che.hostname, 'che.che.local')
  assert.equal(che.volumes, [
    { name: 'workspace', target: '/projects', external: false, readOnly: false },
  ])
  assert.equal(che.bootstrap, ['/opt/demo/bootstrap.sh', '--standalone'])
  assert.equal(che.healthcheck?.http, { port: 8080, path: '/health', expect: 200 })
  assert.equal(che.ports, [
    { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 8080, protocol: 'tcp' },
  ])
  assert.is(che.timeoutSeconds, 300)
  assert.equal(phasesOf(t), [[0]])
})

// ---------------------------------------------------------------------------------------------
// Expansion and defaults

test('count expands a node entry into numbered nodes that share its role', () => {
  const t = validateTopology(
    base({ nodes: [{ name: 'master' }, { name: 'runner', count: 3, phase: 2 }, { name: 'site' }] })
  )
  assert.equal(
    t.nodes.map((n) => [n.name, n.role, n.hostname, n.index, n.phase]),
    [
      ['master', 'master', 'master.demo.local', 0, 0],
      ['runner1', 'runner', 'runner1.demo.local', 1, 2],
      ['runner2', 'runner', 'runner2.demo.local', 2, 2],
      ['runner3', 'runner', 'runner3.demo.local', 3, 2],
      ['site', 'site', 'site.demo.local', 4, 0],
    ]
  )
})

test('count 1 still numbers the node, as the 2015 installer did', () => {
  const t = validateTopology(base({ nodes: [{ name: 'builder', count: 1 }] }))
  assert.equal(
    t.nodes.map((n) => n.name),
    ['builder1']
  )
})

test('phasesOf groups node indexes by ascending phase whatever the file order', () => {
  const t = validateTopology(
    base({
      nodes: [
        { name: 'c', phase: 5 },
        { name: 'a', phase: 0 },
        { name: 'w', count: 2, phase: 5 },
        { name: 'b', phase: 1 },
      ],
    })
  )
  assert.equal(phasesOf(t), [[1], [4], [0, 2, 3]])
})

test('defaults merge into each node: env by key with the node winning, capAdd as a union', () => {
  const t = validateTopology(
    base({
      defaults: {
        env: { LOG: 'info', REGION: 'eu' },
        capAdd: ['NET_RAW', 'cap_net_admin'],
        privileged: false,
        timeoutSeconds: 60,
      },
      nodes: [
        { name: 'a', env: { LOG: 'debug', EXTRA: 'x' }, capAdd: ['CAP_SYS_ADMIN', 'net_admin'] },
        { name: 'b', timeoutSeconds: 10, privileged: true },
      ],
    })
  )
  const [a, b] = t.nodes
  assert.equal(a.env, { LOG: 'debug', REGION: 'eu', EXTRA: 'x' })
  assert.equal(a.capAdd, ['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN'])
  assert.is(a.timeoutSeconds, 60)
  assert.is(a.privileged, false)
  assert.equal(b.env, { LOG: 'info', REGION: 'eu' })
  assert.equal(b.capAdd, ['NET_ADMIN', 'NET_RAW'])
  assert.is(b.timeoutSeconds, 10)
  assert.is(b.privileged, true)
})

test('capAdd ALL absorbs the other capabilities', () => {
  const t = validateTopology(
    base({ defaults: { capAdd: ['NET_ADMIN'] }, nodes: [{ name: 'a', capAdd: ['all'] }] })
  )
  assert.equal(t.nodes[0].capAdd, ['ALL'])
})

test('a node turns off the default bootstrap and healthcheck with null or false', () => {
  const t = validateTopology(
    base({
      defaults: { bootstrap: ['/opt/demo/bootstrap.sh'], healthcheck: { cmd: 'true' } },
      nodes: [
        { name: 'a', bootstrap: null, healthcheck: null },
        { name: 'b', bootstrap: false, healthcheck: false },
        { name: 'c' },
      ],
    })
  )
  const [a, b, c] = t.nodes
  assert.is(a.bootstrap, null)
  assert.is(a.healthcheck, null)
  assert.is(b.bootstrap, null)
  assert.is(b.healthcheck, null)
  assert.equal(c.bootstrap, ['/opt/demo/bootstrap.sh'])
  assert.equal(c.healthcheck?.cmd, ['sh', '-c', 'true'])
})

test('a string bootstrap, healthcheck or hook runs through sh -c; a list is the argv', () => {
  const t = validateTopology(
    base({
      nodes: [
        {
          name: 'a',
          bootstrap: 'echo "$HOSTNAME" > /tmp/x && sync',
          healthcheck: { cmd: 'test -f /tmp/x' },
        },
        { name: 'b', bootstrap: ['/bin/echo', 'a b'] },
      ],
      hooks: { preSnapshot: 'sync', postRestore: ['/opt/demo/rewire.sh', '--all'] },
    })
  )
  assert.equal(t.nodes[0].bootstrap, ['sh', '-c', 'echo "$HOSTNAME" > /tmp/x && sync'])
  assert.equal(t.nodes[0].healthcheck?.cmd, ['sh', '-c', 'test -f /tmp/x'])
  assert.equal(t.nodes[1].bootstrap, ['/bin/echo', 'a b'])
  assert.equal(t.hooks, {
    preSnapshot: ['sh', '-c', 'sync'],
    postRestore: ['/opt/demo/rewire.sh', '--all'],
  })
})

test('env values that YAML reads as numbers or booleans become strings', () => {
  const t = parseTopology(
    'name: demo\nimage: berth/demo:1\ndomain: demo.local\nnodes:\n  - name: a\n    env: { PORT: 8080, DEBUG: true, NAME: x }\n'
  )
  assert.equal(t.nodes[0].env, { PORT: '8080', DEBUG: 'true', NAME: 'x' })
})

test('volumes take the short form with a mode and the long form with external', () => {
  const t = validateTopology(
    base({
      nodes: [
        {
          name: 'a',
          volumes: [
            'data:/var/lib/demo',
            'cache:/cache:ro',
            'logs:/var/log/demo:rw',
            { name: 'shared', target: '/shared', external: true },
          ],
        },
      ],
    })
  )
  assert.equal(t.nodes[0].volumes, [
    { name: 'data', target: '/var/lib/demo', external: false, readOnly: false },
    { name: 'cache', target: '/cache', external: false, readOnly: true },
    { name: 'logs', target: '/var/log/demo', external: false, readOnly: false },
    { name: 'shared', target: '/shared', external: true, readOnly: false },
  ])
})

test('the image comes from the node, else defaults, else the top level', () => {
  const t = validateTopology({
    name: 'demo',
    domain: 'demo.local',
    defaults: { image: 'registry.local:5000/berth/base:2' },
    nodes: [{ name: 'a' }, { name: 'b', image: 'berth/other@sha256:' + 'ab'.repeat(32) }],
  })
  assert.is(t.image, 'registry.local:5000/berth/base:2')
  assert.equal(
    t.nodes.map((n) => n.image),
    ['registry.local:5000/berth/base:2', 'berth/other@sha256:' + 'ab'.repeat(32)]
  )
})

test('network defaults to static without a subnet; a given subnet is kept', () => {
  assert.equal(validateTopology(base()).network, {
    mode: 'static',
    subnet: null,
    addresses: 'pinned',
  })
  assert.equal(
    validateTopology(base({ network: { mode: 'dynamic', subnet: '10.99.0.0/16' } })).network,
    {
      mode: 'dynamic',
      subnet: '10.99.0.0/16',
      addresses: 'dynamic',
    }
  )
})

test('YAML anchors and merge keys share settings between node entries', () => {
  const t = parseTopology(
    [
      'name: demo',
      'image: berth/demo:1',
      'domain: demo.local',
      'nodes:',
      '  - &worker { name: api, phase: 2, env: { ROLE: worker } }',
      '  - { <<: *worker, name: site }',
    ].join('\n')
  )
  assert.equal(
    t.nodes.map((n) => [n.name, n.phase, n.env.ROLE]),
    [
      ['api', 2, 'worker'],
      ['site', 2, 'worker'],
    ]
  )
})

test('a .json file is read as JSON', () => {
  const t = parseTopology(JSON.stringify(base()), { file: 'demo.json' })
  assert.is(t.nodes[0].hostname, 'master.demo.local')
})

test('HOSTNAME_LABEL accepts RFC 1123 labels in lower case only', () => {
  for (const ok of ['a', 'runner1', 'data-2', '0', 'a'.repeat(63)])
    assert.ok(HOSTNAME_LABEL.test(ok), ok)
  for (const bad of ['', '-a', 'a-', 'Data', 'a_b', 'a.b', 'a'.repeat(64)]) {
    assert.not.ok(HOSTNAME_LABEL.test(bad), bad)
  }
})

// ---------------------------------------------------------------------------------------------
// Refusals: each names the path and the reason

test('an unknown key is refused with the nearest known key', () => {
  refuses(
    base({ nodes: [{ name: 'master', privilegd: true }] }),
    'nodes[0].privilegd: unknown key (did you mean "privileged"?)'
  )
  refuses(base({ colour: 'blue' }), 'colour: unknown key')
  refuses(
    base({ nodes: [{ name: 'a', healthcheck: { cmd: 'true', intervalSecond: 5 } }] }),
    'nodes[0].healthcheck.intervalSecond: unknown key (did you mean "intervalSeconds"?)'
  )
  refuses(
    base({ nodes: [{ name: 'a', volumes: [{ name: 'v', target: '/v', readonly: true }] }] }),
    'nodes[0].volumes[0].readonly: unknown key (did you mean "readOnly"?)'
  )
})

test('a node name that is not a hostname label is refused', () => {
  refuses(
    base({ nodes: [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'Data_1' }] }),
    `nodes[3].name: "Data_1" is not a valid hostname label (lowercase letters, digits and '-', not starting or ending with '-')`
  )
})

test('names that collide after count expansion are refused, naming both entries', () => {
  refuses(
    base({
      nodes: [
        { name: 'master' },
        { name: 'data' },
        { name: 'runner1' },
        { name: 'api' },
        { name: 'runner', count: 2 },
      ],
    }),
    'nodes[4].name: "runner1" (runner × 2) duplicates the node "runner1" of nodes[2]'
  )
  refuses(
    base({ nodes: [{ name: 'api' }, { name: 'api' }] }),
    'nodes[1].name: "api" duplicates the node "api" of nodes[0]'
  )
})

test('a hostname longer than 63 characters is refused, counting the longest expanded name', () => {
  const name = `runner${'x'.repeat(48)}` // runner…12.codenvy.local is 70 characters
  refuses(
    {
      name: 'codenvy',
      image: 'berth/demo:1',
      domain: 'codenvy.local',
      nodes: [{ name: 'master' }, { name: 'data' }, { name, count: 12 }],
    },
    `nodes[2].name: hostname "${name}12.codenvy.local" is 70 characters; the limit is 63`
  )
})

test('a volume mounted twice in one node is refused, by name and by target', () => {
  const input = {
    ...base(),
    nodes: [
      { name: 'master' },
      {
        name: 'data',
        volumes: ['data:/var/lib/demo', 'data:/srv', { name: 'other', target: '/var/lib/demo' }],
      },
    ],
  }
  refuses(input, 'nodes[1].volumes[1]: volume "data" is mounted twice in node "data"')
  refuses(input, 'nodes[1].volumes[2]: target "/var/lib/demo" is used twice in node "data"')
})

test('a volume on a path Docker manages, such as /etc/hosts, is refused', () => {
  refuses(
    base({ nodes: [{ name: 'a', volumes: ['hosts:/etc/hosts'] }] }),
    'nodes[0].volumes[0]: target "/etc/hosts" is managed by Docker, which rewrites it on every start'
  )
  refuses(
    base({ nodes: [{ name: 'a', volumes: [{ name: 'r', target: '/etc/resolv.conf' }] }] }),
    'nodes[0].volumes[0].target: target "/etc/resolv.conf" is managed by Docker, which rewrites it on every start'
  )
})

test('a volume with a relative, unnormalised or root target or a bad name is refused', () => {
  const nodes = [
    {
      name: 'a',
      volumes: [
        'data:var/lib',
        'data2:/var/lib/',
        'data3:/a/../b',
        'data4:/',
        'bad$name:/x',
        'oops',
        'm:/m:rx',
      ],
    },
  ]
  const err = failure(() => validateTopology(base({ nodes })))
  assert.equal(err.message.split('\n'), [
    'nodes[0].volumes[0]: target "var/lib" is not an absolute path',
    'nodes[0].volumes[1]: target "/var/lib/" is not a normalised path (did you mean "/var/lib"?)',
    'nodes[0].volumes[2]: target "/a/../b" is not a normalised path (did you mean "/b"?)',
    'nodes[0].volumes[3]: target "/" would cover the whole filesystem',
    `nodes[0].volumes[4]: "bad$name" is not a valid volume name (up to 63 letters, digits, '_', '.' and '-', starting with a letter or digit)`,
    'nodes[0].volumes[5]: "oops" is not a volume (write "name:/target" or "name:/target:ro")',
    'nodes[0].volumes[6]: "rx" is not a mount mode (use ro or rw)',
  ])
})

test('a subnet that is not an IPv4 CIDR is refused', () => {
  refuses(
    base({ network: { subnet: '10.211.0/24' } }),
    'network.subnet: "10.211.0/24" is not an IPv4 CIDR (like 10.211.0.0/24)'
  )
})

test('a subnet written with host bits is refused with the network address it meant', () => {
  refuses(
    base({ network: { subnet: '10.211.0.5/24' } }),
    'network.subnet: 10.211.0.5/24 is not a network address (did you mean 10.211.0.0/24?)'
  )
})

test('a subnet prefix outside /16../28 is refused', () => {
  refuses(
    base({ network: { subnet: '10.0.0.0/8' } }),
    'network.subnet: 10.0.0.0/8 has prefix length /8; use /16 to /28'
  )
  refuses(
    base({ network: { subnet: '10.211.0.0/30' } }),
    'network.subnet: 10.211.0.0/30 has prefix length /30; use /16 to /28'
  )
})

test('a static subnet too small for the nodes is refused: the lower half from .10 holds them', () => {
  refuses(
    base({ network: { subnet: '10.211.0.0/27' }, nodes: [{ name: 'runner', count: 7 }] }),
    'network.subnet: 10.211.0.0/27 holds at most 6 nodes in static mode; the topology has 7 (a /26 would do)'
  )
  refuses(
    base({ network: { subnet: '10.211.0.0/28' } }),
    'network.subnet: 10.211.0.0/28 holds at most 0 nodes in static mode; the topology has 1 (a /27 would do)'
  )
  const fits = validateTopology(
    base({ network: { subnet: '10.211.0.0/27' }, nodes: [{ name: 'runner', count: 6 }] })
  )
  assert.is(fits.nodes.length, 6)
})

test('an env key starting with BERTH_ is refused as reserved', () => {
  refuses(
    base({ defaults: { env: { BERTH_NODE: 'x' } } }),
    'defaults.env.BERTH_NODE: BERTH_NODE is reserved: berth sets BERTH_* itself'
  )
})

test('an env key that is not a variable name or a value that is not a scalar is refused', () => {
  const err = failure(() =>
    validateTopology(base({ nodes: [{ name: 'a', env: { '1X': 'a', OK: null } }] }))
  )
  assert.equal(err.message.split('\n').sort(), [
    `nodes[0].env.OK: expected a string, number or boolean, or { secret: <reference> }, got null`,
    `nodes[0].env["1X"]: "1X" is not a valid environment variable name (letters, digits and '_', not starting with a digit)`,
  ])
})

test('an unknown capability is refused, with the nearest one', () => {
  refuses(
    base({ nodes: [{ name: 'a', capAdd: ['NET_ADMIN', 'cap_net_admn'] }] }),
    'nodes[0].capAdd[1]: "cap_net_admn" is not a Linux capability (did you mean "NET_ADMIN"?)'
  )
  refuses(
    base({ defaults: { capAdd: ['DOCKER'] } }),
    'defaults.capAdd[0]: "DOCKER" is not a Linux capability'
  )
})

test('a node left without an image is refused', () => {
  refuses(
    {
      name: 'demo',
      domain: 'demo.local',
      nodes: [{ name: 'a', image: 'x:1' }, { name: 'b', image: 'y:1' }, { name: 'c' }],
    },
    'nodes[2].image: no image (set image at the top level, in defaults, or on the node)'
  )
})

test('an image that is not a Docker reference is refused', () => {
  refuses(
    base({ image: 'Berth/Demo:1' }),
    'image: "Berth/Demo:1" is not a Docker image reference: repository names are lowercase'
  )
  refuses(
    base({ nodes: [{ name: 'a', image: 'berth/demo 1' }] }),
    'nodes[0].image: "berth/demo 1" is not a Docker image reference: it contains whitespace'
  )
  refuses(base({ defaults: { image: '' } }), 'defaults.image: must not be empty')
})

test('a count outside 1..64 or not an integer is refused', () => {
  refuses(
    base({ nodes: [{ name: 'a', count: 0 }] }),
    'nodes[0].count: must be an integer from 1 to 64, got 0'
  )
  refuses(
    base({ nodes: [{ name: 'a', count: 65 }] }),
    'nodes[0].count: must be an integer from 1 to 64, got 65'
  )
  refuses(
    base({ nodes: [{ name: 'a', count: 1.5 }] }),
    'nodes[0].count: must be an integer from 1 to 64, got 1.5'
  )
  refuses(
    base({ nodes: [{ name: 'a', count: '2' }] }),
    'nodes[0].count: must be an integer from 1 to 64, got "2"'
  )
})

test('a phase outside 0..99 is refused', () => {
  refuses(
    base({ nodes: [{ name: 'a', phase: 100 }] }),
    'nodes[0].phase: must be an integer from 0 to 99, got 100'
  )
  refuses(
    base({ nodes: [{ name: 'a', phase: -1 }] }),
    'nodes[0].phase: must be an integer from 0 to 99, got -1'
  )
})

test('a bootstrap that is neither a command nor null is refused', () => {
  refuses(
    base({ nodes: [{ name: 'a', bootstrap: true }] }),
    'nodes[0].bootstrap: expected a command: a string (run by sh -c) or a list of arguments, { command, okExitCodes, retries, retryDelaySeconds, rerun }, or null for none, got true'
  )
  refuses(
    base({ nodes: [{ name: 'a', bootstrap: ['/x', 3] }] }),
    'nodes[0].bootstrap[1]: expected a string, got 3'
  )
  refuses(base({ hooks: { preSnapshot: [] } }), 'hooks.preSnapshot: must have at least 1 item(s)')
})

test('a missing key, a bad cluster name, a bad domain or no nodes are refused', () => {
  refuses(base({ nodes: [{ phase: 1 }] }), 'nodes[0].name: required')
  refuses({ name: 'demo', image: 'berth/demo:1', nodes: [{ name: 'a' }] }, 'domain: required')
  refuses(
    base({ name: 'My Cluster' }),
    `name: "My Cluster" is not a valid cluster name (1 to 40 lowercase letters, digits and '-', not starting or ending with '-')`
  )
  refuses(
    base({ domain: 'Codenvy.local' }),
    'domain: "Codenvy.local" is not a domain (lowercase hostname labels joined by dots, like codenvy.local)'
  )
  refuses(base({ nodes: [] }), 'nodes: at least one node is required')
  refuses(base({ nodes: { master: {} } }), 'nodes: expected a list, got a mapping')
  refuses([], 'topology: expected a mapping, got a list')
})

test('more than 250 nodes after expansion are refused', () => {
  const nodes = ['a', 'b', 'c', 'd'].map((name) => ({ name, count: 64 }))
  refuses(
    base({ nodes, network: { mode: 'dynamic' } }),
    'nodes: 256 nodes after expansion; the limit is 250'
  )
})

test('a YAML syntax error is refused with file:line:col', () => {
  const text = 'name: demo\ndomain: demo.local\nnodes: [ { name: a }\nimage: x\n'
  const err = failure(() => parseTopology(text, { file: 'demo.yaml' }))
  assert.is(err.code, 'invalid_topology')
  assert.match(err.message, /^demo\.yaml:4:1: /)
  assert.equal(err.info.issues?.[0].path, 'demo.yaml:4:1')
})

test('a duplicate YAML key is refused with its position', () => {
  const err = failure(() => parseTopology('name: a\nname: b\n'))
  assert.is(err.message, 'topology:2:1: Map keys must be unique')
})

test('a JSON syntax error is refused with file:line:col', () => {
  const err = failure(() => parseTopology('{\n  "name": "demo",\n}\n', { file: 'demo.json' }))
  assert.is(err.code, 'invalid_topology')
  assert.match(err.message, /^demo\.json:3:1: /)
})

test('an empty file is refused', () => {
  const err = failure(() => parseTopology('# nothing yet\n', { file: 'empty.yaml' }))
  assert.is(err.message, 'empty.yaml: the file is empty')
})

test('every issue is reported at once, one per line, each with its path', () => {
  const err = failure(() =>
    validateTopology({
      name: 'demo',
      domain: 'demo.local',
      image: 'berth/demo:1',
      network: { subnet: '10.211.0.5/24' },
      nodes: [
        { name: 'master', privilegd: true },
        { name: 'Data_1', phase: 100 },
        { name: 'runner', count: 2, env: { BERTH_X: '1' } },
        { name: 'runner1', volumes: ['a:/etc/hosts', 'b:/b', 'b:/c'] },
      ],
    })
  )
  assert.is(err.code, 'invalid_topology')
  const expected = [
    'network.subnet: 10.211.0.5/24 is not a network address (did you mean 10.211.0.0/24?)',
    'nodes[0].privilegd: unknown key (did you mean "privileged"?)',
    `nodes[1].name: "Data_1" is not a valid hostname label (lowercase letters, digits and '-', not starting or ending with '-')`,
    'nodes[1].phase: must be an integer from 0 to 99, got 100',
    'nodes[2].env.BERTH_X: BERTH_X is reserved: berth sets BERTH_* itself',
    'nodes[3].volumes[0]: target "/etc/hosts" is managed by Docker, which rewrites it on every start',
    'nodes[3].name: "runner1" duplicates the node "runner1" of nodes[2] (runner × 2)',
    'nodes[3].volumes[2]: volume "b" is mounted twice in node "runner1"',
  ]
  assert.equal(err.message.split('\n'), expected)
  assert.equal(
    err.info.issues,
    expected.map((line) => {
      const at = line.indexOf(': ')
      return { path: line.slice(0, at), message: line.slice(at + 2) }
    })
  )
})

test.run()
