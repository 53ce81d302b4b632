import { hashToken, newToken } from '../../functions/middleware/auth.ts'
import type { Store } from '../../functions/store/store.ts'

/** A new bearer token with these scopes (and grants), stored (hashed) as berth stores them; returns its text. */
export async function mintToken(
  store: Store,
  name: string,
  scopes: string[],
  grants: { clusters?: string[]; level?: string } = {}
): Promise<string> {
  const t = newToken()
  await store.createToken({
    id: crypto.randomUUID(),
    name,
    hash: await hashToken(t),
    scopes,
    ...grants,
  })
  return t
}
