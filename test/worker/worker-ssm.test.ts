/**
 * The whole edge path, each part real: a signed Slack command to the Worker in workerd (`wrangler
 * dev`, local D1) → a D1 row → SendCommand, through the real AWS SDK inside the Worker, to the
 * local SSM endpoint → which runs `berth job run` on this machine → a real install on the Docker
 * engine → the cron tick's poller completes the job → the `response_url` receiver gets
 * "started" and "finished" with the cluster's hostnames.
 */
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { LABEL } from '../../scripts/engine/labels.ts'
import { hook, until, withTimeout } from '../helpers/async.ts'
import { engine, ensureDemoImage, removeTestClusters } from '../helpers/docker.ts'
import { startReceiver, type Receiver } from '../helpers/receiver.ts'
import { commandBody, signedHeaders } from '../helpers/slack.ts'
import { berthJobRun } from '../support/berth-document.ts'
import { startSsmEndpoint, type SsmEndpoint } from '../support/ssm-endpoint.ts'
import { migratedPersistDir, startWranglerDev, type WranglerDev } from './wrangler.ts'

const CLUSTER = 't-wssm'
const HOST = 'i-0fedcba9876543210'
const adminToken = `berth_${randomBytes(32).toString('base64url')}`
const slackSecret = randomBytes(24).toString('hex')

const topology = {
  name: CLUSTER,
  image: 'berth/demo:1',
  domain: 'edge.local',
  defaults: { resources: { memory: '64m' } },
  nodes: [
    { name: 'api', bootstrap: 'echo api > /tmp/role' },
    { name: 'db', bootstrap: 'echo db > /tmp/role' },
  ],
}

const ctx: { dir?: string; dev?: WranglerDev; ssm?: SsmEndpoint; receiver?: Receiver } = {}

test.before(
  hook(async () => {
    await removeTestClusters(CLUSTER)
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
    ctx.receiver = await startReceiver()
    ctx.ssm = await startSsmEndpoint({
      fleet: [{ instanceId: HOST, tags: { berth: 'host' } }],
      documents: { 'berth-job-run': berthJobRun },
    })
    ctx.dir = await withTimeout(migratedPersistDir(), 60_000, 'wrangler d1 migrations apply')
    ctx.dev = await startWranglerDev(ctx.dir, {
      BERTH_ADMIN_TOKEN_SHA256: createHash('sha256').update(adminToken).digest('hex'),
      HOOKS: JSON.stringify({
        slack: {
          signingSecret: 'env:SLACK_SIGNING_SECRET',
          responseUrlPrefix: `${ctx.receiver.url}/`,
          allow: [{ users: ['U0OPS'], kinds: ['install'], clusters: ['t-wssm'] }],
        },
      }),
      SLACK_SIGNING_SECRET: slackSecret,
      AWS_REGION: ctx.ssm.region,
      AWS_ACCESS_KEY_ID: ctx.ssm.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ctx.ssm.credentials.secretAccessKey,
      SSM_ENDPOINT: ctx.ssm.url,
      SSM_TARGETS: JSON.stringify({ instanceIds: [HOST] }),
    })
  })
)

test.after(
  hook(async () => {
    await ctx.dev?.stop()
    await ctx.ssm?.close()
    await ctx.receiver?.close()
    await removeTestClusters(CLUSTER)
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true })
  })
)

const api = async (method: string, path: string, body?: string) => {
  const res = await fetch(`${ctx.dev!.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}` },
    body,
  })
  return { status: res.status, body: (await res.json()) as any } // eslint-disable-line @typescript-eslint/no-explicit-any
}

