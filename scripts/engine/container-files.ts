/**
 * Files berth reads and writes for a container: its /etc/hosts and berth's bootstrap marker.
 *
 * When berth runs on the Docker host itself (the normal case: `berth job run` is dispatched to
 * the host), Docker's per-container directory is a plain directory here: /etc/hosts is
 * bind-mounted from `HostsPath` in it, and Docker deletes the directory with the container.
 * Using it directly costs microseconds, where each round trip through the archive API makes the
 * daemon fork a helper (~40 ms of a 2-core host's time per call, measured) and writing
 * /etc/hosts through an exec needs a shell in the image. With a remote engine (DOCKER_HOST)
 * the directory is not here, and berth falls back to the archive API and exec.
 */
import { access, readFile, writeFile } from 'node:fs/promises'
import { constants } from 'node:fs'
import { dirname, join } from 'node:path'
import type { JobContext } from './context.ts'
import { BerthError } from './errors.ts'

const MARKER_FILE = 'berth-bootstrap.json'
/** Where the marker lives inside the container when Docker's directory is out of reach. */
const MARKER_IN_CONTAINER = '/.berth/bootstrap.json'

/**
 * Whether berth may use Docker's files on this host directly. `BERTH_DIRECT_FILES=0` forces the
 * archive API and exec, as with a remote engine (the tests use it to exercise that path).
 */
export function directFiles(): boolean {
  return process.env.BERTH_DIRECT_FILES !== '0'
}

async function localDir(
  ctx: JobContext,
  id: string
): Promise<{ dir: string; hosts: string } | null> {
  if (!directFiles() || !ctx.engine.local) return null
  const info = await ctx.engine.inspectContainer(id)
  if (!info.HostsPath) return null
  try {
    await access(info.HostsPath, constants.R_OK | constants.W_OK)
    return { dir: dirname(info.HostsPath), hosts: info.HostsPath }
  } catch {
    return null
  }
}

export async function readHosts(ctx: JobContext, id: string): Promise<string> {
  const local = await localDir(ctx, id)
  if (local) return readFile(local.hosts, 'utf8')
  return (await ctx.engine.readFile(id, '/etc/hosts'))?.toString() ?? ''
}

/**
 * Replaces /etc/hosts in place: `rename()` over the bind-mounted file fails, so the file is
 * truncated and rewritten (same inode, so the container sees it at once). Through exec, the
 * text travels as an argument ("$1"), never spliced into the shell command.
 */
export async function writeHosts(
  ctx: JobContext,
  node: string,
  id: string,
  text: string
): Promise<void> {
  const local = await localDir(ctx, id)
  if (local) return writeFile(local.hosts, text)
  const r = await ctx.engine.exec(
    id,
    ['sh', '-c', 'printf "%s" "$1" > /etc/hosts', 'berth-hosts', text],
    {
      timeoutMs: 10_000,
    }
  )
  if (r.exitCode !== 0) {
    throw new BerthError(
      'hosts_failed',
      `node "${node}": writing /etc/hosts failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()} — with a remote engine, dynamic mode needs sh in the image; static mode needs nothing`,
      { node, step: 'hosts', output: r.stderr }
    )
  }
}

export interface BootstrapMarker {
  job: string
  at: string
  ms: number
  /** Set when the node came back from a snapshot, bootstrapped at the time it was taken. */
  snapshot?: string
}

export async function writeMarker(
  ctx: JobContext,
  id: string,
  marker: BootstrapMarker
): Promise<void> {
  const text = JSON.stringify(marker) + '\n'
  const local = await localDir(ctx, id)
  if (local) return writeFile(join(local.dir, MARKER_FILE), text)
  await ctx.engine.writeFiles(id, '/', [{ name: MARKER_IN_CONTAINER.slice(1), content: text }])
}

/** The marker, wherever it was written; null when the node was never bootstrapped. */
export async function readMarker(ctx: JobContext, id: string): Promise<BootstrapMarker | null> {
  const local = await localDir(ctx, id)
  let text: string | undefined
  if (local) text = await readFile(join(local.dir, MARKER_FILE), 'utf8').catch(() => undefined)
  text ??= (await ctx.engine.readFile(id, MARKER_IN_CONTAINER))?.toString()
  if (!text) return null
  try {
    return JSON.parse(text) as BootstrapMarker
  } catch {
    return null
  }
}
