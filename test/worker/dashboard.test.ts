/**
 * The dashboard served by the Worker, in real Chromium: `wrangler dev` (workerd, local D1 migrated
 * by `wrangler d1 migrations apply`), its jobs sent through the real AWS SDK to the local SSM
 * endpoint, which runs `berth job run` on this machine against the real Docker engine; the
 * per-minute cron tick that follows SSM commands is driven by the test while it waits on a job.
 * Signed in with the admin token given by its SHA-256; a topology written in the editor (an
 * error shown at its path), planned, installed as planned while the page follows it live; the
 * cluster listed and drawn with its real addresses; a snapshot taken and listed; a 404 page;
 * axe-core on every page, no script error or CSP violation.
 */
import { createHash, randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import type { Browser, Page } from 'playwright-core'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { containerName } from '../../scripts/engine/labels.ts'
import { hook, until, withTimeout } from '../helpers/async.ts'
import { assertAccessible, launch, openPage, type Watched } from '../helpers/browser.ts'
import { docker, ensureDemoImage, removeTestClusters } from '../helpers/docker.ts'
import { berthJobRun } from '../support/berth-document.ts'
import { startSsmEndpoint, type SsmEndpoint } from '../support/ssm-endpoint.ts'
import { migratedPersistDir, startWranglerDev, type WranglerDev } from './wrangler.ts'

const CLUSTER = 't-wdash'
const HOST = 'i-0a1b2c3d4e5f60718'
const adminToken = `berth_${randomBytes(32).toString('base64url')}`

const TOPOLOGY = `name: ${CLUSTER}
image: berth/demo:1
domain: wdash.local
defaults:
  resources: { memory: 64m }
nodes:
  - name: api
    bootstrap: echo api > /tmp/role
  - name: db
    bootstrap: echo db > /tmp/role
`

const ctx: {
  dir?: string
  dev?: WranglerDev
  ssm?: SsmEndpoint
  browser?: Browser
  /** The admin's signed-in page, kept through the tests. */
  w?: Watched
} = {}

test.before(
  hook(async () => {
    const [ssm, dir, browser] = await Promise.all([
      startSsmEndpoint({
        fleet: [{ instanceId: HOST, tags: { berth: 'host' } }],
        documents: { 'berth-job-run': berthJobRun },
      }),
      withTimeout(migratedPersistDir(), 60_000, 'wrangler d1 migrations apply'),
      launch(),
      removeTestClusters(CLUSTER),
      withTimeout(ensureDemoImage(), 120_000, 'demo image'),
    ])
    Object.assign(ctx, { ssm, dir, browser })
    ctx.dev = await startWranglerDev(dir, {
      BERTH_ADMIN_TOKEN_SHA256: createHash('sha256').update(adminToken).digest('hex'),
      AWS_REGION: ssm.region,
      AWS_ACCESS_KEY_ID: ssm.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ssm.credentials.secretAccessKey,
      SSM_ENDPOINT: ssm.url,
      SSM_TARGETS: JSON.stringify({ instanceIds: [HOST] }),
    })
  })
)

test.after(
  hook(async () => {
    await ctx.browser?.close()
    await ctx.dev?.stop()
    await ctx.ssm?.close()
    await removeTestClusters(CLUSTER)
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true })
  })
)

const url = (path: string) => `${ctx.dev!.base}${path}`

/** The page's checks: no script error or CSP violation so far, and axe-core's. */
async function checked(w: Watched, what: string): Promise<void> {
  assert.equal(w.problems, [], `${what}: script errors or CSP violations`)
  await assertAccessible(w.page, what)
}

/** An element's text ('' when there is none). */
const text = async (page: Page, selector: string) => (await page.textContent(selector)) ?? ''

/** The per-minute cron tick, as the Workers runtime would run it (wrangler's --test-scheduled). */
async function tick(): Promise<void> {
  const res = await fetch(url(`/__scheduled?cron=${encodeURIComponent('* * * * *')}`))
  assert.is(res.status, 200, 'the cron tick')
}

/**
 * Waits on the job page until it shows the job in a final state, with the cron tick (which
 * follows SSM commands and stores their events) run meanwhile; returns that state.
 */
