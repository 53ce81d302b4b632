/**
 * Work a hook starts that outlives its answer (a post to Slack's response_url, a Jira comment):
 * a Worker must be told (waitUntil) or workerd cancels it; on Node the process carries on anyway.
 */
import type { Context } from 'hono'

export function background(c: Context, work: Promise<unknown>, what: string): void {
  const p = work.catch((err) => console.error(`${what} failed: ${err}`))
  try {
    c.executionCtx.waitUntil(p)
  } catch {
    // No execution context on Node: the process outlives the request anyway.
  }
}
