/**
 * The Node entry: `berth serve`. Configuration is read once from the environment; the store is
 * SQLite under BERTH_HOME; jobs run through the zx dispatcher (local child process, or ssh to a
 * Docker host). On first start with no token, an admin token is created and printed once.
 */
import { serve } from '@hono/node-server'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { berthHome } from '../scripts/engine/context.ts'
import { createApp } from './app.ts'
import { ZxDispatcher } from './dispatch/zx.ts'
import { hashToken, newToken } from './middleware/auth.ts'
import { JobQueue } from './queue.ts'
import { openSqliteStore } from './store/sqlite.ts'

const Config = z.object({
  BERTH_HOME: z.string().default(berthHome()),
  PORT: z.coerce.number().int().min(1).max(65535).default(8470),
  HOST: z.string().default('127.0.0.1'),
  BERTH_MAX_CLUSTERS: z.coerce.number().int().min(1).max(64).default(4),
  BERTH_DRAIN_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
})
export type ServerConfig = z.infer<typeof Config>

export function readConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const r = Config.safeParse(env)
  if (!r.success) {
    throw new Error(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'))
  }
  return r.data
}

export async function startServer(config: ServerConfig, say: (line: string) => void = console.log) {
  const store = await openSqliteStore(join(config.BERTH_HOME, 'berth.db'))
  const bin = fileURLToPath(new URL('../bin/berth.mjs', import.meta.url))
  const dispatcher = new ZxDispatcher({ mode: 'local', berth: [process.execPath, bin], graceMs: 10_000 })
  const queue = new JobQueue({ store, dispatcher, maxClusters: config.BERTH_MAX_CLUSTERS, log: say })
  if ((await store.countTokens()) === 0) {
    const token = newToken()
    await store.createToken({ id: crypto.randomUUID(), name: 'admin', hash: await hashToken(token), scopes: ['admin'] })
    await store.audit({ actor: 'berth', source: null, action: 'token.create', target: 'admin', outcome: 'first start', detail: null })
    say(`first start: admin token (shown once, stored only as a hash):\n  ${token}`)
  }
  const resumed = await queue.resume()
  if (resumed) say(`resuming ${resumed} job(s) interrupted by the last stop`)
  const app = createApp({ store, queue })
  const server = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST })
  say(`berth serve: http://${config.HOST}:${config.PORT} (store ${join(config.BERTH_HOME, 'berth.db')})`)
  const stop = async () => {
    say('draining: no new jobs; running ones get up to ' + config.BERTH_DRAIN_SECONDS + ' s')
    server.close()
    await queue.drain(config.BERTH_DRAIN_SECONDS * 1000)
    await store.close()
  }
  return { app, store, queue, server, stop }
}
