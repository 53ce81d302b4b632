/**
 * A node's bootstrap and health. A finished bootstrap leaves a marker that lives and dies with
 * the container (container-files.ts), so a kept node is never bootstrapped twice and a rebuilt
 * one always is.
 */
import { checkpoint, note, type JobContext } from './context.ts'
import { writeMarker, type BootstrapMarker } from './container-files.ts'
import { BerthError } from './errors.ts'
import { lineBuffer } from './line-buffer.ts'
import type { NodeSpec } from './topology.ts'

const OUTPUT_TAIL = 4000

function tail(text: string, max = OUTPUT_TAIL): string {
  return text.length > max ? `…${text.slice(-max)}` : text
}

/** Runs a node's bootstrap; a non-zero exit, a timeout or a cancel is an error naming the node. */
export async function bootstrapNode(ctx: JobContext, node: NodeSpec, id: string): Promise<void> {
  const argv = node.bootstrap as string[]
  const t0 = Date.now()
  ctx.steps.start('bootstrap', node.name)
  ctx.log(`bootstrap: ${JSON.stringify(argv)}`, node.name)
  // One buffer per stream: a line of stdout is never glued to a piece of stderr.
  const log = (line: string) => {
    if (line) ctx.log(line, node.name)
  }
  const lines = { stdout: lineBuffer(log), stderr: lineBuffer(log) }
  let exec = ''
  const result = await ctx.engine
    .exec(id, argv, {
      timeoutMs: node.timeoutSeconds * 1000,
      signal: ctx.signal,
      // Recorded before it starts: a job that dies leaves it running, and the next command stops
      // it before anyone bootstraps the node again.
      onCreate: (execId) => note(ctx, { op: 'exec', node: node.name, container: id, exec: (exec = execId), timeoutMs: node.timeoutSeconds * 1000 }),
      onOutput: (chunk, stream) => lines[stream].push(chunk),
    })
    .finally(() => {
      lines.stdout.flush()
      lines.stderr.flush()
    })
  note(ctx, { op: 'exec-end', exec })
  const output = [result.stdout, result.stderr].filter(Boolean).join('')
  if (result.cancelled) {
    ctx.steps.fail('bootstrap', node.name, 'cancelled')
    checkpoint(ctx)
  }
  if (result.timedOut) {
    ctx.steps.fail('bootstrap', node.name, `timed out after ${node.timeoutSeconds} s`)
    throw new BerthError(
      'timeout',
      `node "${node.name}" failed at bootstrap: no exit within ${node.timeoutSeconds} s (timeoutSeconds)\n${tail(output)}`,
      { node: node.name, step: 'bootstrap', output: tail(output) }
    )
  }
  if (result.exitCode !== 0) {
    const last = (result.stderr || result.stdout).trim().split('\n').pop() ?? ''
    ctx.steps.fail('bootstrap', node.name, `exit ${result.exitCode}: ${last}`.slice(0, 200))
    throw new BerthError(
      'bootstrap_failed',
      `node "${node.name}" failed at bootstrap (exit code ${result.exitCode})\n${tail(output)}`,
      { node: node.name, step: 'bootstrap', output: tail(output), exitCode: result.exitCode }
    )
  }
  const marker: BootstrapMarker = { job: ctx.job, at: new Date().toISOString(), ms: result.ms }
  await writeMarker(ctx, id, marker)
  ctx.steps.done('bootstrap', node.name, Date.now() - t0)
}

/** What a health wait needs of a node (a NodeSpec is one; so is a node read back from Docker). */
export type HealthTarget = Pick<NodeSpec, 'name' | 'healthcheck' | 'timeoutSeconds'>

export async function probeHealth(
  ctx: JobContext,
  node: HealthTarget,
  id: string
): Promise<{ ok: boolean; output: string }> {
  if (!node.healthcheck) return { ok: true, output: '' }
  const r = await ctx.engine.exec(id, node.healthcheck.cmd, {
    timeoutMs: node.healthcheck.timeoutSeconds * 1000,
    maxOutput: 2000,
  })
  return { ok: r.exitCode === 0 && !r.timedOut, output: (r.stdout + r.stderr).trim() }
}

/**
 * Waits until the health command passes, retrying quickly: Docker's own healthcheck (also set
 * on the container) only runs every `intervalSeconds`, which is far too slow to wait on.
 */
export async function waitHealthy(ctx: JobContext, node: HealthTarget, id: string): Promise<void> {
  if (!node.healthcheck) {
    ctx.steps.skip('health', node.name, 'no healthcheck')
    return
  }
  const t0 = Date.now()
  const deadline = t0 + node.timeoutSeconds * 1000
  ctx.steps.start('health', node.name)
  let last = { ok: false, output: '' }
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    checkpoint(ctx)
    last = await probeHealth(ctx, node, id)
    if (last.ok) break
    if (Date.now() + delay > deadline) {
      ctx.steps.fail('health', node.name, last.output.slice(0, 200))
      throw new BerthError(
        'health_failed',
        `node "${node.name}" is not healthy after ${node.timeoutSeconds} s: ${last.output || 'health command failed'}`,
        { node: node.name, step: 'health', output: last.output }
      )
    }
    await new Promise((r) => setTimeout(r, delay))
  }
  ctx.steps.done('health', node.name, Date.now() - t0)
}
