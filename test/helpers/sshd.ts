/**
 * A real OpenSSH server on 127.0.0.1 (Debian openssh-server), started per run with its own host
 * key, client key and config in a temp dir: the Docker host that ssh dispatch talks to.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { $, type ProcessPromise } from 'zx'
import { withTimeout } from './async.ts'

const SSHD = '/usr/sbin/sshd'

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

/** Resolves when sshd says it listens. Not by connecting: a probe connection leaves a
 *  pre-auth child behind that holds sshd's stderr open until LoginGraceTime. */
function listening(sshd: ProcessPromise): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = ''
    sshd.stderr.on('data', (chunk: Buffer) => {
      log += chunk.toString()
      if (log.includes('Server listening on')) resolve()
    })
    sshd.child?.once('exit', (code) => reject(new Error(`sshd exited (${code}): ${log}`)))
  })
}

export interface Sshd {
  host: '127.0.0.1'
  port: number
  user: string
  identityFile: string
  knownHostsFile: string
  stop: () => Promise<void>
}

export async function startSshd(): Promise<Sshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: apt-get install -y openssh-server`)
  const dir = mkdtempSync(join(tmpdir(), 'berth-sshd-'))
  const sh = $({ quiet: true })
  await sh`ssh-keygen -q -t ed25519 -N ${''} -C berth-test-host -f ${join(dir, 'host_key')}`
  await sh`ssh-keygen -q -t ed25519 -N ${''} -C berth-test-client -f ${join(dir, 'id')}`
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'id.pub')))
  const port = await freePort()
  const hostKey = readFileSync(join(dir, 'host_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ')
  writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostKey}\n`)
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'LoginGraceTime 10',
      `PidFile ${join(dir, 'pid')}`,
      '',
    ].join('\n')
  )
  // sshd refuses to start without its privilege separation directory, which the Debian
  // package creates only when the service runs.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 })
  const sshd = $({ quiet: true, nothrow: true })`exec ${SSHD} -D -e -f ${join(dir, 'sshd_config')}`
  await withTimeout(listening(sshd), 10_000, 'sshd start')
  return {
    host: '127.0.0.1',
    port,
    user: process.env.USER ?? 'root',
    identityFile: join(dir, 'id'),
    knownHostsFile: join(dir, 'known_hosts'),
    stop: async () => {
      const child = sshd.child
      if (child && child.exitCode === null && child.signalCode === null) {
        // Wait for the listener's exit, not for zx's promise: that waits for every holder of
        // sshd's stderr, session processes included.
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGTERM')
        await withTimeout(exited, 5_000, 'sshd stop')
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
