/**
 * A cluster across the hosts of a real Docker Swarm: three lab daemons on this machine
 * (scripts/host/swarm-lab.sh: each in a network namespace of its own, joined into one swarm), the
 * CLI pointed at them by an engines file. What a user would check: each node's container on the
 * host its placement names, every /etc/hosts holding every peer at its real address, each node
 * having fetched its configuration from the master BY NAME over the overlay (a TCP connection
 * across hosts), status naming each node's host, and destroy leaving nothing on any host.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Docker from 'dockerode'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { ResultEvent } from '../../scripts/engine/events.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import type { Check } from '../../scripts/engine/preflight.ts'
import { hook } from '../helpers/async.ts'

const LAB = new URL('../../scripts/host/swarm-lab.sh', import.meta.url).pathname
const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname
const HOSTS = 3
const C = 't-swarm'
const DOMAIN = 'swarm.local'
const home = mkdtempSync(join(tmpdir(), 'berth-swarm-'))
/** The image an upgrade moves to, and the snapshot the upgrade takes first. */
const UP = 'berth/demo:up'
let upgradeSnapshot = ''

const lab = (...args: string[]) => {
  const r = spawnSync('bash', [LAB, ...args], { encoding: 'utf8' })
  assert.is(r.status, 0, `swarm-lab.sh ${args.join(' ')}: ${r.stderr}`)
  return r.stdout.trim()
}

/** Each lab host's engine as a user reads it (docker -H unix://…). */
const hostNames = Array.from({ length: HOSTS }, (_, i) => `lab${i + 1}`)
let docker: Record<string, Docker> = {}

/** `berth … --json` against the lab's swarm (or another engines file): its exit code and result. */
function berthWith(
  engines: string,
  ...args: string[]
): { code: number | null; result: ResultEvent; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args, '--json'], {
    encoding: 'utf8',
    env: { ...process.env, BERTH_HOME: home, BERTH_ENGINES: engines },
  })
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{'))
  const result = lines.map((l) => JSON.parse(l) as ResultEvent).find((e) => e.type === 'result')
  assert.ok(result, `berth ${args.join(' ')}: no result\n${r.stdout}\n${r.stderr}`)
  return { code: r.status, result: result, stderr: r.stderr }
}

const berth = (...args: string[]) => berthWith(join(home, 'engines.yaml'), ...args)

const topologyFile = (nodes: string[], network = '{ mode: swarm }') => {
  const file = join(home, `${C}.yaml`)
  writeFileSync(
    file,
    [
      `name: ${C}`,
      'image: berth/demo:1',
      `domain: ${DOMAIN}`,
      `network: ${network}`,
      'defaults:',
      '  bootstrap: [/opt/demo/bootstrap.sh]',
      '  resources: { memory: 64m }',
      'nodes:',
      ...nodes,
    ].join('\n')
  )
  return file
}

/** The eight Codenvy roles: the master on lab1, the others spread over the three hosts. */
const EIGHT = [
  '  - { name: master, phase: 0, placement: { host: lab1 } }',
  '  - { name: data, phase: 1, placement: { spread: true }, volumes: ["data:/var/lib/demo"] }',
  ...['api', 'site', 'builder', 'runner', 'datasource', 'analytics'].map(
    (n) => `  - { name: ${n}, phase: 2, placement: { spread: true } }`
  ),
]

/** Every container of the cluster, on whichever host holds it. */
async function containersByHost(hosts = hostNames) {
  const out: { host: string; name: string; id: string; ip: string }[] = []
  for (const host of hosts) {
    const list = await docker[host].listContainers({
      all: true,
      filters: { label: [`${LABEL.cluster}=${C}`] },
    })
    for (const c of list) {
      const net = Object.values(c.NetworkSettings?.Networks ?? {})[0]
      out.push({ host, name: c.Labels[LABEL.node], id: c.Id, ip: net?.IPAddress ?? '' })
    }
  }
  return out
}

