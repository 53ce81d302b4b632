import { Hono } from 'hono'
import { notFound } from '../errors.ts'
import type { HookDeps } from './routes.ts'

export function genericRoutes(deps: HookDeps) {
  void deps
  const app = new Hono()
  app.all('*', () => {
    throw notFound('the generic hook is not built yet')
  })
  return app
}
