/**
 * The cluster's journal: what a changing job is about to do to Docker, written (and fsynced)
 * before it does it, beside the cluster's lock: `$BERTH_HOME/journal/<cluster>.jsonl`, one JSON
 * record per line. A job that ends — well or not, but alive — removes it; one that dies (kill -9,
 * OOM, a reboot) leaves it, and the next berth command on that cluster, whatever it is, finds it
 * and recovers first (recovery.ts): it unpauses, rolls a restore's swap back or forward, removes
 * what the dead job created or staged, stops its orphaned bootstraps, finishes a destroy.
 *
 * What the records need not say, Docker's labels do: everything berth creates carries
 * `berth.job`, so a creation is recorded once as an intent for a whole batch, and recovery finds
 * each thing by label. Records that recovery cannot derive (a pause, an exec, a rename, a snapshot
 * id) are written one by one, each before the step.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { berthHome } from './context.ts'

export type JournalRecord =
  /** The job and its kind. */
  | { op: 'begin'; kind: string; cluster: string; pid: number }
  /** Containers about to be paused (each is unpaused on recovery if it still is). */
  | { op: 'pause'; ids: string[] }
  | { op: 'unpaused' }
  /** A bootstrap exec started in a container; `exec-end` once it has ended. */
  | { op: 'exec'; node: string; container: string; exec: string; timeoutMs: number }
  | { op: 'exec-end'; exec: string }
  /** A snapshot about to be taken, under this id; `snapshot-done` once its directory is in place. */
  | { op: 'snapshot'; id: string }
  | { op: 'snapshot-done'; id: string }
  /** A restore building the cluster beside the running one under this stage id. */
  | { op: 'stage'; id: string }
  /**
   * The names a restore is about to swap; `swapped` once every rename is done. With the topology
   * to record once the swap is finished.
   */
  | {
      op: 'swap'
      renames: { id: string; from: string; to: string }[]
      old: { ids: string[]; network: string | null; volumes: string[] }
      /** Old nodes the swap stops (their published ports move to the restored ones). */
      stopped?: string[]
      topology: unknown
    }
  | { op: 'swapped' }
  /** Nodes about to be removed for good (a converge's removals, a destroy). */
  | { op: 'remove'; what: string }
  /** A destroy: finished by recovery. */
  | { op: 'destroy'; volumes: boolean }
  /** An upgrade's pre-upgrade snapshot is taken; `converge` before the new definition is applied. */
  | { op: 'upgrade-snapshot'; id: string }
  | { op: 'converge' }
  /** An export writing these files. */
  | { op: 'export'; partial: string; spool: string }
  /** An import staging here (snapshot `id` of `cluster`), and loading this image. */
  | { op: 'import'; staging: string; cluster: string; id: string }
  | { op: 'image-load'; ref: string }

export type Stamped = JournalRecord & { t: number; job: string }

export const journalPath = (cluster: string) => join(berthHome(), 'journal', `${cluster}.jsonl`)

export class Journal {
  #fd: number | null = null

  constructor(
    readonly cluster: string,
    readonly job: string
  ) {}

  /** Appends a record and makes it durable before returning: the step after it may never end. */
  write(record: JournalRecord): void {
    if (this.#fd === null) {
      mkdirSync(join(berthHome(), 'journal'), { recursive: true, mode: 0o700 })
      this.#fd = openSync(journalPath(this.cluster), 'a', 0o600)
    }
    const line = JSON.stringify({ t: Date.now(), job: this.job, ...record }) + '\n'
    writeSync(this.#fd, line)
    fsyncSync(this.#fd)
  }

  /** The job is over and nothing of it is left to finish or undo. */
  close(): void {
    if (this.#fd !== null) closeSync(this.#fd)
    this.#fd = null
    rmSync(journalPath(this.cluster), { force: true })
  }

  /** The job ended but left something (the engine went away): the next command recovers it. */
  keep(): void {
    if (this.#fd !== null) closeSync(this.#fd)
    this.#fd = null
  }
}

/** The records of a journal left on the host, oldest first; null when there is none. */
export function readJournal(cluster: string): Stamped[] | null {
  let text: string
  try {
    text = readFileSync(journalPath(cluster), 'utf8')
  } catch {
    return null
  }
  const out: Stamped[] = []
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    try {
      out.push(JSON.parse(line) as Stamped)
    } catch {
      // The last line of a job killed while writing it: the step it announced never began.
    }
  }
  return out
}

export function dropJournal(cluster: string): void {
  rmSync(journalPath(cluster), { force: true })
}
