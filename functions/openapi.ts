/**
 * GET /v1/openapi.json — generated from the zod schemas that validate the requests (the job
 * request, its options, the topology file, the schedule request), so the document cannot drift
 * from what is enforced.
 * Responses share one envelope: `{ ok: true, … }` or `{ ok: false, error: { code, message } }`.
 * It passes `redocly lint` with the recommended rules, nothing ignored (npm run lint:openapi,
 * test/unit/openapi-lint.test.ts), and the typed client of the tests is generated from it (npm run
 * gen:client). Each response listed is one the routes can give: read them before adding one.
 */
import { z } from 'zod'
import pkg from '../package.json' with { type: 'json' }
import { BERTH_VERSION } from '../scripts/engine/labels.ts'
import { TopologyFile } from '../scripts/engine/topology.ts'
import { API_ERRORS } from './errors.ts'
import { SCOPES } from './middleware/auth.ts'
import { JobRequest } from './job-request.ts'
import { KIND_SCOPE } from './principal.ts'
import { ScheduleRequest } from './schedules.ts'

const schema = (s: z.ZodType) => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, {
    io: 'input',
    unrepresentable: 'any',
    target: 'openapi-3.0',
  }) as Record<string, unknown>
  void _drop
  return rest
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const json = (s: object) => ({ content: { 'application/json': { schema: s } } })
const ok = (description: string, s: object = ref('Ok')) => ({ description, ...json(s) })
const err = (description: string) => ({ description, ...json(ref('Error')) })
const name = (n: string, description: string) => ({
  name: n,
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description,
})
const header = (n: string, description?: string) => ({
  name: n,
  in: 'header',
  schema: { type: 'string' },
  ...(description ? { description } : {}),
})

/** What the HTTP server answers before berth reads the request: true of every route. */
const malformed = { $ref: '#/components/responses/Malformed' }

/**
 * Where the API is: the origin that served this document. Relative, because one document is
 * served both by `berth serve` (http://<host>:<port>, often behind a proxy that renames it) and by
 * the Worker (its workers.dev or custom-domain route): a client resolves `/` against the address
 * it fetched /v1/openapi.json from, and every route is at the root of that origin on both.
 */
const SERVERS = [
  { url: '/', description: 'the origin that served this document: `berth serve` or the Worker' },
]

/** package.json's licence (its SPDX identifier; the text is the LICENSE file), as its SPDX page. */
function license() {
  const id = (pkg as { license: string }).license
  return { name: id, url: `https://spdx.org/licenses/${id}.html` }
}

type Responses = Record<string, unknown>

/**
 * An operation behind a bearer token with `scope`: 401, 403 and 429 are part of every such answer
 * (bearerAuth, requireScope and the grants, the failure limiter); `responses` adds the route's own
 * and may say more of those three.
 */
function op(
  operationId: string,
  scope: string,
  summary: string,
  responses: Responses,
  extra: Record<string, unknown> = {}
) {
  return {
    operationId,
    summary,
    security: [{ bearer: [] }, { session: [] }],
    'x-berth-scope': scope,
    ...extra,
    responses: {
      400: malformed,
      401: err('no token, or an unknown or revoked one'),
      403: err(`the token lacks the scope (${scope}) or the grant on the cluster`),
      429: err(
        'too many failed authentications from this address or with this token (Retry-After says when to try again)'
      ),
      ...responses,
    },
  }
}

/**
 * A hook: no bearer token (`security: []`); the sender signs the raw body with the hook's shared
 * secret, checked before anything is read (the scheme: `description`). Each hook lists the 4xx it
 * can answer: they differ (Slack's refusals are polite 200s, and only the interactive one has a 403).
 */
function signed(
  operationId: string,
  scheme: string,
  summary: string,
  description: string,
  responses: Responses,
  extra: Record<string, unknown> = {}
) {
  return {
    operationId,
    summary,
    description,
    security: [],
    'x-berth-signature': scheme,
    ...extra,
    responses: { 400: malformed, ...responses, 413: err('the body is larger than maxBodyBytes') },
  }
}

/** A route anyone may read: no token, nothing else asked. */
function open(operationId: string, summary: string, responses: Responses) {
  return { operationId, summary, security: [], responses: { ...responses, 400: malformed } }
}

