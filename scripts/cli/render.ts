/**
 * How job events reach a person: a live per-node table on a terminal, one plain line per event
 * otherwise, NDJSON with --json (the same lines `berth job run` prints for dispatchers).
 */
import { color } from './color.ts'
import type { JobEvent, StepEvent } from '../engine/events.ts'

export type Mode = 'json' | 'tty' | 'plain'

export interface Renderer {
  emit(e: JobEvent): void
  /** Stops live redrawing (before printing the final summary). */
  close(): void
}

const mark = (s: StepEvent['state']) =>
  s === 'done'
    ? color.green('✓')
    : s === 'fail'
      ? color.red('✗')
      : s === 'skip'
        ? color.dim('-')
        : color.cyan('…')

function plainLine(e: JobEvent): string | null {
  if (e.type === 'result') return null
  const time = new Date(e.t).toISOString().slice(11, 19)
  if (e.type === 'log') return `${time} ${(e.node ?? '').padEnd(12)} ${e.msg}`
  const ms = e.ms !== undefined ? ` ${e.ms}ms` : ''
  return `${time} ${(e.node ?? '-').padEnd(12)} ${e.step.padEnd(9)} ${e.state}${ms}${e.msg ? `  ${e.msg}` : ''}`
}

export function createRenderer(mode: Mode, out: NodeJS.WriteStream = process.stdout): Renderer {
  if (mode === 'json') {
    return { emit: (e) => out.write(JSON.stringify(e) + '\n'), close() {} }
  }
  if (mode === 'plain') {
    return {
      emit: (e) => {
        const line = plainLine(e)
        if (line) out.write(line + '\n')
      },
      close() {},
    }
  }
  // Live table: one row per node with its latest step, plus one row for cluster-wide steps.
  const rows = new Map<string, StepEvent>()
  let drawn = 0
  let timer: NodeJS.Timeout | undefined
  const draw = () => {
    timer = undefined
    if (drawn) out.write(`\x1b[${drawn}A\x1b[J`)
    const lines = [...rows.entries()].map(([node, e]) => {
      const ms = e.ms !== undefined ? color.dim(` ${e.ms}ms`) : ''
      const msg = e.msg ? color.dim(`  ${e.msg.slice(0, 60)}`) : ''
      return `${mark(e.state)} ${node.padEnd(14)} ${e.step.padEnd(9)}${ms}${msg}`
    })
    out.write(lines.join('\n') + (lines.length ? '\n' : ''))
    drawn = lines.length
  }
  return {
    emit(e) {
      if (e.type !== 'step' || e.step === 'job') return
      rows.set(e.node ?? '(cluster)', e)
      timer ??= setTimeout(draw, 80)
    },
    close() {
      if (timer) {
        clearTimeout(timer)
        draw()
      }
    },
  }
}
