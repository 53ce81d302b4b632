/**
 * A typed client generated from the OpenAPI document, against a real `berth serve` over real
 * HTTP: openapi-fetch's `createClient<paths>()` with the types `npm run gen:client` committed
 * (test/support/berth-api.d.ts). The document the server serves makes those types again, byte for
 * byte; a token from `berth token create` submits a real job (a `status` of a cluster that does
 * not exist), follows it to its end (polling and its Server-Sent Events) and reads its typed
 * fields; the typed errors are the Error envelope; and the type checker refuses a wrong body
 * (`@ts-expect-error` below: `npm run typecheck` fails once the types stop checking it).
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import createClient from 'openapi-fetch'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { $ } from 'zx'
import { clientTypes, CLIENT_TYPES } from '../../scripts/openapi/gen-client.ts'
import { hook, until, withTimeout } from '../helpers/async.ts'
import { BIN, serve, type Server } from '../helpers/serve.ts'
import type { components, paths } from '../support/berth-api.d.ts'

type Job = components['schemas']['Job']

const ROOT = new URL('../..', import.meta.url).pathname
const home = mkdtempSync(join(tmpdir(), 'berth-openapi-client-'))
let server: Server
/** The client with a read-only token: `status` needs the read scope and nothing more. */
let api: ReturnType<typeof createClient<paths>>
let reader: string

/** A token made as an operator makes one, on the server's host, straight in its store. */
async function tokenFor(name: string, scopes: string): Promise<string> {
  const made = await $({
    env: { ...process.env, BERTH_HOME: home },
    quiet: true,
  })`${process.execPath} ${BIN} token create --name ${name} --scopes ${scopes} --json`
  return JSON.parse(made.stdout).token as string
}

const Client = suite('a typed client (openapi-typescript + openapi-fetch) against berth serve')

Client.before(
  hook(async () => {
    reader = await tokenFor('openapi-client', 'read')
    server = await serve(home)
    api = createClient<paths>({
      baseUrl: server.base,
      headers: { authorization: `Bearer ${reader}` },
    })
  })
)
Client.after(
  hook(async () => {
    if (!server) return
    server.proc.kill('SIGTERM')
    await withTimeout(server.exited, 40_000, 'berth serve exit')
  })
)

Client(
  'the document berth serves generates the committed client types, byte for byte',
  async () => {
    const { data, response } = await api.GET('/v1/openapi.json')
    assert.is(response.status, 200)
    assert.ok(data, 'the document')
    assert.equal((data as { servers?: unknown }).servers, [
      {
        url: '/',
        description: 'the origin that served this document: `berth serve` or the Worker',
      },
    ])
    assert.ok(
      (await clientTypes(data)) === readFileSync(join(ROOT, CLIENT_TYPES), 'utf8'),
      `${CLIENT_TYPES} is the served document's: run npm run gen:client`
    )
    const health = await api.GET('/healthz')
    assert.is(health.data?.ok, true)
  }
)