const hookNotConfigured = (what: string) => err(`${what} is not configured`)
const badSignature = (header: string, timestamped = true) =>
  err(
    `${header} missing${timestamped ? ', its timestamp more than 5 minutes from now,' : ''} or not matching the raw body`
  )

/** A job as the API shows it (routes/jobs.ts `view`). */
const JOB = {
  type: 'object',
  required: [
    'id',
    'kind',
    'cluster',
    'state',
    'spec',
    'createdAt',
    'startedAt',
    'finishedAt',
    'requestedBy',
    'result',
    'exitCode',
    'attempts',
  ],
  properties: {
    id: { type: 'string' },
    kind: {
      type: 'string',
      description: 'the job kind (JobRequest.kind; auto-rewire and schedules make jobs too)',
    },
    cluster: { type: 'string' },
    state: {
      type: 'string',
      enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'],
    },
    spec: {
      type: 'object',
      additionalProperties: true,
      description: 'the request as admitted, without its topology text',
    },
    createdAt: { type: 'string', format: 'date-time' },
    startedAt: { type: 'string', format: 'date-time', nullable: true },
    finishedAt: { type: 'string', format: 'date-time', nullable: true },
    requestedBy: {
      type: 'string',
      description: 'the token name, slack:<user>, jira:<…>, hook:<name>, schedule:<name>',
    },
    result: {
      type: 'object',
      nullable: true,
      description:
        "the job's final `result` event: null until it ends (and for a job `berth serve` cancelled while it was queued)",
      required: ['ok'],
      properties: {
        type: { type: 'string', enum: ['result'] },
        ok: { type: 'boolean' },
        code: {
          type: 'string',
          description: 'why it failed (not_found, invalid_job, cancelled, dispatch_failed, …)',
        },
        message: { type: 'string' },
        ms: { type: 'number' },
        data: {
          description:
            'what the job read or made (a `status` job: the cluster as read from the host)',
        },
      },
      additionalProperties: true,
    },
    exitCode: { type: 'integer', nullable: true },
    attempts: {
      type: 'integer',
      description: 'how many times it was started (a resumed job: 2 or more)',
    },
    notifications: {
      type: 'array',
      description: 'GET /v1/jobs/{id} only, for a job from Slack or Jira: how reporting back went',
      items: {
        type: 'object',
        required: ['channel', 'sent', 'attempts', 'lastError'],
        properties: {
          channel: { type: 'string', enum: ['slack', 'jira'] },
          sent: {
            type: 'array',
            items: { type: 'string', enum: ['started', 'finished'] },
            description: 'the stages reported so far',
          },
          attempts: { type: 'integer' },
          lastError: { type: 'string', nullable: true },
        },
      },
    },
  },
}

const okTrue = { type: 'boolean', enum: [true] }
const envelope = (properties: Record<string, unknown>, required = Object.keys(properties)) => ({
  type: 'object',
  required: ['ok', ...required],
  properties: { ok: okTrue, ...properties },
})

