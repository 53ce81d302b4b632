import type { Context } from 'hono'
import type { FailureLimiter } from '../middleware/failures.ts'
import type { SubmitDeps } from '../submit.ts'
import type { HooksConfig } from './config.ts'

/** What every hook route is given. */
export interface HookDeps extends SubmitDeps {
  hooks: HooksConfig
  /** Seconds since the epoch; tests move it to check the signature windows. */
  now?: () => number
  /** Failed signatures count against the sender's address like failed tokens (429 past it). */
  limiter?: FailureLimiter
  /** The client's address (middleware/client.ts). */
  client?: (c: Context) => string
}
