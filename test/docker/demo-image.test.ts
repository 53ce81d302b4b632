/**
 * The demo image against the real engine: build once, then a small Codenvy-shaped cluster
 * (master, data, api, a role the master does not know) on its own bridge network with fixed
 * IPs and /etc/hosts wired through ExtraHosts, as berth's static mode does.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { processLogger } from '../../scripts/engine/logger.ts'
import {
  DockerEngine,
  type ContainerCreateOptions,
  type ExecResult,
} from '../../scripts/engine/docker.ts'
import { overlaps } from '../../scripts/engine/cidr.ts'
import { BerthError } from '../../scripts/engine/errors.ts'
import { usedSubnets } from '../../scripts/engine/network.ts'
import { withTimeout } from '../helpers/async.ts'
import {
  DEMO_HASH_LABEL,
  DEMO_IMAGE,
  buildDemoImage,
  demoRootfs,
} from '../../scripts/image/demo-image.ts'

const log = processLogger(process.stderr, process.env)
const note = (line: string) => log.debug(line)
const engine = new DockerEngine()

const PREFIX = 't-demo-'
const CLUSTER = 't-demo'
const LABELS = { 'berth.cluster': CLUSTER }
const DOMAIN = 't.local'
const NET = `${PREFIX}net`
const DATA_VOLUME = `${PREFIX}data`
const PROJECTS_VOLUME = `${PREFIX}projects`

/** Host part of each node's fixed IP; `wired` nodes are in every /etc/hosts. */
const NODES: Record<string, { host: number; role: string; wired: boolean }> = {
  master: { host: 10, role: 'master', wired: true },
  data: { host: 11, role: 'data', wired: true },
  api: { host: 12, role: 'api', wired: true },
  worker1: { host: 13, role: 'worker', wired: true },
  runner1: { host: 14, role: 'runner', wired: false },
  runner2: { host: 15, role: 'runner', wired: false },
  che: { host: 16, role: 'che', wired: false },
}

const ids: Record<string, string> = {}
let prefix = '' // e.g. "10.213.0."

async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<Error> {
  try {
    await promise
  } catch (err) {
    assert.match((err as Error).message, pattern)
    return err as Error
  }
  assert.unreachable(`expected a rejection matching ${pattern}`)
  throw new Error('unreachable')
}

/** A test with its own deadline (uvu has none). */
function it(name: string, fn: () => Promise<void>, ms = 60_000) {
  test(name, () => withTimeout(fn(), ms, name))
}

async function until(what: string, fn: () => Promise<boolean>, ms: number, every = 200) {
  const end = Date.now() + ms
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`${what}: not true after ${ms} ms`)
    await new Promise((r) => setTimeout(r, every))
  }
}

function run(node: string, cmd: string[]): Promise<ExecResult> {
  return engine.exec(ids[node], cmd, { timeoutMs: 20_000 })
}

async function text(node: string, path: string): Promise<string> {
  const buf = await engine.readFile(ids[node], path)
  assert.ok(buf, `${path} exists on ${node}`)
  return buf.toString()
}

async function healthy(node: string): Promise<boolean> {
  return (await run(node, ['/opt/demo/health.sh'])).exitCode === 0
}

function ip(node: string): string {
  return prefix + NODES[node].host
}

/** The first 10.213.x.0/24 that overlaps no network the engine already has. */
async function freeSubnet(): Promise<string> {
  const used = await usedSubnets(engine)
  for (let x = 0; x < 256; x++) {
    const subnet = `10.213.${x}.0/24`
    if (!used.some((u) => overlaps(u.subnet, subnet))) return subnet
  }
  throw new Error('no free 10.213.x.0/24 subnet')
}

async function cleanup() {
  const label = [`berth.cluster=${CLUSTER}`]
  for (const c of await engine.listContainers(label)) await engine.removeContainer(c.Id)
  for (const n of await engine.listNetworks(label)) await engine.removeNetwork(n.Id)
  for (const v of await engine.listVolumes(label)) await engine.removeVolume(v.Name)
}

