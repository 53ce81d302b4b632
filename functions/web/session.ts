/**
 * Dashboard sign-in: a token pasted once becomes a session cookie (HttpOnly, SameSite=Strict,
 * Secure over https) standing for that token on the server until it expires, is signed out, or
 * the token is revoked — every request reads the token again, so a revocation ends its sessions at
 * once. Only the cookie's SHA-256 is stored. Each session has a CSRF value that every form (the
 * `_csrf` field) and every cookie-authenticated write to /v1 (the `x-csrf-token` header) must
 * carry back; a write whose Origin is another site is refused before that. Runtime-neutral.
 */
import type { Context } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { forbidden } from '../errors.ts'
import { randomText } from '../middleware/auth.ts'
import { sha256Hex } from '../sha256.ts'
import type { SessionRecord, Store, TokenRecord } from '../store/store.ts'

export const SESSION_COOKIE = 'berth_session'
export const CSRF_FIELD = '_csrf'
export const CSRF_HEADER = 'x-csrf-token'
export const DEFAULT_SESSION_HOURS = 12

export interface SignedIn {
  session: SessionRecord
  token: TokenRecord
}

const COOKIE_VALUE = /^[A-Za-z0-9_-]{40,64}$/

/** The live session of the request's cookie and its token, or null. */
export async function readSession(store: Store, c: Context): Promise<SignedIn | null> {
  const value = getCookie(c, SESSION_COOKIE)
  if (!value || !COOKIE_VALUE.test(value)) return null
  const session = await store.getSession(await sha256Hex(value))
  if (!session) return null
  const token = await store.getToken(session.tokenId)
  if (!token || token.revokedAt) return null
  return { session, token }
}

export async function startSession(
  store: Store,
  c: Context,
  token: TokenRecord,
  o: { hours: number; secure: boolean }
): Promise<SessionRecord> {
  const { hours } = o
  const value = randomText(32)
  const session = await store.createSession({
    id: await sha256Hex(value),
    tokenId: token.id,
    csrf: randomText(24),
    expiresAt: new Date(Date.now() + hours * 3_600_000).toISOString(),
  })
  setCookie(c, SESSION_COOKIE, value, {
    path: '/',
    httpOnly: true,
    sameSite: 'Strict',
    secure: o.secure,
    maxAge: Math.max(1, Math.floor(hours * 3600)),
  })
  return session
}

export async function endSession(store: Store, c: Context, secure: boolean): Promise<void> {
  const value = getCookie(c, SESSION_COOKIE)
  if (value && COOKIE_VALUE.test(value)) await store.deleteSession(await sha256Hex(value))
  deleteCookie(c, SESSION_COOKIE, { path: '/', secure })
}

/** Equal strings, compared in time that does not depend on where they differ. */
function same(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}

/** The host of an Origin (a proxy in front may change the scheme, not the host), or null. */
function hostOf(origin: string): string | null {
  try {
    return new URL(origin).host
  } catch {
    return null
  }
}

/** 403 for a post whose Origin is another site's (or `null`) or whose fetch metadata says cross-site. */
export function refuseCrossSite(c: Context): void {
  const origin = c.req.header('origin')
  if (origin && origin !== 'null' && hostOf(origin) !== new URL(c.req.url).host)
    throw forbidden(`a write from another origin (${origin.slice(0, 80)}) is refused`)
  if (origin === 'null' || c.req.header('sec-fetch-site') === 'cross-site')
    throw forbidden('a cross-site write is refused')
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * A write made with a session must come from berth's own pages: no Origin of another site, no
 * cross-site fetch metadata, and the session's CSRF value. 403 otherwise.
 */
export function checkWrite(c: Context, session: SessionRecord, given: string | undefined): void {
  if (SAFE.has(c.req.method)) return
  refuseCrossSite(c)
  if (!given || !same(given, session.csrf))
    throw forbidden('the form is not from this session (its CSRF value is missing or wrong)')
}

/** For /v1: the token of a session whose writes carry the CSRF header (bearerAuth's fallback). */
export const apiSession =
  (store: Store) =>
  async (c: Context): Promise<TokenRecord | null> => {
    const signed = await readSession(store, c)
    if (!signed) return null
    checkWrite(c, signed.session, c.req.header(CSRF_HEADER))
    return signed.token
  }
