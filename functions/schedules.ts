/**
 * Snapshot schedules, runtime-neutral: the Node server (scheduler.ts, croner timers) and the
 * Worker's cron trigger (a per-minute `tickSchedules`) run them through this one core.
 *
 * A run is claimed with a compare-and-set of the schedule's last_run_at (two pollers never take
 * one run), and its job carries an idempotency key naming the scheduled time (a double fire makes
 * one job). last_run_at is stamped with the creation time when a schedule is added, so nothing
 * scheduled before a schedule existed is ever caught up; a row found without one is adopted the
 * same way. After downtime only the latest missed run is made, and only within the grace.
 */
import { Cron } from 'croner'
import { z } from 'zod'
import { BerthError } from '../scripts/engine/errors.ts'
import { clusterName } from '../scripts/engine/job-spec.ts'
import { issueLines, zodIssues } from '../scripts/engine/zod-issues.ts'
import type { Logger } from '../scripts/engine/logger.ts'
import { sha256Hex } from './sha256.ts'
import type { JobRecord, ScheduleRecord, Store } from './store/store.ts'
import { fixedPrincipal } from './principal.ts'
import { submitJob, type SubmitDeps } from './submit.ts'

export type NewSchedule = Omit<ScheduleRecord, 'lastRunAt'>

/** One reading of a pattern for every caller: the timers and `dueRun` must agree on each run. */
export function cronOf(s: Pick<ScheduleRecord, 'cron' | 'tz'>, fire?: () => void): Cron {
  // legacyMode (croner's default, said out loud): day-of-month OR day-of-week, as Vixie cron.
  const options = { timezone: s.tz, legacyMode: true }
  return fire ? new Cron(s.cron, { ...options, unref: true }, fire) : new Cron(s.cron, options)
}

function cronProblem(pattern: string): string | null {
  const text = pattern.trim()
  const fields = text.split(/\s+/).length
  if (!text.startsWith('@') && (fields < 5 || fields > 6)) {
    return `"${text}" has ${fields} field(s); use 5 (minute hour day month weekday) or 6 (seconds first)`
  }
  // croner replaces "?" by the time the pattern is read: each process would read it differently.
  if (text.includes('?')) return '"?" is not supported; write the value or "*"'
  try {
    if (!cronOf({ cron: text, tz: 'UTC' }).nextRun()) return `"${text}" never fires`
  } catch (err) {
    return String((err as Error).message).replace(/^CronPattern: /, '')
  }
  return null
}

/** The zone's canonical name, or null. Offsets ("+02:00") are refused: a zone keeps its DST rules. */
export function canonicalZone(tz: string): string | null {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(tz)) return null
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone
  } catch {
    return null
  }
}

const keepMessage = 'must be a whole number from 1 to 1000'

/** POST /v1/schedules, and what `berth schedule add` builds from its flags. */
export const ScheduleRequest = z.strictObject({
  cluster: clusterName.describe('the cluster to snapshot'),
  cron: z
    .string()
    .max(120)
    .superRefine((v, ctx) => {
      const problem = cronProblem(v)
      if (problem) ctx.addIssue({ code: 'custom', message: problem })
    })
    .describe('5 fields (minute hour day month weekday) or 6 (seconds first), read in `tz`'),
  keep: z
    .number()
    .int(keepMessage)
    .min(1, keepMessage)
    .max(1000, keepMessage)
    .nullable()
    .optional()
    .describe('snapshots kept after each run, older ones pruned; omitted or null keeps all'),
  tz: z
    .string()
    .max(64)
    .refine((v) => canonicalZone(v) !== null, 'is not an IANA time zone (e.g. UTC, Europe/Berlin)')
    .optional()
    .describe('IANA time zone the cron is read in; default UTC'),
  name: clusterName.optional().describe('default: the cluster name'),
})