/** A command's output in a node, read through its host's engine (a TTY: one unframed stream). */
async function execText(host: string, id: string, cmd: string[]): Promise<string> {
  const exec = await docker[host]
    .getContainer(id)
    .exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, Tty: true })
  const stream = await exec.start({ Tty: true })
  const chunks: Buffer[] = []
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (d: Buffer) => chunks.push(d))
    stream.on('end', resolve)
    stream.on('error', reject)
  })
  return Buffer.concat(chunks).toString('utf8').replace(/\r\n/g, '\n')
}

/**
 * Every node's /etc/hosts holds every peer at its real address, and every node but the master
 * fetched its configuration from the master by name at its bootstrap, and reaches it by name now
 * (over the overlay, across hosts).
 */
async function assertWired(nodes: Awaited<ReturnType<typeof containersByHost>>) {
  for (const n of nodes) {
    const hosts = await execText(n.host, n.id, ['cat', '/etc/hosts'])
    for (const peer of nodes) {
      assert.match(
        hosts,
        new RegExp(
          `^${peer.ip.replace(/\./g, '\\.')}\\s+${peer.name}\\.${DOMAIN.replace('.', '\\.')}\\b`,
          'm'
        ),
        `${n.name} (on ${n.host}) has ${peer.name} (on ${peer.host}) at ${peer.ip}`
      )
    }
    if (n.name === 'master') continue
    // Fetched from the master by name, over the overlay: from another host for two in three.
    const conf = await execText(n.host, n.id, ['cat', '/etc/demo/role.conf'])
    assert.match(
      conf,
      new RegExp(`source=http://master\\.${DOMAIN.replace('.', '\\.')}:8140/`),
      `${n.name} on ${n.host}`
    )
    // And now: a TCP connection to the master by name, from this node's host. A peer that came
    // back at a new address (dynamic addresses) is routable across hosts once the swarm's gossip
    // has spread it — a moment after the start: tried for up to 15 s.
    const fetch = () =>
      execText(n.host, n.id, [
        'timeout',
        '5',
        'wget',
        '-q',
        '-O',
        '-',
        `http://master.${DOMAIN}:8140/${n.name}.conf`,
      ])
    const want = new RegExp(`^profile=${n.name}$`, 'm')
    let live = await fetch()
    for (const until = Date.now() + 15_000; !want.test(live) && Date.now() < until;) {
      await new Promise((r) => setTimeout(r, 500))
      live = await fetch()
    }
    assert.match(live, want, `${n.name} on ${n.host}: ${live}`)
  }
}

const Swarm = suite('a cluster across the hosts of a Docker Swarm (three lab daemons)')

Swarm.before(
  hook(async () => {
    lab('up', String(HOSTS))
    lab('swarm', String(HOSTS))
    lab('load', String(HOSTS), 'berth/demo:1')
    // lab2 and lab3 reached over tcp:// with TLS (client certificates), lab1 by its socket.
    writeFileSync(join(home, 'engines.yaml'), lab('engines', String(HOSTS), 'tls') + '\n')
    docker = Object.fromEntries(
      hostNames.map((h, i) => [h, new Docker({ socketPath: lab('sock', String(i + 1)) })])
    )
  })
)

Swarm.after(
  hook(async () => {
    berth('destroy', C, '--volumes')
    lab('down')
    spawnSync('docker', ['rmi', UP])
  })
)

Swarm(
  'eight nodes over three hosts: placed as asked, every /etc/hosts wired, the master reached by name across hosts',
  async () => {
    const r = berth('install', topologyFile(EIGHT))
    assert.ok(r.result.ok, `${r.result.code}: ${r.result.message}\n${r.stderr}`)
    const nodes = await containersByHost()
    assert.is(nodes.length, 8)
    const hostOf = Object.fromEntries(nodes.map((n) => [n.name, n.host]))
    assert.is(hostOf.master, 'lab1')
    // Spread: each to the host with the fewest nodes so far (the master is on lab1).
    assert.equal(
      ['data', 'api', 'site', 'builder', 'runner', 'datasource', 'analytics'].map((n) => hostOf[n]),
      ['lab2', 'lab3', 'lab1', 'lab2', 'lab3', 'lab1', 'lab2']
    )
    await assertWired(nodes)
  }
)

