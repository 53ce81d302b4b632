/**
 * npm run bench:web — the dashboard's target: the first byte of any page within 50 ms on this
 * machine with 100 clusters and 10,000 jobs in the store. As a user meets it: a real `berth serve`
 * process (SQLite file, the local dispatcher), 100 real one-node clusters on the Docker engine
 * (installed through the API), 10,000 finished jobs with their events written to the store
 * before the server starts, a browser's session cookie. Each page is asked for --requests times
 * one after another (after a warm-up) and timed from the request to its first byte and to its
 * last; the floor is GET /healthz on the same server (a round trip through the same stack).
 * The clusters page and a cluster's page wait on the Docker host for their body (a read reused
 * for readCacheMs): they are also timed cold, the read not reused (--cold samples, 2.1 s apart).
 *
 *   npm run bench:web -- [--clusters 100] [--jobs 10000] [--requests 100] [--cold 5] [--json]
 *
 * The clusters, their containers and the temporary data directory are removed at the end.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { minimist } from 'zx'
import { openSqliteStore } from '../../functions/store/sqlite.ts'
import { DockerEngine } from '../engine/docker.ts'
import { LABEL } from '../engine/labels.ts'

const TARGET_MS = 50
const args = minimist(process.argv.slice(2), {
  default: { clusters: 100, jobs: 10_000, requests: 100, cold: 5 },
  boolean: ['json'],
})
const CLUSTERS = Number(args.clusters)
const JOBS = Number(args.jobs)
const REQUESTS = Number(args.requests)
const COLD = Number(args.cold)
const PREFIX = 'bw-'
const BIN = fileURLToPath(new URL('../../bin/berth.mjs', import.meta.url))
const say = (s: string) => !args.json && console.log(s)
const name = (i: number) => `${PREFIX}${String(i).padStart(3, '0')}`

/** One GET: ms to the first byte of the body and to the last. */
function timed(
  base: string,
  path: string,
  cookie: string
): Promise<{ first: number; all: number; status: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    let first = 0
    const headers = { accept: 'text/html', ...(cookie ? { cookie } : {}) }
    const req = request(`${base}${path}`, { headers }, (res) => {
      res.on('data', () => (first ||= performance.now() - t0))
      res.on('end', () =>
        resolve({ first, all: performance.now() - t0, status: res.statusCode ?? 0 })
      )
    })
    req.on('error', reject)
    req.end()
  })
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}

async function removeClusters(engine: DockerEngine): Promise<void> {
  const mine = (l?: Record<string, string>) => !!l?.[LABEL.cluster]?.startsWith(PREFIX)
  const cs = (await engine.listContainers([LABEL.cluster])).filter((c) => mine(c.Labels))
  for (let i = 0; i < cs.length; i += 8)
    await Promise.all(cs.slice(i, i + 8).map((c) => engine.removeContainer(c.Id)))
  const ns = (await engine.listNetworks([LABEL.cluster])).filter((n) => mine(n.Labels))
  for (const n of ns) await engine.removeNetwork(n.Id)
}

