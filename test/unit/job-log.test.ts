import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { JobEvent, Step, StepState } from '../../scripts/engine/events.ts'
import { compactEvents, eventLine, readJobLog } from '../../scripts/engine/job-log.ts'

const test = suite('job log and compact output')
let home: string
const saved = process.env.BERTH_HOME

test.before(() => {
  home = mkdtempSync(join(tmpdir(), 'berth-log-'))
  mkdirSync(join(home, 'jobs'))
  process.env.BERTH_HOME = home
})
test.after(() => {
  if (saved === undefined) delete process.env.BERTH_HOME
  else process.env.BERTH_HOME = saved
  rmSync(home, { recursive: true, force: true })
})

let t = 1000
const step = (s: Step, state: StepState, node?: string, msg?: string): JobEvent => ({
  type: 'step',
  t: t++,
  job: 'j',
  step: s,
  state,
  ...(node && { node }),
  ...(msg && { msg }),
})

/** All chunks of a log, as the `log` kind hands them out. */
function chunks(job: string, max?: number) {
  const out = []
  for (let offset: number | null = 0; offset !== null;) {
    const c = readJobLog(job, offset, max)
    out.push(c)
    offset = c.next
  }
  return out
}

test('compact output keeps job-level steps, failures, first starts and one line per phase', () => {
  const out: JobEvent[] = []
  const emit = compactEvents((e) => out.push(e))
  emit(step('job', 'start'))
  for (const n of ['a', 'b', 'c']) {
    emit(step('create', 'start', n))
    emit(step('create', 'done', n))
  }
  emit({ type: 'log', t: t++, job: 'j', msg: 'dropped' })
  emit(step('bootstrap', 'start', 'a'))
  emit(step('bootstrap', 'done', 'a'))
  emit(step('bootstrap', 'start', 'b'))
  emit(step('bootstrap', 'fail', 'b', 'exit 1: boom'))
  emit(step('health', 'skip', 'a', 'no healthcheck'))
  emit(step('hosts', 'start'))
  emit({ type: 'result', t: t++, job: 'j', kind: 'install', cluster: 'c', ok: false, ms: 1 })
  assert.equal(
    out.map((e) =>
      e.type === 'step'
        ? `${e.step} ${e.state}${e.node ? ` ${e.node}` : ''}${e.msg ? `: ${e.msg}` : ''}`
        : e.type
    ),
    [
      'job start',
      'create start a',
      'bootstrap start a',
      'bootstrap fail b: exit 1: boom',
      'create done: 3 done (nodes)',
      'bootstrap fail: 1 done, 1 failed (nodes)',
      'health done: 0 done, 1 skipped (nodes)',
      'hosts start',
      'result',
    ]
  )
  const ts = out.map((e) => e.t)
  assert.equal(
    ts,
    [...ts].sort((a, b) => a - b),
    'still in time order'
  )
})

test('writes events to the log as lines: steps as text, the result as JSON', () => {
  assert.is(
    eventLine({ ...step('create', 'done', 'api'), t: 0, ms: 12 } as JobEvent),
    '1970-01-01T00:00:00.000Z [api] step create done 12 ms\n'
  )
  const r: JobEvent = {
    type: 'result',
    t: 0,
    job: 'j',
    kind: 'status',
    cluster: 'c',
    ok: true,
    ms: 3,
  }
  assert.is(eventLine(r), `1970-01-01T00:00:00.000Z result ${JSON.stringify(r)}\n`)
})

test('reads a log in chunks that fit the budget once escaped and never split a character', () => {
  // Multi-byte characters, quotes and colour codes (6 characters each once escaped).
  const line = (i: number) => `${i} ✓ "naïve" \u001b[32mgrün\u001b[0m — 🚢 ${'x'.repeat(i % 50)}\n`
  const text = Array.from({ length: 400 }, (_, i) => line(i)).join('')
  writeFileSync(join(home, 'jobs', 'big.log'), text)
  const all = chunks('big', 2000)
  assert.ok(all.length > 5, `${all.length} chunks`)
  for (const c of all) {
    assert.ok(
      JSON.stringify(c.text).length <= 2000,
      `a chunk escapes to ${JSON.stringify(c.text).length}`
    )
    assert.not.ok(c.text.includes('\ufffd'), 'no split character')
  }
  assert.is(all.map((c) => c.text).join(''), text)
  assert.is(all.at(-1)!.next, null)
  assert.is(all[0].size, Buffer.byteLength(text))
})

test('reads an empty log as one empty chunk, and refuses a missing log or a path for an id', () => {
  writeFileSync(join(home, 'jobs', 'empty.log'), '')
  assert.equal(
    chunks('empty').map((c) => [c.text, c.next]),
    [['', null]]
  )
  assert.throws(() => readJobLog('nope'), /no log for job "nope"/)
  assert.throws(() => readJobLog('../etc/passwd'), /not a valid job id/)
})

test.run()
