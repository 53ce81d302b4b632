import { readFileSync } from 'node:fs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import YAML from 'yaml'
import { BerthError } from '../../scripts/engine/errors.ts'
import type { JobEvent, StepEvent } from '../../scripts/engine/events.ts'
import { installCluster } from '../../scripts/engine/install.ts'
import { LABEL, networkName } from '../../scripts/engine/labels.ts'
import {
  clusterStatus,
  destroyCluster,
  startCluster,
  stopCluster,
} from '../../scripts/engine/lifecycle.ts'
import { validateTopology, type Topology } from '../../scripts/engine/topology.ts'
import { hook, rejects, withTimeout } from '../helpers/async.ts'
import {
  assertHostsMatchInspect,
  engine,
  ensureDemoImage,
  recordingContext,
  removeTestClusters,
} from '../helpers/docker.ts'

const codenvy = YAML.parse(
  readFileSync(new URL('../../examples/codenvy.yaml', import.meta.url), 'utf8')
)

function topology(name: string, patch: Record<string, unknown> = {}): Topology {
  return validateTopology({ ...structuredClone(codenvy), name, ...patch })
}

function steps(events: JobEvent[], step: string, state: string): StepEvent[] {
  return events.filter(
    (e): e is StepEvent => e.type === 'step' && e.step === step && e.state === state
  )
}

// ─────────────────────────────────────────────────────────────────────────────
const Static = suite('install (static mode)')
const S = topology('t-static')
let staticIds = new Map<string, string>()

Static.before(
  hook(async () => {
    await withTimeout(removeTestClusters('t-static'), 60_000, 'cleanup')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
  })
)
Static.after(
  hook(async () => {
    await removeTestClusters('t-static')
  })
)

Static(
  'installs the eight Codenvy nodes with every /etc/hosts matching docker inspect',
  async () => {
    const { ctx, events } = recordingContext()
    const r = await withTimeout(installCluster(ctx, S), 120_000, 'install')
    assert.equal(
      r.nodes.map((n) => n.hostname).sort(),
      ['analytics', 'api', 'builder1', 'data', 'datasource', 'master', 'runner1', 'site']
        .map((n) => `${n}.codenvy.local`)
        .sort()
    )
    assert.ok(r.nodes.every((n) => n.state === 'running'))
    staticIds = await assertHostsMatchInspect(S)
    const bootstraps = steps(events, 'bootstrap', 'done')
    assert.is(bootstraps.length, 8, 'every node bootstrapped once')
    assert.is(steps(events, 'health', 'done').length, 8, 'every node healthy')
  }
)

Static(
  'runs bootstrap phase by phase: the master finishes before data, data before the rest',
  async () => {
    const { ctx, events } = recordingContext()
    await destroyCluster(ctx, S.name, { volumes: true })
    await withTimeout(installCluster(ctx, S), 120_000, 'install')
    const doneAt = (node: string) =>
      steps(events, 'bootstrap', 'done').find((e) => e.node === node)!.t
    const startAt = (node: string) =>
      steps(events, 'bootstrap', 'start').find((e) => e.node === node)!.t
    assert.ok(doneAt('master') <= startAt('data'), 'phase 0 done before phase 1 starts')
    for (const n of ['api', 'site', 'builder1', 'runner1', 'datasource', 'analytics']) {
      assert.ok(doneAt('data') <= startAt(n), `phase 1 done before ${n} (phase 2) starts`)
    }
    staticIds = await assertHostsMatchInspect(S)
  }
)