Swarm(
  'a node moved by a topology change is rebuilt on its new host; one with volumes is refused, nothing changed',
  async () => {
    const moved = EIGHT.map((l) =>
      l.includes('name: api,') ? '  - { name: api, phase: 2, placement: { host: lab2 } }' : l
    )
    const before = await containersByHost()
    const r = berth('install', topologyFile(moved))
    assert.ok(r.result.ok, `${r.result.code}: ${r.result.message}`)
    const after = await containersByHost()
    const api = after.find((n) => n.name === 'api')!
    assert.is(api.host, 'lab2')
    assert.is.not(api.id, before.find((n) => n.name === 'api')!.id, 'made again')
    const kept = (n: string) =>
      after.find((x) => x.name === n)!.id === before.find((x) => x.name === n)!.id
    assert.equal(
      after.filter((n) => n.name !== 'api' && !kept(n.name)).map((n) => n.name),
      [],
      'every other node kept where it was'
    )
    const conf = await execText(api.host, api.id, ['cat', '/etc/demo/role.conf'])
    assert.match(conf, /source=http:\/\/master\./)

    // data keeps a volume on lab2: moving it would leave the data behind.
    const dataMoved = moved.map((l) =>
      l.includes('name: data,')
        ? '  - { name: data, phase: 1, placement: { host: lab3 }, volumes: ["data:/var/lib/demo"] }'
        : l
    )
    const refused = berth('install', topologyFile(dataMoved))
    assert.is(refused.code, 4)
    assert.match(
      refused.result.message ?? '',
      /node "data": its volumes are on host lab2; moving it to lab3 would leave its data behind/
    )
    assert.equal(await containersByHost(), after, 'nothing changed')
    topologyFile(moved)
  }
)

