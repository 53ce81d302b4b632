/**
 * One error family for the HTTP side: each knows its status and a stable code, and renders the
 * one envelope `{ ok: false, error: { code, message } }` through the app's single onError.
 */
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { ResultEvent } from '../scripts/engine/events.ts'
import type { Issue } from '../scripts/engine/zod-issues.ts'

export type { Issue } from '../scripts/engine/zod-issues.ts'

/** Every code an error answer can carry, with its status: one table, so a code cannot be
 *  misspelt or answer two statuses, and the OpenAPI lists them all. */
export const API_ERRORS = {
  aborted: [400, 'the request body was not received whole'],
  unauthorized: [401, 'no bearer token, or not a valid one'],
  forbidden: [403, "the token's scope or grants, or the host policy, do not allow it"],
  not_found: [404, 'no such route, job, cluster, schedule or topology'],
  conflict: [409, 'the cluster, schedule or job is in a state that does not allow it'],
  body_too_large: [413, 'the body is larger than the limit'],
  invalid_request: [422, 'the body or a parameter is wrong: `issues` names each field'],
  idempotency_mismatch: [422, 'an Idempotency-Key used again with another body'],
  too_many_failures: [429, 'too many failed authentications from one client: Retry-After'],
  too_many_jobs: [429, 'too many jobs waiting for one caller'],
  internal: [500, 'a bug: the server logs it'],
  host_failed: [502, 'the Docker host answered a read with a failure'],
  jira_unreachable: [502, 'Jira could not be asked who the user is'],
  dispatch_not_configured: [503, 'the Worker has no dispatch to a host'],
  draining: [503, 'the server is shutting down'],
  host_unavailable: [503, 'the Docker host is not reachable'],
  misconfigured: [503, "the Worker's bindings are not valid"],
  host_timeout: [504, 'the Docker host did not answer in time'],
} as const satisfies Record<string, readonly [ContentfulStatusCode, string]>

export type ApiErrorCode = keyof typeof API_ERRORS

export class JobError extends HTTPException {
  readonly code: ApiErrorCode
  /** Each problem at its path (a topology's, a request's), where there are several. */
  readonly issues?: Issue[]

  readonly headers?: Record<string, string>

  constructor(
    code: ApiErrorCode,
    message: string,
    issues?: Issue[],
    headers?: Record<string, string>
  ) {
    super(API_ERRORS[code][0], { message })
    this.code = code
    if (issues?.length) this.issues = issues
    if (headers) this.headers = headers
  }

  getResponse(): Response {
    const error = {
      code: this.code,
      message: this.message,
      ...(this.issues ? { issues: this.issues } : {}),
    }
    return Response.json({ ok: false, error }, { status: this.status, headers: this.headers })
  }
}

export const unauthorized = (message = 'a valid bearer token is required') =>
  new JobError('unauthorized', message)
export const forbidden = (message: string, issues?: Issue[]) =>
  new JobError('forbidden', message, issues)
export const notFound = (message: string) => new JobError('not_found', message)
export const invalid = (message: string, issues?: Issue[]) =>
  new JobError('invalid_request', message, issues)
export const conflict = (message: string) => new JobError('conflict', message)
/** The answer to an error no handler knew: its detail stays in the log. */
export const internalError = () => new JobError('internal', 'internal error').getResponse()

/** The data of a read the host answered (a GET's `inspect`), or the failure as the right status:
 *  404 for no such cluster or log, 422 for a request the host refused, 503 when it is down. */
export function fromHost(result: ResultEvent): unknown {
  if (result.ok) return result.data
  if (result.code === 'not_found') throw notFound(result.message ?? 'not found')
  if (result.code === 'invalid_job') throw invalid(result.message ?? 'invalid request')
  if (result.code === 'preflight' || result.code === 'engine_gone')
    throw new JobError('host_unavailable', result.message ?? 'the Docker host is not reachable')
  throw new JobError('host_failed', `the Docker host answered: ${result.message ?? result.code}`)
}
