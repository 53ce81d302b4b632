/** `berth serve` as a real process on a free port with its own data directory. */
import { spawn, type ChildProcess } from 'node:child_process'
import { withTimeout } from './async.ts'
import { freePort } from './sshd.ts'

export const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname

export interface Server {
  proc: ChildProcess
  base: string
  out: () => string
  exited: Promise<number | null>
}

/** Starts `berth serve`; resolves once it says it listens (it says so only once it does). */
export async function serve(
  home: string,
  env: Record<string, string> = {},
  args: string[] = []
): Promise<Server> {
  const port = await freePort()
  const proc = spawn(process.execPath, [BIN, 'serve', ...args], {
    env: { ...process.env, BERTH_HOME: home, PORT: String(port), ...env },
  })
  let out = ''
  proc.stdout.on('data', (d) => (out += d))
  proc.stderr.on('data', (d) => (out += d))
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)))
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', () => /berth serve: http/.test(out) && resolve())
      void exited.then((code) => reject(new Error(`berth serve exited (${code}): ${out}`)))
    }),
    30_000,
    'berth serve start'
  )
  return { proc, base: `http://127.0.0.1:${port}`, out: () => out, exited }
}
