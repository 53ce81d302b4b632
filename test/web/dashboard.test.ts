/**
 * The dashboard in real Chromium against a real `berth serve` (SQLite file, local dispatcher, the
 * real Docker engine): sign in, a topology written in the editor (an error shown at its path),
 * planned and installed while the timeline fills in live, the cluster drawn with its real
 * addresses, a snapshot taken and restored with the typed confirmation (a file in a node back byte
 * for byte), a policy refusal explained, a read-only token shown no buttons, forged posts refused
 * and creating nothing, a cut event stream resumed without a line twice, an expired session sent
 * to sign-in and back, 404 pages; axe-core on every page, no script error or CSP violation.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs'
import { createServer, type Server as NetServer, type Socket, connect } from 'node:net'
import { createServer as createHttpServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import Database from 'better-sqlite3'
import { openSqliteStore } from '../../functions/store/sqlite.ts'
import { containerName } from '../../scripts/engine/labels.ts'
import { hook, until } from '../helpers/async.ts'
import { assertAccessible, launch, openPage, type Watched } from '../helpers/browser.ts'
import { docker, ensureDemoImage, removeTestClusters } from '../helpers/docker.ts'
import { serve, type Server } from '../helpers/serve.ts'
import { freePort } from '../helpers/sshd.ts'
import { mintToken } from '../helpers/tokens.ts'

const CLUSTER = 't-web-demo'
const TOPOLOGY = readFileSync(
  new URL('../../examples/codenvy.yaml', import.meta.url),
  'utf8'
).replace(/^name: codenvy\b/m, `name: ${CLUSTER}`)
/** Where the screenshots go: docs/screenshots with BERTH_SCREENSHOTS=1, else a temporary folder. */
const SHOTS =
  process.env.BERTH_SCREENSHOTS === '1'
    ? new URL('../../docs/screenshots/', import.meta.url).pathname
    : mkdtempSync(join(tmpdir(), 'berth-shots-'))

const ctx: {
  home?: string
  server?: Server
  browser?: Browser
  admin?: string
  reader?: string
  builder?: string
  /** The admin's signed-in page, kept through the tests. */
  w?: Watched
} = {}

test.before(
  hook(async () => {
    await removeTestClusters('t-web-')
    await ensureDemoImage()
    ctx.home = mkdtempSync(join(tmpdir(), 'berth-web-'))
    ctx.server = await serve(ctx.home)
    ctx.admin = readFileSync(join(ctx.home, 'admin-token'), 'utf8').trim()
    const store = await openSqliteStore(join(ctx.home, 'berth.db'))
    ctx.reader = await mintToken(store, 'reader', ['read'])
    ctx.builder = await mintToken(store, 'builder', ['read', 'install'], {
      clusters: ['t-web-*'],
      level: 'restricted',
    })
    await store.close()
    ctx.browser = await launch()
    mkdirSync(SHOTS, { recursive: true })
  })
)

test.after(
  hook(async () => {
    await ctx.browser?.close()
    ctx.server?.proc.kill('SIGTERM')
    await ctx.server?.exited
    await removeTestClusters('t-web-')
  })
)

const url = (path: string) => `${ctx.server!.base}${path}`

async function signIn(w: Watched, token: string, path = '/'): Promise<void> {
  await w.page.goto(url(path))
  await w.page.fill('#token', token)
  await Promise.all([
    w.page.waitForURL((u) => !u.pathname.startsWith('/sign-in')),
    w.page.click('form[action="/sign-in"] button'),
  ])
}

/** The page's checks: no script error or CSP violation so far, and axe-core's. */
async function checked(w: Watched, what: string): Promise<void> {
  assert.equal(w.problems, [], `${what}: script errors or CSP violations`)
  await assertAccessible(w.page, what)
}