async function main() {
  const engine = new DockerEngine()
  await removeClusters(engine)
  const home = mkdtempSync(join(tmpdir(), 'berth-web-bench-'))
  // The jobs, before the server starts: finished installs and snapshots spread over the clusters,
  // each with the events a small job leaves.
  const store = await openSqliteStore(join(home, 'berth.db'))
  const t0 = Date.now()
  let eventJob = ''
  for (let i = 0; i < JOBS; i++) {
    const cluster = name(i % CLUSTERS)
    const at = new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString()
    const id = `seed-${i}`
    await store.createJob({
      id,
      kind: i % 3 ? 'snapshot' : 'install',
      cluster,
      spec: { kind: 'snapshot', cluster },
      requestedBy: i % 2 ? 'schedule:nightly' : 'admin',
      source: '127.0.0.1',
      idempotencyKey: null,
      bodyHash: null,
      createdAt: at,
    })
    await store.transitionJob(id, ['queued'], 'running', { startedAt: at })
    for (let s = 0; s < 10; s++)
      await store.appendEvent(id, {
        type: 'step',
        t: Date.parse(at) + s * 100,
        job: id,
        node: 'app',
        step: s % 2 ? 'create' : 'start',
        state: 'done',
        ms: 100,
      })
    await store.transitionJob(id, ['running'], 'succeeded', {
      finishedAt: at,
      exitCode: 0,
      result: { ok: true },
    })
    eventJob = id
  }
  await store.close()
  say(
    `store: ${JOBS} jobs (10 events each) over ${CLUSTERS} clusters written in ${((Date.now() - t0) / 1000).toFixed(1)} s`
  )

  const port = 20000 + Math.floor(Math.random() * 20000)
  const server = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...process.env, BERTH_HOME: home, PORT: String(port), BERTH_AUTO_REWIRE: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  server.stdout.on('data', (d) => (out += d))
  server.stderr.on('data', (d) => (out += d))
  try {
    for (let i = 0; !/berth serve: http/.test(out); i++) {
      if (i > 300) throw new Error(`berth serve did not start:\n${out}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    const base = `http://127.0.0.1:${port}`
    const admin = readFileSync(join(home, 'admin-token'), 'utf8').trim()
    const auth = { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }
    // The clusters, installed as a user would: one job each through the API.
    const t1 = Date.now()
    const ids: string[] = []
    for (let i = 0; i < CLUSTERS; i++) {
      const topology = {
        name: name(i),
        image: 'berth/demo:1',
        domain: 'bench.local',
        defaults: { resources: { memory: '32m' } },
        nodes: [{ name: 'app' }],
      }
      // At most 20 jobs wait per caller (limits.maxQueuedPerActor): past it, wait for them.
      let res: Response
      for (;;) {
        res = await fetch(`${base}/v1/jobs`, {
          method: 'POST',
          headers: auth,
          body: JSON.stringify({ kind: 'install', cluster: name(i), topology }),
        })
        if (res.status !== 429) break
        await res.body?.cancel()
        await new Promise((r) => setTimeout(r, 1000))
      }
      const body = (await res.json()) as { job?: { id: string }; error?: unknown }
      if (!body.job)
        throw new Error(`install ${name(i)}: ${res.status} ${JSON.stringify(body.error)}`)
      ids.push(body.job.id)
    }
    for (const id of ids) {
      for (;;) {
        const { job } = (await (
          await fetch(`${base}/v1/jobs/${id}`, { headers: auth })
        ).json()) as { job: { state: string; result: unknown } }
        if (job.state === 'succeeded') break
        if (job.state === 'failed' || job.state === 'cancelled')
          throw new Error(`install ${id}: ${JSON.stringify(job.result)}`)
        await new Promise((r) => setTimeout(r, 500))
      }
    }
    say(
      `docker: ${CLUSTERS} one-node clusters installed through the API in ${((Date.now() - t1) / 1000).toFixed(1)} s`
    )
    // A browser's sign-in.
    const signIn = await fetch(`${base}/sign-in`, {
      method: 'POST',
      body: new URLSearchParams({ token: admin, next: '/' }),
      redirect: 'manual',
    })
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0]
    if (!cookie.startsWith('berth_session=')) throw new Error(`no session: ${signIn.status}`)

    const pages: [string, string][] = [
      ['floor: /healthz', '/healthz'],
      ['sign-in', '/sign-in'],
      ['clusters', '/'],
      ['a cluster', `/clusters/${name(Math.floor(CLUSTERS / 2))}`],
      ['jobs', '/jobs'],
      ['a job', `/jobs/${eventJob}`],
      ['topologies', '/topologies'],
      ['audit', '/audit'],
      ['404', '/no/such/page'],
    ]
    const rows: {
      page: string
      path: string
      firstP50: number
      firstP99: number
      allP50: number
      allP99: number
      status: number
    }[] = []
    for (const [page, path] of pages) {
      // The sign-in page as a browser without a session sees it (with one, it redirects).
      const as = path === '/sign-in' ? '' : cookie
      for (let i = 0; i < 10; i++) await timed(base, path, as)
      const firsts: number[] = []
      const alls: number[] = []
      let status = 0
      for (let i = 0; i < REQUESTS; i++) {
        const r = await timed(base, path, as)
        firsts.push(r.first)
        alls.push(r.all)
        status = r.status
      }
      rows.push({
        page,
        path,
        firstP50: pct(firsts, 50),
        firstP99: pct(firsts, 99),
        allP50: pct(alls, 50),
        allP99: pct(alls, 99),
        status,
      })
    }
    // Cold: the host's answer not reused (2.1 s apart, past readCacheMs).
    const cold: { page: string; first: number[]; all: number[] }[] = []
    for (const [page, path] of pages.filter(([, p]) => p === '/' || p.startsWith('/clusters/'))) {
      const c = { page, first: [] as number[], all: [] as number[] }
      for (let i = 0; i < COLD; i++) {
        await new Promise((r) => setTimeout(r, 2100))
        const r = await timed(base, path, cookie)
        c.first.push(r.first)
        c.all.push(r.all)
      }
      cold.push(c)
    }
    const floor = rows[0].firstP50
    const f = (n: number) => `${n.toFixed(1)} ms`
    say('')
    say(
      `| page | status | first byte p50 | first byte p99 | whole page p50 | whole page p99 | first byte p50 ÷ floor |`
    )
    say(`| --- | --- | --- | --- | --- | --- | --- |`)
    for (const r of rows)
      say(
        `| ${r.page} | ${r.status} | ${f(r.firstP50)} | ${f(r.firstP99)} | ${f(r.allP50)} | ${f(r.allP99)} | ${(r.firstP50 / floor).toFixed(2)}× |`
      )
    for (const c of cold)
      say(
        `| ${c.page}, cold | | ${f(pct(c.first, 50))} | ${f(Math.max(...c.first))} (max) | ${f(pct(c.all, 50))} | ${f(Math.max(...c.all))} (max) | |`
      )
    const worst = Math.max(
      ...rows.slice(1).map((r) => r.firstP99),
      ...cold.map((c) => Math.max(...c.first))
    )
    const met = worst <= TARGET_MS
    say('')
    say(
      `target: first byte of any page ≤ ${TARGET_MS} ms — worst p99 ${f(worst)}: ${met ? 'met' : 'NOT met'}`
    )
    console.log(
      JSON.stringify({
        bench: 'web',
        clusters: CLUSTERS,
        jobs: JOBS,
        requests: REQUESTS,
        rows,
        cold,
        worstFirstByteMs: worst,
        met,
      })
    )
    if (!met) process.exitCode = 1
  } finally {
    server.kill('SIGTERM')
    await new Promise((r) => server.once('exit', r))
    await removeClusters(engine)
    rmSync(home, { recursive: true, force: true })
  }
}

await main()
