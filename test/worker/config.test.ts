/**
 * How the Worker reads its bindings: once, into a typed config, with a 503 that names the binding
 * at fault; and the SSM dispatcher only once every binding it needs is there.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { SsmDispatcher } from '../../functions/dispatch/ssm.ts'
import { JobError } from '../../functions/errors.ts'
import { readWorkerConfig, remoteDispatcherFor, type Env } from '../../functions/worker-config.ts'

const env = (vars: Record<string, string>) => ({ DB: {} as Env['DB'], ...vars }) as Env

function refusal(fn: () => unknown): JobError {
  try {
    fn()
  } catch (err) {
    assert.instance(err, JobError)
    return err as JobError
  }
  throw new Error('expected a JobError')
}

test('HOOKS is parsed and validated, and its env:NAME secrets are read from the bindings', () => {
  const hooks = { slack: { signingSecret: 'env:SLACK_SIGNING_SECRET' } }
  const config = readWorkerConfig(
    env({ HOOKS: JSON.stringify(hooks), SLACK_SIGNING_SECRET: 's3cret-signing' })
  )
  assert.is(config.hooks.slack?.signingSecret, 's3cret-signing')
  assert.equal(
    [config.maxClusters, config.scheduleGraceSeconds, config.adminTokenHash],
    [4, 6 * 3600, undefined]
  )
  assert.equal(readWorkerConfig(env({})).hooks, { generic: {} }, 'no HOOKS: none configured')
})

test('a bad binding is a 503 naming it, and never echoing what it holds', () => {
  assert.is(
    refusal(() => readWorkerConfig(env({ HOOKS: '{nope' }))).message,
    'HOOKS is not valid JSON (at character 1)'
  )
  // JSON.parse's own message quotes the text around the fault: none of it reaches the answer.
  const cut = refusal(() =>
    readWorkerConfig(env({ HOOKS: '{"slack":{"signingSecret":"s3cret-in-the-binding"' }))
  )
  assert.match(cut.message, /^HOOKS is not valid JSON/)
  assert.not.match(cut.message, /s3cret|signingSecret/)
  assert.not.match(
    refusal(() => readWorkerConfig(env({ POLICY: '{"restricted": s3cret}' }))).message,
    /s3cret/
  )
  const unknownKey = refusal(() => readWorkerConfig(env({ HOOKS: '{"slak":{}}' })))
  assert.equal([unknownKey.status, unknownKey.code], [503, 'misconfigured'])
  assert.match(unknownKey.message, /HOOKS/)
  assert.match(
    refusal(() => readWorkerConfig(env({ HOOKS: '{"slack":{"signingSecret":"env:NOPE_SECRET"}}' })))
      .message,
    /NOPE_SECRET is not set/
  )
  const hash = refusal(() =>
    readWorkerConfig(env({ BERTH_ADMIN_TOKEN_SHA256: 'berth_the-token-itself' }))
  )
  assert.match(hash.message, /^BERTH_ADMIN_TOKEN_SHA256: must be the SHA-256/)
  assert.not.match(hash.message, /the-token-itself/)
  assert.is(
    readWorkerConfig(env({ BERTH_ADMIN_TOKEN_SHA256: 'AB'.repeat(32) })).adminTokenHash,
    'ab'.repeat(32)
  )
})

test('without its bindings the dispatcher is a 503 dispatch_not_configured that says what to set', () => {
  const none = refusal(() => remoteDispatcherFor(env({})))
  assert.equal([none.status, none.code], [503, 'dispatch_not_configured'])
  assert.match(
    none.message,
    /set AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, SSM_TARGETS/
  )
  const aws = {
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG',
  }
  const notJson = refusal(() => remoteDispatcherFor(env({ ...aws, SSM_TARGETS: 'i-0abc' }))).message
  assert.match(notJson, /^dispatch not configured: SSM_TARGETS is not valid JSON/)
  assert.not.match(notJson, /i-0abc/)
  const badId = refusal(() =>
    remoteDispatcherFor(env({ ...aws, SSM_TARGETS: '{"instanceIds":["web-1"]}' }))
  ).message
  assert.match(badId, /target\.instanceIds: the value is not an instance id/)
  assert.not.match(badId, /web-1/)
  const ok = remoteDispatcherFor(
    env({
      ...aws,
      SSM_TARGETS: '{"instanceIds":["i-0123456789abcdef0"]}',
      SSM_DOCUMENT: 'berth-job-run',
    })
  )
  assert.instance(ok, SsmDispatcher)
})

test.run()