Swarm(
  'placement constraints on Swarm node labels; refused before anything is made: an unknown host, a subnet taken on one host, a constraint no host meets, an engine outside the swarm (how to join it said); berth doctor checks each engine (TLS required where the engine asks for it)',
  async () => {
    const before = await containersByHost()
    const unknown = berth(
      'install',
      topologyFile(EIGHT.map((l) => l.replace('host: lab1', 'host: lab7')))
    )
    assert.is(unknown.code, 3)
    assert.match(
      unknown.result.message ?? '',
      /nodes\[0\] \(master\): placement.host "lab7" is not a host of the swarm \(lab1, lab2, lab3\)/
    )
    // A subnet taken on one host (lab2's default bridge) is taken for the cluster: named with it.
    const clash = berth('install', topologyFile(EIGHT, '{ mode: swarm, subnet: 172.31.102.0/24 }'))
    assert.is(clash.code, 3)
    assert.match(
      clash.result.message ?? '',
      /^network\.subnet: 172\.31\.102\.0\/24 overlaps the Docker network "bridge" on host lab2 \(172\.31\.102\.0\/24\)/m,
      clash.result.message
    )

    // Constraints on the Swarm nodes' labels: lab2 and lab3 are labelled runners.
    for (const h of ['lab2', 'lab3']) {
      const id = ((await docker[h].info()) as { Swarm: { NodeID: string } }).Swarm.NodeID
      const r = spawnSync(
        'docker',
        ['-H', `unix://${lab('sock', '1')}`, 'node', 'update', '--label-add', 'role=runner', id],
        { encoding: 'utf8' }
      )
      assert.is(r.status, 0, r.stderr)
    }
    const constrained = (runner: string) =>
      topologyFile(
        EIGHT.map((l) =>
          l.includes('name: runner,')
            ? `  - { name: runner, phase: 2, placement: { constraints: [${runner}] } }`
            : l.includes('name: builder,')
              ? '  - { name: builder, phase: 2, placement: { constraints: ["node.role==manager"] } }'
              : l
        )
      )
    const plan = berth('install', constrained('"node.labels.role==runner"'), '--plan')
    assert.ok(plan.result.ok, plan.result.message)
    const items = (
      plan.result.data as { plan: { nodes: { node: string; action: string; host?: string }[] } }
    ).plan.nodes
    const item = (n: string) => items.find((i) => i.node === n)!
    assert.equal(
      [item('runner').action, item('runner').host],
      ['keep', 'lab3'],
      'a runner host: stays'
    )
    assert.equal(
      [item('builder').action, item('builder').host],
      ['replace', 'lab1'],
      'to the manager'
    )
    const unmet = berth(
      'install',
      constrained('"node.labels.role==runner", "node.labels.gpu==yes"')
    )
    assert.is(unmet.code, 3)
    assert.match(
      unmet.result.message ?? '',
      /^nodes\[5\] \(runner\): no host of the swarm satisfies placement\.constraints\[1\] "node\.labels\.gpu==yes" \(lab1: hostname [^,]+, role manager, labels none; lab2: hostname [^,]+, role worker, labels role=runner; lab3: /
    )
    topologyFile(EIGHT)

    // lab4: a Docker engine outside the swarm, named in the engines file.
    lab('up', '4')
    const engines4 = join(home, 'engines4.yaml')
    writeFileSync(engines4, lab('engines', '4') + '\n')
    const outside = berthWith(engines4, 'install', topologyFile(EIGHT))
    assert.is(outside.code, 3)
    assert.match(
      outside.result.message ?? '',
      /host lab4: its Docker engine is not in swarm mode \(inactive\): run `docker swarm join --token <token> <manager>:2377` on it/
    )
    assert.equal(await containersByHost(), before, 'nothing made, nothing removed')

    // berth doctor checks every engine of the file, and each as a node of the swarm.
    const doctor = spawnSync(process.execPath, [BIN, 'doctor', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, BERTH_HOME: home, BERTH_ENGINES: engines4 },
    })
    assert.is(doctor.status, 3, doctor.stderr)
    const checks = (JSON.parse(doctor.stdout) as { checks: Check[] }).checks
    const status = (name: string) => checks.find((c) => c.name === name)?.status
    for (const h of ['lab1', 'lab2', 'lab3', 'lab4']) {
      assert.is(status(`${h}: engine`), 'ok', h)
      // lab4 holds no image to probe with: said as skipped, not failed.
      assert.is(status(`${h}: capAdd`), h === 'lab4' ? undefined : 'ok', h)
      assert.is(status(`${h}: privileged`), h === 'lab4' ? 'skip' : 'warn', h)
      assert.is(status(`${h}: swarm`), h === 'lab4' ? 'fail' : 'ok', h)
    }
    assert.match(
      checks.find((c) => c.name === 'lab4: swarm')!.hint ?? '',
      /^run `docker swarm join --token <token> <manager>:2377` on it/
    )
    // lab2's TLS port without the client's certificate: the engine refuses, and plain tcp:// is
    // a warning of its own.
    const plain = join(home, 'plain.yaml')
    writeFileSync(
      plain,
      'manager: lab1\nhosts:\n  lab1: unix://' +
        lab('sock', '1') +
        '\n  lab2: tcp://10.250.250.12:2376\n'
    )
    const noTls = spawnSync(process.execPath, [BIN, 'doctor', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, BERTH_HOME: home, BERTH_ENGINES: plain },
    })
    const plainChecks = (JSON.parse(noTls.stdout) as { checks: Check[] }).checks
    const plainStatus = (name: string) => plainChecks.find((c) => c.name === name)?.status
    assert.equal(
      [plainStatus('lab1: engine'), plainStatus('lab2: engine'), plainStatus('lab2: transport')],
      ['ok', 'fail', 'warn']
    )
  }
)