function wiring(): string[] {
  return Object.keys(NODES)
    .filter((n) => NODES[n].wired)
    .flatMap((n) => [`${n}.${DOMAIN}:${ip(n)}`, `${n}:${ip(n)}`])
}

async function createNode(
  node: string,
  opts: { binds?: string[]; hosts?: string[] } = {}
): Promise<string> {
  const { role, wired } = NODES[node]
  const hosts = opts.hosts ?? (wired ? wiring() : [])
  const spec: ContainerCreateOptions = {
    name: PREFIX + node,
    Image: DEMO_IMAGE,
    Hostname: `${node}.${DOMAIN}`,
    Env: [
      `BERTH_CLUSTER=${CLUSTER}`,
      `BERTH_NODE=${node}`,
      `BERTH_ROLE=${role}`,
      `BERTH_DOMAIN=${DOMAIN}`,
      `BERTH_HOSTNAME=${node}.${DOMAIN}`,
    ],
    Labels: { ...LABELS, 'berth.node': node },
    HostConfig: {
      NetworkMode: NET,
      ExtraHosts: hosts,
      Binds: opts.binds,
      // A name missing from /etc/hosts falls through to Docker's DNS, which forwards what it
      // does not know to the host's resolver: point it at the node itself (nothing answers
      // there) so no lookup leaves the test's containers, and give up within a second.
      Dns: [ip(node)],
      DnsOptions: ['timeout:1', 'attempts:1'],
    },
    NetworkingConfig: { EndpointsConfig: { [NET]: { IPAMConfig: { IPv4Address: ip(node) } } } },
  }
  ids[node] = await engine.createContainer(spec)
  await engine.startContainer(ids[node], spec.name)
  return ids[node]
}

// ── lifecycle ─────────────────────────────────────────────────────────────────
test.before(async () => {
  await withTimeout(
    (async () => {
      await cleanup() // whatever a crashed earlier run left behind
      const subnet = await freeSubnet()
      prefix = subnet.replace(/0\/24$/, '')
      await engine.createNetwork({
        Name: NET,
        Driver: 'bridge',
        Labels: LABELS,
        IPAM: { Driver: 'default', Config: [{ Subnet: subnet }] },
      })
      await engine.createVolume(DATA_VOLUME, LABELS)
      await engine.createVolume(PROJECTS_VOLUME, LABELS)
      await buildDemoImage(engine)
      note(`network ${NET} on ${subnet}`)
    })(),
    60_000,
    'setup'
  )
})

test.after(async () => {
  await withTimeout(cleanup(), 60_000, 'cleanup')
})

// ── the image ─────────────────────────────────────────────────────────────────
it('build-demo builds the image, then skips the build while its inputs are unchanged', async () => {
  const started = Date.now()
  const first = await buildDemoImage(engine, { force: true })
  const buildMs = Date.now() - started
  assert.is(first.built, true)
  assert.is(first.image, DEMO_IMAGE)
  assert.match(first.hash, /^[0-9a-f]{64}$/)

  const again = Date.now()
  const second = await buildDemoImage(engine)
  note(`build ${buildMs} ms, unchanged check ${Date.now() - again} ms`)
  assert.is(second.built, false)
  assert.is(second.id, first.id)
  assert.is(second.hash, first.hash)

  const info = await engine.inspectImage(DEMO_IMAGE)
  assert.is(info?.Id, first.id)
  assert.equal(info?.Config.Cmd, ['/opt/demo/init'])
  assert.is(info?.Config.Labels?.[DEMO_HASH_LABEL], first.hash)
  assert.ok(info?.Config.Env?.includes('PATH=/bin:/usr/bin:/sbin:/usr/sbin'))
})

it('the root filesystem tar is byte-for-byte the same on every build', async () => {
  const [a, b] = await Promise.all([demoRootfs(), demoRootfs()])
  assert.is(a.hash, b.hash)
  assert.ok(a.tar.equals(b.tar))
})

