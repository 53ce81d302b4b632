/**
 * The client's address, for the audit and the failure limits. `X-Forwarded-For` is believed only
 * when the connection comes from a configured proxy (else anyone could name any address): then the
 * client is the rightmost address in it that is not itself a trusted proxy.
 */
import type { Context } from 'hono'

/** How the runtime tells the peer's address (Node: the socket; Workers: CF-Connecting-IP). */
export type PeerAddress = (c: Context) => string | undefined

/** The connection's peer address, or undefined where the runtime has none (app.request). */
function peerOf(c: Context, peer: PeerAddress | undefined): string | undefined {
  try {
    return peer?.(c)?.replace(/^::ffff:/, '')
  } catch {
    return undefined // app.request in tests has no connection
  }
}

/** Whether the connection comes from a configured proxy (whose X-Forwarded-* is believed). */
export const isTrustedPeer = (
  c: Context,
  peer: PeerAddress | undefined,
  trustedProxies: readonly string[]
): boolean => {
  const address = peerOf(c, peer)
  return !!address && trustedProxies.includes(address)
}

export function clientAddress(
  c: Context,
  peer: PeerAddress | undefined,
  trustedProxies: readonly string[]
): string {
  const address = peerOf(c, peer)
  if (address && trustedProxies.includes(address)) {
    const hops = (c.req.header('x-forwarded-for') ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean)
    while (hops.length && trustedProxies.includes(hops[hops.length - 1])) hops.pop()
    const client = hops.pop()
    if (client && /^[0-9A-Fa-f:.]{2,45}$/.test(client)) return client
  }
  return address ?? 'unknown'
}
