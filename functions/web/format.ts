/** How the dashboard writes times, sizes and durations. Runtime-neutral. */

/** 2026-12-07 03:14:05 UTC */
export const when = (iso: string | null | undefined): string =>
  iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC') : '—'

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const m = Math.floor(ms / 60_000)
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${i ? v.toFixed(1) : v} ${units[i]}`
}

/** The time between two stamps, or from one to now. */
export const between = (from: string | null, to: string | null): number | null =>
  from ? (to ? Date.parse(to) : Date.now()) - Date.parse(from) : null

/** Where a job came from, as a word: schedule, Slack, Jira, a hook, or the API (a token). */
export function origin(requestedBy: string): string {
  const [kind] = requestedBy.split(':')
  if (kind === 'schedule') return 'schedule'
  if (kind === 'slack') return 'Slack'
  if (kind === 'jira') return 'Jira'
  if (kind === 'hook') return 'webhook'
  if (requestedBy === 'auto-rewire') return 'auto-rewire'
  return 'API'
}
