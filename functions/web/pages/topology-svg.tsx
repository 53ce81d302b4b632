/**
 * A cluster's topology as SVG: one column per bootstrap phase (the master's first), a box per node
 * with its hostname, address, health and host, coloured by its state; a line from each later
 * phase's nodes back to the first phase's. Drawn from the live status alone: no script.
 */
import type { FC } from 'hono/jsx'
import type { NodeStatus } from '../../../scripts/engine/lifecycle.ts'

const BOX_W = 210
const BOX_H = 74
const GAP_X = 60
const GAP_Y = 16
const TOP = 30

/** running + healthy (or no check): ok; running but unhealthy or not bootstrapped: warn; else bad. */
export function nodeTone(n: NodeStatus): 'ok' | 'warn' | 'bad' {
  if (n.state !== 'running') return 'bad'
  if (n.health === 'unhealthy' || n.bootstrap === 'pending') return 'warn'
  return 'ok'
}

export const TopologySvg: FC<{ cluster: string; nodes: NodeStatus[] }> = ({ cluster, nodes }) => {
  const phases = [...new Set(nodes.map((n) => n.phase))].sort((a, b) => a - b)
  const columns = phases.map((p) => nodes.filter((n) => n.phase === p))
  const rows = Math.max(1, ...columns.map((c) => c.length))
  const width = Math.max(1, phases.length) * (BOX_W + GAP_X) - GAP_X + 20
  const height = TOP + rows * (BOX_H + GAP_Y) + 10
  const at = new Map<string, { x: number; y: number }>()
  columns.forEach((col, i) =>
    col.forEach((n, j) =>
      at.set(n.name, { x: 10 + i * (BOX_W + GAP_X), y: TOP + j * (BOX_H + GAP_Y) })
    )
  )
  const first = columns[0] ?? []
  return (
    <svg
      class="topology"
      viewBox={`0 0 ${width} ${height}`}
      width={width}
      height={height}
      role="img"
      aria-labelledby="topology-title"
    >
      <title id="topology-title">{`${cluster}: ${nodes.length} nodes in ${phases.length} phases`}</title>
      {phases.map((p, i) => (
        <text class="phase" x={10 + i * (BOX_W + GAP_X)} y={18}>
          {`phase ${p}`}
        </text>
      ))}
      {columns.slice(1).flatMap((col) =>
        col.flatMap((n) =>
          first.map((m) => {
            const a = at.get(m.name)!
            const b = at.get(n.name)!
            return (
              <line
                class="link"
                x1={a.x + BOX_W}
                y1={a.y + BOX_H / 2}
                x2={b.x}
                y2={b.y + BOX_H / 2}
              />
            )
          })
        )
      )}
      {nodes.map((n) => {
        const { x, y } = at.get(n.name)!
        return (
          <g class={`node ${nodeTone(n)}`} data-node={n.name}>
            <rect x={x} y={y} width={BOX_W} height={BOX_H} rx={6} />
            <text x={x + 10} y={y + 20} class="name">
              {n.name}
            </text>
            <text x={x + 10} y={y + 38}>
              {n.hostname}
            </text>
            <text x={x + 10} y={y + 54}>
              {`${n.ip ?? 'no address'} · ${n.state}${n.health !== 'none' ? ` · ${n.health}` : ''}`}
            </text>
            <text x={x + 10} y={y + 68} class="dim">
              {n.host ? `on ${n.host}` : (n.published[0] ?? n.image)}
            </text>
          </g>
        )
      })}
    </svg>
  )
}