/** An element's text ('' when there is none). */
const text = async (page: Page, selector: string) => (await page.textContent(selector)) ?? ''

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`) })

/** Waits on the job page until the job is in a final state; returns it. */
async function finished(page: Page): Promise<string> {
  return until(
    `the job at ${page.url()} to end`,
    async () => {
      const state = (await text(page, '#job-state'))?.trim()
      return state === 'succeeded' || state === 'failed' || state === 'cancelled'
        ? state
        : undefined
    },
    120_000,
    250
  )
}

async function jobsCount(): Promise<number> {
  const res = await fetch(url('/v1/jobs?limit=200'), {
    headers: { authorization: `Bearer ${ctx.admin}` },
  })
  return ((await res.json()) as { jobs: unknown[] }).jobs.length
}

test('sign-in: a page asked for leads to sign-in and back; a bad token is refused; the cookie is HttpOnly and SameSite=Strict', async () => {
  const w = await openPage(ctx.browser!)
  ctx.w = w
  const res = await w.page.goto(url('/jobs'))
  assert.match(w.page.url(), /\/sign-in\?next=%2Fjobs$/)
  assert.is(res!.status(), 200)
  const csp = res!.headers()['content-security-policy']
  assert.match(csp, /script-src 'self'/)
  assert.not.match(csp, /unsafe-inline/)
  assert.is(res!.headers()['x-frame-options'], 'DENY')
  await checked(w, 'sign-in')
  await shot(w.page, 'sign-in')
  await w.page.fill('#token', 'berth_not-a-real-token-at-all-0000000000000')
  await w.page.click('form[action="/sign-in"] button')
  assert.match(await text(w.page, '#token-error'), /unknown or revoked/)
  w.problems.length = 0 // the 403 of the refused sign-in is the console's one error
  await w.page.fill('#token', ctx.admin!)
  await Promise.all([w.page.waitForURL(/\/jobs$/), w.page.click('form[action="/sign-in"] button')])
  const [cookie] = await w.context.cookies()
  assert.is(cookie.name, 'berth_session')
  assert.ok(cookie.httpOnly, 'HttpOnly')
  assert.is(cookie.sameSite, 'Strict')
  assert.not.ok(cookie.value.includes(ctx.admin!.slice(6, 20)), 'the cookie is not the token')
  await checked(w, 'jobs')
})

test('the topology editor shows a bad file’s errors at their paths and does not store it', async () => {
  const { page } = ctx.w!
  await page.goto(url(`/topologies/new?name=${CLUSTER}`))
  assert.match(page.url(), new RegExp(`/topologies/${CLUSTER}$`))
  // A new topology starts from a text that is valid and allowed.
  await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.status() === 200),
    page.click('button[value="save"]'),
  ])
  assert.match(await text(page, '.notice'), /^Saved\.$/)
  const bad = TOPOLOGY.replace('- name: runner', '- name: Runner_1').replace(
    'memory: 64m',
    'memory: lots'
  )
  await page.fill('#text', bad)
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.click('button[value="save"]'),
  ])
  assert.is(res.status(), 422)
  const issues = await page.locator('#topology-issues li').allTextContents()
  assert.ok(
    issues.some((i) => /^nodes\[\d+\]\.name: /.test(i)),
    issues.join('\n')
  )
  assert.ok(
    issues.some((i) => /memory/.test(i)),
    issues.join('\n')
  )
  assert.is(await page.inputValue('#text'), bad, 'what was typed is kept')
  ctx.w!.problems.length = 0
  await checked(ctx.w!, 'editor with errors')
  await shot(page, 'topology-editor')
  const stored = await fetch(url(`/v1/topologies/${CLUSTER}`), {
    headers: { authorization: `Bearer ${ctx.admin}` },
  })
  const kept = ((await stored.json()) as { topology: { text: string } }).topology.text
  assert.not.match(kept, /Runner_1/, 'the bad text was not stored')
})

test('install from the stored topology: the plan first, then the install, its timeline filling in live', async () => {
  const { page } = ctx.w!
  await page.fill('#text', TOPOLOGY)
  await Promise.all([page.waitForURL(/\/jobs\/[\w-]+$/), page.click('button[value="plan"]')])
  assert.is(await finished(page), 'succeeded')
  const plan = await page.locator('#plan tbody tr').allTextContents()
  assert.is(plan.length, 8, 'eight nodes planned')
  assert.ok(
    plan.every((r) => r.includes('create')),
    plan.join('\n')
  )
  await checked(ctx.w!, 'plan job')
  await Promise.all([
    page.waitForURL((u) => /\/jobs\//.test(u.pathname)),
    page.click('text=Install as planned'),
  ])
  const installUrl = page.url()
  // Live: while the job runs, steps arrive over SSE without a reload and the timeline grows.
  const navigations: string[] = []
  page.on('framenavigated', (f) => f === page.mainFrame() && navigations.push(f.url()))
  const seen = new Set<number>()
  await until(
    'the timeline to grow while the install runs',
    async () => {
      const bars = await page.locator('#timeline rect.bar').count()
      const state = (await text(page, '#job-state'))?.trim()
      if (state === 'running' || state === 'queued') seen.add(bars)
      return seen.size >= 3 ? true : state === 'succeeded' || state === 'failed' ? false : undefined
    },
    60_000,
    150
  ).then((grew) =>
    assert.ok(grew, `the timeline was seen at ${[...seen].join(', ')} bars only while running`)
  )
  assert.is(await finished(page), 'succeeded')
  assert.equal(navigations, [], 'followed without reloading the page')
  // The facts read again at the end: the time it took, not the time it had run when first shown.
  assert.match(await text(page, '#job-facts'), /Took\s*\d+\.\d s/)
  // Every node has its rows: create, start, bootstrap and health bars.
  for (const step of ['create', 'start', 'bootstrap']) {
    const rows = await page
      .locator(`#timeline rect.bar[data-step="${step}"]`)
      .evaluateAll((els) => [...new Set(els.map((e) => e.getAttribute('data-row')))])
    assert.is(rows.length, 8, `${step}: ${rows.join(', ')}`)
  }
  // The rows are grouped by phase, the master's first.
  const labels = await page.locator('#timeline text.row').allTextContents()
  assert.equal(labels.slice(0, 3), ['(cluster)', 'master · phase 0', 'data · phase 1'])
  const lines = await page
    .locator('#log span')
    .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))))
  assert.equal(
    lines,
    lines.map((_, i) => i + 1),
    'every event once, in order'
  )
  assert.match(await text(page, '#job-state'), /succeeded/)
  await checked(ctx.w!, 'install job')
  await shot(page, 'job')
  assert.is(page.url(), installUrl)
})

