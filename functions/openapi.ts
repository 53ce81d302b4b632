/**
 * GET /v1/openapi.json — generated from the zod schemas that validate the requests (the job
 * request, its options, the topology file, the schedule request), so the document cannot drift
 * from what is enforced.
 * Responses share one envelope: `{ ok: true, … }` or `{ ok: false, error: { code, message } }`.
 */
import { z } from 'zod'
import { BERTH_VERSION } from '../scripts/engine/labels.ts'
import { TopologyFile } from '../scripts/engine/topology.ts'
import { SCOPES } from './middleware/auth.ts'
import { JobRequest } from './job-request.ts'
import { KIND_SCOPE } from './principal.ts'
import { ScheduleRequest } from './schedules.ts'

const schema = (s: z.ZodType) => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any', target: 'openapi-3.0' }) as Record<string, unknown>
  void _drop
  return rest
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const json = (s: object) => ({ content: { 'application/json': { schema: s } } })
const ok = (description: string, s: object = ref('Ok')) => ({ description, ...json(s) })
const err = (description: string) => ({ description, ...json(ref('Error')) })
const name = (n: string, description: string) => ({ name: n, in: 'path', required: true, schema: { type: 'string' }, description })

/** An operation behind a bearer token with `scope`: 401 and 403 are part of every such answer. */
function op(scope: string, summary: string, responses: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    summary,
    security: [{ bearer: [] }],
    'x-berth-scope': scope,
    ...extra,
    responses: {
      ...responses,
      401: err('no token, or an unknown or revoked one'),
      403: err(`the token lacks the scope (${scope}) or the grant on the cluster`),
      429: err('too many failed authentications from this address or with this token (Retry-After says when to try again)'),
    },
  }
}

/** A hook: no bearer token; the sender signs the raw body (checked before anything is read). */
function signed(header: string, summary: string, responses: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    summary,
    security: [],
    'x-berth-signature': header,
    ...extra,
    responses: {
      ...responses,
      401: err(`${header} missing or not matching the raw body`),
      403: err('refused by the grants of the sender or by the host policy (`error.issues`: each path and rule)'),
      404: err('this hook is not configured'),
      413: err('the body is too large'),
      429: err('too many bad signatures from this address (Retry-After says when to try again)'),
    },
  }
}

const header = (n: string) => ({ name: n, in: 'header', schema: { type: 'string' } })

