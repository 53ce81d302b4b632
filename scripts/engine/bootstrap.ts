/**
 * A node's bootstrap and health. A finished bootstrap leaves a marker that lives and dies with
 * the container (container-files.ts), so a kept node is never bootstrapped twice and a rebuilt
 * one always is.
 */
import { checkpoint, note, type JobContext } from './context.ts'
import { writeMarker, type BootstrapMarker } from './container-files.ts'
import { BerthError } from './errors.ts'
import { lineBuffer } from './line-buffer.ts'
import { probeNetwork } from './probe.ts'
import { sleep, waitFor } from './retry.ts'
import { formatBytes } from './runtime-keys.ts'
import type { NodeSpec } from './topology.ts'

const OUTPUT_TAIL = 4000

function tail(text: string, max = OUTPUT_TAIL): string {
  return text.length > max ? `…${text.slice(-max)}` : text
}

/**
 * Runs a node's bootstrap. An exit code in `okExitCodes` is success (Puppet's 2: "changes
 * applied"); another is retried `retries` times, `retryDelaySeconds` apart (a node that starts
 * before its master is ready tries again instead of failing). A timeout or a cancel ends it at
 * once. The error names the node, the exit code, the attempts, and memory when the kernel killed
 * the process for it.
 */
export async function bootstrapNode(ctx: JobContext, node: NodeSpec, id: string): Promise<void> {
  const argv = node.bootstrap as string[]
  const { okExitCodes, retries, retryDelaySeconds } = node.bootstrapPolicy
  const t0 = Date.now()
  ctx.steps.start('bootstrap', node.name)
  ctx.log(`bootstrap: ${JSON.stringify(argv)}`, node.name)
  for (let attempt = 1; ; attempt++) {
    const since = Date.now()
    const result = await runOnce(ctx, node, id, argv)
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
    if (okExitCodes.includes(result.exitCode)) {
      if (attempt > 1 || result.exitCode !== 0)
        ctx.log(
          `bootstrap: exit ${result.exitCode} (success)${attempt > 1 ? `, attempt ${attempt}` : ''}`,
          node.name
        )
      break
    }
    const oom = await killedForMemory(ctx, id, since)
    const last = (result.stderr || result.stdout).trim().split('\n').pop() ?? ''
    if (oom || attempt > retries) {
      const why = oom ? `killed for memory (${memoryOf(node)})` : `exit code ${result.exitCode}`
      const tries = attempt > 1 ? ` after ${attempt} attempts` : ''
      ctx.steps.fail('bootstrap', node.name, `${why}${tries}: ${last}`.slice(0, 200))
      throw new BerthError(
        'bootstrap_failed',
        `node "${node.name}" failed at bootstrap (${why}${tries})\n${tail(output)}`,
        { node: node.name, step: 'bootstrap', output: tail(output), exitCode: result.exitCode }
      )
    }
    ctx.log(
      `bootstrap: exit ${result.exitCode} (not in okExitCodes ${JSON.stringify(okExitCodes)}); again in ${retryDelaySeconds} s (${retries - attempt + 1} ${retries - attempt === 0 ? 'retry' : 'retries'} left)`,
      node.name
    )
    await sleep(retryDelaySeconds * 1000, ctx.signal)
    checkpoint(ctx)
  }
  const marker: BootstrapMarker = {
    job: ctx.job,
    at: new Date().toISOString(),
    ms: Date.now() - t0,
  }
  await writeMarker(ctx, id, marker)
  ctx.steps.done('bootstrap', node.name, Date.now() - t0)
}

async function runOnce(ctx: JobContext, node: NodeSpec, id: string, argv: string[]) {
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
      onCreate: (execId) =>
        note(ctx, {
          op: 'exec',
          node: node.name,
          container: id,
          exec: (exec = execId),
          timeoutMs: node.timeoutSeconds * 1000,
        }),
      onOutput: (chunk, stream) => lines[stream].push(chunk),
    })
    .finally(() => {
      lines.stdout.flush()
      lines.stderr.flush()
    })
  note(ctx, { op: 'exec-end', exec })
  return result
}

const memoryOf = (node: Pick<NodeSpec, 'resources'>) =>
  node.resources?.memory
    ? `resources.memory is ${formatBytes(node.resources.memory)}`
    : 'no memory limit: the host ran out'

