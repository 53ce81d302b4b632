import type { Issue } from './zod-issues.ts'

/**
 * One error family for the engine. A `code` is stable (callers and the HTTP layer branch on it);
 * the message is for people and names the field, node or step at fault.
 */
export type ErrorCode =
  | 'invalid_topology' // the topology file is wrong: fix the file
  | 'invalid_job' // the job spec or the command line is wrong
  | 'preflight' // the host cannot do it as asked (engine, image, subnet, privileged…)
  | 'conflict' // something else holds the name, subnet or cluster
  | 'forbidden' // the host policy or the caller's grants do not allow it
  | 'not_found' // no such cluster, node or image
  | 'bootstrap_failed'
  | 'health_failed'
  | 'hosts_failed'
  | 'hook_failed'
  | 'snapshot_damaged' // a snapshot's checksum, size or image does not match its manifest
  | 'engine' // the Docker engine failed a call
  | 'engine_gone' // the Docker engine went away mid-job: the next command finishes the job
  | 'drift' // the cluster is not what berth made it: `berth repair` (status' exit code)
  | 'timeout'
  | 'cancelled'
  | 'internal'

/** How getting a job to a host failed, where no berth on the host said why (a job's result). */
export const DISPATCH_CODES = [
  'dispatch_failed', // not sent, or no result came back (the transport said why)
  'dispatch_lost', // the edge never finished handing the job to the host
  'dispatch_not_configured', // the Worker has no dispatch to a host
  'misconfigured', // the Worker's bindings are not valid
  'dispatch_auth', // the cloud API refused the credentials
  'access_denied', // the credentials may not do it (IAM)
  'throttled',
  'unreachable', // the host's agent cannot be reached
  'terminated', // the host went away while it ran the job
  'invalid_platform', // the host cannot run the document
  'no_targets', // no host matched the target
  'invalid_ref', // a dispatch reference berth did not make
] as const
export type DispatchCode = (typeof DISPATCH_CODES)[number]

/** A failed result's code: the engine's, or the dispatch's when no engine answered. */
export type ResultCode = ErrorCode | DispatchCode

/** Process exit codes, one per family of failure (documented in docs/cli.md, "Exit codes"). */
export const EXIT_CODES: Record<ErrorCode, number> = {
  invalid_topology: 2,
  invalid_job: 2,
  preflight: 3,
  conflict: 4,
  forbidden: 7,
  not_found: 5,
  bootstrap_failed: 1,
  health_failed: 1,
  hosts_failed: 1,
  hook_failed: 1,
  snapshot_damaged: 6,
  engine: 1,
  engine_gone: 9,
  drift: 8,
  timeout: 1,
  internal: 1,
  cancelled: 130,
}

/** A code a failed result may carry (what a thrown error's `code` is checked with). */
export function isResultCode(v: unknown): v is ResultCode {
  return (
    typeof v === 'string' &&
    (Object.hasOwn(EXIT_CODES, v) || (DISPATCH_CODES as readonly string[]).includes(v))
  )
}

export interface ErrorDetails {
  node?: string
  step?: string
  /** Captured output of the failing node (tail), when there is one. */
  output?: string
  exitCode?: number
  issues?: Issue[]
  cause?: unknown
}

export class BerthError extends Error {
  readonly code: ErrorCode
  /** Named `info`, not `details`: uvu's reporter reads `err.details` as a diff string. */
  readonly info: ErrorDetails

  constructor(code: ErrorCode, message: string, info: ErrorDetails = {}) {
    super(message, info.cause === undefined ? undefined : { cause: info.cause })
    this.name = 'BerthError'
    this.code = code
    this.info = info
  }

  get exitCode(): number {
    return EXIT_CODES[this.code]
  }
}

export function asBerthError(err: unknown): BerthError {
  if (err instanceof BerthError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new BerthError('internal', message, { cause: err })
}
