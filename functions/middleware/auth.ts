/**
 * Bearer tokens with scopes. Only a token's SHA-256 is stored; a request presents the token,
 * berth hashes it (node:crypto where the runtime has it, else Web Crypto: the same code runs on
 * Workers) and looks the hash up.
 * 401: no token, or not a valid one (429 past the failure limit: failures.ts). 403: a valid token
 * without the grant the route needs (principal.ts).
 */
import type { Context, MiddlewareHandler } from 'hono'
import type { Level } from '../../scripts/engine/policy.ts'
import { forbidden, unauthorized } from '../errors.ts'
import { tokenPrincipal, type Principal, type TokenGrant } from '../principal.ts'
import type { Store, TokenRecord } from '../store/store.ts'
import type { FailureLimiter } from './failures.ts'
import { sha256Hex } from '../sha256.ts'

export const SCOPES = ['read', 'install', 'snapshot', 'restore', 'admin'] as const
export type Scope = (typeof SCOPES)[number]

/** The token a request presented, as the routes see it. */
export interface Caller extends TokenGrant {
  tokenId: string
  scopes: Scope[]
}

/** What the routes of /v1 read from the context. */
export type AuthEnv = { Variables: { caller: Caller; who: Principal; client: string } }

/** A token as the store keeps it: its SHA-256, in hex (the token itself is never stored). */
export const hashToken = (token: string): Promise<string> => sha256Hex(token)

/** `n` random bytes, base64url (a token, a session cookie, a CSRF value). */
export function randomText(n = 32): string {
  const bytes = crypto.getRandomValues(new Uint8Array(n))
  let text = ''
  for (const b of bytes) text += String.fromCharCode(b)
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** A new token: 32 random bytes, base64url, with a recognisable prefix. */
export const newToken = (): string => `berth_${randomText(32)}`

export function hasScope(caller: Pick<Caller, 'scopes'>, scope: Scope): boolean {
  return caller.scopes.includes('admin') || caller.scopes.includes(scope)
}

export function requireScope(caller: Caller, scope: Scope): void {
  if (!hasScope(caller, scope))
    throw forbidden(`the token "${caller.name}" lacks the "${scope}" scope`)
}

/**
 * A token's last use is written at most this often: `berth token list` stays right to the minute,
 * and a busy client does not cost a write per request.
 */
const TOUCH_EVERY_MS = 60_000

export interface AuthOptions {
  /** The policy's default level, for tokens that name none. */
  defaultLevel: Level
  limiter: FailureLimiter
  /** The client's address (client.ts). */
  client: (c: Context) => string
  /**
   * Without an Authorization header: the token a dashboard session stands for (web/session.ts),
   * or null. It answers 403 itself to a cookie-authenticated write without its CSRF value.
   */
  session?: (c: Context) => Promise<TokenRecord | null>
}

/** Sets the caller and its principal from a live token's record. */
export function grant(c: Context<AuthEnv>, record: TokenRecord, defaultLevel: Level): Caller {
  const caller: Caller = {
    tokenId: record.id,
    name: record.name,
    scopes: record.scopes as Scope[],
    clusters: record.clusters,
    level: (record.level as Level | null) ?? null,
  }
  c.set('caller', caller)
  c.set('who', tokenPrincipal(caller, defaultLevel))
  return caller
}

/**
 * Records a token's use, at most every TOUCH_EVERY_MS. The record just read says when it was
 * last written (by any process), so no state is kept here; a stamp in the future (the clock went
 * back) is rewritten too.
 */
export async function touch(store: Store, record: TokenRecord): Promise<void> {
  const since = record.lastUsedAt ? Date.now() - Date.parse(record.lastUsedAt) : Infinity
  if (!(since >= 0 && since < TOUCH_EVERY_MS)) await store.touchToken(record.id)
}

export function bearerAuth(store: Store, o: AuthOptions): MiddlewareHandler<AuthEnv> {
  return async function bearerAuth(c, next) {
    const client = o.client(c)
    c.set('client', client)
    const header = c.req.header('authorization') ?? ''
    if (!header && o.session) {
      const record = await o.session(c)
      if (record) {
        grant(c, record, o.defaultLevel)
        await touch(store, record)
        return next()
      }
    }
    const match = header.match(/^Bearer\s+(\S+)$/i)
    const hash = match ? await hashToken(match[1]) : null
    const keys = [`address ${client}`, ...(hash ? [`token ${hash.slice(0, 12)}…`] : [])]
    o.limiter.check(keys)
    const record = hash ? await store.findTokenByHash(hash) : null
    if (!record || record.revokedAt) {
      o.limiter.fail(keys)
      throw hash ? unauthorized('the token is unknown or revoked') : unauthorized()
    }
    grant(c, record, o.defaultLevel)
    await touch(store, record)
    await next()
  }
}