Client('submits a real job and follows it to its end: typed state and result', async () => {
  const submitted = await api.POST('/v1/jobs', {
    body: { kind: 'status', cluster: 't-oac-missing' },
  })
  assert.is(submitted.response.status, 202, JSON.stringify(submitted.error))
  const job: Job | undefined = submitted.data?.job
  assert.ok(job, 'the queued job')
  assert.is(job.kind, 'status')
  assert.is(job.cluster, 't-oac-missing')
  assert.ok(job.state === 'queued' || job.state === 'running', job.state)
  assert.is(job.requestedBy, 'openapi-client')

  // Polling GET /v1/jobs/{id} until it has finished.
  const done = await until(
    `job ${job.id} finished`,
    async () => {
      const { data, error } = await api.GET('/v1/jobs/{id}', { params: { path: { id: job.id } } })
      if (!data)
        throw new Error(`GET /v1/jobs/${job.id}: ${error?.error.code} ${error?.error.message}`)
      const state: Job['state'] = data.job.state
      return state === 'succeeded' || state === 'failed' || state === 'cancelled'
        ? data.job
        : undefined
    },
    120_000,
    200
  )
  assert.is(done.state, 'failed', 'a status of a cluster that is not there fails')
  assert.ok(done.result, 'with its result')
  assert.is(done.result.ok, false)
  assert.is(done.result.code, 'not_found')
  assert.match(done.result.message ?? '', /t-oac-missing/)
  assert.ok(done.finishedAt && done.startedAt, 'started and finished')
  assert.is(done.attempts, 1)

  // Its events, as Server-Sent Events: each `event: job`, then `event: end` with the job.
  const events = await api.GET('/v1/jobs/{id}/events', {
    params: { path: { id: job.id } },
    parseAs: 'text',
  })
  assert.is(events.response.headers.get('content-type')?.split(';')[0], 'text/event-stream')
  const text = events.data ?? ''
  assert.match(text, /^event: job$/m)
  const end = /^event: end\ndata: (.*)$/m.exec(text)
  assert.ok(end, `an end event in:\n${text}`)
  const ended = JSON.parse(end[1]) as Job
  assert.equal(
    { id: ended.id, state: ended.state, code: ended.result?.code },
    { id: job.id, state: 'failed', code: 'not_found' }
  )

  // And in the list of the cluster's jobs.
  const list = await api.GET('/v1/jobs', {
    params: { query: { cluster: 't-oac-missing', limit: 10 } },
  })
  assert.equal(
    list.data?.jobs.map((j) => j.id),
    [job.id]
  )
  assert.is(list.data?.next, null)
})

Client('errors are typed: the one envelope, with the status the document gives', async () => {
  const missing = await api.GET('/v1/jobs/{id}', { params: { path: { id: 'j-not-a-job' } } })
  assert.is(missing.response.status, 404)
  assert.is(missing.data, undefined)
  assert.equal(missing.error, {
    ok: false,
    error: { code: 'not_found', message: 'no job "j-not-a-job"' },
  })

  const install = await api.POST('/v1/jobs', {
    body: { kind: 'install', cluster: 't-oac-x', topology: 'name: t-oac-x' },
  })
  assert.is(install.response.status, 403, 'install needs the install scope')
  assert.is(install.error?.error.code, 'forbidden')

  const anonymous = createClient<paths>({ baseUrl: server.base })
  const none = await anonymous.GET('/v1/clusters')
  assert.is(none.response.status, 401)
  assert.is(none.error?.error.code, 'unauthorized')

  const finished = await api.GET('/v1/jobs', { params: { query: { state: 'failed' } } })
  const id = finished.data?.jobs[0]?.id
  assert.ok(id, 'the failed job of the test before')
  const cancel = await api.POST('/v1/jobs/{id}/cancel', { params: { path: { id } } })
  assert.is(cancel.response.status, 409, 'a finished job cannot be cancelled')
  // Its 409 is no error envelope: `{ ok: true, outcome: 'finished' }`, as the document says.
  assert.ok(cancel.error && 'outcome' in cancel.error, JSON.stringify(cancel.error))
  assert.equal(cancel.error, { ok: true, outcome: 'finished' })
})

Client(
  'the types refuse a wrong body (checked by npm run typecheck), and so does the server',
  async () => {
    const extra = await api.POST('/v1/jobs', {
      // @ts-expect-error: `shell` is no field of JobRequest (it is a strict object).
      body: { kind: 'status', cluster: 't-oac-x', shell: 'rm -rf /' },
    })
    assert.is(extra.response.status, 422)
    assert.match(extra.error?.error.message ?? '', /shell: unknown key/)

    // @ts-expect-error: `format-disk` is not a job kind.
    const kind = await api.POST('/v1/jobs', { body: { kind: 'format-disk', cluster: 't-oac-x' } })
    assert.is(kind.response.status, 422)
    assert.match(kind.error?.error.message ?? '', /^kind: /)
  }
)

Client(
  'a malformed request is refused before berth reads it: the 400 the document gives every route',
  async () => {
    const url = new URL(server.base)
    const status = await new Promise<{ code?: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: '/healthz', headers: { host: 'not a host' } },
        (res) => {
          let body = ''
          res.on('data', (d) => (body += d))
          res.on('end', () => resolve({ code: res.statusCode, body }))
        }
      )
      req.on('error', reject)
      req.end()
    })
    assert.equal(status, { code: 400, body: '' })
  }
)

Client.run()
