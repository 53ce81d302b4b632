/**
 * /hooks: where Slack, Jira and any HMAC-signing sender deliver. No bearer token here: each hook
 * authenticates its sender by a signature over the raw body, checked before anything is parsed.
 * A hook that is not configured answers 404 and does nothing.
 */
import { Hono } from 'hono'
import type { Queue } from '../queue.ts'
import type { Store } from '../store/store.ts'
import type { HooksConfig } from './config.ts'
import { genericRoutes } from './generic.ts'
import { jiraRoutes } from './jira.ts'
import { slackRoutes } from './slack.ts'

export interface HookDeps {
  store: Store
  queue: Queue
  hooks: HooksConfig
  /** Seconds since the epoch; tests move it to check the signature window. */
  now?: () => number
}

export function hookRoutes(deps: HookDeps) {
  const app = new Hono()
  app.route('/slack', slackRoutes(deps))
  app.route('/jira', jiraRoutes(deps))
  app.route('/', genericRoutes(deps))
  return app
}
