/**
 * Bearer tokens with scopes. Only a token's SHA-256 is stored; a request presents the token,
 * berth hashes it (Web Crypto: the same code runs on Workers) and looks the hash up.
 * 401: no token, or not a valid one. 403: a valid token without the scope the route needs.
 */
import type { MiddlewareHandler } from 'hono'
import type { Store } from '../store/store.ts'
import { forbidden, unauthorized } from '../errors.ts'

export const SCOPES = ['read', 'install', 'snapshot', 'restore', 'admin'] as const
export type Scope = (typeof SCOPES)[number]

export interface Caller {
  tokenId: string
  name: string
  scopes: Scope[]
}

export async function hashToken(token: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** A new token: 32 random bytes, base64url, with a recognisable prefix. */
export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  let text = ''
  for (const b of bytes) text += String.fromCharCode(b)
  return `berth_${btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}`
}

export function hasScope(caller: Caller, scope: Scope): boolean {
  return caller.scopes.includes('admin') || caller.scopes.includes(scope)
}

export function requireScope(caller: Caller, scope: Scope): void {
  if (!hasScope(caller, scope)) throw forbidden(`the token "${caller.name}" lacks the "${scope}" scope`)
}

export function bearerAuth(store: Store): MiddlewareHandler<{ Variables: { caller: Caller } }> {
  return async function bearerAuth(c, next) {
    const header = c.req.header('authorization') ?? ''
    const match = header.match(/^Bearer\s+(\S+)$/i)
    if (!match) throw unauthorized()
    const record = await store.findTokenByHash(await hashToken(match[1]))
    if (!record || record.revokedAt) throw unauthorized('the token is unknown or revoked')
    c.set('caller', { tokenId: record.id, name: record.name, scopes: record.scopes as Scope[] })
    await store.touchToken(record.id)
    await next()
  }
}