Swarm(
  "status names each node's host; stop and start reach every host; destroy leaves nothing on any host",
  async () => {
    const s = berth('status', C)
    assert.is(s.code, 0, `${s.result.message}`)
    const on = Object.fromEntries((s.result.nodes ?? []).map((n) => [n.name, n.host]))
    assert.equal([on.master, on.data, on.api, on.site], ['lab1', 'lab2', 'lab2', 'lab1'])
    // The listing (berth clusters, GET /v1/clusters, the dashboard) names the cluster's hosts.
    const listed = (
      berth('clusters').result.data as { clusters: { cluster: string; hosts: string[] }[] }
    ).clusters.find((x) => x.cluster === C)
    assert.equal(listed?.hosts, [...new Set(Object.values(on))].sort())

    const states = async () => {
      const out = new Set<string>()
      for (const host of hostNames) {
        for (const c of await docker[host].listContainers({
          all: true,
          filters: { label: [`${LABEL.cluster}=${C}`] },
        }))
          out.add(c.State)
      }
      return [...out]
    }
    assert.ok(berth('stop', C).result.ok)
    assert.equal(await states(), ['exited'], 'every node stopped, on every host')
    assert.ok(berth('start', C).result.ok)
    assert.equal(await states(), ['running'], 'every node running again')
    assert.is(berth('status', C).code, 0, 'no drift after the restart')
  }
)

Swarm(
  'snapshot across hosts → export, import → destroy → a host lost → restore --placement spread onto the two left: data byte-identical, wired, reached by name',
  async () => {
    const before = await containersByHost()
    const on = (name: string) => before.find((n) => n.name === name)!
    // A volume's data (data, on lab2) and writable layers on each host: random bytes.
    const write = (n: { host: string; id: string }, file: string) =>
      execText(n.host, n.id, [
        'sh',
        '-c',
        `head -c 1048576 /dev/urandom > ${file} && sha256sum ${file}`,
      ])
    const sums: Record<string, string> = {
      data: await write(on('data'), '/var/lib/demo/blob'),
      builder: await write(on('builder'), '/root/layer.bin'),
      runner: await write(on('runner'), '/root/layer.bin'),
      site: await write(on('site'), '/root/layer.bin'),
    }
    assert.equal(
      ['data', 'builder', 'runner', 'site'].map((n) => on(n).host),
      ['lab2', 'lab2', 'lab3', 'lab1']
    )

    const snap = berth('snapshot', C, '--tag', 'across')
    assert.ok(snap.result.ok, `${snap.result.code}: ${snap.result.message}\n${snap.stderr}`)
    // Each image committed on its node's host, then gathered on the manager: only lab1 holds them.
    for (const host of hostNames) {
      const images = await docker[host].listImages({
        filters: { label: [`${LABEL.cluster}=${C}`, `${LABEL.snapshot}=across`] },
      })
      assert.is(images.length, host === 'lab1' ? 8 : 0, `snapshot images on ${host}`)
    }
    // Export and import carry it whole: removed here, then brought back from the file, its
    // images onto the manager again, each node's host still in its manifest (see below).
    const file = join(home, 'across.tar')
    const ex = berth('export', C, 'across', '-o', file)
    assert.ok(ex.result.ok, `${ex.result.code}: ${ex.result.message}`)
    assert.ok(berth('snapshot', 'rm', C, 'across').result.ok)
    const snapImages = async (host: string) =>
      (
        await docker[host].listImages({
          filters: { label: [`${LABEL.cluster}=${C}`, `${LABEL.snapshot}=across`] },
        })
      ).length
    assert.is(await snapImages('lab1'), 0, 'removed')
    const im = berth('import', file)
    assert.ok(im.result.ok, `${im.result.code}: ${im.result.message}`)
    assert.equal(
      [await snapImages('lab1'), await snapImages('lab2'), await snapImages('lab3')],
      [8, 0, 0]
    )
    assert.ok(berth('destroy', C, '--volumes').result.ok)

    // lab2 is lost (its daemon stopped): four nodes and the data volume ran there.
    lab('stop', '2')
    try {
      const same = berth('restore', C, 'across')
      assert.is(same.code, 3)
      assert.match(
        same.result.message ?? '',
        /host lab2 does not answer \(nodes data, api, builder, analytics ran there\): restore with --placement spread/
      )
      const r = berth('restore', C, 'across', '--placement', 'spread')
      assert.ok(r.result.ok, `${r.result.code}: ${r.result.message}\n${r.stderr}`)
      const after = await containersByHost(['lab1', 'lab3'])
      assert.is(after.length, 8)
      assert.equal(
        [...new Set(after.map((n) => n.host))].sort(),
        ['lab1', 'lab3'],
        'on the two hosts that answer'
      )
      await assertWired(after)
      const at = (name: string) => after.find((n) => n.name === name)!
      for (const [node, sum] of Object.entries(sums)) {
        const file = sum.split(/\s+/)[1]
        assert.is(
          await execText(at(node).host, at(node).id, ['sha256sum', file]),
          sum,
          `${node}: ${file} byte-identical (now on ${at(node).host})`
        )
      }
    } finally {
      lab('start', '2')
    }
  }
)

