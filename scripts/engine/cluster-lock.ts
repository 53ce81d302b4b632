/**
 * One changing job per cluster on a Docker host, whoever started it (CLI, `berth serve`, a job
 * left running by a server that died). The lock is a file under $BERTH_HOME/locks created with
 * O_EXCL; it names its holder (pid, the process's start time, job), so a holder that died is
 * recognised — a reused pid has another start time — and its lock taken over.
 * A job that finds the lock held waits for it (saying so), stays cancellable, and gives up after
 * `waitMs` with a `conflict` naming the holder.
 */
import {
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
  closeSync,
} from 'node:fs'
import { join } from 'node:path'
import { berthHome, checkpoint, type JobContext } from './context.ts'
import { BerthError } from './errors.ts'
import { sleep } from './retry.ts'

interface Holder {
  pid: number
  started: string | null
  job: string
  kind: string
  at: string
}

/** The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), if known. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null
  } catch {
    return null
  }
}

function alive(h: Holder): boolean {
  try {
    process.kill(h.pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false
  }
  return h.started === null || startTime(h.pid) === h.started
}

function readHolder(path: string): Holder | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Holder
  } catch {
    return null // gone, or being written: look again
  }
}

export const lockPath = (cluster: string) => join(berthHome(), 'locks', `${cluster}.lock`)

/** Takes the cluster's lock, waiting for the holder to finish; returns the release function. */
export async function lockCluster(
  ctx: JobContext,
  cluster: string,
  kind: string,
  waitMs = 15 * 60_000
): Promise<() => void> {
  const path = lockPath(cluster)
  mkdirSync(join(berthHome(), 'locks'), { recursive: true })
  const me: Holder = {
    pid: process.pid,
    started: startTime(process.pid),
    job: ctx.job,
    kind,
    at: new Date().toISOString(),
  }
  const deadline = Date.now() + waitMs
  let said = ''
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o644)
      writeSync(fd, JSON.stringify(me))
      closeSync(fd)
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const holder = readHolder(path)
    if (holder && !alive(holder)) {
      // Moved aside first, so two jobs finding the same dead holder cannot both remove a lock
      // that one of them has meanwhile taken.
      const aside = `${path}.stale-${process.pid}`
      try {
        renameSync(path, aside)
        const moved = readHolder(aside)
        if (moved && moved.pid === holder.pid && moved.job === holder.job) {
          unlinkSync(aside)
          ctx.log(`cluster lock: job ${holder.job} (pid ${holder.pid}) died holding it; taken over`)
        } else {
          renameSync(aside, path) // someone else's fresh lock: put it back
        }
      } catch {
        // raced with another job: look again
      }
      continue
    }
    if (holder) {
      const who = `job ${holder.job} (${holder.kind}, pid ${holder.pid}, since ${holder.at})`
      if (Date.now() > deadline) {
        throw new BerthError('conflict', `cluster "${cluster}" is busy: ${who} holds its lock`)
      }
      if (who !== said) {
        ctx.steps.start('lock', undefined, `waiting for ${who}`)
        ctx.log(`cluster lock: waiting for ${who}`)
        said = who
      }
    }
    checkpoint(ctx)
    await sleep(200, ctx.signal)
  }
  if (said) ctx.steps.done('lock', undefined)
  return () => {
    const holder = readHolder(path)
    if (holder && holder.pid === me.pid && holder.job === me.job) {
      try {
        unlinkSync(path)
      } catch {
        // already gone
      }
    }
  }
}

/** The live job holding the cluster's lock, if any (a dead holder counts as none). */
export function lockHolder(cluster: string): { job: string; kind: string; pid: number } | null {
  const h = readHolder(lockPath(cluster))
  return h && alive(h) ? { job: h.job, kind: h.kind, pid: h.pid } : null
}