/**
 * Whether the kernel killed a process of the container for memory since `since` (ms): the
 * container's own process (Docker's OOMKilled), or any other, such as a bootstrap (Docker's `oom`
 * event for the container).
 */
export async function killedForMemory(
  ctx: JobContext,
  id: string,
  since: number
): Promise<boolean> {
  const info = await ctx.engine.inspectContainer(id).catch(() => null)
  if (info?.State.OOMKilled) return true
  const events = await ctx.engine
    .pastEvents({ container: [id], event: ['oom'] }, since - 1000, Date.now())
    .catch(() => [])
  return events.length > 0
}

/**
 * A node's failure as the user should read it: killed for memory, when it was; its process
 * ended (with its exit code and last output), when the node is not running any more.
 */
export async function explainNodeFailure(
  ctx: JobContext,
  node: Pick<NodeSpec, 'name' | 'resources'>,
  id: string,
  since: number,
  err: unknown
): Promise<unknown> {
  if (!(err instanceof BerthError) || /killed for memory|its process ended/.test(err.message))
    return err
  if (await killedForMemory(ctx, id, since)) {
    return new BerthError(
      err.code,
      `node "${node.name}" was killed for memory (${memoryOf(node)}): ${err.message}`,
      { ...err.info, node: node.name, cause: err }
    )
  }
  const info = await ctx.engine.inspectContainer(id).catch(() => null)
  if (!info || info.State.Paused || info.State.StartedAt.startsWith('0001-')) return err
  // Running again after a restart (its restart policy) counts: it ended at least once.
  const restarts = info.RestartCount ?? 0
  const up = info.State.Running && !info.State.Restarting
  if (up && restarts === 0) return err
  const out = (await ctx.engine.logTail(id, 20).catch(() => '')).trim()
  const how = [
    up ? null : `exit code ${info.State.ExitCode}`,
    restarts ? `Docker restarted it ${restarts} time${restarts > 1 ? 's' : ''}` : null,
  ]
    .filter(Boolean)
    .join('; ')
  return new BerthError(
    err.code,
    `node "${node.name}": its process ended (${how})${out ? `; its last output:\n${out}` : ''}`,
    { ...err.info, node: node.name, output: out, cause: err }
  )
}

/** What a health wait needs of a node (a NodeSpec is one; so is a node read back from Docker). */
export type HealthTarget = Pick<NodeSpec, 'name' | 'healthcheck' | 'timeoutSeconds'>

export async function probeHealth(
  ctx: JobContext,
  node: HealthTarget,
  id: string
): Promise<{ ok: boolean; output: string }> {
  const hc = node.healthcheck
  if (!hc) return { ok: true, output: '' }
  if (!hc.cmd) return probeNetwork(ctx, hc, id)
  const r = await ctx.engine.exec(id, hc.cmd, {
    timeoutMs: hc.timeoutSeconds * 1000,
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
  const healthy = await waitFor(
    async () => {
      checkpoint(ctx)
      last = await probeHealth(ctx, node, id)
      if (last.ok) return true
      // A node whose process ended will not become healthy: said now, not at the deadline.
      const state = (await ctx.engine.inspectContainer(id).catch(() => null))?.State
      if (state && (!state.Running || state.Restarting) && !state.Paused) {
        ctx.steps.fail('health', node.name, `its process ended (exit code ${state.ExitCode})`)
        throw new BerthError(
          'health_failed',
          `node "${node.name}" is not healthy: its process ended (exit code ${state.ExitCode})`,
          { node: node.name, step: 'health', output: last.output }
        )
      }
      return false
    },
    { deadline, every: { initialMs: 50, factor: 2, maxMs: 1000 }, signal: ctx.signal }
  )
  if (!healthy) {
    checkpoint(ctx) // cancelled while waiting
    ctx.steps.fail('health', node.name, last.output.slice(0, 200))
    throw new BerthError(
      'health_failed',
      `node "${node.name}" is not healthy after ${node.timeoutSeconds} s: ${last.output || 'health command failed'}`,
      { node: node.name, step: 'health', output: last.output }
    )
  }
  ctx.steps.done('health', node.name, Date.now() - t0)
}