/** A valid schedule from a request, or BerthError('invalid_job') naming every field at fault. */
export function parseSchedule(input: unknown): NewSchedule {
  const r = ScheduleRequest.safeParse(input)
  if (!r.success) {
    const issues = zodIssues(r.error, '(body)')
    throw new BerthError('invalid_job', issueLines(issues, '; '), { issues })
  }
  const { cluster, cron, keep, tz, name } = r.data
  return {
    name: name ?? cluster,
    cluster,
    cron: cron.trim().replace(/\s+/g, ' '),
    keep: keep ?? null,
    tz: canonicalZone(tz ?? 'UTC') as string,
    enabled: true,
  }
}

/** Rejects with StoreConflictError when the name is taken. Runs count from `now`. */
export async function addSchedule(
  store: Store,
  s: NewSchedule,
  now = new Date()
): Promise<ScheduleRecord> {
  const created = await store.createSchedule(s)
  const at = now.toISOString()
  await store.markScheduleRun(created.name, null, at)
  return { ...created, lastRunAt: at }
}

/** The next run after `now`, for lists; null when it never fires again (or cannot be read). */
export function nextRun(s: Pick<ScheduleRecord, 'cron' | 'tz'>, now = new Date()): string | null {
  try {
    return cronOf(s).nextRun(now)?.toISOString() ?? null
  } catch {
    return null
  }
}

/**
 * A per-minute tick (the Worker's cron trigger) sees a run up to about a minute late, and a timer
 * a few milliseconds late: that is on time, however small the configured grace.
 */
export const ON_TIME_MS = 2 * 60_000

/**
 * The scheduled time to run now, or null: the latest run ≤ now after lastRunAt, if it is at most
 * `graceMs` (or ON_TIME_MS, whichever is longer) old. However many runs were missed, this is one.
 */
export function dueRun(
  s: Pick<ScheduleRecord, 'cron' | 'tz' | 'lastRunAt'>,
  now: Date,
  graceMs: number
): Date | null {
  const last = s.lastRunAt ? Date.parse(s.lastRunAt) : NaN
  if (Number.isNaN(last)) return null
  const end = now.getTime()
  // nextRun(t) is strictly after t: the -1 lets a run exactly `grace` old count.
  const floor = Math.max(last, end - Math.max(graceMs, ON_TIME_MS) - 1)
  if (floor >= end) return null
  const cron = cronOf(s)
  const after = (t: number) => cron.nextRun(new Date(t))?.getTime() ?? Infinity
  // Back from now in doubling spans until one holds a run, then forward to its last run ≤ now:
  // a few croner steps (~0.2 ms each) where walking from the floor would take one per run
  // (a seconds cron over a 6-hour grace: 4,000).
  for (let span = 1000; ; span *= 2) {
    const from = Math.max(floor, end - span)
    let run = after(from)
    if (run <= end) {
      for (let next = after(run); next <= end; next = after(next)) run = next
      return new Date(run)
    }
    if (from === floor) return null
  }
}

export type ScheduleDeps = SubmitDeps

export type RunResult = { schedule: string; cluster: string; scheduledAt: string } & (
  | { outcome: 'queued'; job: JobRecord; existing: boolean }
  | { outcome: 'skipped'; blockedBy: string }
  /** Another poller claimed this run first (or the schedule changed under us). */
  | { outcome: 'taken' }
  | { outcome: 'failed'; message: string }
)

/**
 * A run's snapshot is named after its scheduled time (`codenvy-20250110-020000`), not after the
 * moment it starts: one id per run, and two runs never collide, even when one starts in the same
 * second the other ended (a default id is the start time to the second).
 */
export function snapshotTag(cluster: string, scheduledAt: Date): string {
  return `${cluster}-${scheduledAt.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`
}

/**
 * Claims the run, then queues the snapshot — unless a snapshot of the cluster is already queued
 * or running: then the run is skipped (claimed all the same) and the skip is audited.
 */