Swarm(
  'upgrade across hosts: a new image, on one host only, reaches every node (copied where it lacks), data kept',
  async () => {
    // berth/demo:up — the demo image and one file more — on lab1 alone.
    const built = spawnSync('docker', ['build', '-q', '-t', UP, '-'], {
      input: 'FROM berth/demo:1\nRUN echo up > /etc/berth-release\n',
      encoding: 'utf8',
    })
    assert.is(built.status, 0, built.stderr)
    lab('load', '1', UP)
    const before = await containersByHost()
    const sum = await execText(
      before.find((n) => n.name === 'data')!.host,
      before.find((n) => n.name === 'data')!.id,
      ['sha256sum', '/var/lib/demo/blob']
    )
    const r = berth('upgrade', C, '--image', UP)
    assert.ok(r.result.ok, `${r.result.code}: ${r.result.message}\n${r.stderr}`)
    upgradeSnapshot = (r.result.data as { snapshot: string }).snapshot
    const after = await containersByHost()
    assert.is(after.length, 8)
    for (const n of after) {
      assert.is(n.host, before.find((b) => b.name === n.name)!.host, `${n.name} stays on its host`)
      assert.is(await execText(n.host, n.id, ['cat', '/etc/berth-release']), 'up\n', n.name)
    }
    const data = after.find((n) => n.name === 'data')!
    assert.is(await execText(data.host, data.id, ['sha256sum', '/var/lib/demo/blob']), sum)
    await assertWired(after)
  }
)

Swarm(
  "a host's daemon killed mid-install: a failure naming it, the other hosts cleaned, and a re-run converging once it is back",
  async () => {
    assert.ok(berth('destroy', C, '--volumes').result.ok)
    const file = topologyFile(EIGHT)
    // SIGKILL lab3's dockerd once the master is bootstrapped: lab3's nodes are made by then.
    const child = spawn(process.execPath, [BIN, 'install', file, '--json'], {
      env: { ...process.env, BERTH_HOME: home, BERTH_ENGINES: join(home, 'engines.yaml') },
    })
    const pid = readFileSync(lab('sock', '3').replace(/\.sock$/, '.pid'), 'utf8').trim()
    let out = ''
    let killed = false
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const bootstrapped = out
        .split('\n')
        .filter((l) => l.startsWith('{') && l.endsWith('}'))
        .map((l) => JSON.parse(l) as { node?: string; step?: string; state?: string })
        .some((e) => e.node === 'master' && e.step === 'bootstrap' && e.state === 'done')
      if (!killed && bootstrapped) {
        killed = true
        process.kill(Number(pid), 'SIGKILL')
      }
    })
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    try {
      assert.ok(killed, `the master's bootstrap was seen:\n${out}`)
      const result = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as ResultEvent)
        .find((e) => e.type === 'result')!
      assert.is(code, 9, out)
      assert.is(result.code, 'engine_gone')
      assert.match(
        result.message ?? '',
        /^host lab3 went away during the job \((node "\w+" failed to start: )?host lab3: /,
        result.message
      )
      assert.match(result.message ?? '', /finishes the job once lab3 is back$/)
      assert.equal(await containersByHost(['lab1', 'lab2']), [], 'lab1 and lab2 cleaned')
      for (const host of ['lab1', 'lab2']) {
        const vols =
          (await docker[host].listVolumes({ filters: { label: [`${LABEL.cluster}=${C}`] } }))
            .Volumes ?? []
        assert.equal(vols.length, 0, `no volume left on ${host}`)
      }
    } finally {
      lab('start', '3')
    }
    // The next command finishes the dead job's cleanup on lab3, then converges.
    const again = berth('install', file)
    assert.ok(again.result.ok, `${again.result.code}: ${again.result.message}\n${again.stderr}`)
    const nodes = await containersByHost()
    assert.is(nodes.length, 8)
    assert.is(nodes.filter((n) => n.host === 'lab3').length, 2)
    await assertWired(nodes)

    // lab3 down: status still reads the others, and says which nodes it cannot reach (exit 8: drift).
    lab('stop', '3')
    try {
      const s = berth('status', C)
      assert.is(s.code, 8, s.result.message)
      const state = Object.fromEntries(
        (s.result.nodes ?? []).map((n) => [n.name, `${n.state}@${n.host}`])
      )
      for (const n of nodes)
        assert.is(
          state[n.name],
          n.host === 'lab3' ? 'unreachable@lab3' : `running@${n.host}`,
          n.name
        )
      const drift = (s.result.data as { drift: { node?: string; problem: string }[] }).drift
      assert.equal(
        drift.map((d) => `${d.node}: ${d.problem}`).sort(),
        nodes
          .filter((n) => n.host === 'lab3')
          .map((n) => `${n.name}: unreachable: host lab3 does not answer`)
          .sort()
      )
    } finally {
      lab('start', '3')
    }
  }
)

