/**
 * What a real product asks of its containers, on the real engine: a page answered through the
 * published port from this host, files in place with their mode and owner, the process berth was
 * told to run under Docker's init with its limits; a host port already taken (by a process here,
 * by another cluster's container) and memory limits past the host's refused before anything is
 * made; a node killed for memory, or whose process ends, named as such; a bootstrap whose exit 2
 * means success and one that retries; a converge that rebuilds exactly the node whose ports
 * changed; and a restore over the running cluster that moves the ports at the swap, with the time
 * they did not answer measured (and `--as` refused on the taken ports, or moved by an offset).
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { runJob } from '../../scripts/engine/job.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import { engine, ensureDemoImage, removeTestClusters, docker } from '../helpers/docker.ts'

const home = mkdtempSync(join(tmpdir(), 'berth-product-'))
const run = (spec: object) => runJob(spec, { engine, emit: () => {}, logDir: null })
const BASE_PORT = 18300
const get = async (port: number, path = '/') => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(3000) })
  return { status: res.status, text: await res.text() }
}
const exec = async (cluster: string, node: string, cmd: string) => {
  const r = await engine.exec(`${cluster}.${node}`, ['sh', '-c', cmd])
  return r.stdout.trim()
}
const ids = async (cluster: string) =>
  new Map(
    (await engine.listContainers([`${LABEL.cluster}=${cluster}`])).map((c) => [
      c.Labels[LABEL.node],
      c.Id,
    ])
  )

/** A small web product: httpd under Docker's init, a page and a config file written by berth. */
const web = (name: string, port = BASE_PORT, extra: Record<string, unknown> = {}) => ({
  name,
  image: 'berth/demo:1',
  domain: 'product.local',
  defaults: { resources: { memory: '32m', pids: 64 }, restart: 'unless-stopped', init: true },
  nodes: [
    {
      name: 'db',
      volumes: ['data:/data'],
      command: 'sleep 100000',
      bootstrap: 'echo rows > /data/rows',
    },
    {
      name: 'web',
      phase: 1,
      command: ['httpd', '-f', '-p', '8080', '-h', '/www'],
      ports: [`${port}:8080`],
      files: [
        { target: '/www/index.html', content: `hello from ${name}\n` },
        {
          target: '/etc/web/app.conf',
          content: 'secret=1\n',
          mode: '0640',
          owner: 'nobody:nogroup',
        },
      ],
      healthcheck: { http: 'http://:8080/', expect: 200 },
      ...extra,
    },
  ],
})

const Product = suite('a product on the real engine: ports, files, limits, bootstraps, restore')
Product.before(
  hook(async () => {
    process.env.BERTH_HOME = home
    await removeTestClusters('t-prod')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
  })
)
Product.after(hook(() => removeTestClusters('t-prod')))

Product(
  'the page answers through the published port; files, init, limits and restart policy are as asked',
  async () => {
    const C = 't-prod-web'
    const r = await run({ kind: 'install', cluster: C, topology: web(C) })
    assert.ok(r.result.ok, r.result.message)
    assert.equal((await get(BASE_PORT)).text, `hello from ${C}\n`)
    assert.equal(r.result.nodes?.find((n) => n.name === 'web')?.published, [
      `http://127.0.0.1:${BASE_PORT}`,
    ])
    // Published on this machine's loopback only: not on the Docker host's other addresses.
    const info = await engine.inspectContainer(`${C}.web`)
    assert.equal(info.HostConfig.PortBindings, {
      '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(BASE_PORT) }],
    })
    assert.is(await exec(C, 'web', 'stat -c "%a %u %g" /etc/web/app.conf'), '640 65534 65534')
    assert.is(await exec(C, 'web', 'cat /proc/1/comm'), 'docker-init')
    assert.equal(
      [info.HostConfig.Memory, info.HostConfig.PidsLimit, info.HostConfig.RestartPolicy?.Name],
      [32 * 1024 ** 2, 64, 'unless-stopped']
    )
    const status = await run({ kind: 'status', cluster: C })
    const nodes = (
      status.result.data as { nodes: { name: string; health: string; published: string[] }[] }
    ).nodes
    const w = nodes.find((n) => n.name === 'web')
    assert.equal([w?.health, w?.published], ['healthy', [`http://127.0.0.1:${BASE_PORT}`]])
  }
)

Product(
  'changing a port or a file rebuilds exactly that node; the others keep their containers',
  async () => {
    const C = 't-prod-web'
    const before = await ids(C)
    const moved = await run({ kind: 'install', cluster: C, topology: web(C, BASE_PORT + 1) })
    assert.ok(moved.result.ok, moved.result.message)
    const after = await ids(C)
    assert.is(after.get('db'), before.get('db'))
    assert.is.not(after.get('web'), before.get('web'))
    assert.equal((await get(BASE_PORT + 1)).status, 200)
    assert.is(
      await get(BASE_PORT).then(
        () => 'answered',
        () => 'refused'
      ),
      'refused',
      'the old port is free again'
    )
    const t = web(C, BASE_PORT + 1)
    ;(t.nodes[1] as { files: { content: string }[] }).files[0].content = 'changed\n'
    assert.ok((await run({ kind: 'install', cluster: C, topology: t })).result.ok)
    assert.is((await ids(C)).get('db'), before.get('db'))
    assert.is((await get(BASE_PORT + 1)).text, 'changed\n')
  }
)

