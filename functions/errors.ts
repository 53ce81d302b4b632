/**
 * One error family for the HTTP side: each knows its status and a stable code, and renders the
 * one envelope `{ ok: false, error: { code, message } }` through the app's single onError.
 */
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { ResultEvent } from '../scripts/engine/events.ts'
import type { Issue } from '../scripts/engine/zod-issues.ts'

export type { Issue } from '../scripts/engine/zod-issues.ts'

export class JobError extends HTTPException {
  readonly code: string
  /** Each problem at its path (a topology's, a request's), where there are several. */
  readonly issues?: Issue[]

  readonly headers?: Record<string, string>

  constructor(status: ContentfulStatusCode, code: string, message: string, issues?: Issue[], headers?: Record<string, string>) {
    super(status, { message })
    this.code = code
    if (issues?.length) this.issues = issues
    if (headers) this.headers = headers
  }

  getResponse(): Response {
    const error = { code: this.code, message: this.message, ...(this.issues ? { issues: this.issues } : {}) }
    return Response.json({ ok: false, error }, { status: this.status, headers: this.headers })
  }
}

export const unauthorized = (message = 'a valid bearer token is required') => new JobError(401, 'unauthorized', message)
export const forbidden = (message: string, issues?: Issue[]) => new JobError(403, 'forbidden', message, issues)
export const notFound = (message: string) => new JobError(404, 'not_found', message)
export const invalid = (message: string, issues?: Issue[]) => new JobError(422, 'invalid_request', message, issues)
export const conflict = (message: string) => new JobError(409, 'conflict', message)

/** The data of a read the host answered (a GET's `inspect`), or the failure as the right status:
 *  404 for no such cluster or log, 422 for a request the host refused, 503 when it is down. */
export function fromHost(result: ResultEvent): unknown {
  if (result.ok) return result.data
  if (result.code === 'not_found') throw notFound(result.message ?? 'not found')
  if (result.code === 'invalid_job') throw invalid(result.message ?? 'invalid request')
  if (result.code === 'preflight' || result.code === 'engine_gone') throw new JobError(503, 'host_unavailable', result.message ?? 'the Docker host is not reachable')
  throw new JobError(502, 'host_failed', `the Docker host answered: ${result.message ?? result.code}`)
}