Swarm('destroy and snapshot rm leave nothing on any host', async () => {
  const d = berth('destroy', C, '--volumes')
  assert.ok(d.result.ok, d.result.message)
  assert.equal(await containersByHost(), [])
  for (const host of hostNames) {
    const vols =
      (await docker[host].listVolumes({ filters: { label: [`${LABEL.cluster}=${C}`] } })).Volumes ??
      []
    assert.equal(
      vols.map((v) => v.Name),
      [],
      `no volume left on ${host}`
    )
  }
  const nets = await docker.lab1.listNetworks({ filters: { label: [`${LABEL.cluster}=${C}`] } })
  assert.equal(
    nets.map((n) => n.Name),
    [],
    'the overlay removed'
  )
  for (const id of ['across', upgradeSnapshot]) {
    const rm = berth('snapshot', 'rm', C, id)
    assert.ok(rm.result.ok, `${id}: ${rm.result.message}`)
  }
  for (const host of hostNames) {
    const images = await docker[host].listImages({ filters: { label: [`${LABEL.cluster}=${C}`] } })
    assert.equal(images.length, 0, `no snapshot image on ${host}`)
  }
})

Swarm(
  "dynamic addresses across hosts: the overlay's own, every /etc/hosts written from them, rewired after a restart",
  async () => {
    const r = berth('install', topologyFile(EIGHT, '{ mode: swarm, addresses: dynamic }'))
    assert.ok(r.result.ok, `${r.result.code}: ${r.result.message}\n${r.stderr}`)
    const nodes = await containersByHost()
    assert.is(nodes.length, 8)
    // Nothing pinned: no peer given as ExtraHosts at create (pinned addresses are); each
    // /etc/hosts is written in place once the addresses are known.
    for (const n of nodes) {
      const made = await docker[n.host].getContainer(n.id).inspect()
      assert.equal(made.HostConfig.ExtraHosts ?? [], [], `${n.name}: no ExtraHosts`)
    }
    await assertWired(nodes)
    // Stopped and started again, each node may come back at another address: berth start
    // rewrites every /etc/hosts from the addresses they have now.
    assert.ok(berth('stop', C).result.ok)
    const start = berth('start', C)
    assert.ok(start.result.ok, start.result.message)
    await assertWired(await containersByHost())
    assert.is(berth('status', C).code, 0, 'no drift')
    assert.ok(berth('destroy', C, '--volumes').result.ok)
    assert.equal(await containersByHost(), [])
  }
)

Swarm.run()
