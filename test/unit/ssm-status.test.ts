import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hostStatus, SSM_STATUS_TABLE } from '../../functions/dispatch/ssm-status.ts'

const test = suite('ssm status table')
const c = {
  host: 'i-0123456789abcdef0',
  timeoutSeconds: 600,
  executionTimeoutSeconds: 3600,
  maxErrors: '2',
}

// Status, StatusDetails (as AWS spells them) → state, terminal, the code SSM decides (or none:
// berth's own result decides), and a word the message must hold.
const CASES: [string, string, string, boolean, string | undefined, RegExp][] = [
  [
    'Pending',
    'Pending',
    'queued',
    false,
    undefined,
    /waiting for the SSM agent on i-0123456789abcdef0/,
  ],
  ['InProgress', 'In Progress', 'running', false, undefined, /running on i-/],
  ['Delayed', 'Delayed', 'queued', false, undefined, /will try again/],
  ['Cancelling', 'Cancelling', 'running', false, undefined, /cancelling/],
  ['Success', 'Success', 'succeeded', true, undefined, /exited 0/],
  ['Failed', 'Failed', 'failed', true, undefined, /failed on i-/],
  ['Cancelled', 'Cancelled', 'cancelled', true, 'cancelled', /cancelled on i-/],
  ['Cancelled', 'Canceled', 'cancelled', true, 'cancelled', /cancelled/],
  ['TimedOut', 'Execution Timed Out', 'failed', true, 'timeout', /executionTimeout \(3600 s\)/],
  [
    'TimedOut',
    'Delivery Timed Out',
    'failed',
    true,
    'timeout',
    /TimeoutSeconds \(600 s\).*agent online/,
  ],
  ['TimedOut', '', 'failed', true, 'timeout', /timed out on i-.*600 s.*3600 s/],
  ['Failed', 'Undeliverable', 'failed', true, 'unreachable', /does not exist, is not running/],
  ['Cancelled', 'Terminated', 'cancelled', true, 'terminated', /MaxErrors \(2\)/],
  ['Failed', 'Access Denied', 'failed', true, 'access_denied', /IAM policy/],
  ['Failed', 'Invalid Platform', 'failed', true, 'invalid_platform', /Linux only/],
]

for (const [status, details, state, terminal, code, message] of CASES) {
  test(`reads ${status} / ${details || '(no detail)'} as ${state}${code ? ` [${code}]` : ''}`, () => {
    const s = hostStatus(status, details, c)
    assert.is(s.state, state)
    assert.is(s.terminal, terminal)
    assert.is(s.code, code)
    assert.match(s.message, message)
  })
}

test('reads details with or without spaces alike (AWS writes both)', () => {
  for (const d of [
    'ExecutionTimedOut',
    'Execution Timed Out',
    'DeliveryTimedOut',
    'AccessDenied',
    'InvalidPlatform',
    'InProgress',
  ]) {
    const spaced = hostStatus('X', d, c)
    assert.equal(spaced, hostStatus('X', d.replace(/ /g, ''), c))
    assert.not.match(spaced.message, /unknown/)
  }
})

test('falls back to Status when the detail is unknown, and keeps following a status it does not know', () => {
  assert.is(hostStatus('Success', 'Something New', c).state, 'succeeded')
  const unknown = hostStatus('Paused', 'Paused', c)
  assert.is(unknown.terminal, false)
  assert.match(unknown.message, /unknown SSM status "Paused"/)
})

test('has a row for every documented status and detail, and a message for each', () => {
  const documented = [
    'Pending',
    'InProgress',
    'Delayed',
    'Success',
    'Cancelled',
    'TimedOut',
    'Failed',
    'Cancelling',
    'DeliveryTimedOut',
    'ExecutionTimedOut',
    'Undeliverable',
    'Terminated',
    'AccessDenied',
    'InvalidPlatform',
  ]
  for (const d of documented) assert.ok(SSM_STATUS_TABLE[d.toLowerCase()], d)
  for (const [k, row] of Object.entries(SSM_STATUS_TABLE))
    assert.ok(row.message(c).includes(c.host), k)
})

test.run()