export function openApiDocument() {
  const kinds = Object.entries(KIND_SCOPE).map(([k, s]) => `${k} (${s})`).join(', ')
  return {
    openapi: '3.0.3',
    info: {
      title: 'berth',
      version: BERTH_VERSION,
      description: `Install, snapshot and restore multi-node container clusters. Scopes: ${SCOPES.join(', ')} (admin implies all). Job kinds and the scope each needs: ${kinds}.`,
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        JobRequest: schema(JobRequest),
        ScheduleRequest: schema(ScheduleRequest),
        Topology: schema(TopologyFile),
        Ok: { type: 'object', required: ['ok'], properties: { ok: { type: 'boolean', enum: [true] } }, additionalProperties: true },
        Error: {
          type: 'object',
          required: ['ok', 'error'],
          properties: {
            ok: { type: 'boolean', enum: [false] },
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: { type: 'string' },
                message: { type: 'string' },
                issues: {
                  type: 'array',
                  description: 'each problem at its path, for a refused or invalid topology',
                  items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } },
                },
              },
            },
          },
        },
      },
    },
    paths: {
      '/healthz': { get: { summary: 'liveness; no token', responses: { 200: ok('alive') } } },
      '/v1/openapi.json': { get: { summary: 'this document; no token', responses: { 200: ok('the document', { type: 'object' }) } } },
      '/v1/jobs': {
        post: op(
          'per kind',
          'submit a job; 202 with the job (queued). `?queue=false`: 409 instead of waiting behind a running job',
          {
            202: ok('accepted (or the same job again for a repeated Idempotency-Key and body)'),
            403: err('the token lacks the kind\'s scope or the grant on the cluster (or, for options.keep, the restore scope), or the host policy refuses the topology: `error.issues` names each path and rule'),
            404: err('topologyRef names no stored topology'),
            409: err('queue=false and the cluster is busy'),
            413: err('the body is too large'),
            422: err('malformed JSON, an unknown kind, an invalid name or topology (the message names the field), or an Idempotency-Key reused with another body'),
            503: err('the server is draining'),
          },
          {
            description: 'A job waits behind a changing job of its cluster; read-only kinds (status, snapshots) never hold a changing one up. 429 `too_many_jobs` when the caller already has limits.maxQueuedPerActor jobs waiting.',
            parameters: [
              { name: 'Idempotency-Key', in: 'header', schema: { type: 'string' } },
              { name: 'queue', in: 'query', schema: { type: 'string', enum: ['false'] } },
            ],
            requestBody: { required: true, ...json(ref('JobRequest')) },
          }
        ),
        get: op('read', 'list the jobs of the clusters the token may read, newest first', { 200: ok('{ jobs, next }'), 422: err('a limit outside 1–500, or an unknown state') }, {
          parameters: [
            { name: 'cluster', in: 'query', schema: { type: 'string' } },
            { name: 'state', in: 'query', schema: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'] } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500 } },
            { name: 'before', in: 'query', schema: { type: 'string' }, description: 'the `next` cursor of the previous page' },
          ],
        }),
      },
      '/v1/jobs/{id}': { get: op('read', 'one job', { 200: ok('{ job }'), 404: err('no such job') }, { parameters: [name('id', 'job id')] }) },
      '/v1/jobs/{id}/events': {
        get: op('read', 'the job\'s events as Server-Sent Events (`event: job`, id = sequence number), live, then `event: end` with the job; replays from `Last-Event-ID`', { 200: { description: 'text/event-stream' }, 404: err('no such job') }, {
          parameters: [name('id', 'job id'), { name: 'Last-Event-ID', in: 'header', schema: { type: 'integer' } }],
        }),
      },
      '/v1/jobs/{id}/log': {
        get: op('read', 'the job\'s full log from the host that ran it ($BERTH_HOME/jobs/<job>.log: every line, where the events of an SSM-dispatched job are the compact ones), read for up to 15 s; `next` is the offset to go on from, null at the end', {
          200: ok('{ job, host?, text, next }'),
          404: err('no such job, or no log for it on the host'),
          409: err('the job has not started'),
          422: err('a bad offset or host, or the job ran on several hosts and none was named'),
        }, {
          parameters: [
            name('id', 'job id'),
            { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0 }, description: 'the byte offset to read from (a previous answer\'s `next`)' },
            { name: 'host', in: 'query', schema: { type: 'string' }, description: 'the host (instance id) to read from, for a job that ran on several' },
          ],
        }),
      },
      '/v1/jobs/{id}/cancel': {
        post: op('the job kind\'s scope', 'cancel: a queued job at once, a running one at its next safe point', { 202: ok('{ outcome: cancelled | stopping }'), 404: err('no such job'), 409: err('the job has finished') }, {
          parameters: [name('id', 'job id')],
        }),
      },
      '/v1/clusters': { get: op('read', 'every cluster on the Docker host, with its last job', { 200: ok('{ clusters }'), 503: err('the Docker host is not reachable') }) },
      '/v1/clusters/{name}': {
        get: op('read', 'nodes, IPs, hostnames, state, bootstrap and health, read from the host now; recent jobs', { 200: ok('{ cluster, busy, jobs }'), 404: err('no such cluster on the host'), 503: err('the Docker host is not reachable') }, {
          parameters: [name('name', 'cluster name')],
        }),
      },
      '/v1/clusters/{name}/snapshots': {
        get: op('read', 'the cluster\'s snapshots on the host, newest first', { 200: ok('{ snapshots }') }, { parameters: [name('name', 'cluster name')] }),
      },
      '/v1/topologies/{name}': {
        put: op('install', 'store a topology (YAML or JSON body) for jobs and webhooks to name', { 200: ok('{ topology }'), 422: err('the topology is invalid (every issue, with its path)') }, {
          parameters: [name('name', 'cluster name = the topology\'s name')],
          requestBody: { required: true, content: { 'application/yaml': { schema: ref('Topology') }, 'application/json': { schema: ref('Topology') } } },
        }),
        get: op('install', 'a stored topology (read by who may install it: it holds commands and environment values)', { 200: ok('{ topology }'), 404: err('none stored under that name') }, { parameters: [name('name', 'cluster name')] }),
      },
      '/v1/schedules': {
        get: op('read', 'the snapshot schedules of the clusters the token may read, with their last and next run', { 200: ok('{ schedules }') }),
        post: op(
          'snapshot',
          'add a snapshot schedule: the server queues a snapshot job (options.keep = keep) at each run; a run is skipped (and audited) while a snapshot of the cluster is queued or running. A `keep` prunes snapshots: it needs the restore scope too',
          {
            201: ok('{ schedule }'),
            409: err('a schedule by that name exists'),
            422: err('an invalid cluster, cron, keep, tz or name (the message names the field)'),
          },
          { requestBody: { required: true, ...json(ref('ScheduleRequest')) } }
        ),
      },
      '/v1/schedules/{name}': {
        delete: op('snapshot', 'remove a schedule (its snapshots are kept)', { 200: ok('{ deleted }'), 404: err('no schedule by that name') }, {
          parameters: [name('name', 'schedule name')],
        }),
      },
      '/hooks/slack': {
        post: signed('X-Slack-Signature', '/berth slash command (form body; Slack v0 signature with X-Slack-Request-Timestamp, 5-minute window); ssl_check=1 gets a bare 200; restore and destroy answer with Confirm/Cancel buttons', {
          200: { description: 'an ephemeral Slack message: the job and its place in the queue, an answer, or a polite refusal' },
          422: err('no Slack user id'),
        }, { parameters: [header('X-Slack-Request-Timestamp'), header('X-Slack-Retry-Num')] }),
      },
      '/hooks/slack/interactive': {
        post: signed('X-Slack-Signature', 'a Confirm/Cancel click (payload=<JSON>); the confirmed job is queued and the answer goes to the payload response_url', {
          200: { description: 'acknowledged (empty body)' },
          403: err('the confirmation was not sealed by berth'),
          422: err('no payload, not JSON, or no user id'),
        }),
      },
      '/hooks/jira': {
        post: signed('X-Hub-Signature', 'a Jira webhook (issue created/updated): installs the cluster the issue names when it carries the label and a rule of hooks.jira.allow lets its user, project, cluster and template', {
          200: ok('ignored ({ ignored: reason }) or a redelivery of the same signed body ({ duplicate: true, job })'),
          202: ok('{ job }: the install is queued'),
          422: err('not JSON, or a matching issue whose cluster/topology field is missing or invalid (the message names the field)'),
        }, { parameters: [header('X-Atlassian-Webhook-Identifier')] }),
      },
      '/hooks/{name}': {
        post: signed('X-Berth-Signature', "a named generic hook: queues the hook's fixed job; the payload is not read. `signature: timestamped` (default): X-Berth-Signature `v1=<hex HMAC-SHA256(secret, \"v1:\" + X-Berth-Timestamp + \":\" + body)>`, the timestamp within 5 minutes. `signature: github`: X-Hub-Signature-256 `sha256=<hex HMAC-SHA256(secret, body)>` (replayable: nothing time-bound is signed)", {
          200: ok('a redelivery, or the same body within 5 minutes: { duplicate: true, job }'),
          202: ok('{ job }'),
          422: err('a bad X-GitHub-Delivery or Idempotency-Key'),
        }, {
          parameters: [
            name('name', 'hook name'),
            header('X-Berth-Timestamp'),
            header('X-Hub-Signature-256'),
            header('X-GitHub-Delivery'),
            header('Idempotency-Key'),
          ],
        }),
      },
      '/v1/audit': {
        get: op('admin', 'who did what, from where, when, with what outcome; newest first', { 200: ok('{ audit }') }, {
          parameters: [
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
            { name: 'before', in: 'query', schema: { type: 'integer' } },
          ],
        }),
      },
    },
  }
}
