/**
 * Server-side AWS Signature Version 4 check, as an AWS front door does it: parse the
 * Authorization header, rebuild the canonical request from what actually arrived, and compare
 * signatures in constant time. Header-signed requests only (no presigned query strings).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

export interface SigV4Credentials {
  accessKeyId: string
  secretAccessKey: string
}

export interface SignedRequest {
  method: string
  /** The request target as received (path and query, still percent-encoded). */
  url: string
  headers: IncomingHttpHeaders
  body: Buffer
}

export type SigV4Verdict =
  | { ok: true; accessKeyId: string; signedHeaders: string[] }
  | { ok: false; code: SigV4ErrorCode; message: string }

/** The codes AWS JSON services answer with (all HTTP 400). */
export type SigV4ErrorCode =
  | 'MissingAuthenticationTokenException'
  | 'IncompleteSignatureException'
  | 'UnrecognizedClientException'
  | 'InvalidSignatureException'

const ALGORITHM = 'AWS4-HMAC-SHA256'
// AWS rejects requests whose X-Amz-Date is more than 15 minutes off the server clock.
const MAX_SKEW_MS = 15 * 60_000

const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest()

/** RFC 3986 encoding, as SigV4 requires (encodeURIComponent leaves !'()* alone). */
function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`
  )
}

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request')
}

function canonicalUri(path: string): string {
  // Every service but S3 encodes the (already encoded) path a second time.
  return path
    .split('/')
    .map((segment) => encodeRfc3986(segment))
    .join('/')
}

function canonicalQuery(query: string): string {
  if (!query) return ''
  return query
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const i = pair.indexOf('=')
      const k = decodeURIComponent((i < 0 ? pair : pair.slice(0, i)).replace(/\+/g, ' '))
      const v = i < 0 ? '' : decodeURIComponent(pair.slice(i + 1).replace(/\+/g, ' '))
      return [encodeRfc3986(k), encodeRfc3986(v)] as const
    })
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name]
  if (v === undefined) return undefined
  return (Array.isArray(v) ? v.join(',') : v).trim().replace(/\s+/g, ' ')
}

export function canonicalRequest(req: SignedRequest, signedHeaders: string[]): string {
  const [path, query = ''] = req.url.split('?', 2) as [string, string?]
  const headerLines = signedHeaders
    .map((h) => `${h}:${headerValue(req.headers, h) ?? ''}\n`)
    .join('')
  const payloadHash = headerValue(req.headers, 'x-amz-content-sha256') ?? sha256Hex(req.body)
  return [
    req.method.toUpperCase(),
    canonicalUri(path),
    canonicalQuery(query),
    headerLines,
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n')
}

/** `X-Amz-Date` (20240221T000322Z) as epoch milliseconds, or NaN. */
function parseAmzDate(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s)
  if (!m) return NaN
  const [, y, mo, d, h, mi, se] = m.map(Number)
  return Date.UTC(y, mo - 1, d, h, mi, se)
}

export function verifySigV4(
  req: SignedRequest,
  expect: { credentials: SigV4Credentials; region: string; service: string; now?: number }
): SigV4Verdict {
  const fail = (code: SigV4ErrorCode, message: string): SigV4Verdict => ({
    ok: false,
    code,
    message,
  })
  const auth = headerValue(req.headers, 'authorization')
  if (!auth) return fail('MissingAuthenticationTokenException', 'Missing Authentication Token')
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/.exec(
      auth
    )
  if (!m)
    return fail('IncompleteSignatureException', `Authorization header is not ${ALGORITHM}: ${auth}`)
  const [, credential, signedHeaderList, signature] = m as unknown as [
    string,
    string,
    string,
    string,
  ]
  const scope = credential.split('/')
  if (scope.length !== 5 || scope[4] !== 'aws4_request') {
    return fail(
      'IncompleteSignatureException',
      `Credential should be scoped correctly: ${credential}`
    )
  }
  const [accessKeyId, date, region, service] = scope as [string, string, string, string]
  if (accessKeyId !== expect.credentials.accessKeyId) {
    return fail(
      'UnrecognizedClientException',
      'The security token included in the request is invalid.'
    )
  }
  if (region !== expect.region || service !== expect.service) {
    return fail(
      'InvalidSignatureException',
      `Credential should be scoped to a valid region and service: expected ${expect.region}/${expect.service}, got ${region}/${service}`
    )
  }
  const amzDate = headerValue(req.headers, 'x-amz-date')
  if (!amzDate) return fail('IncompleteSignatureException', 'X-Amz-Date header is missing')
  const at = parseAmzDate(amzDate)
  if (Number.isNaN(at) || amzDate.slice(0, 8) !== date) {
    return fail(
      'InvalidSignatureException',
      `Date in Credential scope does not match X-Amz-Date ${amzDate}`
    )
  }
  if (Math.abs((expect.now ?? Date.now()) - at) > MAX_SKEW_MS) {
    return fail('InvalidSignatureException', `Signature expired: ${amzDate} is too far from now`)
  }
  const signedHeaders = signedHeaderList.split(';')
  for (const required of ['host', 'x-amz-date']) {
    if (!signedHeaders.includes(required)) {
      return fail('IncompleteSignatureException', `SignedHeaders must include ${required}`)
    }
  }
  const canonical = canonicalRequest(req, signedHeaders)
  const stringToSign = [
    ALGORITHM,
    amzDate,
    `${date}/${region}/${service}/aws4_request`,
    sha256Hex(canonical),
  ].join('\n')
  const expected = hmac(
    signingKey(expect.credentials.secretAccessKey, date, region, service),
    stringToSign
  )
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) {
    return fail(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.'
    )
  }
  return { ok: true, accessKeyId, signedHeaders }
}