test('a signed Slack install runs through the Worker, SSM and berth job run to a real cluster, and Slack hears how it went', async () => {
  const put = await api('PUT', `/v1/topologies/${CLUSTER}`, JSON.stringify(topology))
  assert.is(put.status, 200, JSON.stringify(put.body))

  const responseUrl = `${ctx.receiver!.url}/slack/commands/T0BERTH/1/edge`
  const body = commandBody({ text: `install ${CLUSTER}`, response_url: responseUrl })
  const ack = await fetch(`${ctx.dev!.base}/hooks/slack`, {
    method: 'POST',
    headers: signedHeaders(slackSecret, body),
    body,
  })
  assert.is(ack.status, 200)
  const text = ((await ack.json()) as { text: string }).text
  const jobId = text.match(/job `(j[\w-]+)`/)?.[1]
  assert.ok(jobId, text)

  // A D1 row, made by the Slack user.
  const row = await api('GET', `/v1/jobs/${jobId}`)
  assert.is(row.status, 200)
  assert.is(row.body.job.requestedBy, 'slack:U0OPS')

  // The command reached the SSM endpoint through berth's document, aimed at the host.
  const command = await until(
    'SendCommand at the SSM endpoint',
    async () => [...ctx.ssm!.commands.values()][0],
    20_000
  )
  assert.is(command.documentName, 'berth-job-run')
  assert.equal([...command.invocations.keys()], [HOST])

  // The cron tick's poller follows the command until the job ends.
  const done = await until(
    'the job finished through cron ticks',
    async () => {
      const tick = await fetch(
        `${ctx.dev!.base}/__scheduled?cron=${encodeURIComponent('* * * * *')}`
      )
      assert.is(tick.status, 200)
      const j = (await api('GET', `/v1/jobs/${jobId}`)).body.job
      return ['succeeded', 'failed', 'cancelled'].includes(j.state) ? j : undefined
    },
    120_000,
    1000
  )
  assert.is(done.state, 'succeeded', JSON.stringify(done.result))
  assert.equal(done.result.nodes.map((n: { hostname: string }) => n.hostname).sort(), [
    `api.edge.local`,
    `db.edge.local`,
  ])

  // Really there, on the engine, as berth labels them.
  const containers = await engine.listContainers([`${LABEL.cluster}=${CLUSTER}`])
  assert.is(containers.length, 2)
  assert.ok(containers.every((c) => c.State === 'running'))

  // Events stored in D1 by the poller, in order.
  const events = await fetch(`${ctx.dev!.base}/v1/jobs/${jobId}/events`, {
    headers: { authorization: `Bearer ${adminToken}` },
  })
  const sse = await events.text()
  const ids = [...sse.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))
  assert.ok(ids.length > 2, sse.slice(0, 500))
  assert.equal(
    ids,
    ids.map((_, i) => i + 1)
  )

  // The full log, read from the host by second SSM commands: every line the compact events left out.
  const log = await api('GET', `/v1/jobs/${jobId}/log`)
  assert.is(log.status, 200, JSON.stringify(log.body))
  assert.is(log.body.next, null)
  assert.is(
    log.body.text,
    readFileSync(join(ctx.ssm!.workDir, HOST, '.berth', 'jobs', `${jobId}.log`), 'utf8')
  )
  for (const node of ['api', 'db'])
    assert.match(log.body.text, new RegExp(`\\[${node}\\] step bootstrap done`))
  assert.ok(
    log.body.text.trim().split('\n').length > ids.length,
    'more lines than the stored events'
  )

  // Slack heard "started" and then "finished" with the hostnames.
  const posts = await ctx
    .receiver!.waitFor(2, 30_000, (p) => p.path === new URL(responseUrl).pathname)
    .catch(async (e) => {
      console.error(
        JSON.stringify((await api('GET', `/v1/jobs/${jobId}`)).body.job.notifications),
        ctx.dev!.output.join('').slice(-3000)
      )
      throw e
    })
  const [started, finished] = posts.map((p) => JSON.parse(p.body).text as string)
  assert.match(started, /started/)
  assert.match(finished, /succeeded/)
  assert.match(finished, /api\.edge\.local/)
  assert.match(finished, /db\.edge\.local/)
})

test.run()
