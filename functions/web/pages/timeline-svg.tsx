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

/**
 * Bars from step events. Rows: the cluster's first, then by bootstrap phase when the phases are
 * known (an install's topology), else in the order each node first appears.
 */
export function bars(
  events: unknown[],
  end: number | null,
  phases: Map<string, number> = new Map()
): { rows: string[]; bars: Bar[] } {
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
    const close = (bar: Bar, k: string) => {
      open.delete(k)
      bar.to = e.t
      bar.state = e.state as Bar['state']
      if (e.ms !== undefined && k === key) bar.ms = e.ms
    }
    const bar = open.get(key)
    if (bar) {
      close(bar, key)
      continue
    }
    // A phase's end said once for all its nodes (the compact events a Worker stores: SSM keeps
    // only the start of the first node of each phase): it ends every node's bar of that step.
    const nodes = e.node ? [] : [...open].filter(([, b]) => b.step === e.step)
    for (const [k, b] of nodes) close(b, k)
    if (!nodes.length) out.push({ row, step: e.step, from: e.t, to: e.t, state: e.state, ms: e.ms })
  }
  for (const bar of open.values()) bar.to = Math.max(end ?? last, bar.from)
  const rank = (r: string) => (r === CLUSTER_ROW ? -1 : (phases.get(r) ?? 1000))
  const order = rows
    .map((r, i) => [r, i] as const)
    .sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1])
  return { rows: order.map(([r]) => r), bars: out }
}

const LABEL_W = 150
const ROW_H = 22
const WIDTH = 900

export const TimelineSvg: FC<{
  events: unknown[]
  end: number | null
  /** Each node's bootstrap phase, when known: rows grouped and labelled by phase. */
  phases?: Map<string, number>
}> = ({ events, end, phases = new Map<string, number>() }) => {
  const { rows, bars: all } = bars(events, end, phases)
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
            {phases.has(r) ? `${r} · phase ${phases.get(r)}` : r}
          </text>
        ))}
        {rows
          .slice(1)
          .map((r, i) =>
            phases.has(r) && phases.get(r) !== phases.get(rows[i]) ? (
              <line
                class="phase-rule"
                x1={0}
                x2={WIDTH}
                y1={(i + 1) * ROW_H}
                y2={(i + 1) * ROW_H}
              />
            ) : null
          )}
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
