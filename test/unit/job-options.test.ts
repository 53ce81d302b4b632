import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { JobRequest } from '../../functions/job-request.ts'
import { HooksConfig } from '../../functions/hooks/config.ts'
import { BerthError } from '../../scripts/engine/errors.ts'
import { JOB_KIND_TABLE } from '../../scripts/engine/job-kinds.ts'
import { JobOptions, parseJobSpec } from '../../scripts/engine/job-spec.ts'

const refusal = (spec: unknown) => {
  try {
    parseJobSpec(spec)
  } catch (err) {
    assert.instance(err, BerthError)
    return err as BerthError
  }
  throw new Error('not refused')
}

test('an option the kind does not take is refused at its path, naming what the kind takes', () => {
  // plan makes an install change nothing and take no lock: on a destroy it must not get that far.
  const e = refusal({ kind: 'destroy', cluster: 'c', options: { plan: true } })
  assert.is(e.code, 'invalid_job')
  assert.equal(e.info.issues, [
    { path: 'options.plan', message: 'not an option of "destroy" (it takes volumes, concurrency)' },
  ])
  assert.equal(refusal({ kind: 'clusters', options: { volumes: true } }).info.issues, [
    { path: 'options.volumes', message: 'not an option of "clusters" (it takes none)' },
  ])
  assert.is(
    parseJobSpec({ kind: 'destroy', cluster: 'c', options: { volumes: true, concurrency: 2 } })
      .options.volumes,
    true
  )
  assert.is(
    parseJobSpec({ kind: 'install', cluster: 'c', options: { plan: true, keepFailed: false } })
      .options.plan,
    true
  )
})

test('the HTTP request and a hook definition refuse the same way', () => {
  const r = JobRequest.safeParse({ kind: 'stop', cluster: 'c', options: { image: 'berth/demo:2' } })
  assert.is(r.success, false)
  assert.equal(
    r.error?.issues.map((i) => [i.path.join('.'), i.message]),
    [['options.image', 'not an option of "stop" (it takes concurrency)']]
  )
  const h = HooksConfig.safeParse({
    generic: {
      nightly: {
        secret: 'x'.repeat(32),
        job: { kind: 'snapshot', cluster: 'c', options: { as: 'other' } },
      },
    },
  })
  assert.is(h.success, false)
  assert.ok(
    h.error?.issues.some((i) => i.path.join('.') === 'generic.nightly.job.options.as'),
    JSON.stringify(h.error?.issues)
  )
})

test('every option is taken by some kind, and every kind names only real options', () => {
  const names = Object.keys(JobOptions.shape)
  const taken = new Set(Object.values(JOB_KIND_TABLE).flatMap((k) => [...k.options]))
  assert.equal([...taken].sort(), [...names].sort())
})

test.run()
