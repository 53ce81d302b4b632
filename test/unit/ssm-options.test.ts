import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import {
  asDispatchError,
  base64Utf8,
  SsmDispatcher,
  type SsmDispatcherOptions,
} from '../../functions/dispatch/ssm.ts'

const test = suite('ssm dispatcher options and errors')
const make = (o: Partial<SsmDispatcherOptions>) => () =>
  new SsmDispatcher({ region: 'us-east-1', target: { instanceIds: ['i-0123456789abcdef0'] }, ...o })

test('refuses options SSM would refuse, naming the option', () => {
  const cases: [Partial<SsmDispatcherOptions>, RegExp][] = [
    [{ target: { instanceIds: [] } }, /target.instanceIds: 1 to 50/],
    [{ target: { instanceIds: ['web-1'] } }, /"web-1" is not an instance id/],
    [{ target: { instanceIds: ['i-0123456789abcdef0', 'i-0123456789abcdef0'] } }, /listed twice/],
    [{ target: { tags: {} } }, /target.tags: 1 to 5 tags/],
    [{ target: null as never }, /target: \{ instanceIds/],
    [{ maxConcurrency: '0' }, /maxConcurrency: "0"/],
    [{ maxErrors: '101%' }, /maxErrors: "101%"/],
    [{ timeoutSeconds: 10 }, /timeoutSeconds: whole seconds, 30 to 2592000/],
    [{ executionTimeoutSeconds: 200_000 }, /executionTimeoutSeconds: .*48 h/],
    [{ documentName: 'x' }, /documentName: "x"/],
    [{ berthCommand: 'berth $(id)' }, /berthCommand/],
  ]
  for (const [o, message] of cases) assert.throws(make(o), message, JSON.stringify(o))
  make({
    target: { tags: { team: 'x', 'aws:cloudformation:stack-name': 's' } },
    maxConcurrency: '10%',
    maxErrors: 0,
  })()
})

test('encodes the spec as base64 of its UTF-8 bytes, as Buffer does', () => {
  for (const text of ['{}', '{"cluster":"naïve ✓ 🚢"}', 'x'.repeat(100_000) + 'é']) {
    assert.is(base64Utf8(text), Buffer.from(text, 'utf8').toString('base64'))
  }
})

test('refuses a spec too large for berth’s document before sending anything', async () => {
  const d = make({})()
  const big = { id: 'big', kind: 'install', cluster: 'c', topology: 'x'.repeat(50_000) }
  const err = await d.start(big).then(
    () => undefined,
    (e) => e
  )
  assert.is(err?.code, 'invalid_job')
  assert.match(err.message, /at most 65536 \(a 48 KiB spec\)/)
})

test('turns SDK errors into stable codes with messages that say what to do', () => {
  const sdk = (name: string, message: string) =>
    Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 400, attempts: 3 } })
  const cases: [Error, string, RegExp][] = [
    [
      sdk('UnrecognizedClientException', 'The security token included in the request is invalid.'),
      'dispatch_auth',
      /refused the credentials \(UnrecognizedClientException/,
    ],
    [
      sdk('InvalidSignatureException', 'signature mismatch'),
      'dispatch_auth',
      /access key id, the secret key and the region/,
    ],
    [sdk('AccessDeniedException', 'not authorized'), 'access_denied', /ssm:SendCommand/],
    [sdk('ThrottlingException', 'Rate exceeded'), 'throttled', /throttled SendCommand 3 times/],
    [
      sdk('InvalidDocument', 'Document berth-job-run does not exist.'),
      'dispatch_failed',
      /infra\/ssm\/berth-job-run.json/,
    ],
    [
      sdk('InvalidInstanceId', 'Instances not in a valid state'),
      'unreachable',
      /agent is not running/,
    ],
    [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { name: 'Error' }),
      'dispatch_failed',
      /cannot reach SSM in us-east-1 for SendCommand/,
    ],
  ]
  for (const [err, code, message] of cases) {
    const e = asDispatchError(err, 'SendCommand', 'SSM in us-east-1')
    assert.is(e.code, code, err.name)
    assert.match(e.message, message)
    assert.is(e.cause, err)
  }
})

test.run()