Product(
  'a host port taken by a process here, or by another cluster, and memory past the host are refused before anything is made',
  async () => {
    const busy: Server = createServer().listen(BASE_PORT + 5, '127.0.0.1')
    await new Promise((r) => busy.once('listening', r))
    try {
      const C = 't-prod-busy'
      const r = await run({ kind: 'install', cluster: C, topology: web(C, BASE_PORT + 5) })
      assert.is(r.result.code, 'preflight')
      assert.match(
        r.result.message ?? '',
        `node "web": host port 127.0.0.1:${BASE_PORT + 5}/tcp is taken by a process on the host`
      )
      assert.is((await ids(C)).size, 0)
      const other = await run({
        kind: 'install',
        cluster: 't-prod-other',
        topology: web('t-prod-other', BASE_PORT + 1),
      })
      assert.match(
        other.result.message ?? '',
        `host port 127.0.0.1:${BASE_PORT + 1}/tcp is taken by container "t-prod-web.web"`
      )
      assert.is((await ids('t-prod-other')).size, 0)
    } finally {
      busy.close()
    }
    const total = (await engine.info()).MemTotal
    const huge = web('t-prod-huge', BASE_PORT + 6, {
      resources: { memory: `${Math.ceil(total / 1024 ** 3) + 1}g` },
    })
    const r = await run({ kind: 'install', cluster: 't-prod-huge', topology: huge })
    assert.is(r.result.code, 'preflight')
    assert.match(
      r.result.message ?? '',
      /the nodes' memory limits add up to [\d.]+ GiB; the Docker host has [\d.]+ GiB in all/
    )
    assert.is((await ids('t-prod-huge')).size, 0)
  }
)

Product(
  'a node killed for memory, and one whose process ends, are named as such; nothing is left',
  async () => {
    const oom = {
      name: 't-prod-oom',
      image: 'berth/demo:1',
      domain: 'product.local',
      nodes: [
        {
          name: 'hog',
          resources: { memory: '16m' },
          bootstrap: 'dd if=/dev/zero of=/dev/null bs=64M count=1',
        },
      ],
    }
    const r = await run({ kind: 'install', cluster: oom.name, topology: oom })
    assert.is(r.result.code, 'bootstrap_failed')
    assert.match(
      r.result.message ?? '',
      'node "hog" failed at bootstrap (killed for memory (resources.memory is 16m))'
    )
    assert.is((await ids(oom.name)).size, 0)
    const ends = {
      ...oom,
      name: 't-prod-ends',
      nodes: [
        {
          name: 'gone',
          command: ['sh', '-c', 'echo cannot read my config >&2; exit 3'],
          restart: 'on-failure',
          bootstrap: 'true',
        },
      ],
    }
    const e = await run({ kind: 'install', cluster: ends.name, topology: ends })
    assert.match(
      e.result.message ?? '',
      /node "gone": its process ended \((exit code 3)?[^)]*\); its last output:\ncannot read my config/
    )
    assert.is((await ids(ends.name)).size, 0)
  }
)

Product(
  'okExitCodes and retries: exit 2 is success, a failure is tried again, and the last failure says how many tries',
  async () => {
    const t = (cmd: string, retries: number) => ({
      name: 't-prod-boot',
      image: 'berth/demo:1',
      domain: 'product.local',
      nodes: [
        {
          name: 'agent',
          bootstrap: { command: cmd, okExitCodes: [0, 2], retries, retryDelaySeconds: 1 },
        },
      ],
    })
    const flaky =
      'n=$(cat /tmp/n 2>/dev/null || echo 0); echo $((n+1)) > /tmp/n; [ $n -ge 2 ] && exit 2; echo "master not ready" >&2; exit 1'
    const ok = await runJob(
      { kind: 'install', cluster: 't-prod-boot', topology: t(flaky, 3) },
      { engine, emit: () => {} }
    )
    assert.ok(ok.result.ok, ok.result.message)
    assert.is(await exec('t-prod-boot', 'agent', 'cat /tmp/n'), '3')
    const log = readFileSync(join(home, 'jobs', `${ok.result.job}.log`), 'utf8')
    assert.match(log, '[agent] master not ready')
    assert.match(
      log,
      '[agent] bootstrap: exit 1 (not in okExitCodes [0,2]); again in 1 s (3 retries left)'
    )
    assert.match(log, '[agent] bootstrap: exit 2 (success), attempt 3')
    await run({ kind: 'destroy', cluster: 't-prod-boot', options: { volumes: true } })
    const bad = await run({
      kind: 'install',
      cluster: 't-prod-boot',
      topology: t('echo no >&2; exit 4', 1),
    })
    assert.match(
      bad.result.message ?? '',
      'node "agent" failed at bootstrap (exit code 4 after 2 attempts)'
    )
    assert.is((await ids('t-prod-boot')).size, 0)
  }
)

