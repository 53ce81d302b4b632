/**
 * `berth schedule add|list|rm`, straight on the server's store (run on the server host, like
 * `berth token`): a running `berth serve` reads the store again every few seconds and picks the
 * change up.
 */
import { join } from 'node:path'
import { berthHome } from '../engine/context.ts'
import { BerthError } from '../engine/errors.ts'
import { issueLines } from '../engine/zod-issues.ts'

export interface ScheduleFlags {
  cron?: string
  keep?: string
  tz?: string
  name?: string
  json?: boolean
}

const USAGE =
  'usage: berth schedule add <cluster> --cron "0 2 * * *" [--keep N] [--tz ZONE] [--name N] | list | rm <name>'

/** Request fields → what the user typed them as. */
const FLAG: Record<string, string> = {
  cluster: '<cluster>',
  cron: '--cron',
  keep: '--keep',
  tz: '--tz',
  name: '--name',
}

const out = (line: string) => void process.stdout.write(line + '\n')

/** The request `add` makes of its flags, or BerthError('invalid_job') naming each flag at fault. */
async function specFromFlags(cluster: string, flags: ScheduleFlags) {
  const { parseSchedule } = await import('../../functions/schedules.ts')
  if (flags.cron === undefined) {
    throw new BerthError(
      'invalid_job',
      '--cron: required, e.g. --cron "0 2 * * *" (02:00 every day)'
    )
  }
  if (flags.keep !== undefined && !/^\d{1,4}$/.test(flags.keep)) {
    throw new BerthError('invalid_job', '--keep: must be a whole number from 1 to 1000')
  }
  const request = {
    cluster,
    cron: String(flags.cron),
    ...(flags.keep !== undefined ? { keep: Number(flags.keep) } : {}),
    ...(flags.tz !== undefined ? { tz: String(flags.tz) } : {}),
    ...(flags.name !== undefined ? { name: String(flags.name) } : {}),
  }
  try {
    return parseSchedule(request)
  } catch (err) {
    const issues = err instanceof BerthError ? err.info.issues : undefined
    if (!issues) throw err
    const message = issueLines(
      issues.map((i) => ({ path: FLAG[i.path] ?? i.path, message: i.message }))
    )
    throw new BerthError('invalid_job', message, { issues })
  }
}

export async function scheduleCommand(rest: string[], flags: ScheduleFlags): Promise<void> {
  const [verb, arg, extra] = rest
  const arity = ({ add: 1, list: 0, rm: 1 } as Record<string, number>)[verb]
  if (arity === undefined || (arity === 1) !== (arg !== undefined) || extra !== undefined) {
    throw new BerthError('invalid_job', USAGE)
  }
  // Checked before the store is opened: a typo creates no data directory.
  const spec = verb === 'add' ? await specFromFlags(arg, flags) : undefined

  const { openSqliteStore } = await import('../../functions/store/sqlite.ts')
  const { StoreConflictError } = await import('../../functions/store/store.ts')
  const { addSchedule } = await import('../../functions/schedules.ts')
  const { scheduleView } = await import('../../functions/routes/schedules.ts')
  const store = await openSqliteStore(join(berthHome(), 'berth.db'))
  const audit = (action: string, target: string, outcome: string, detail: unknown = null) =>
    store.audit({ actor: 'cli', source: null, action, target, outcome, detail })
  try {
    if (spec) {
      let saved
      try {
        saved = await addSchedule(store, spec)
      } catch (err) {
        if (!(err instanceof StoreConflictError)) throw err
        const hint = `berth schedule rm ${spec.name}, or pick another --name`
        throw new BerthError('conflict', `--name: a schedule named "${spec.name}" exists (${hint})`)
      }
      const { name, cluster, cron, tz, keep } = saved
      await audit('schedule.add', name, 'ok', { cluster, cron, tz, keep })
      const view = scheduleView(saved)
      if (flags.json) return out(JSON.stringify(view))
      const kept = keep ? `keeping the newest ${keep}` : 'keeping all'
      out(`added schedule "${name}": snapshot of ${cluster} at "${cron}" (${tz}), ${kept}`)
      out(`next run ${view.nextRunAt ?? 'never'}; a running berth serve picks it up within seconds`)
    } else if (verb === 'list') {
      const now = new Date()
      const all = (await store.listSchedules()).map((s) => scheduleView(s, now))
      if (flags.json) return out(JSON.stringify(all))
      if (!all.length)
        return out('no schedules (berth schedule add <cluster> --cron "0 2 * * *" --keep 7)')
      const head = ['NAME', 'CLUSTER', 'CRON', 'TZ', 'KEEP', 'LAST RUN/ADDED', 'NEXT RUN']
      const rows = [head].concat(
        all.map((s) => {
          const next = s.enabled ? (s.nextRunAt ?? 'never') : 'disabled'
          return [
            s.name,
            s.cluster,
            s.cron,
            s.tz,
            String(s.keep ?? 'all'),
            s.lastRunAt ?? 'never',
            next,
          ]
        })
      )
      const widths = head.map((_, i) => Math.max(...rows.map((r) => r[i].length)))
      for (const r of rows)
        out(r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  '))
    } else {
      const ok = await store.deleteSchedule(arg)
      await audit('schedule.rm', arg, ok ? 'ok' : 'not found')
      if (!ok) throw new BerthError('not_found', `no schedule named "${arg}" (berth schedule list)`)
      out(`removed schedule "${arg}" (its snapshots are kept)`)
    }
  } finally {
    await store.close()
  }
}
