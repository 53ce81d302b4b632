/**
 * The Node entry: `berth serve`. Configuration is read once (functions/config.ts); the store is
 * SQLite under the data directory; jobs run through the zx dispatcher (a local child process, or
 * ssh to a Docker host); auto-rewire follows the host's Docker events. On first start with no
 * token, an admin token is created and printed once. Snapshot schedules run in this process
 * (scheduler.ts).
 */
import { serve } from '@hono/node-server'
import { getConnInfo } from '@hono/node-server/conninfo'
import { chmodSync, closeSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { createApp } from './app.ts'
import { AutoRewire } from './auto-rewire.ts'
import type { ServerConfig } from './config.ts'
import { SsmDispatcher } from './dispatch/ssm.ts'
import { ZxDispatcher } from './dispatch/zx.ts'
import { hashToken, newToken } from './middleware/auth.ts'
import { Notifier } from './notify.ts'
import { JobQueue } from './queue.ts'
import { Scheduler } from './scheduler.ts'
import { openSqliteStore } from './store/sqlite.ts'
import { nodeAssets } from './web/node-assets.ts'
import { packagePath } from '../scripts/engine/package-root.ts'
import { processLogger, type Logger } from '../scripts/engine/logger.ts'

export { readConfig } from './config.ts'

function dispatcherFor(config: ServerConfig, log: Logger): ZxDispatcher | SsmDispatcher {
  const graceMs = config.graceSeconds * 1000
  const d = config.dispatch
  if (d.mode === 'ssh') return new ZxDispatcher({ ...d, graceMs, log })
  if (d.mode === 'ssm') return new SsmDispatcher({ ...d, log })
  const bin = packagePath('bin', 'berth.mjs')
  return new ZxDispatcher({
    mode: 'local',
    berth: d.berth ?? [process.execPath, bin],
    graceMs,
    log,
  })
}

/**
 * The first admin token, written once to a file only root can read (never to a log): the path is
 * what is printed. O_EXCL: a second start never overwrites one.
 */
function writeAdminToken(home: string, token: string): string {
  const file = join(home, 'admin-token')
  const fd = openSync(file, 'wx', 0o600)
  try {
    writeSync(fd, `${token}\n`)
  } finally {
    closeSync(fd)
  }
  return file
}

export async function startServer(
  config: ServerConfig,
  log: Logger = processLogger(process.stdout, process.env)
) {
  // Local jobs are child processes: they find the data directory, and the log cap, through the
  // environment.
  process.env.BERTH_HOME = config.home
  process.env.BERTH_JOB_LOG_MAX_BYTES = String(config.limits.jobLogBytes)
  // Everything under it (the store, topologies, logs, snapshots) is root's alone, whatever the
  // umask of whoever made it first.
  mkdirSync(config.home, { recursive: true, mode: 0o700 })
  chmodSync(config.home, 0o700)
  const dbFile = join(config.home, 'berth.db')
  const store = await openSqliteStore(dbFile)
  const dispatcher = dispatcherFor(config, log)
  const { jira } = config.hooks
  const notifier = new Notifier({
    store,
    jira:
      jira?.baseUrl && jira.authorization
        ? { baseUrl: jira.baseUrl, authorization: jira.authorization }
        : undefined,
    log,
  })
  const queue = new JobQueue({
    store,
    dispatcher,
    maxClusters: config.maxClusters,
    log,
    onChange: (job, stage) => notifier.jobChanged(job, stage),
  })
  if ((await store.countTokens()) === 0) {
    const token = newToken()
    await store.createToken({
      id: crypto.randomUUID(),
      name: 'admin',
      hash: await hashToken(token),
      scopes: ['admin'],
    })
    await store.audit({
      actor: 'berth',
      source: null,
      action: 'token.create',
      target: 'admin',
      outcome: 'first start',
      detail: null,
    })
    log.info(
      `first start: an admin token was written to ${writeAdminToken(config.home, token)} (mode 0600; stored here only as a hash): read it, keep it, delete the file`
    )
  }
  const resumed = await queue.resume()
  if (resumed) log.info(`resuming ${resumed} job(s) interrupted by the last stop`)
  // Following Docker's events needs a long-lived stream from the host: local or ssh, not SSM,
  // whose commands are bounded runs.
  const rewire =
    config.autoRewire && dispatcher instanceof ZxDispatcher
      ? new AutoRewire({ source: dispatcher, store, queue, log })
      : null
  rewire?.start()
  const { limits } = config
  const app = createApp({
    store,
    queue,
    maxBody: config.maxBodyBytes,
    hooks: config.hooks,
    policy: config.policy,
    peer: (c) => getConnInfo(c).remote.address,
    trustedProxies: config.trustedProxies,
    authFailures: { max: limits.authFailures, windowMs: limits.authWindowSeconds * 1000 },
    hostReads: { ttlMs: limits.readCacheMs, concurrency: limits.hostReads },
    maxQueuedPerActor: limits.maxQueuedPerActor,
    log,
    web: { assets: nodeAssets(), sessionHours: config.sessionHours },
  })
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () =>
      resolve(s)
    )
    s.once('error', reject)
  })
  // After resume (a run caught up now queues behind the jobs the last stop interrupted) and once
  // listening (a server that cannot bind makes no jobs).
  const scheduler = new Scheduler({
    store,
    queue,
    policy: config.policy,
    maxQueuedPerActor: limits.maxQueuedPerActor,
    graceMs: config.scheduleGraceSeconds * 1000,
    log,
  })
  await scheduler.start()
  const d = config.dispatch
  const target =
    d.mode === 'ssh'
      ? `ssh ${d.user}@${d.host}`
      : d.mode === 'ssm'
        ? `ssm ${d.region} ${JSON.stringify(d.target)}`
        : 'local'
  log.info(
    `berth serve: http://${config.host}:${config.port} (store ${dbFile}, jobs ${target}${rewire ? ', auto-rewire on' : ''})`
  )
  const stop = async () => {
    log.info(`draining: no new jobs; running ones get up to ${config.drainSeconds} s`)
    server.close()
    await scheduler.stop()
    await rewire?.stop()
    await queue.drain(config.drainSeconds * 1000)
    // Reports already under way get a moment; the rest are lost with the process, never the job.
    await Promise.race([notifier.idle(), new Promise((r) => setTimeout(r, 5000).unref())])
    await store.close()
  }
  return { app, store, queue, notifier, scheduler, server, stop }
}