Static('each node fetched its configuration from master.codenvy.local by name', async () => {
  const master = staticIds.get('master') as string
  for (const node of ['api', 'runner1', 'analytics']) {
    const conf =
      (await engine.readFile(staticIds.get(node) as string, '/etc/demo/role.conf'))?.toString() ??
      ''
    assert.match(conf, new RegExp(`role=${node.replace(/\d+$/, '')}`))
    const served = await engine.exec(master, [
      'cat',
      `/srv/puppet/${node.replace(/\d+$/, '')}.conf`,
    ])
    assert.is(served.exitCode, 0, `the master serves ${node}'s configuration`)
    for (const line of served.stdout.trim().split('\n')) {
      assert.ok(conf.includes(line), `${node}'s config holds the master's line "${line}"`)
    }
    assert.match(conf, /source=http:\/\/master\.codenvy\.local:8140\//, 'fetched by name')
  }
  const records =
    (await engine.readFile(staticIds.get('data') as string, '/var/lib/demo/records'))?.toString() ??
    ''
  assert.match(records, /data/, 'the data node keeps its records in its volume')
})

Static('a restarted node keeps its address and a correct /etc/hosts', async () => {
  const id = staticIds.get('api') as string
  const before = (await engine.inspectContainer(id)).NetworkSettings.Networks[networkName(S.name)]
    .IPAddress
  await engine.restartContainer(id, 'api', 5)
  const after = (await engine.inspectContainer(id)).NetworkSettings.Networks[networkName(S.name)]
    .IPAddress
  assert.is(after, before)
  await assertHostsMatchInspect(S)
})

Static('a re-run keeps every container and runs no bootstrap', async () => {
  const { ctx, events } = recordingContext()
  const r = await withTimeout(installCluster(ctx, S), 60_000, 're-run')
  assert.ok(
    r.plan.nodes.every((i) => i.action === 'keep'),
    JSON.stringify(r.plan.nodes)
  )
  for (const n of r.nodes)
    assert.is(n.id, (staticIds.get(n.name) as string).slice(0, 12), `${n.name} kept`)
  assert.is(steps(events, 'bootstrap', 'start').length, 0, 'no bootstrap re-run')
  assert.is(steps(events, 'create', 'start').length, 0, 'nothing created')
})

Static('a changed node is rebuilt alone; --plan shows it and changes nothing', async () => {
  const changed = topology('t-static', {
    nodes: codenvy.nodes.map((n: { name: string }) =>
      n.name === 'site' ? { ...n, env: { SITE_TITLE: 'new' } } : n
    ),
  })
  const planned = recordingContext()
  const p = await installCluster(planned.ctx, changed, { plan: true })
  assert.equal(
    p.plan.nodes.filter((i) => i.action !== 'keep').map((i) => [i.node, i.action]),
    [['site', 'replace']]
  )
  assert.is(steps(planned.events, 'create', 'start').length, 0, '--plan created nothing')
  const stillThere = await engine.listContainers([
    `${LABEL.cluster}=t-static`,
    `${LABEL.node}=site`,
  ])
  assert.is(stillThere[0].Id, staticIds.get('site'), '--plan replaced nothing')

  const { ctx } = recordingContext()
  const r = await withTimeout(installCluster(ctx, changed), 90_000, 'converge')
  for (const n of r.nodes) {
    if (n.name === 'site')
      assert.is.not(n.id, (staticIds.get('site') as string).slice(0, 12), 'site rebuilt')
    else assert.is(n.id, (staticIds.get(n.name) as string).slice(0, 12), `${n.name} kept`)
  }
  const site = r.nodes.find((n) => n.name === 'site')!
  const env = (await engine.inspectContainer(site.id)).Config.Env
  assert.ok(env.includes('SITE_TITLE=new'))
  await assertHostsMatchInspect(changed)
})

Static('status reads nodes, addresses, bootstrap and health back from Docker', async () => {
  const { ctx } = recordingContext()
  const s = await clusterStatus(ctx, S.name)
  assert.is(s.mode, 'static')
  assert.is(s.nodes.length, 8)
  assert.is(s.nodes[0].name, 'master', 'phase order')
  for (const n of s.nodes) {
    assert.is(n.state, 'running')
    assert.is(n.bootstrap, 'done')
    assert.is(n.health, 'healthy', `${n.name}: ${n.healthOutput}`)
    assert.ok(n.ip)
  }
})

Static.run()

// ─────────────────────────────────────────────────────────────────────────────
const Dynamic = suite('install (dynamic mode)')
const D = topology('t-dyn', { network: { mode: 'dynamic' } })

Dynamic.before(hook(() => removeTestClusters('t-dyn')))
Dynamic.after(
  hook(async () => {
    await removeTestClusters('t-dyn')
  })
)

Dynamic('installs eight nodes and writes every /etc/hosts in place', async () => {
  const { ctx, events } = recordingContext()
  await withTimeout(installCluster(ctx, D), 120_000, 'install')
  await assertHostsMatchInspect(D)
  assert.is(steps(events, 'hosts', 'done').length, 1)
})

Dynamic('start after stop rewires every /etc/hosts with the new addresses', async () => {
  const { ctx } = recordingContext()
  // Addresses are read while the nodes run: a stopped container has none.
  // A squatter takes the lowest free address, so at least one node must come back elsewhere.
  const nodesBefore = await engine.listContainers([`${LABEL.cluster}=${D.name}`])
  const oldIps = new Map<string, string>()
  for (const c of nodesBefore) {
    const info = await engine.inspectContainer(c.Id)
    oldIps.set(
      info.Config.Labels[LABEL.node],
      info.NetworkSettings.Networks[networkName(D.name)]?.IPAddress ?? ''
    )
  }
  await stopCluster(ctx, D.name)
  const squatter = await engine.createContainer({
    name: 't-dyn.squatter',
    Image: 'berth/demo:1',
    Labels: { [LABEL.cluster]: 't-dyn-squatter' },
    HostConfig: { NetworkMode: networkName(D.name) },
  })
  await engine.startContainer(squatter)
  try {
    await withTimeout(startCluster(ctx, D.name), 90_000, 'start')
    const after = await clusterStatus(ctx, D.name)
    assert.ok(after.nodes.every((n) => n.state === 'running' && n.health === 'healthy'))
    await assertHostsMatchInspect(D)
    const squatIp = (await engine.inspectContainer(squatter)).NetworkSettings.Networks[
      networkName(D.name)
    ].IPAddress
    assert.ok(
      [...oldIps.values()].includes(squatIp),
      `the squatter took a node's old address (${squatIp})`
    )
    const moved = after.nodes.filter((n) => n.ip !== oldIps.get(n.name))
    assert.ok(moved.length > 0, 'so at least one node came back on a new address')
  } finally {
    await engine.removeContainer(squatter)
  }
})

Dynamic.run()

// ─────────────────────────────────────────────────────────────────────────────
const Failures = suite('install failures')

Failures.before(hook(() => removeTestClusters('t-fail')))
Failures.after(
  hook(async () => {
    await removeTestClusters('t-fail')
  })
)

Failures(
  'a failing bootstrap names the node, shows its output and leaves nothing behind',
  async () => {
    const t = topology('t-fail-boot', {
      nodes: codenvy.nodes.map((n: { name: string }) =>
        n.name === 'api'
          ? {
              ...n,
              bootstrap: 'echo "configuring api"; echo "api: database unreachable" >&2; exit 3',
            }
          : n
      ),
    })
    const { ctx } = recordingContext()
    const err = (await withTimeout(
      rejects(installCluster(ctx, t)),
      120_000,
      'failing install'
    )) as BerthError
    assert.instance(err, BerthError)
    assert.is(err.code, 'bootstrap_failed')
    assert.is(err.info.node, 'api')
    assert.is(err.info.step, 'bootstrap')
    assert.is(err.info.exitCode, 3)
    assert.match(err.message, /node "api" failed at bootstrap/)
    assert.match(err.info.output ?? '', /api: database unreachable/)
    assert.is(
      (await engine.listContainers([`${LABEL.cluster}=t-fail-boot`])).length,
      0,
      'no containers left'
    )
    assert.is(
      (await engine.listNetworks([`${LABEL.cluster}=t-fail-boot`])).length,
      0,
      'no network left'
    )
    assert.is(
      (await engine.listVolumes([`${LABEL.cluster}=t-fail-boot`])).length,
      0,
      'no volumes left'
    )
  }
)

Failures('--keep-failed keeps the failed cluster for debugging', async () => {
  const t = topology('t-fail-keep', {
    nodes: [{ name: 'master', bootstrap: 'exit 9' }],
  })
  const { ctx } = recordingContext()
  const err = (await withTimeout(
    rejects(installCluster(ctx, t, { keepFailed: true })),
    60_000,
    'install'
  )) as BerthError
  assert.is(err.info.exitCode, 9)
  assert.is((await engine.listContainers([`${LABEL.cluster}=t-fail-keep`])).length, 1)
})

Failures(
  'a subnet overlapping an existing Docker network is refused before anything is created',
  async () => {
    const other = await engine.createNetwork({
      Name: 't-fail-other',
      IPAM: { Driver: 'default', Config: [{ Subnet: '10.249.8.0/22' }] },
      Labels: { [LABEL.cluster]: 't-fail-other' },
    })
    try {
      const t = topology('t-fail-subnet', { network: { mode: 'static', subnet: '10.249.9.0/24' } })
      const { ctx } = recordingContext()
      const err = (await rejects(installCluster(ctx, t))) as BerthError
      assert.is(err.code, 'preflight')
      assert.match(
        err.message,
        /network\.subnet: 10\.249\.9\.0\/24 overlaps the Docker network "t-fail-other" \(10\.249\.8\.0\/22\)/
      )
      assert.is((await engine.listContainers([`${LABEL.cluster}=t-fail-subnet`])).length, 0)
      assert.is((await engine.listNetworks([`${LABEL.cluster}=t-fail-subnet`])).length, 0)
    } finally {
      await engine.removeNetwork(other)
    }
  }
)

Failures('a missing image is refused in preflight with the way to get it', async () => {
  const t = topology('t-fail-image', { image: 'berth/nothing-here:1' })
  const { ctx } = recordingContext()
  const err = (await rejects(installCluster(ctx, t))) as BerthError
  assert.is(err.code, 'preflight')
  assert.match(err.message, /image "berth\/nothing-here:1" \(nodes master, data, api/)
  assert.is((await engine.listContainers([`${LABEL.cluster}=t-fail-image`])).length, 0)
})

Failures('a privileged node gets the clear refusal on this host; capAdd works', async () => {
  const priv = topology('t-fail-priv', {
    nodes: [
      {
        name: 'runner',
        count: 1,
        privileged: true,
        bootstrap: ['/opt/demo/bootstrap.sh', '--standalone'],
      },
    ],
  })
  const { ctx } = recordingContext()
  const probe = await engine.createContainer({
    name: 't-fail-privprobe',
    Image: 'berth/demo:1',
    Labels: { [LABEL.cluster]: 't-fail-privprobe' },
    HostConfig: { Privileged: true },
  })
  const allowed = await engine.startContainer(probe).then(
    () => true,
    () => false
  )
  await engine.removeContainer(probe)
  if (!allowed) {
    const err = (await rejects(installCluster(ctx, priv))) as BerthError
    assert.is(err.code, 'preflight')
    assert.match(
      err.message,
      /nodes "runner1" ask for privileged: true, and this Docker host refuses privileged containers/
    )
    assert.match(err.message, /capAdd/)
    assert.is((await engine.listContainers([`${LABEL.cluster}=t-fail-priv`])).length, 0)
  } else {
    await installCluster(ctx, priv) // a host that allows it simply installs
  }
  const caps = topology('t-fail-caps', {
    nodes: [
      {
        name: 'runner',
        count: 1,
        capAdd: ['SYS_ADMIN', 'NET_ADMIN'],
        bootstrap: ['/opt/demo/bootstrap.sh', '--standalone'],
      },
    ],
  })
  const r = await withTimeout(
    installCluster(recordingContext().ctx, caps),
    60_000,
    'capAdd install'
  )
  const status = await engine.exec(r.nodes[0].id, ['grep', 'CapEff', '/proc/1/status'])
  const eff = BigInt(`0x${status.stdout.trim().split(/\s+/)[1]}`)
  assert.ok(eff & (1n << 21n), 'CAP_SYS_ADMIN (21) is effective')
  assert.ok(eff & (1n << 12n), 'CAP_NET_ADMIN (12) is effective')
})

Failures.run()