Product(
  "restore over the running cluster: the ports move at the swap, the gap is measured, the data is the snapshot's",
  async () => {
    const C = 't-prod-web'
    assert.ok((await run({ kind: 'snapshot', cluster: C, options: { tag: 's1' } })).result.ok)
    await exec(C, 'db', 'echo later > /data/rows')
    await exec(C, 'web', 'echo later > /www/index.html')
    // Every 50 ms during the restore: the page must answer before and after, and every answer is
    // the original's or the restored one's.
    const seen: string[] = []
    let polling = true
    const poll = (async () => {
      while (polling) {
        seen.push(
          await get(BASE_PORT + 1).then(
            (r) => r.text.trim(),
            () => 'down'
          )
        )
        await new Promise((r) => setTimeout(r, 50))
      }
    })()
    const r = await run({ kind: 'restore', cluster: C, snapshot: 's1' })
    polling = false
    await poll
    assert.ok(r.result.ok, r.result.message)
    const gaps = (r.result.data as { ports: { port: string; unansweredMs: number }[] }).ports
    assert.is(gaps.length, 1)
    assert.is(gaps[0].port, `127.0.0.1:${BASE_PORT + 1}/tcp`)
    assert.ok(
      gaps[0].unansweredMs > 0 && gaps[0].unansweredMs < 2000,
      `unanswered ${gaps[0].unansweredMs} ms`
    )
    assert.is((await get(BASE_PORT + 1)).text, 'changed\n')
    assert.is(await exec(C, 'db', 'cat /data/rows'), 'rows')
    assert.is(seen[0], 'later')
    assert.is(seen[seen.length - 1], 'changed')
    assert.ok(
      seen.every((s) => ['later', 'changed', 'down'].includes(s)),
      seen.join(' ')
    )
    // Measured from outside too: the page was down for at most the time berth reported, give or take a poll.
    const down = seen.filter((s) => s === 'down').length
    assert.ok(
      down * 50 <= gaps[0].unansweredMs + 1000,
      `${down} polls down, berth says ${gaps[0].unansweredMs} ms`
    )
    // Only the nodes: the stopped rehearsal is gone, one container per node.
    assert.equal([...(await ids(C)).keys()].sort(), ['db', 'web'])
  }
)

Product(
  'restore --as: refused on the taken ports, naming them; --ports offset:N moves them, none drops them',
  async () => {
    const C = 't-prod-web'
    const refused = await run({
      kind: 'restore',
      cluster: C,
      snapshot: 's1',
      options: { as: 't-prod-copy' },
    })
    assert.is(refused.result.code, 'conflict')
    assert.match(
      refused.result.message ?? '',
      `node "web": host port 127.0.0.1:${BASE_PORT + 1}/tcp is taken by container "t-prod-web.web"`
    )
    assert.match(
      refused.result.message ?? '',
      'restore it with --ports offset:N (every host port + N) or --ports none; nothing was changed'
    )
    assert.is((await ids('t-prod-copy')).size, 0)
    const copy = await run({
      kind: 'restore',
      cluster: C,
      snapshot: 's1',
      options: { as: 't-prod-copy', ports: 'offset:10' },
    })
    assert.ok(copy.result.ok, copy.result.message)
    assert.is((await get(BASE_PORT + 11)).text, 'changed\n')
    const none = await run({
      kind: 'restore',
      cluster: C,
      snapshot: 's1',
      options: { as: 't-prod-bare', ports: 'none' },
    })
    assert.ok(none.result.ok, none.result.message)
    assert.equal(
      (await engine.inspectContainer('t-prod-bare.web')).HostConfig.PortBindings ?? {},
      {}
    )
  }
)

Product(
  'upgrade to another image: the port follows each rebuilt node, and the page answers after',
  async () => {
    const C = 't-prod-web'
    await docker.getImage('berth/demo:1').tag({ repo: 'berth/demo', tag: 'product-next' })
    try {
      const r = await run({
        kind: 'upgrade',
        cluster: C,
        options: { image: 'berth/demo:product-next' },
      })
      assert.ok(r.result.ok, r.result.message)
      assert.is((await engine.inspectContainer(`${C}.web`)).Config.Image, 'berth/demo:product-next')
      assert.is((await get(BASE_PORT + 1)).text, 'changed\n')
    } finally {
      await run({ kind: 'destroy', cluster: C, options: { volumes: true } })
      await engine.removeImage('berth/demo:product-next', { force: false }).catch(() => {})
    }
  }
)

Product.run()
