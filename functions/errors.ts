/**
 * One error family for the HTTP side: each knows its status and a stable code, and renders the
 * one envelope `{ ok: false, error: { code, message } }` through the app's single onError.
 */
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'

export class JobError extends HTTPException {
  readonly code: string

  constructor(status: ContentfulStatusCode, code: string, message: string) {
    super(status, { message })
    this.code = code
  }

  getResponse(): Response {
    return Response.json({ ok: false, error: { code: this.code, message: this.message } }, { status: this.status })
  }
}

export const unauthorized = (message = 'a valid bearer token is required') => new JobError(401, 'unauthorized', message)
export const forbidden = (message: string) => new JobError(403, 'forbidden', message)
export const notFound = (message: string) => new JobError(404, 'not_found', message)
export const invalid = (message: string) => new JobError(422, 'invalid_request', message)
export const conflict = (message: string) => new JobError(409, 'conflict', message)