async function finished(page: Page): Promise<string> {
  return until(
    `the job at ${page.url()} to end`,
    async () => {
      await tick()
      const state = (await text(page, '#job-state')).trim()
      return state === 'succeeded' || state === 'failed' || state === 'cancelled'
        ? state
        : undefined
    },
    90_000,
    500
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n--- wrangler dev:\n${ctx.dev!.output.join('').slice(-3000)}`)
  })
}

/** The data-seq of every log line shown. */
const seqs = (page: Page) =>
  page
    .locator('#log span[data-seq]')
    .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))))

test('sign-in with the admin token: the cookie is HttpOnly and SameSite=Strict, the CSP has no unsafe-inline', async () => {
  const w = await openPage(ctx.browser!)
  ctx.w = w
  const res = await w.page.goto(url('/'))
  assert.match(w.page.url(), /\/sign-in\?next=%2F$/)
  assert.is(res!.status(), 200)
  const csp = res!.headers()['content-security-policy']
  assert.match(csp, /script-src 'self'/)
  assert.not.match(csp, /unsafe-inline/)
  await checked(w, 'sign-in')
  await w.page.fill('#token', adminToken)
  const [clusters] = await Promise.all([
    w.page.waitForResponse((r) => new URL(r.url()).pathname === '/' && r.status() === 200),
    w.page.click('form[action="/sign-in"] button'),
  ])
  // The clusters page is streamed (its body waits on the host): it has the same policy.
  assert.is(clusters.headers()['content-security-policy'], csp)
  const [cookie, ...others] = await w.context.cookies()
  assert.is(others.length, 0)
  assert.is(cookie.name, 'berth_session')
  assert.ok(cookie.httpOnly, 'HttpOnly')
  assert.is(cookie.sameSite, 'Strict')
  assert.not.ok(cookie.value.includes(adminToken.slice(6, 20)), 'the cookie is not the token')
  // The session sticks: the clusters page, not sign-in again.
  assert.is(new URL(w.page.url()).pathname, '/')
  await w.page.waitForSelector('main h1')
  assert.match(await text(w.page, 'main h1'), /Clusters/)
  assert.match(await text(w.page, 'header .who'), /signed in as\s+admin/)
})

test('the editor shows an error at its path; saved and planned, then installed as planned while the page follows it', async () => {
  const w = ctx.w!
  const { page } = w
  await page.goto(url(`/topologies/new?name=${CLUSTER}`))
  assert.match(page.url(), new RegExp(`/topologies/${CLUSTER}$`))
  const bad = TOPOLOGY.replace('- name: db', '- name: Bad_Name')
  await page.fill('#text', bad)
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.click('button[value="save"]'),
  ])
  assert.is(res.status(), 422)
  const issues = await page.locator('#topology-issues li').allTextContents()
  assert.ok(
    issues.some((i) => i.startsWith('nodes[1].name')),
    issues.join('\n')
  )
  assert.is(await page.inputValue('#text'), bad, 'what was typed is kept')
  await checked(w, 'editor with errors')

  await page.fill('#text', TOPOLOGY)
  await Promise.all([page.waitForURL(/\/jobs\/[\w-]+$/), page.click('button[value="plan"]')])
  assert.match(await text(page, 'main h1'), /install \(plan\) of t-wdash/)
  assert.is(await finished(page), 'succeeded')
  const plan = await page.locator('#plan tbody tr').allTextContents()
  assert.is(plan.length, 2, plan.join('\n'))
  assert.ok(
    plan.every((r) => r.includes('create')),
    plan.join('\n')
  )
  await checked(w, 'plan job')

  const planUrl = page.url()
  await Promise.all([
    page.waitForURL((u) => /^\/jobs\/[\w-]+$/.test(u.pathname) && u.href !== planUrl),
    page.click('text=Install as planned'),
  ])
  const installUrl = page.url()
  // Shown before the host has done anything (the cron tick has not run): no line yet.
  assert.match(await text(page, '#job-state'), /queued|running/)
  assert.equal(await seqs(page), [])
  const navigations: string[] = []
  const onNav = (f: { url(): string }) => f === page.mainFrame() && navigations.push(f.url())
  page.on('framenavigated', onNav)
  assert.is(await finished(page), 'succeeded')
  page.off('framenavigated', onNav)
  assert.equal(navigations, [], 'followed without reloading the page')
  assert.is(page.url(), installUrl)
  assert.match(await text(page, '#result'), /Done/)
  // Every event stored in D1 by the poller is shown once, in order.
  const jobId = installUrl.split('/').pop()!
  const stored = await fetch(url(`/v1/jobs/${jobId}/events`), {
    headers: { authorization: `Bearer ${adminToken}` },
  }).then((r) => r.text())
  const total = stored.split('\n').filter((l) => l.startsWith('event: job')).length
  assert.ok(total > 2, stored.slice(0, 500))
  assert.equal(
    await seqs(page),
    Array.from({ length: total }, (_, i) => i + 1),
    'each event once, in order, none missing, over the event stream'
  )
  // The timeline is drawn from the same events. An SSM-dispatched job stores compact events
  // (`berth job run --compact`): the first node of each phase starts it, one line ends it for all,
  // so no per-node row is asserted — but every bar is closed once the job is done.
  assert.is(await page.locator('#timeline rect.bar.done[data-step="job"]').count(), 1)
  assert.is(await page.locator('#timeline rect.bar.open').count(), 0, 'no bar left open')
  for (const step of ['create', 'start', 'bootstrap'])
    assert.ok(
      (await page.locator(`#timeline rect.bar[data-step="${step}"]`).count()) > 0,
      `${step} in the timeline`
    )
  await checked(w, 'install job')

  // Really there, on the engine.
  for (const node of ['api', 'db']) {
    const info = await docker.getContainer(containerName(CLUSTER, node)).inspect()
    assert.ok(info.State.Running, `${node} is running`)
  }
})