export function openApiDocument() {
  const kinds = Object.entries(KIND_SCOPE)
    .map(([k, s]) => `${k} (${s})`)
    .join(', ')
  const hostDown = err('the Docker host is not reachable (`host_unavailable`)')
  const hostFailed = err('the Docker host answered with a failure (`host_failed`)')
  return {
    openapi: '3.0.3',
    info: {
      title: 'berth',
      version: BERTH_VERSION,
      description: `Install, snapshot and restore multi-node container clusters. Scopes: ${SCOPES.join(', ')} (admin implies all). Job kinds and the scope each needs: ${kinds}. Every answer is JSON in one envelope: \`{ ok: true, … }\` or \`{ ok: false, error: { code, message, issues? } }\`.`,
      license: license(),
    },
    servers: SERVERS,
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'a berth token (`berth token create`): only its SHA-256 is stored',
        },
        session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'berth_session',
          description:
            "the dashboard's sign-in (POST /sign-in with a token), when no Authorization header is sent; a write with it needs the `x-csrf-token` header",
        },
      },
      responses: {
        Malformed: {
          description:
            'a malformed HTTP request (a missing or invalid Host header, a backslash in the path): refused by the HTTP server before berth reads it, with the status alone and no body',
        },
      },
      schemas: {
        JobRequest: schema(JobRequest),
        ScheduleRequest: schema(ScheduleRequest),
        Topology: schema(TopologyFile),
        Job: JOB,
        JobAnswer: envelope({ job: ref('Job') }),
        JobList: envelope({
          jobs: { type: 'array', items: ref('Job') },
          next: {
            type: 'string',
            nullable: true,
            description: 'the `before` of the next page; null on the last',
          },
        }),
        CancelOutcome: envelope({
          outcome: {
            type: 'string',
            enum: ['cancelled', 'stopping', 'finished'],
            description:
              'cancelled: it was queued and never ran; stopping: it stops at its next safe point; finished: it had ended (409), nothing was done',
          },
        }),
        JobLog: envelope(
          {
            job: { type: 'string' },
            host: {
              type: 'string',
              description: 'the host read, for a job that ran on a named one',
            },
            text: { type: 'string' },
            next: {
              type: 'integer',
              nullable: true,
              description: 'the offset to go on from; null at the end of the log',
            },
          },
          ['job', 'text', 'next']
        ),
        Ok: {
          type: 'object',
          required: ['ok'],
          properties: { ok: okTrue },
          additionalProperties: true,
        },
        Error: {
          type: 'object',
          required: ['ok', 'error'],
          properties: {
            ok: { type: 'boolean', enum: [false] },
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: {
                  type: 'string',
                  enum: Object.keys(API_ERRORS),
                  description: `stable; with its status: ${Object.entries(API_ERRORS)
                    .map(([code, [status, what]]) => `${code} (${status}: ${what})`)
                    .join('; ')}`,
                },
                message: { type: 'string' },
                issues: {
                  type: 'array',
                  description: 'each problem at its path, for a refused or invalid topology',
                  items: {
                    type: 'object',
                    required: ['path', 'message'],
                    properties: { path: { type: 'string' }, message: { type: 'string' } },
                  },
                },
              },
            },
          },
        },
      },
    },
    paths: {
      '/healthz': { get: open('getHealth', 'liveness; no token', { 200: ok('alive') }) },
      '/v1/openapi.json': {
        get: open('getOpenApiDocument', 'this document; no token', {
          200: ok('the document', { type: 'object', additionalProperties: true }),
        }),
      },
      '/v1/jobs': {
        post: op(
          'submitJob',
          'per kind',
          'submit a job; 202 with the job (queued). `?queue=false`: 409 instead of waiting behind a running job',
          {
            202: ok(
              'accepted (or the same job again for a repeated Idempotency-Key and body)',
              ref('JobAnswer')
            ),
            403: err(
              "the token lacks the kind's scope or the grant on the cluster (or, for options.keep, the restore scope), or the host policy refuses the topology: `error.issues` names each path and rule"
            ),
            404: err('topologyRef names no stored topology'),
            409: err('queue=false and the cluster is busy'),
            413: err('the body is larger than maxBodyBytes'),
            422: err(
              'malformed JSON, an unknown kind or key, an invalid name or topology (the message names the field), or an Idempotency-Key reused with another body (`idempotency_mismatch`)'
            ),
            429: err(
              'too many failed authentications (`too_many_failures`, with Retry-After), or the caller already has limits.maxQueuedPerActor jobs waiting (`too_many_jobs`)'
            ),
            503: err('the server is draining (`draining`)'),
          },
          {
            description:
              'A job waits behind a changing job of its cluster; read-only kinds (status, snapshots) never hold a changing one up.',
            parameters: [
              {
                name: 'Idempotency-Key',
                in: 'header',
                schema: { type: 'string' },
                description: 'the same key and body answer the same job',
              },
              { name: 'queue', in: 'query', schema: { type: 'string', enum: ['false'] } },
            ],
            requestBody: { required: true, ...json(ref('JobRequest')) },
          }
        ),
        get: op(
          'listJobs',
          'read',
          'list the jobs of the clusters the token may read, newest first',
          {
            200: ok('{ jobs, next }', ref('JobList')),
            422: err('a limit outside 1–500, or an unknown state'),
          },
          {
            parameters: [
              { name: 'cluster', in: 'query', schema: { type: 'string' } },
              {
                name: 'state',
                in: 'query',
                schema: {
                  type: 'string',
                  enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'],
                },
              },
              { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500 } },
              {
                name: 'before',
                in: 'query',
                schema: { type: 'string' },
                description: 'the `next` cursor of the previous page',
              },
            ],
          }
        ),
      },
      '/v1/jobs/{id}': {
        get: op(
          'getJob',
          'read',
          'one job',
          {
            200: ok('{ job }', ref('JobAnswer')),
            404: err('no such job (or one of a cluster the token may not read)'),
          },
          { parameters: [name('id', 'job id')] }
        ),
      },
      '/v1/jobs/{id}/events': {
        get: op(
          'streamJobEvents',
          'read',
          "the job's events as Server-Sent Events (`event: job`, id = sequence number), live, then `event: end` with the job; replays from `Last-Event-ID`",
          {
            200: {
              description:
                'the event stream; `event: revoked` ends it if the token is revoked meanwhile',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            404: err('no such job (or one of a cluster the token may not read)'),
          },
          {
            parameters: [
              name('id', 'job id'),
              { name: 'Last-Event-ID', in: 'header', schema: { type: 'integer' } },
              {
                name: 'after',
                in: 'query',
                description:
                  'replay only the events after this sequence number (Last-Event-ID, when sent, wins)',
                schema: { type: 'integer', minimum: 0 },
              },
            ],
          }
        ),
      },
      '/v1/jobs/{id}/log': {
        get: op(
          'getJobLog',
          'read',
          "the job's full log from the host that ran it ($BERTH_HOME/jobs/<job>.log: every line, where the events of an SSM-dispatched job are the compact ones), read for up to 15 s; `next` is the offset to go on from, null at the end",
          {
            200: ok('{ job, host?, text, next }', ref('JobLog')),
            404: err('no such job, or no log for it on the host'),
            409: err('the job has not started'),
            422: err('a bad offset or host, or the job ran on several hosts and none was named'),
            502: hostFailed,
            503: hostDown,
          },
          {
            parameters: [
              name('id', 'job id'),
              {
                name: 'offset',
                in: 'query',
                schema: { type: 'integer', minimum: 0 },
                description: "the byte offset to read from (a previous answer's `next`)",
              },
              {
                name: 'host',
                in: 'query',
                schema: { type: 'string' },
                description: 'the host (instance id) to read from, for a job that ran on several',
              },
            ],
          }
        ),
      },
      '/v1/jobs/{id}/cancel': {
        post: op(
          'cancelJob',
          "the job kind's scope",
          'cancel: a queued job at once, a running one at its next safe point',
          {
            202: ok('{ outcome: cancelled | stopping }', ref('CancelOutcome')),
            403: err(
              "the token lacks the read scope, or the job kind's scope or grant on its cluster"
            ),
            404: err('no such job (or one of a cluster the token may not read)'),
            409: ok(
              '{ outcome: finished }: the job had ended; nothing was done (the `ok: true` envelope, not an error)',
              ref('CancelOutcome')
            ),
          },
          { parameters: [name('id', 'job id')] }
        ),
      },
      '/v1/clusters': {
        get: op(
          'listClusters',
          'read',
          'every cluster on the Docker host that the token may read, with its last job',
          { 200: ok('{ clusters }'), 502: hostFailed, 503: hostDown }
        ),
      },
      '/v1/clusters/{name}': {
        get: op(
          'getCluster',
          'read',
          'nodes, IPs, hostnames, state, bootstrap and health, read from the host now; recent jobs',
          {
            200: ok('{ cluster, busy, jobs }'),
            404: err('no such cluster on the host'),
            422: err('not a valid cluster name, or a request the host refused'),
            502: hostFailed,
            503: hostDown,
          },
          { parameters: [name('name', 'cluster name')] }
        ),
      },
      '/v1/clusters/{name}/snapshots': {
        get: op(
          'listSnapshots',
          'read',
          "the cluster's snapshots on the host, newest first",
          {
            200: ok('{ snapshots }'),
            422: err('not a valid cluster name, or a request the host refused'),
            502: hostFailed,
            503: hostDown,
          },
          { parameters: [name('name', 'cluster name')] }
        ),
      },
      '/v1/topologies/{name}': {
        put: op(
          'putTopology',
          'install',
          'store a topology (YAML or JSON body) for jobs and webhooks to name',
          {
            200: ok('{ topology }'),
            413: err('the body is larger than maxBodyBytes'),
            422: err(
              'the topology is invalid (every issue, with its path), or its name is not the one in the URL'
            ),
          },
          {
            parameters: [name('name', "cluster name = the topology's name")],
            requestBody: {
              required: true,
              content: {
                'application/yaml': { schema: ref('Topology') },
                'application/json': { schema: ref('Topology') },
              },
            },
          }
        ),
        get: op(
          'getTopology',
          'install',
          'a stored topology (read by who may install it: it holds commands and environment values)',
          { 200: ok('{ topology }'), 404: err('none stored under that name') },
          {
            parameters: [name('name', 'cluster name')],
          }
        ),
      },
      '/v1/schedules': {
        get: op(
          'listSchedules',
          'read',
          'the snapshot schedules of the clusters the token may read, with their last and next run',
          { 200: ok('{ schedules }') }
        ),
        post: op(
          'addSchedule',
          'snapshot',
          'add a snapshot schedule: the server queues a snapshot job (options.keep = keep) at each run; a run is skipped (and audited) while a snapshot of the cluster is queued or running. A `keep` prunes snapshots: it needs the restore scope too',
          {
            201: ok('{ schedule }'),
            403: err(
              'the token lacks the snapshot scope or the grant on the cluster (or, with keep, the restore scope)'
            ),
            409: err('a schedule by that name exists'),
            413: err('the body is larger than maxBodyBytes'),
            422: err(
              'not JSON, or an invalid cluster, cron, keep, tz or name (the message names the field)'
            ),
          },
          { requestBody: { required: true, ...json(ref('ScheduleRequest')) } }
        ),
      },
      '/v1/schedules/{name}': {
        delete: op(
          'deleteSchedule',
          'snapshot',
          'remove a schedule (its snapshots are kept)',
          {
            200: ok('{ deleted }'),
            404: err('no schedule by that name'),
            422: err('not a valid schedule name'),
          },
          {
            parameters: [name('name', 'schedule name')],
          }
        ),
      },
      '/hooks/slack': {
        post: signed(
          'receiveSlackCommand',
          'X-Slack-Signature',
          '/berth slash command',
          'The form body Slack posts. Signed as Slack signs: `X-Slack-Signature: v0=<hex HMAC-SHA256(signingSecret, "v0:" + X-Slack-Request-Timestamp + ":" + body)>`, the timestamp within 5 minutes of now. `ssl_check=1` gets a bare 200 (before the signature); a retry (X-Slack-Retry-Num) an empty 200. Slack shows its users nothing but a 200, so a refusal is a polite 200 message; restore and destroy answer with Confirm/Cancel buttons.',
          {
            200: {
              description:
                'an ephemeral Slack message: the job and its place in the queue, an answer, or a polite refusal',
            },
            401: badSignature('X-Slack-Signature'),
            404: hookNotConfigured('the Slack hook (hooks.slack)'),
            422: err('no Slack user id'),
          },
          {
            parameters: [
              header('X-Slack-Signature'),
              header('X-Slack-Request-Timestamp'),
              header('X-Slack-Retry-Num'),
            ],
          }
        ),
      },
      '/hooks/slack/interactive': {
        post: signed(
          'receiveSlackInteraction',
          'X-Slack-Signature',
          'a Confirm/Cancel click',
          'The form body (`payload=<JSON>`) Slack posts for a click on the buttons of a restore or destroy, signed as the slash command is: `X-Slack-Signature: v0=<hex HMAC-SHA256(signingSecret, "v0:" + X-Slack-Request-Timestamp + ":" + body)>`, the timestamp within 5 minutes of now. The button value carries the request sealed by berth; the confirmed job is queued and the answer goes to the payload response_url.',
          {
            200: { description: 'acknowledged (empty body)' },
            401: badSignature('X-Slack-Signature'),
            403: err('the confirmation was not sealed by berth'),
            404: hookNotConfigured('the Slack hook (hooks.slack)'),
            422: err('no payload, not JSON, or no user id'),
          },
          {
            parameters: [
              header('X-Slack-Signature'),
              header('X-Slack-Request-Timestamp'),
              header('X-Slack-Retry-Num'),
            ],
          }
        ),
      },
      '/hooks/jira': {
        post: signed(
          'receiveJiraWebhook',
          'X-Hub-Signature',
          'a Jira webhook (issue created/updated)',
          'Signed as Jira admin webhooks sign: `X-Hub-Signature: sha256=<hex HMAC-SHA256(hooks.jira.secret, body)>` (nothing time-bound is signed: a redelivery of the same body is the job it made). Installs the cluster the issue names when it carries the label and a rule of hooks.jira.allow lets its user, project, cluster and template.',
          {
            200: ok(
              'ignored ({ ignored: reason }) or a redelivery of the same signed body ({ duplicate: true, job })'
            ),
            202: ok('{ job }: the install is queued'),
            401: badSignature('X-Hub-Signature', false),
            403: err(
              'no rule of hooks.jira.allow lets this user, project, cluster and template, or the host policy refuses the topology'
            ),
            404: err(
              'the Jira hook (hooks.jira) is not configured, or the issue names no stored topology'
            ),
            422: err(
              'not JSON, or a matching issue whose cluster/topology field is missing or invalid (the message names the field)'
            ),
            429: err(
              'too many bad signatures from this address (Retry-After), or the Jira user already has limits.maxQueuedPerActor jobs waiting (`too_many_jobs`)'
            ),
            502: err("Jira did not answer the user's groups (`jira_unreachable`)"),
            503: err('the server is draining (`draining`)'),
          },
          { parameters: [header('X-Hub-Signature'), header('X-Atlassian-Webhook-Identifier')] }
        ),
      },
      '/hooks/{name}': {
        post: signed(
          'receiveGenericHook',
          'X-Berth-Signature',
          "a named generic hook: queues the hook's fixed job",
          'The payload is not read. `signature: timestamped` (the default): `X-Berth-Signature: v1=<hex HMAC-SHA256(secret, "v1:" + X-Berth-Timestamp + ":" + body)>`, the timestamp (Unix seconds) within 5 minutes of now. `signature: github`: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>` (replayable: nothing time-bound is signed; X-GitHub-Delivery or Idempotency-Key makes a redelivery the same job).',
          {
            200: ok('a redelivery, or the same body within 5 minutes: { duplicate: true, job }'),
            202: ok('{ job }'),
            401: badSignature('X-Berth-Signature (or X-Hub-Signature-256)'),
            403: err("the host policy refuses the hook's job (`error.issues`: each path and rule)"),
            404: err(
              'no hook of that name is configured (hooks.generic), or its install names no stored topology'
            ),
            422: err(
              "a bad X-GitHub-Delivery or Idempotency-Key, one reused with another body, or the hook's job is invalid (its stored topology)"
            ),
            429: err(
              'too many bad signatures from this address (Retry-After), or the hook already has limits.maxQueuedPerActor jobs waiting (`too_many_jobs`)'
            ),
            503: err('the server is draining (`draining`)'),
          },
          {
            parameters: [
              name('name', 'hook name'),
              header('X-Berth-Signature'),
              header('X-Berth-Timestamp'),
              header('X-Hub-Signature-256'),
              header('X-GitHub-Delivery'),
              header('Idempotency-Key'),
            ],
          }
        ),
      },
      '/v1/audit': {
        get: op(
          'listAudit',
          'admin',
          'who did what, from where, when, with what outcome; newest first',
          {
            200: ok('{ audit }'),
            422: err('a limit outside 1–1000, or a before that is not an audit id'),
          },
          {
            parameters: [
              {
                name: 'limit',
                in: 'query',
                schema: { type: 'integer', minimum: 1, maximum: 1000 },
              },
              { name: 'before', in: 'query', schema: { type: 'integer' } },
            ],
          }
        ),
      },
    },
  }
}