test('the cluster page draws the eight nodes with their real addresses, as docker inspect says', async () => {
  const { page } = ctx.w!
  await page.goto(url('/'))
  await page.waitForSelector(`tr[data-cluster="${CLUSTER}"]`)
  assert.match(await text(page, `tr[data-cluster="${CLUSTER}"] [data-field="running"]`), /8\/8/)
  await checked(ctx.w!, 'clusters')
  await shot(page, 'clusters')
  await page.click(`a[href="/clusters/${CLUSTER}"]`)
  await page.waitForSelector('svg.topology')
  const nodes = await page
    .locator('#nodes tbody tr')
    .evaluateAll((rows) =>
      rows.map((r) => [r.getAttribute('data-node'), r.children[3].textContent])
    )
  assert.is(nodes.length, 8)
  for (const [node, ip] of nodes) {
    const info = await docker.getContainer(containerName(CLUSTER, String(node))).inspect()
    const real = Object.values(info.NetworkSettings.Networks)[0].IPAddress
    assert.is(ip, real, `${node}'s address`)
  }
  assert.is(await page.locator('svg.topology g.node').count(), 8)
  assert.is(
    await page.locator('svg.topology g.node.ok').count(),
    8,
    'every node running and healthy'
  )
  assert.match(await text(page, 'svg.topology text.phase'), /phase 0/)
  await checked(ctx.w!, 'cluster')
  await shot(page, 'cluster')
})

