/**
 * What an SSM Run Command invocation's Status / StatusDetails means for a berth job on that host
 * (docs/edge.md, "The SSM dispatcher"). StatusDetails is the finer of the two and is read first;
 * AWS spells it with spaces ("Delivery Timed Out"), some SDK docs and our endpoint without, and
 * both "Cancelled" and "Canceled" occur: keys are compared without spaces, in lower case.
 * Runtime-neutral: the Worker bundles it.
 */
import type { ResultCode } from '../../scripts/engine/errors.ts'

/** The job's state as far as this host goes. */
export type HostJobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'

export interface StatusContext {
  host: string
  /** SendCommand TimeoutSeconds: how long the command may wait to be delivered. */
  timeoutSeconds: number
  /** The document's executionTimeout: how long berth job run may run. */
  executionTimeoutSeconds: number
  maxErrors?: string
}

export interface HostStatus {
  state: HostJobState
  terminal: boolean
  /**
   * For an ending that SSM decided (not berth): the result code. Absent where berth's own result
   * event is the answer (Success, Failed, and Cancelled when berth got to say so).
   */
  code?: ResultCode
  message: string
}

type Row = Omit<HostStatus, 'message'> & { message: (c: StatusContext) => string }

/** Every documented Status and StatusDetails value, by normalised key. */
export const SSM_STATUS_TABLE: Readonly<Record<string, Row>> = {
  pending: {
    state: 'queued',
    terminal: false,
    message: (c) => `waiting for the SSM agent on ${c.host} to pick the command up`,
  },
  inprogress: {
    state: 'running',
    terminal: false,
    message: (c) => `berth job run is running on ${c.host}`,
  },
  delayed: {
    state: 'queued',
    terminal: false,
    message: (c) => `SSM could not reach the agent on ${c.host} yet and will try again`,
  },
  cancelling: {
    state: 'running',
    terminal: false,
    message: (c) => `cancelling on ${c.host}: waiting for berth job run to stop`,
  },
  success: {
    state: 'succeeded',
    terminal: true,
    message: (c) => `berth job run exited 0 on ${c.host}`,
  },
  failed: {
    state: 'failed',
    terminal: true,
    message: (c) => `berth job run failed on ${c.host}`,
  },
  cancelled: {
    state: 'cancelled',
    terminal: true,
    code: 'cancelled',
    message: (c) => `the command was cancelled on ${c.host}`,
  },
  // A Status (never a detail): SSM says no more than that it timed out.
  timedout: {
    state: 'failed',
    terminal: true,
    code: 'timeout',
    message: (c) =>
      `the command timed out on ${c.host} (delivery within ${c.timeoutSeconds} s or execution ` +
      `within ${c.executionTimeoutSeconds} s)`,
  },
  executiontimedout: {
    state: 'failed',
    terminal: true,
    code: 'timeout',
    message: (c) =>
      `berth job run on ${c.host} did not finish within executionTimeout ` +
      `(${c.executionTimeoutSeconds} s): SSM stopped it`,
  },
  deliverytimedout: {
    state: 'failed',
    terminal: true,
    code: 'timeout',
    message: (c) =>
      `the SSM agent on ${c.host} did not pick the command up within TimeoutSeconds ` +
      `(${c.timeoutSeconds} s): is the instance running and its agent online?`,
  },
  undeliverable: {
    state: 'failed',
    terminal: true,
    code: 'unreachable',
    message: (c) =>
      `SSM cannot deliver the command to ${c.host}: the instance does not exist, is not ` +
      `running, or its agent is not registered`,
  },
  terminated: {
    state: 'cancelled',
    terminal: true,
    code: 'terminated',
    message: (c) =>
      `SSM did not run the command on ${c.host}: more hosts failed than MaxErrors ` +
      `(${c.maxErrors ?? '0'}) allows`,
  },
  accessdenied: {
    state: 'failed',
    terminal: true,
    code: 'access_denied',
    message: (c) =>
      `SSM refused to run the document on ${c.host}: the IAM policy does not allow it on this ` +
      `instance (check the ssm:resourceTag condition and the document ARN)`,
  },
  invalidplatform: {
    state: 'failed',
    terminal: true,
    code: 'invalid_platform',
    message: (c) => `${c.host} is not a Linux instance: the berth document runs on Linux only`,
  },
}

const key = (s: string | undefined) =>
  (s ?? '')
    .replace(/[\s_-]/g, '')
    .toLowerCase()
    .replace('canceled', 'cancelled')

/** Reads Status and StatusDetails as one state; StatusDetails wins where both are known. */
export function hostStatus(
  status: string | undefined,
  details: string | undefined,
  c: StatusContext
): HostStatus {
  const row = SSM_STATUS_TABLE[key(details)] ?? SSM_STATUS_TABLE[key(status)]
  if (row) return { ...row, message: row.message(c) }
  // A value AWS added after this table: keep following it (the command's own timeouts end it)
  // and say what it was.
  return {
    state: 'running',
    terminal: false,
    message: `unknown SSM status "${status ?? ''}" / "${details ?? ''}" on ${c.host}`,
  }
}
