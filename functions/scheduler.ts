/**
 * The Node server's scheduler: a croner timer per schedule fires each run on time (to the second),
 * and a pass over the store at start and every `reloadMs` catches up what was missed within the
 * grace and picks up schedules added or removed elsewhere (`berth schedule add` writes the SQLite
 * file directly). Timers and passes run one at a time; each run is claimed in the store
 * (schedules.ts), so one made twice is never made twice.
 */
import type { Cron } from 'croner'
import { cronOf, logRun, runDue, type ScheduleDeps } from './schedules.ts'
import type { ScheduleRecord } from './store/store.ts'
import { silentLogger, type Logger } from '../scripts/engine/logger.ts'

export interface SchedulerOptions extends ScheduleDeps {
  /** A run missed (server down) at most this long ago is made once at start. */
  graceMs: number
  /** How often the store is read again for schedules added, changed or removed. */
  reloadMs?: number
  log?: Logger
}

export class Scheduler {
  /** name → the timer and the pattern it was made for. */
  private readonly timers = new Map<string, { key: string; cron: Cron | null }>()
  private chain: Promise<void> = Promise.resolve()
  private poller: NodeJS.Timeout | undefined
  private stopped = false

  constructor(private readonly o: SchedulerOptions) {}

  /** Where this class says what went wrong (the server's logger; nowhere by default). */
  private get log(): Logger {
    return this.o.log ?? silentLogger
  }

  /** Resolves once the catch-up pass is done and every schedule has its timer. */
  async start(): Promise<void> {
    await this.serial(() => this.pass())
    this.poller = setInterval(() => void this.serial(() => this.pass()), this.o.reloadMs ?? 5000)
    this.poller.unref()
  }

  /** No run starts after this resolves; one under way is finished first. */
  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.poller)
    for (const t of this.timers.values()) t.cron?.stop()
    this.timers.clear()
    await this.chain
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    this.chain = this.chain
      .then(() => (this.stopped ? undefined : fn()))
      .catch((err) => this.log.error(`scheduler: ${err}`))
    return this.chain
  }

  private async pass(): Promise<void> {
    const schedules = await this.o.store.listSchedules()
    this.sync(schedules)
    // One whose pattern cannot be read was reported once by sync(); not again at every pass.
    for (const s of schedules) if (this.timers.get(s.name)?.cron !== null) await this.look(s)
  }

  private async fire(name: string): Promise<void> {
    // Read again: the run is claimed against the last run the store holds now.
    const s = (await this.o.store.listSchedules()).find((x) => x.name === name)
    if (s) await this.look(s)
  }

  private async look(s: ScheduleRecord): Promise<void> {
    const r = await runDue(this.o, s, new Date(), this.o.graceMs)
    if (r && r.outcome !== 'taken') logRun(this.log, r)
  }

  /** One timer per enabled schedule, remade when its pattern or zone changes. */
  private sync(schedules: ScheduleRecord[]): void {
    const wanted = new Map(schedules.filter((s) => s.enabled).map((s) => [s.name, s]))
    for (const [name, t] of this.timers) {
      const s = wanted.get(name)
      if (s && keyOf(s) === t.key) continue
      t.cron?.stop()
      this.timers.delete(name)
    }
    for (const [name, s] of wanted) {
      if (this.timers.has(name)) continue
      let cron: Cron | null = null
      try {
        cron = cronOf(s, () => void this.serial(() => this.fire(name)))
      } catch (err) {
        // Kept (without a timer) so the log says it once, not at every pass.
        this.log.warn(
          `schedule ${name}: cannot read "${s.cron}" (${s.tz}): ${(err as Error).message}`,
          { cluster: s.cluster }
        )
      }
      this.timers.set(name, { key: keyOf(s), cron })
    }
  }
}

const keyOf = (s: ScheduleRecord) => `${s.cron}\n${s.tz}`