test('a snapshot taken from the page is listed; restored with the typed confirmation, a file is back byte for byte', async () => {
  const { page } = ctx.w!
  const master = docker.getContainer(containerName(CLUSTER, 'master'))
  const marker = `before ${Date.now()} ${Math.random()}`
  const sh = async (cmd: string) => {
    const ex = await master.exec({ Cmd: ['sh', '-c', cmd], AttachStdout: true, AttachStderr: true })
    const stream = await ex.start({})
    const chunks: Buffer[] = []
    stream.on('data', (d: Buffer) => chunks.push(d))
    await new Promise((r) => stream.on('end', r))
    return Buffer.concat(chunks).subarray(8).toString()
  }
  await sh(`printf '%s' '${marker}' > /root/marker`)
  await page.fill('#tag', 't-web-snap1')
  await Promise.all([page.waitForURL(/\/jobs\//), page.click('text=Take a snapshot')])
  assert.is(await finished(page), 'succeeded')
  await page.goto(url(`/clusters/${CLUSTER}`))
  await page.waitForSelector('tr[data-snapshot="t-web-snap1"]')
  await sh(`printf 'changed' > /root/marker`)
  await page.click('tr[data-snapshot="t-web-snap1"] >> text=Restore…')
  assert.ok(await page.isDisabled('button[data-enable-when]'), 'disabled until the name is typed')
  await checked(ctx.w!, 'restore confirmation')
  await shot(page, 'restore-confirm')
  await page.fill('#confirm', 't-web-dem')
  assert.ok(await page.isDisabled('button[data-enable-when]'))
  // The server checks too: a post with the wrong name makes no job.
  const before = await jobsCount()
  const wrong = await page.evaluate(`(async () => {
    const form = document.querySelector('form.confirm')
    const res = await fetch(form.action, { method: 'POST', body: new URLSearchParams(new FormData(form)) })
    return res.status
  })()`)
  assert.is(wrong, 422)
  assert.is(await jobsCount(), before, 'no job for a wrong name')
  await page.fill('#confirm', CLUSTER)
  await Promise.all([page.waitForURL(/\/jobs\//), page.click('button[data-enable-when]')])
  assert.is(await finished(page), 'succeeded')
  assert.is(await sh('cat /root/marker'), marker)
})

test('a schedule added from the cluster page shows its next run; removed, it is gone', async () => {
  const { page } = ctx.w!
  await page.goto(url(`/clusters/${CLUSTER}`))
  await page.fill('#s-name', 't-web-nightly')
  await page.fill('#s-cron', '30 2 * * *')
  await Promise.all([
    page.waitForURL(new RegExp(`/clusters/${CLUSTER}$`)),
    page.click('text=Add the schedule'),
  ])
  const row = page.locator('#schedules tbody tr', { hasText: 't-web-nightly' })
  assert.match(await row.innerText(), /30 2 \* \* \*/)
  assert.match(await row.innerText(), /\d{4}-\d\d-\d\d 02:30:00 UTC/, 'its next run')
  await Promise.all([
    page.waitForURL(new RegExp(`/clusters/${CLUSTER}$`)),
    row.locator('button').click(),
  ])
  assert.is(await page.locator('#schedules tbody tr', { hasText: 't-web-nightly' }).count(), 0)
})

test('without script every read page is whole and a form still works', async () => {
  const context = await ctx.browser!.newContext({ javaScriptEnabled: false })
  const page = await context.newPage()
  await page.goto(url('/sign-in'))
  await page.fill('#token', ctx.admin!)
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/'),
    page.click('form[action="/sign-in"] button'),
  ])
  assert.match(await text(page, `tr[data-cluster="${CLUSTER}"]`), /8\/8/)
  await page.goto(url(`/clusters/${CLUSTER}`))
  assert.is(await page.locator('svg.topology g.node').count(), 8)
  await Promise.all([page.waitForURL(/\/jobs\//), page.click('text=Take a snapshot')])
  // The job's page, read again until the job is done: the whole log and timeline, no script.
  const job = page.url()
  await until(
    'the snapshot to end',
    async () => {
      await page.goto(job)
      return /succeeded/.test(await text(page, '#job-state')) ? true : undefined
    },
    60_000,
    500
  )
  assert.ok((await page.locator('#log span').count()) > 5)
  assert.ok((await page.locator('#timeline rect.bar').count()) > 5)
  await context.close()
})

test('a refused action is explained: the editor names the path and the rule, and nothing is made', async () => {
  const w = await openPage(ctx.browser!)
  await signIn(w, ctx.builder!, '/topologies/t-web-caps')
  const text = `name: t-web-caps
image: berth/demo:1
domain: caps.local
defaults:
  resources: { memory: 64m }
nodes:
  - name: master
    capAdd: [SYS_ADMIN]
`
  await w.page.fill('#text', text)
  const [res] = await Promise.all([
    w.page.waitForResponse((r) => r.request().method() === 'POST'),
    w.page.click('button[value="plan"]'),
  ])
  assert.is(res.status(), 403)
  const refusals = await w.page.locator('#policy-refusals li').allTextContents()
  assert.ok(
    refusals.some((r) => /^nodes\[0\]\.capAdd/.test(r) && /rule: capabilities/.test(r)),
    refusals.join('\n')
  )
  assert.not.ok(
    (
      (await fetch(url('/v1/jobs?cluster=t-web-caps'), {
        headers: { authorization: `Bearer ${ctx.admin}` },
      }).then((r) => r.json())) as { jobs: unknown[] }
    ).jobs.length
  )
  w.problems.length = 0
  await checked(w, 'policy refusal')
  await shot(w.page, 'policy-refusal')
  await w.context.close()
})

test('a read-only token sees no action; forged posts are refused and make nothing', async () => {
  const w = await openPage(ctx.browser!)
  await signIn(w, ctx.reader!, `/clusters/${CLUSTER}`)
  await w.page.waitForSelector('#nodes')
  for (const text of [
    'Take a snapshot',
    'Restore…',
    'Destroy…',
    'Remove…',
    'Add the schedule',
    'Audit',
  ])
    assert.is(await w.page.locator(`text=${text}`).count(), 0, `no "${text}"`)
  await checked(w, 'cluster, read-only')
  const before = await jobsCount()
  // The reader's own session without the form's CSRF value, and the admin's with a wrong one.
  const noCsrf = await w.page.request.post(url(`/clusters/${CLUSTER}/snapshot`), {
    form: { tag: 'x' },
    maxRedirects: 0,
  })
  assert.is(noCsrf.status(), 403)
  const adminForged = await ctx.w!.page.request.post(url(`/clusters/${CLUSTER}/destroy`), {
    form: { _csrf: 'guessed', confirm: CLUSTER },
    maxRedirects: 0,
  })
  assert.is(adminForged.status(), 403)
  assert.match(await adminForged.text(), /CSRF/)
  // A page of another site posting a form to berth: the session cookie does not go with it.
  const evilPort = await freePort()
  const evil = createHttpServer((_req, res) => {
    res.setHeader('content-type', 'text/html')
    res.end(`<form id="f" method="post" action="${url(`/clusters/${CLUSTER}/destroy`)}">
      <input name="confirm" value="${CLUSTER}"><input name="_csrf" value="x"></form>
      <script>document.getElementById('f').submit()</script>`)
  })
  await new Promise<void>((r) => evil.listen(evilPort, 'localhost', r))
  try {
    await ctx.w!.page.goto(`http://localhost:${evilPort}/`)
    await ctx.w!.page.waitForURL((u) => u.port !== String(evilPort))
    assert.match(ctx.w!.page.url(), /\/sign-in/, 'sent to sign-in: no cookie went with it')
  } finally {
    evil.close()
  }
  ctx.w!.problems.length = 0
  assert.is(await jobsCount(), before, 'no job made')
  assert.ok((await docker.getContainer(containerName(CLUSTER, 'master')).inspect()).State.Running)
  await w.context.close()
})

test('a cut event stream resumes from the last event id: no line twice, none missing', async () => {
  // A TCP proxy between the browser and berth, whose connections are cut mid-job.
  const target = new URL(ctx.server!.base)
  const sockets = new Set<Socket>()
  const proxy: NetServer = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname)
    client.pipe(upstream).pipe(client)
    sockets.add(client).add(upstream)
    const drop = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
  })
  const port = await freePort()
  await new Promise<void>((r) => proxy.listen(port, '127.0.0.1', r))
  const via = `http://127.0.0.1:${port}`
  try {
    const w = await openPage(ctx.browser!)
    await w.page.goto(`${via}/sign-in?next=/clusters/${CLUSTER}`)
    await w.page.fill('#token', ctx.admin!)
    await Promise.all([
      w.page.waitForURL(/\/clusters\//),
      w.page.click('form[action="/sign-in"] button'),
    ])
    await w.page.waitForSelector('#tag')
    await Promise.all([w.page.waitForURL(/\/jobs\//), w.page.click('text=Take a snapshot')])
    await until(
      'some events shown',
      async () => ((await w.page.locator('#log span').count()) >= 2 ? true : undefined),
      30_000,
      50
    )
    for (const s of sockets) s.destroy()
    sockets.clear()
    assert.is(await finished(w.page), 'succeeded')
    const seqs = await w.page
      .locator('#log span')
      .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))))
    const stored = await fetch(url(`/v1/jobs/${w.page.url().split('/').pop()}/events`), {
      headers: { authorization: `Bearer ${ctx.admin}` },
    }).then((r) => r.text())
    const total = stored.split('\n').filter((l) => l.startsWith('event: job')).length
    assert.equal(
      seqs,
      Array.from({ length: total }, (_, i) => i + 1),
      'each event once, in order, none missing'
    )
    w.problems.length = 0 // the cut connection is a console error of its own
    await w.context.close()
  } finally {
    proxy.close()
  }
})

test('an expired session goes to sign-in and back to the page asked for; a revoked token ends its sessions', async () => {
  const w = await openPage(ctx.browser!)
  await signIn(w, ctx.admin!, '/')
  // Time passes: the session's expiry is moved into the past in berth's own SQLite file.
  const db = new Database(join(ctx.home!, 'berth.db'))
  db.prepare("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000Z'").run()
  db.close()
  await w.page.goto(url(`/clusters/${CLUSTER}`))
  assert.match(w.page.url(), /\/sign-in\?next=%2Fclusters%2Ft-web-demo&expired=1$/)
  assert.match(await text(w.page, '.notice'), /session has ended/)
  await w.page.fill('#token', ctx.admin!)
  await Promise.all([
    w.page.waitForURL(new RegExp(`/clusters/${CLUSTER}$`)),
    w.page.click('form[action="/sign-in"] button'),
  ])
  // Revoked: the next page asks for a sign-in again.
  const r = await openPage(ctx.browser!)
  const store = await openSqliteStore(join(ctx.home!, 'berth.db'))
  const temp = await mintToken(store, 'temp', ['read'])
  await signIn(r, temp, '/jobs')
  assert.ok(await store.revokeToken('temp'))
  await store.close()
  await r.page.goto(url('/jobs'))
  assert.match(r.page.url(), /\/sign-in\?next=%2Fjobs/)
  await w.context.close()
  await r.context.close()
})

test('a job, a cluster or a page that does not exist is a 404 page; the audit is for admins', async () => {
  const w = ctx.w!
  await signIn(w, ctx.admin!, '/')
  const job = await w.page.goto(url('/jobs/no-such-job'))
  assert.is(job!.status(), 404)
  assert.match(await text(w.page, 'h1'), /Not found/)
  w.problems.length = 0
  await checked(w, '404 job')
  await shot(w.page, 'not-found')
  const page = await w.page.goto(url('/no/such/page'))
  assert.is(page!.status(), 404)
  await w.page.goto(url('/clusters/t-web-nope'))
  assert.match(await text(w.page, 'main h1'), /Not found/)
  assert.match(await text(w.page, 'main'), /no cluster named "t-web-nope"/)
  w.problems.length = 0
  await w.page.goto(url('/audit'))
  const actions = await w.page.locator('#audit tbody td:nth-child(4)').allTextContents()
  for (const a of ['session.start', 'topology.put', 'job.install', 'job.snapshot', 'job.restore'])
    assert.ok(actions.includes(a), `${a} in the audit: ${actions.join(', ')}`)
  await checked(w, 'audit')
  await shot(w.page, 'audit')
  const r = await openPage(ctx.browser!)
  await signIn(r, ctx.reader!, '/jobs')
  const denied = await r.page.goto(url('/audit'))
  assert.is(denied!.status(), 403)
  await r.context.close()
})

test('the page script and style sheet together are at most 50 KB gzipped', async () => {
  const html = await (await fetch(url('/sign-in'))).text()
  let total = 0
  for (const [, path] of html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)) {
    const body = Buffer.from(await (await fetch(url(path))).arrayBuffer())
    total += execFileSync('gzip', ['-9c'], { input: body }).length
  }
  assert.ok(total > 0 && total <= 50 * 1024, `${total} bytes gzipped`)
})

test.run()
