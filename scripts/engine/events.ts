/**
 * Job events: one small JSON object per line on stdout (the SSM bridge reads only the first
 * 24,000 characters of stdout, so events stay compact and logs go elsewhere).
 */
import type { ResultCode } from './errors.ts'

export type StepState = 'start' | 'done' | 'fail' | 'skip'

export type Step =
  | 'preflight'
  | 'plan'
  | 'network'
  | 'volume'
  | 'create'
  | 'files'
  | 'start'
  | 'hosts'
  | 'verify'
  | 'bootstrap'
  | 'health'
  | 'stop'
  | 'remove'
  | 'cleanup'
  | 'image'
  | 'hook'
  | 'pause'
  | 'commit'
  | 'archive'
  | 'unpause'
  | 'restore'
  | 'swap'
  | 'export'
  | 'import'
  | 'lock'
  | 'recover'
  | 'repair'
  | 'job'

export interface StepEvent {
  type: 'step'
  t: number
  job: string
  node?: string
  step: Step
  state: StepState
  ms?: number
  msg?: string
}

export interface LogEvent {
  type: 'log'
  t: number
  job: string
  node?: string
  msg: string
}

export interface NodeSummary {
  name: string
  hostname: string
  ip: string | null
  id: string
  state?: string
  /** Where its published ports are reached from the host (http://127.0.0.1:8080). */
  published?: string[]
  /** Swarm mode: the host it runs on. */
  host?: string
}

export interface ResultEvent {
  type: 'result'
  t: number
  job: string
  kind: string
  cluster: string
  ok: boolean
  ms: number
  /** Of a failure: what kind of failure (the exit code follows from it). */
  code?: ResultCode
  message?: string
  node?: string
  step?: string
  nodes?: NodeSummary[]
  data?: unknown
  /** What this job recovered first, of a job that died on the cluster (recovery.ts). */
  recovered?: string[]
  /** The berth that ran the job. */
  version?: string
}

export type JobEvent = StepEvent | LogEvent | ResultEvent

export type Emit = (event: JobEvent) => void

/** Helpers bound to one job: `steps.start('create', 'api')` … `steps.done('create', 'api', ms)`. */
export function stepper(job: string, emit: Emit) {
  const ev = (step: Step, state: StepState, node?: string, extra: Partial<StepEvent> = {}) =>
    emit({ type: 'step', t: Date.now(), job, step, state, ...(node ? { node } : {}), ...extra })
  return {
    start: (step: Step, node?: string, msg?: string) => ev(step, 'start', node, msg ? { msg } : {}),
    done: (step: Step, node?: string, ms?: number, msg?: string) =>
      ev(step, 'done', node, { ...(ms !== undefined ? { ms } : {}), ...(msg ? { msg } : {}) }),
    fail: (step: Step, node?: string, msg?: string) => ev(step, 'fail', node, msg ? { msg } : {}),
    skip: (step: Step, node?: string, msg?: string) => ev(step, 'skip', node, msg ? { msg } : {}),
    log: (msg: string, node?: string) =>
      emit({ type: 'log', t: Date.now(), job, msg, ...(node ? { node } : {}) }),
    /** Times `fn` as one step of one node, emitting start and done/fail. */
    async timed<T>(step: Step, node: string | undefined, fn: () => Promise<T>): Promise<T> {
      const t0 = Date.now()
      ev(step, 'start', node)
      try {
        const out = await fn()
        ev(step, 'done', node, { ms: Date.now() - t0 })
        return out
      } catch (err) {
        ev(step, 'fail', node, {
          msg: err instanceof Error ? err.message.split('\n')[0] : String(err),
        })
        throw err
      }
    },
  }
}

export type Steps = ReturnType<typeof stepper>