it('build-demo refuses a missing or dynamically linked busybox and names the fix', async () => {
  const missing = await rejects(
    buildDemoImage(engine, { busybox: '/nonexistent/busybox' }),
    /is missing.*apt-get install busybox-static/
  )
  assert.is(missing instanceof BerthError && missing.code, 'preflight')
  await rejects(
    buildDemoImage(engine, { busybox: '/bin/ls' }),
    /dynamically linked.*apt-get install busybox-static/
  )
})

// ── the bootstrap contract ───────────────────────────────────────────────────
it('nodes fetch their configuration from master.<domain> by name and become healthy', async () => {
  await Promise.all([
    createNode('master'),
    createNode('data', { binds: [`${DATA_VOLUME}:/var/lib/demo`] }),
    createNode('api'),
    createNode('worker1'),
  ])

  const master = await run('master', ['/opt/demo/bootstrap.sh'])
  note(`bootstrap master ${master.ms} ms`)
  assert.is(master.exitCode, 0, master.stderr)
  assert.match(master.stdout, /published configuration/)

  const [api, data, worker] = await Promise.all(
    ['api', 'data', 'worker1'].map((n) => run(n, ['/opt/demo/bootstrap.sh']))
  )
  note(`bootstrap api ${api.ms} ms, data ${data.ms} ms, worker1 ${worker.ms} ms`)
  for (const r of [api, data, worker]) assert.is(r.exitCode, 0, r.stdout + r.stderr)
  assert.match(api.stdout, `fetched configuration for api from master.${DOMAIN}`)

  // api's configuration is the one the master issued for api, plus what api knows of itself.
  const issued = await text('master', '/srv/puppet/api.conf')
  assert.match(issued, `issued by master.${DOMAIN}`)
  const apiConf = await text('api', '/etc/demo/role.conf')
  assert.ok(apiConf.startsWith(issued), apiConf)
  assert.match(apiConf, /^role=api$/m)
  assert.match(apiConf, `source=http://master.${DOMAIN}:8140/api.conf`)

  // A role the master has no file for gets the generic one.
  const workerConf = await text('worker1', '/etc/demo/role.conf')
  assert.match(workerConf, /^profile=default$/m)
  assert.match(workerConf, /^role=worker$/m)

  // The record lives in the volume: read it through a second container that mounts it.
  const reader = await engine.createContainer({
    name: `${PREFIX}reader`,
    Image: DEMO_IMAGE,
    Labels: LABELS,
    HostConfig: { Binds: [`${DATA_VOLUME}:/mnt`], NetworkMode: 'none' },
  })
  const records = (await engine.readFile(reader, '/mnt/records'))?.toString() ?? ''
  assert.match(records, /^record 1 data \d{4}-\d\d-\d\dT/)

  // The data service serves its records, and peers reach it by name.
  const served = await run('api', ['wget', '-q', '-O', '-', `http://data.${DOMAIN}:8080/records`])
  assert.is(served.stdout, records)

  for (const node of ['master', 'data', 'api', 'worker1']) {
    const h = await run(node, ['/opt/demo/health.sh'])
    assert.is(h.exitCode, 0, `${node}: ${h.stdout}${h.stderr}`)
  }
}, 90_000)

it('a second bootstrap restarts the service instead of failing on its busy port', async () => {
  const [data, api] = await Promise.all([
    run('data', ['/opt/demo/bootstrap.sh']),
    run('api', ['/opt/demo/bootstrap.sh']),
  ])
  assert.is(data.exitCode, 0, data.stderr)
  assert.is(api.exitCode, 0, api.stderr)
  const records = (await text('data', '/var/lib/demo/records')).trim().split('\n')
  assert.is(records.length, 2)
  assert.match(records[1], /^record 2 data /)
  // One httpd per node: the old one was stopped, not left behind.
  const ps = await run('api', ['sh', '-c', 'pidof httpd | wc -w'])
  assert.is(ps.stdout.trim(), '1')
  assert.ok(await healthy('api'))
  assert.ok(await healthy('data'))
})

