/**
 * SHA-256 in hex, on Node and in the Worker: tokens, bodies, idempotency keys. Runtime-neutral.
 *
 * node:crypto's synchronous hash when the runtime has one (Node ≥ 20.16, found at run time, so
 * nothing here imports node:*). Web Crypto's digest is a round trip through the thread pool:
 * twice per POST /v1/jobs (token, body), it was about half of the request's time on Node.
 */
const nodeCrypto = (
  globalThis as {
    process?: { getBuiltinModule?: (id: string) => unknown }
  }
).process?.getBuiltinModule?.('node:crypto') as
  { createHash(alg: 'sha256'): { update(s: string): { digest(enc: 'hex'): string } } } | undefined

/** SHA-256 of the text (UTF-8), in hex. */
export async function sha256Hex(text: string): Promise<string> {
  if (nodeCrypto) return nodeCrypto.createHash('sha256').update(text).digest('hex')
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}