export async function runSchedule(
  deps: ScheduleDeps,
  s: ScheduleRecord,
  scheduledAt: Date
): Promise<RunResult> {
  const { store } = deps
  const at = scheduledAt.toISOString()
  const base = { schedule: s.name, cluster: s.cluster, scheduledAt: at }
  const actor = `schedule:${s.name}`
  if (!(await store.markScheduleRun(s.name, s.lastRunAt, at))) return { ...base, outcome: 'taken' }
  const audit = (outcome: string, detail: Record<string, unknown>) =>
    store.audit({
      actor,
      source: 'scheduler',
      action: 'schedule.run',
      target: s.cluster,
      outcome,
      detail: { at, ...detail },
    })
  try {
    const active = await store.jobsInState(['queued', 'running'])
    const blocker = active.find((j) => j.cluster === s.cluster && j.kind === 'snapshot')
    if (blocker) {
      await audit('skipped', { blockedBy: blocker.id, state: blocker.state })
      return { ...base, outcome: 'skipped', blockedBy: blocker.id }
    }
    const options = {
      tag: snapshotTag(s.cluster, scheduledAt),
      ...(s.keep ? { keep: s.keep } : {}),
    }
    const body = { kind: 'snapshot' as const, cluster: s.cluster, options }
    // The schedule's own grants: snapshots of its cluster, pruned by its retention (set by whoever
    // may remove snapshots, when the schedule was made).
    const who = fixedPrincipal({
      actor,
      level: deps.policy.default,
      cluster: s.cluster,
      rights: ['snapshot', 'prune'],
    })
    const { job, existing } = await submitJob(deps, body, {
      who,
      source: 'scheduler',
      idempotencyKey: `${actor}:${at}`,
      bodyHash: await sha256Hex(JSON.stringify(body)),
    })
    return { ...base, outcome: 'queued', job, existing }
  } catch (err) {
    const message = (err as Error).message
    await audit('failed', { message }).catch(() => {})
    return { ...base, outcome: 'failed', message }
  }
}

/** What one look at a schedule does: adopt it (no last run yet), run what is due, or nothing. */
export async function runDue(
  deps: ScheduleDeps,
  s: ScheduleRecord,
  now: Date,
  graceMs: number
): Promise<RunResult | null> {
  if (!s.enabled) return null
  if (!s.lastRunAt) {
    await deps.store.markScheduleRun(s.name, null, now.toISOString())
    return null
  }
  let at: Date | null
  try {
    at = dueRun(s, now, graceMs)
  } catch (err) {
    const message = (err as Error).message
    return {
      schedule: s.name,
      cluster: s.cluster,
      scheduledAt: now.toISOString(),
      outcome: 'failed',
      message,
    }
  }
  return at ? runSchedule(deps, s, at) : null
}

/** Every schedule once: the Worker's per-minute cron trigger, and the Node scheduler's passes. */
export async function tickSchedules(
  deps: ScheduleDeps,
  now: Date,
  graceMs: number
): Promise<RunResult[]> {
  const out: RunResult[] = []
  for (const s of await deps.store.listSchedules()) {
    const r = await runDue(deps, s, now, graceMs)
    if (r) out.push(r)
  }
  return out
}

/** One line for a log. */
/** A run said on the server's log: a failure at warn, with the cluster and the job it queued. */
export function logRun(log: Logger, r: RunResult): void {
  const fields = { cluster: r.cluster, ...(r.outcome === 'queued' ? { job: r.job.id } : {}) }
  log[r.outcome === 'failed' ? 'warn' : 'info'](describeRun(r), fields)
}

export function describeRun(r: RunResult): string {
  const head = `schedule ${r.schedule} (${r.scheduledAt})`
  switch (r.outcome) {
    case 'queued':
      return `${head}: snapshot of ${r.cluster} ${r.existing ? 'already queued' : 'queued'} as job ${r.job.id}`
    case 'skipped':
      return `${head}: skipped, a snapshot of ${r.cluster} is already queued or running (job ${r.blockedBy})`
    case 'taken':
      return `${head}: taken by another poller`
    case 'failed':
      return `${head}: failed: ${r.message}`
  }
}
