/**
 * wrangler as the worker tier runs it: the project's own binary, local mode only, and an
 * environment that keeps it from sending anything out (metrics, error reports, the update check
 * behind its banner, miniflare's fetch of request.cf data) or reading the user's login.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { D1Database } from '../../functions/store/d1.ts'

export const root = fileURLToPath(new URL('../../', import.meta.url))
export const wranglerBin = join(root, 'node_modules/.bin/wrangler')

const configHome = mkdtempSync(join(tmpdir(), 'berth-wrangler-home-'))

export const quietEnv: Record<string, string> = {
  CI: 'true',
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_SEND_ERROR_REPORTS: 'false',
  WRANGLER_HIDE_BANNER: 'true',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  // The update check asks the npm registry configured here: nobody listens on port 9.
  npm_config_registry: 'http://127.0.0.1:9/',
  XDG_CONFIG_HOME: configHome,
  NO_COLOR: '1',
  FORCE_COLOR: '0',
}
// getPlatformProxy runs in this process: it reads the same variables from here.
Object.assign(process.env, quietEnv)

export const wranglerEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, ...quietEnv }
  // Never a real account from the caller's environment.
  for (const k of Object.keys(env))
    if (k.startsWith('CLOUDFLARE_API') || k === 'CLOUDFLARE_ACCOUNT_ID') delete env[k]
  return env
}

/** Runs `wrangler …` to its end; rejects with its output when it fails. */
export async function wrangler(
  args: string[],
  timeoutMs = 60_000
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await promisify(execFile)(wranglerBin, args, {
      cwd: root,
      env: wranglerEnv(),
      timeout: timeoutMs,
      maxBuffer: 16 << 20,
    })
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string }
    throw new Error(
      `wrangler ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`
    )
  }
}

/** A fresh local D1 directory with every migration applied by `wrangler d1 migrations apply`. */
export async function migratedPersistDir(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-d1-'))
  mkdirSync(dir, { recursive: true })
  await wrangler(['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', dir])
  return dir
}

/**
 * The DB binding of wrangler.toml, served by workerd (miniflare's real D1) over the local state
 * in `persistDir`, for tests that drive the store from Node.
 */
export async function localD1(
  persistDir: string
): Promise<{ db: D1Database; dispose: () => Promise<void> }> {
  const { getPlatformProxy } = await import('wrangler')
  const proxy = await getPlatformProxy<{ DB: D1Database }>({
    configPath: join(root, 'wrangler.toml'),
    persist: { path: join(persistDir, 'v3') },
    remoteBindings: false,
  })
  return { db: proxy.env.DB, dispose: () => proxy.dispose() }
}

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
    s.once('error', reject)
  })

export interface WranglerDev {
  base: string
  output: string[]
  stop(): Promise<void>
}

/**
 * `wrangler dev` in local mode over the D1 state in `persistDir`, with `vars` as its environment
 * (a .dev.vars-style file) and /__scheduled for cron ticks; resolves once /healthz answers.
 */
export async function startWranglerDev(
  persistDir: string,
  vars: Record<string, string>
): Promise<WranglerDev> {
  const file = join(persistDir, 'test.vars')
  writeFileSync(
    file,
    Object.entries(vars)
      .map(([k, v]) => `${k}='${v}'`)
      .join('\n') + '\n'
  )
  const [port, inspector] = [await freePort(), await freePort()]
  const base = `http://127.0.0.1:${port}`
  const args = [
    'dev',
    '--local',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--inspector-port',
    String(inspector),
    '--persist-to',
    persistDir,
    '--env-file',
    file,
    '--test-scheduled',
    '--show-interactive-dev-session=false',
    '--log-level',
    'log',
  ]
  const dev: ChildProcess = spawn(wranglerBin, args, {
    cwd: root,
    env: wranglerEnv(),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  for (const s of [dev.stdout!, dev.stderr!]) s.on('data', (b: Buffer) => output.push(b.toString()))
  const stop = async () => {
    if (!dev.pid || dev.exitCode !== null) return
    const exited = new Promise((r) => dev.once('exit', r))
    process.kill(-dev.pid, 'SIGTERM')
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
    if (dev.exitCode === null) process.kill(-dev.pid, 'SIGKILL')
  }
  const end = Date.now() + 30_000
  for (;;) {
    if (dev.exitCode !== null)
      throw new Error(`wrangler dev exited with ${dev.exitCode}:\n${output.join('')}`)
    if (
      await fetch(`${base}/healthz`).then(
        (r) => r.ok,
        () => false
      )
    )
      return { base, output, stop }
    if (Date.now() > end) {
      await stop()
      throw new Error(`wrangler dev did not answer /healthz within 30 s:\n${output.join('')}`)
    }
    await new Promise((r) => setTimeout(r, 200))
  }
}
