/**
 * /hooks: where Slack, Jira and any HMAC-signing sender deliver. No bearer token here: each hook
 * authenticates its sender by a signature over the raw body, checked before anything is parsed.
 * A hook that is not configured answers 404 and does nothing.
 */
import { Hono } from 'hono'
import type { HookDeps } from './deps.ts'
import { genericRoutes } from './generic.ts'
import { jiraRoutes } from './jira.ts'
import { slackRoutes } from './slack.ts'

export type { HookDeps }

export function hookRoutes(deps: HookDeps) {
  const app = new Hono()
  app.route('/slack', slackRoutes(deps))
  app.route('/jira', jiraRoutes(deps))
  app.route('/', genericRoutes(deps))
  return app
}
