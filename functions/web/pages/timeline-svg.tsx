/**
 * A job's timeline as SVG, Gantt-like: a row per node (and one for the cluster-wide steps), a bar
 * per step from its start to its end, coloured by step; a failed step red, one still under way
 * open-ended. The job page shows it server-rendered and asks for it again as events arrive.
 */
import type { FC } from 'hono/jsx'
import type { StepEvent } from '../../../scripts/engine/events.ts'

export interface Bar {
  row: string
  step: string
  from: number
  to: number
  state: 'done' | 'fail' | 'skip' | 'open'
  ms?: number
}

const CLUSTER_ROW = '(cluster)'

/** Bars from step events, rows in the order their node first appears. */
export function bars(events: unknown[], end: number | null): { rows: string[]; bars: Bar[] } {
  const open = new Map<string, Bar>()
  const out: Bar[] = []
  const rows: string[] = []
  let last = 0
  for (const e of events as StepEvent[]) {
    if (!e || e.type !== 'step' || typeof e.t !== 'number') continue
    last = Math.max(last, e.t)
    const row = e.node ?? CLUSTER_ROW
    if (!rows.includes(row)) rows.push(row)
    const key = `${row}\u0000${e.step}`
    if (e.state === 'start') {
      const bar: Bar = { row, step: e.step, from: e.t, to: e.t, state: 'open' }
      open.set(key, bar)
      out.push(bar)
      continue
    }
    const bar = open.get(key)
    if (bar) {
      open.delete(key)
      bar.to = e.t
      bar.state = e.state
      if (e.ms !== undefined) bar.ms = e.ms
    } else out.push({ row, step: e.step, from: e.t, to: e.t, state: e.state, ms: e.ms })
  }
  for (const bar of open.values()) bar.to = Math.max(end ?? last, bar.from)
  return { rows, bars: out }
}

const LABEL_W = 150
const ROW_H = 22
const WIDTH = 900

export const TimelineSvg: FC<{ events: unknown[]; end: number | null }> = ({ events, end }) => {
  const { rows, bars: all } = bars(events, end)
  if (!all.length) return <p class="empty">No step has started yet.</p>
  const t0 = Math.min(...all.map((b) => b.from))
  const t1 = Math.max(...all.map((b) => b.to), t0 + 1)
  const scale = (WIDTH - LABEL_W - 10) / (t1 - t0)
  const height = rows.length * ROW_H + 24
  const steps = [...new Set(all.map((b) => b.step))]
  return (
    <figure class="timeline">
      <svg
        viewBox={`0 0 ${WIDTH} ${height}`}
        width={WIDTH}
        height={height}
        role="img"
        aria-labelledby="timeline-title"
      >
        <title id="timeline-title">{`${all.length} steps over ${rows.length} rows, ${((t1 - t0) / 1000).toFixed(1)} s`}</title>
        {rows.map((r, i) => (
          <text class="row" x={4} y={i * ROW_H + 15}>
            {r}
          </text>
        ))}
        {all.map((b) => (
          <rect
            class={`bar step-${b.step} ${b.state}`}
            x={LABEL_W + (b.from - t0) * scale}
            y={rows.indexOf(b.row) * ROW_H + 3}
            width={Math.max(2, (b.to - b.from) * scale)}
            height={ROW_H - 6}
            data-row={b.row}
            data-step={b.step}
          >
            <title>{`${b.row} ${b.step}: ${b.state}${b.ms !== undefined ? ` in ${b.ms} ms` : ''}`}</title>
          </rect>
        ))}
        <text class="axis" x={LABEL_W} y={height - 4}>
          0 s
        </text>
        <text class="axis" x={WIDTH - 10} y={height - 4} text-anchor="end">
          {`${((t1 - t0) / 1000).toFixed(1)} s`}
        </text>
      </svg>
      <figcaption>
        {steps.map((s) => (
          <span class={`key step-${s}`}>{s}</span>
        ))}
      </figcaption>
    </figure>
  )
}