it('bootstrap fails naming master.<domain> when /etc/hosts does not name the master', async () => {
  await createNode('runner1')
  const r = await run('runner1', ['/opt/demo/bootstrap.sh'])
  note(`failing bootstrap ${r.ms} ms: ${r.stderr.trim()}`)
  assert.is.not(r.exitCode, 0)
  assert.match(r.stderr, `cannot fetch configuration from master.${DOMAIN}:8140`)
  assert.match(r.stderr, `no entry for master.${DOMAIN} in /etc/hosts`)
  assert.ok(r.ms < 10_000, `gave up after ${r.ms} ms`)

  const h = await run('runner1', ['/opt/demo/health.sh'])
  assert.is(h.exitCode, 1)
  assert.match(h.stderr, /not bootstrapped/)
}, 60_000)

it('bootstrap fails naming master.<domain> when /etc/hosts gives it a stale IP', async () => {
  // data's address: a live peer that does not serve 8140, as after IPs moved on a restart.
  const stale = wiring().map((h) =>
    h.startsWith('master') ? h.replace(/:[\d.]+$/, `:${ip('data')}`) : h
  )
  await createNode('runner2', { hosts: stale })
  const r = await run('runner2', ['/opt/demo/bootstrap.sh'])
  note(`stale-IP bootstrap ${r.ms} ms: ${r.stderr.trim()}`)
  assert.is.not(r.exitCode, 0)
  assert.match(r.stderr, `cannot fetch configuration from master.${DOMAIN}:8140`)
  assert.match(r.stderr, `(${ip('data')})`)
  assert.match(r.stderr, `is master.${DOMAIN} in /etc/hosts`)
}, 60_000)

it('standalone bootstrap (Che) needs no master and writes the welcome file once', async () => {
  await createNode('che', { binds: [`${PROJECTS_VOLUME}:/projects`] })
  const first = await run('che', ['/opt/demo/bootstrap.sh', '--standalone'])
  assert.is(first.exitCode, 0, first.stderr)
  const welcome = await text('che', '/projects/welcome.txt')
  await run('che', ['sh', '-c', 'echo edited >> /projects/welcome.txt'])
  const second = await run('che', ['/opt/demo/bootstrap.sh', '--standalone'])
  assert.is(second.exitCode, 0, second.stderr)
  assert.is(await text('che', '/projects/welcome.txt'), `${welcome}edited\n`)
  assert.match(await text('che', '/etc/demo/role.conf'), /^source=standalone$/m)
  assert.ok(await healthy('che'))
})

// ── lifecycle of a node ──────────────────────────────────────────────────────
it('docker stop ends a node in well under 2 s: init exits on SIGTERM', async () => {
  const started = Date.now()
  await engine.stopContainer(ids.api, 'api', 10)
  const ms = Date.now() - started
  note(`stop api ${ms} ms`)
  assert.ok(ms < 2000, `docker stop took ${ms} ms`)
  const state = (await engine.inspectContainer(ids.api)).State
  assert.is(state.Running, false)
  assert.is(state.ExitCode, 0)
})

it('a restarted node is healthy again without a new bootstrap', async () => {
  const before = await text('data', '/var/lib/demo/records')
  const apiConf = await text('api', '/etc/demo/role.conf')
  await engine.startContainer(ids.api, 'api')
  await engine.restartContainer(ids.data, 'data', 10)
  const started = Date.now()
  const both = async () => (await healthy('api')) && (await healthy('data'))
  await until('api and data healthy', both, 10_000)
  note(`healthy again ${Date.now() - started} ms after restart`)
  assert.is(await text('data', '/var/lib/demo/records'), before)
  assert.is(await text('api', '/etc/demo/role.conf'), apiConf)
  const served = await run('api', ['wget', '-q', '-O', '-', `http://data.${DOMAIN}:8080/records`])
  assert.is(served.stdout, before)
})

test.run()
