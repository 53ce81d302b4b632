import { Hono } from 'hono'
import { notFound } from '../errors.ts'
import type { HookDeps } from './routes.ts'

export function slackRoutes(deps: HookDeps) {
  void deps
  const app = new Hono()
  app.all('*', () => {
    throw notFound('the slack hook is not built yet')
  })
  return app
}