test('the clusters page lists it 2/2 running; the cluster page shows both nodes at the addresses docker inspect reports', async () => {
  const w = ctx.w!
  const { page } = w
  await page.goto(url('/'))
  await page.waitForSelector(`tr[data-cluster="${CLUSTER}"]`)
  assert.match(
    await text(page, `tr[data-cluster="${CLUSTER}"] [data-field="running"]`),
    /^\s*2\/2\s*$/
  )
  await checked(w, 'clusters')
  await Promise.all([
    page.waitForURL(new RegExp(`/clusters/${CLUSTER}$`)),
    page.click(`a[href="/clusters/${CLUSTER}"]`),
  ])
  await page.waitForSelector('#nodes')
  const nodes = await page
    .locator('#nodes tbody tr')
    .evaluateAll((rows) =>
      rows.map((r) => [r.getAttribute('data-node'), r.children[3].textContent])
    )
  assert.equal(nodes.map(([n]) => n).sort(), ['api', 'db'])
  for (const [node, ip] of nodes) {
    const info = await docker.getContainer(containerName(CLUSTER, String(node))).inspect()
    const real = Object.values(info.NetworkSettings.Networks)[0].IPAddress
    assert.ok(real, `${node} has an address`)
    assert.is(ip, real, `${node}'s address`)
  }
  assert.is(await page.locator('svg.topology g.node').count(), 2)
  await checked(w, 'cluster')
})

test('a snapshot taken from the cluster page is listed once it has finished', async () => {
  const w = ctx.w!
  const { page } = w
  await page.fill('#tag', 't-wdash-snap1')
  await Promise.all([page.waitForURL(/\/jobs\//), page.click('text=Take a snapshot')])
  assert.match(await text(page, 'main h1'), /snapshot of t-wdash/)
  assert.is(await finished(page), 'succeeded')
  await page.goto(url(`/clusters/${CLUSTER}`))
  await page.waitForSelector('tr[data-snapshot="t-wdash-snap1"]')
  assert.is(
    await page.locator('tr[data-snapshot="t-wdash-snap1"] >> text=Restore…').count(),
    1,
    'a Restore… link'
  )
  await checked(w, 'cluster with a snapshot')
})

test('a job that does not exist is a 404 page', async () => {
  const w = ctx.w!
  const res = await w.page.goto(url('/jobs/no-such-job'))
  assert.is(res!.status(), 404)
  assert.match(await text(w.page, 'main h1'), /Not found/)
  await checked(w, '404 job')
  await w.context.close()
})

test.run()
