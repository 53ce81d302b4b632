import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { BerthError } from '../../scripts/engine/errors.ts'
import { createOptions } from '../../scripts/engine/nodes.ts'
import { parseBytes, splitWords } from '../../scripts/engine/runtime-keys.ts'
import { loadTopologyFile } from '../../scripts/engine/topology-sources.ts'
import { validateTopology } from '../../scripts/engine/topology.ts'

const base = (node: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  name: 'p',
  image: 'berth/demo:1',
  domain: 'p.local',
  nodes: [{ name: 'web', ...node }],
  ...extra,
})

function lines(input: unknown): string[] {
  try {
    validateTopology(input)
  } catch (err) {
    if (err instanceof BerthError && err.code === 'invalid_topology') return err.message.split('\n')
    throw err
  }
  throw new Error('expected the topology to be refused')
}

test('every form of the new keys becomes one value the engine uses as it is', () => {
  const t = validateTopology(
    base(
      {
        command: `httpd -f -p "8080" -h '/var/www site'`,
        entrypoint: ['/bin/tini', '--'],
        init: true,
        user: 'app:staff',
        workdir: '/srv/app',
        labels: ['tier=web', 'team=ops'],
        extraHosts: ['ldap.corp:10.0.0.5', 'v6.corp=fd00::1'],
        tmpfs: ['/run', '/scratch:size=64m,mode=1777'],
        shmSize: '256m',
        sysctls: ['net.ipv4.tcp_keepalive_time=600'],
        ulimits: { nofile: { soft: 1024, hard: 4096 }, nproc: 512 },
        resources: { memory: '1.5g', cpus: 1.5, pids: 512 },
        restart: 'on-failure:3',
        ports: [
          '8080:80',
          '0.0.0.0:8443:443',
          '6000-6001:7000-7001/udp',
          { target: 9000, published: 19000 },
        ],
        files: [{ target: '/etc/app.conf', content: 'a=1\n', mode: '0640', owner: 'app' }],
        bootstrap: {
          command: 'puppet agent --test',
          okExitCodes: [0, 2],
          retries: 5,
          retryDelaySeconds: 3,
        },
        healthcheck: { http: 'http://:80/status', expect: 204 },
      },
      {
        defaults: {
          resources: { memory: '64m', pids: 100 },
          labels: { tier: 'default', owner: 'me' },
        },
      }
    )
  )
  const n = t.nodes[0]
  assert.equal(n.command, ['httpd', '-f', '-p', '8080', '-h', '/var/www site'])
  assert.equal(
    [n.entrypoint, n.init, n.user, n.workdir],
    [['/bin/tini', '--'], true, 'app:staff', '/srv/app']
  )
  assert.equal(n.labels, { tier: 'web', owner: 'me', team: 'ops' })
  assert.equal(n.extraHosts, [
    { name: 'ldap.corp', ip: '10.0.0.5' },
    { name: 'v6.corp', ip: 'fd00::1' },
  ])
  assert.equal(n.tmpfs, [
    { target: '/run', options: '' },
    { target: '/scratch', options: 'size=64m,mode=1777' },
  ])
  assert.equal([n.shmSize, n.sysctls], [256 * 1024 ** 2, { 'net.ipv4.tcp_keepalive_time': '600' }])
  assert.equal(n.ulimits, [
    { name: 'nofile', soft: 1024, hard: 4096 },
    { name: 'nproc', soft: 512, hard: 512 },
  ])
  // The node's resources win key by key over the defaults'.
  assert.equal(n.resources, { memory: 1.5 * 1024 ** 3, cpus: 1.5, pids: 512 })
  assert.equal(n.restart, { name: 'on-failure', maxRetries: 3 })
  assert.equal(
    n.ports.map((p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}/${p.protocol}`),
    [
      '127.0.0.1:8080->80/tcp',
      '0.0.0.0:8443->443/tcp',
      '127.0.0.1:6000->7000/udp',
      '127.0.0.1:6001->7001/udp',
      '127.0.0.1:19000->9000/tcp',
    ]
  )
  assert.equal(n.files, [
    {
      target: '/etc/app.conf',
      data: Buffer.from('a=1\n').toString('base64'),
      mode: 0o640,
      owner: 'app',
    },
  ])
  assert.equal(
    [n.bootstrap, n.bootstrapPolicy],
    [
      ['sh', '-c', 'puppet agent --test'],
      { okExitCodes: [0, 2], retries: 5, retryDelaySeconds: 3, rerun: false },
    ]
  )
  assert.equal(n.healthcheck?.http, { port: 80, path: '/status', expect: 204 })
})

test('the create options carry each key where Docker reads it', () => {
  const t = validateTopology(
    base({
      command: ['sleep', 'infinity'],
      init: true,
      ports: ['8080:80'],
      resources: { memory: '64m', cpus: 0.5, pids: 50 },
      restart: 'unless-stopped',
      ulimits: { nofile: 1024 },
      healthcheck: { tcp: 80 },
    })
  )
  const { options } = createOptions(t, t.nodes[0], { network: 'berth.p' }, 'j1')
  const h = options.HostConfig!
  assert.equal(options.Cmd, ['sleep', 'infinity'])
  assert.equal(options.ExposedPorts, { '80/tcp': {} })
  assert.equal(h.PortBindings, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] })
  assert.equal(
    [h.Init, h.Memory, h.MemorySwap, h.NanoCpus, h.PidsLimit],
    [true, 64 * 1024 ** 2, 64 * 1024 ** 2, 5e8, 50]
  )
  assert.equal(h.RestartPolicy, { Name: 'unless-stopped', MaximumRetryCount: 0 })
  assert.equal(h.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 1024 }])
  // A tcp probe is berth's: Docker gets no HEALTHCHECK for it.
  assert.is(options.Healthcheck, undefined)
  // A rehearsal beside the running cluster publishes nothing, and is the same node (same hash).
  const rehearsal = createOptions(t, t.nodes[0], { network: 'berth.p', unpublished: true }, 'j1')
  assert.is(rehearsal.options.HostConfig!.PortBindings, undefined)
  assert.is(rehearsal.hash, createOptions(t, t.nodes[0], { network: 'berth.p' }, 'j1').hash)
})

test('a node without the new keys keeps its definition hash: a newer berth rebuilds nothing', () => {
  const t = validateTopology(base({ bootstrap: 'true', healthcheck: { cmd: 'true' } }))
  const { options, hash } = createOptions(t, t.nodes[0], { network: 'berth.p' }, 'j1')
  for (const key of ['Cmd', 'Entrypoint', 'User', 'WorkingDir', 'ExposedPorts'])
    assert.is((options as Record<string, unknown>)[key], undefined, key)
  for (const key of [
    'Init',
    'PortBindings',
    'Memory',
    'RestartPolicy',
    'Tmpfs',
    'Ulimits',
    'Sysctls',
    'ShmSize',
  ]) {
    assert.is((options.HostConfig as Record<string, unknown>)[key], undefined, key)
  }
  // Computed once from the same topology by the berth before these keys existed.
  assert.is(hash, '72fc796fe07d7ed4')
})

test('what changes a node changes its hash: ports, resources, a file; okExitCodes and tcp/http probes do not', () => {
  const hashOf = (node: Record<string, unknown>) => {
    const t = validateTopology(base(node))
    return createOptions(t, t.nodes[0], { network: 'berth.p' }, 'j1').hash
  }
  const plain = hashOf({ bootstrap: 'true' })
  assert.is.not(hashOf({ bootstrap: 'true', ports: ['8080:80'] }), plain)
  assert.is.not(hashOf({ bootstrap: 'true', resources: { memory: '64m' } }), plain)
  const file = (content: string) =>
    hashOf({ bootstrap: 'true', files: [{ target: '/a', content }] })
  assert.is.not(file('1'), file('2'))
  assert.is(hashOf({ bootstrap: { command: 'true', okExitCodes: [0, 2], retries: 3 } }), plain)
  assert.is(hashOf({ bootstrap: 'true', healthcheck: { tcp: 80 } }), plain)
})

test('wrong forms of every new key are refused, each naming its path', () => {
  const cases: [Record<string, unknown>, string][] = [
    [
      { ports: ['70000:80'] },
      'nodes[0].ports[0]: host port "70000" is not a port or range from 1 to 65535',
    ],
    [
      { ports: ['80'] },
      'nodes[0].ports[0]: "80" names no host port: write "HOST:CONTAINER" (like "8080:80"); berth publishes only the ports you choose',
    ],
    [{ ports: ['localhost:80:80'] }, 'nodes[0].ports[0]: "localhost" is not an IPv4 host address'],
    [
      { ports: ['5000-5010:5000'] },
      'nodes[0].ports[0]: the host range 5000-5010 and the container range 5000 differ in size',
    ],
    [{ ports: ['80:80/sctp'] }, 'nodes[0].ports[0]: "sctp" is not a protocol (tcp or udp)'],
    [
      { resources: { memory: '1.5x' } },
      'nodes[0].resources.memory: "1.5x" is not a size (write a number with k, m, g or t, like "512m" or "1.5g")',
    ],
    [{ resources: { memory: '1m' } }, 'nodes[0].resources.memory: "1m" is too small: at least 6m'],
    [{ resources: { cpus: 0 } }, 'nodes[0].resources.cpus: must be at least 0.01'],
    [{ resources: { disk: '1g' } }, 'nodes[0].resources.disk: unknown key'],
    [
      { ulimits: { nofiles: 10 } },
      'nodes[0].ulimits.nofiles: "nofiles" is not a ulimit (did you mean "nofile"?) (one of core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)',
    ],
    [
      { ulimits: { nofile: { soft: 10, hard: 5 } } },
      'nodes[0].ulimits.nofile: soft 10 is above hard 5',
    ],
    [
      { files: [{ target: '/etc/hosts', content: 'x' }] },
      'nodes[0].files[0].target: target "/etc/hosts" is managed by Docker, which rewrites it on every start',
    ],
    [
      { files: [{ target: 'etc/app.conf', content: 'x' }] },
      'nodes[0].files[0].target: target "etc/app.conf" is not an absolute path',
    ],
    [
      { files: [{ target: '/a', content: 'x', mode: 640 }] },
      'nodes[0].files[0].mode: write the mode as a quoted octal string, like "0640" (a bare 640 is read as decimal by YAML)',
    ],
    [
      { files: [{ target: '/a', source: './a' }] },
      'nodes[0].files[0].source: source is read only from a topology file on disk (berth install <file>); a topology sent as data carries the file in content',
    ],
    [
      { files: [{ target: '/data/x', content: 'x' }], volumes: ['data:/data'] },
      'nodes[0].files[0].target: "/data/x" would be hidden by volume "data" at /data: files go into the container\'s own filesystem',
    ],
    [
      { command: 42 },
      'nodes[0].command: expected a command: a string (split into words as compose does) or a list of arguments, got 42',
    ],
    [{ command: 'echo "open' }, 'nodes[0].command: "echo \\"open": unclosed " at character 6'],
    [
      { user: 'a b' },
      'nodes[0].user: "a b" is not a user (a name or uid, optionally :group or :gid, like app or 1000:1000)',
    ],
    [
      { labels: { 'berth.cluster': 'x' } },
      'nodes[0].labels["berth.cluster"]: berth.cluster: labels berth.* are berth\'s own (it finds its nodes by them)',
    ],
    [
      { extraHosts: ['web.p.local:10.0.0.1'] },
      'nodes[0].extraHosts: "web.p.local" is node "web" of this cluster: an extra host may not shadow a node',
    ],
    [
      { extraHosts: ['ldap:999.1.1.1'] },
      'nodes[0].extraHosts[0]: "999.1.1.1" is not an IP address (write "name:address", like "ldap.corp:10.0.0.5")',
    ],
    [
      { sysctls: { 'kernel.panic': 1 } },
      'nodes[0].sysctls["kernel.panic"]: kernel.panic is not a namespaced sysctl (a container may set only net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.*)',
    ],
    [
      { tmpfs: ['/x:size=1g,exec=yes'] },
      'nodes[0].tmpfs[0]: "/x:size=1g,exec=yes": "exec=yes" is not a tmpfs option (size=…, mode=…, uid=…, gid=…, ro, noexec, nosuid, nodev)',
    ],
    [
      { restart: 'sometimes' },
      'nodes[0].restart: "sometimes" is not a restart policy (no, on-failure, on-failure:N, unless-stopped or always)',
    ],
    [
      { healthcheck: { tcp: 80, cmd: 'true' } },
      'nodes[0].healthcheck: set one of cmd, tcp, not both',
    ],
    [
      { healthcheck: { http: 'http://example.com/' } },
      'nodes[0].healthcheck.http: "http://example.com/" is not a probe URL: write "http://:PORT/path" (the node\'s own address is filled in)',
    ],
    [
      { bootstrap: { command: 'x', okExitCodes: [] } },
      'nodes[0].bootstrap.okExitCodes: must have at least 1 item(s)',
    ],
    [
      { bootstrap: { command: 'x', retrys: 3 } },
      'nodes[0].bootstrap.retrys: unknown key (did you mean "retries"?)',
    ],
  ]
  for (const [node, line] of cases) {
    const got = lines(base(node))
    assert.ok(got.includes(line), `expected\n  ${line}\nin\n  ${got.join('\n  ')}`)
  }
})

test('two nodes, or the copies of a counted node, may not publish one host port', () => {
  const t = { name: 'p', image: 'berth/demo:1', domain: 'p.local' }
  assert.equal(
    lines({
      ...t,
      nodes: [
        { name: 'a', ports: ['8080:80'] },
        { name: 'b', ports: ['0.0.0.0:8080:81'] },
      ],
    }),
    ['nodes[1].ports: host port 0.0.0.0:8080/tcp is published also by node "a"']
  )
  assert.equal(lines({ ...t, nodes: [{ name: 'a', count: 2, ports: ['8080:80'] }] }), [
    'nodes[0].ports: "a" has count 2: every copy would publish 127.0.0.1:8080/tcp; give each copy its own node entry',
  ])
  // Another address, or another protocol, is another socket.
  validateTopology({
    ...t,
    nodes: [
      { name: 'a', ports: ['127.0.0.1:8080:80', '8080:80/udp'] },
      { name: 'b', ports: ['127.0.0.2:8080:80'] },
    ],
  })
})

test('sizes and words as compose reads them', () => {
  assert.equal(
    [
      parseBytes('512m'),
      parseBytes('2g'),
      parseBytes('1.5g'),
      parseBytes('64kb'),
      parseBytes(1024),
      parseBytes('2 GiB'),
    ],
    [512 * 1024 ** 2, 2 * 1024 ** 3, 1.5 * 1024 ** 3, 64 * 1024, 1024, 2 * 1024 ** 3]
  )
  assert.equal([parseBytes('1.5x'), parseBytes('-1m'), parseBytes('')], [null, null, null])
  assert.equal(splitWords(`a "b c" 'd e' f\\ g ""`), ['a', 'b c', 'd e', 'f g', ''])
})

test('a file on disk: sources read relative to its folder, never out of it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-src-'))
  mkdirSync(join(dir, 'puppet'))
  writeFileSync(join(dir, 'puppet', 'site.pp'), 'node default {}\n')
  writeFileSync(join(tmpdir(), 'berth-outside.txt'), 'secret')
  symlinkSync(join(tmpdir(), 'berth-outside.txt'), join(dir, 'link'))
  const write = (files: unknown[]) => {
    const path = join(dir, 'topology.json')
    writeFileSync(path, JSON.stringify(base({ files })))
    return path
  }
  const loaded = loadTopologyFile(
    write([{ target: '/etc/puppet/site.pp', source: './puppet/site.pp', mode: '0644' }])
  )
  assert.is(
    Buffer.from(loaded.topology.nodes[0].files[0].data, 'base64').toString(),
    'node default {}\n'
  )
  // What a job carries: the content, no path on this machine.
  assert.equal(JSON.stringify(loaded.data).includes('source'), false)
  const refused = (files: unknown[]) => {
    try {
      loadTopologyFile(write(files))
    } catch (err) {
      return (err as Error).message.replace(dir, '<dir>')
    }
    return 'accepted'
  }
  assert.is(
    refused([{ target: '/a', source: '../berth-outside.txt' }]),
    'nodes[0].files[0].source: "../berth-outside.txt" leaves the topology file\'s folder'
  )
  assert.is(
    refused([{ target: '/a', source: 'link' }]),
    'nodes[0].files[0].source: "link" leads out of the topology file\'s folder (to ../berth-outside.txt)'
  )
  assert.is(
    refused([{ target: '/a', source: 'missing.conf' }]),
    'nodes[0].files[0].source: "missing.conf" does not exist (looked for <dir>/missing.conf)'
  )
  assert.is(
    refused([{ target: '/a', source: '/etc/passwd' }]),
    'nodes[0].files[0].source: "/etc/passwd" is absolute: write it relative to the topology file\'s folder'
  )
  assert.is(
    refused([{ target: '/a', source: 'puppet' }]),
    'nodes[0].files[0].source: "puppet" is not a file'
  )
})

test.run()
