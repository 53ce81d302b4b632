/**
 * Webhook signatures, checked over the raw body before anything is parsed. Web Crypto only, so
 * the same code runs on Node and on Workers. Every comparison is constant-time.
 */

const encoder = new TextEncoder()

export async function hmacSha256Hex(secret: string, data: string | Uint8Array): Promise<string> {
  const key = await crypto.subtle.importKey(
    'raw',
    encoder.encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign']
  )
  const mac = await crypto.subtle.sign(
    'HMAC',
    key,
    typeof data === 'string' ? encoder.encode(data) : data
  )
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** Constant-time string comparison (the length is not secret: signatures have a fixed length). */
export function safeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}

export type Verdict = { ok: true } | { ok: false; reason: string }

/** How far a Slack timestamp may be from now, either way (Slack: 5 minutes). */
export const SLACK_WINDOW_SECONDS = 300

/** A signature over `<version>:<timestamp>:<body>`, the timestamp within five minutes of now. */
async function verifyTimestamped(
  secret: string,
  names: { version: string; signature: string; timestamp: string },
  headers: { signature?: string | null; timestamp?: string | null },
  rawBody: string,
  nowSeconds: number
): Promise<Verdict> {
  const { signature, timestamp } = headers
  if (!signature || !timestamp)
    return { ok: false, reason: `missing ${names.signature} or ${names.timestamp}` }
  if (!/^\d{1,12}$/.test(timestamp))
    return { ok: false, reason: `${names.timestamp} is not a Unix time` }
  if (Math.abs(nowSeconds - Number(timestamp)) > SLACK_WINDOW_SECONDS) {
    return { ok: false, reason: `${names.timestamp} is more than 5 minutes from now` }
  }
  const expected = `${names.version}=${await hmacSha256Hex(secret, `${names.version}:${timestamp}:${rawBody}`)}`
  return safeEqual(signature, expected)
    ? { ok: true }
    : { ok: false, reason: 'the signature does not match' }
}

/**
 * Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)>` and
 * `X-Slack-Request-Timestamp` within five minutes of now (old and future ones both refused).
 */
export function verifySlack(
  secret: string,
  headers: { signature?: string | null; timestamp?: string | null },
  rawBody: string,
  nowSeconds = Math.floor(Date.now() / 1000)
): Promise<Verdict> {
  const names = {
    version: 'v0',
    signature: 'X-Slack-Signature',
    timestamp: 'X-Slack-Request-Timestamp',
  }
  return verifyTimestamped(secret, names, headers, rawBody, nowSeconds)
}

/**
 * berth's own, the default for generic hooks: Slack's scheme under berth's names —
 * `X-Berth-Signature: v1=<hex HMAC-SHA256(secret, "v1:" + timestamp + ":" + body)>` with
 * `X-Berth-Timestamp` (Unix seconds) within five minutes of now, so a captured delivery cannot be
 * replayed later.
 */
export function verifyBerthSignature(
  secret: string,
  headers: { signature?: string | null; timestamp?: string | null },
  rawBody: string,
  nowSeconds = Math.floor(Date.now() / 1000)
): Promise<Verdict> {
  const names = { version: 'v1', signature: 'X-Berth-Signature', timestamp: 'X-Berth-Timestamp' }
  return verifyTimestamped(secret, names, headers, rawBody, nowSeconds)
}

/**
 * GitHub-style `sha256=<hex HMAC-SHA256(secret, body)>` — `X-Hub-Signature-256` (GitHub, generic
 * hooks) and `X-Hub-Signature` (Jira admin webhooks). No timestamp is signed, so callers
 * de-duplicate on the delivery id.
 */
export async function verifyHubSignature(
  secret: string,
  header: string | null | undefined,
  rawBody: string
): Promise<Verdict> {
  if (!header) return { ok: false, reason: 'missing signature header' }
  const expected = `sha256=${await hmacSha256Hex(secret, rawBody)}`
  return safeEqual(header, expected)
    ? { ok: true }
    : { ok: false, reason: 'the signature does not match' }
}
