import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createLogger, levelFrom, processLogger } from '../../scripts/engine/logger.ts'

const at = () => new Date('2026-12-06T12:03:04.512Z')

test('JSON lines: time, level, message and the fields; a job-bound logger puts the id on every line', () => {
  const lines: string[] = []
  const log = createLogger({ write: (l) => lines.push(l), now: at })
  const job = log.with({ job: 'j_1', cluster: 'codenvy' })
  job.warn('notify (slack): HTTP 503', { attempt: 4 })
  job.info('done')
  assert.equal(
    lines.map((l) => JSON.parse(l)),
    [
      {
        time: '2026-12-06T12:03:04.512Z',
        level: 'warn',
        msg: 'notify (slack): HTTP 503',
        job: 'j_1',
        cluster: 'codenvy',
        attempt: 4,
      },
      {
        time: '2026-12-06T12:03:04.512Z',
        level: 'info',
        msg: 'done',
        job: 'j_1',
        cluster: 'codenvy',
      },
    ]
  )
})

test('levels: below the least level nothing is written (debug off by default)', () => {
  const lines: string[] = []
  const log = createLogger({ write: (l) => lines.push(l) })
  log.debug('trace')
  assert.is(lines.length, 0)
  assert.is(log.enabled('debug'), false)
  const quiet = createLogger({ level: 'error', write: (l) => lines.push(l) })
  quiet.warn('w')
  quiet.error('e')
  assert.equal(
    lines.map((l) => JSON.parse(l).msg),
    ['e']
  )
})

test('text for a terminal: time, level, message, key=value (quoted when it has spaces)', () => {
  const lines: string[] = []
  createLogger({ format: 'text', write: (l) => lines.push(l), now: at })
    .with({ job: 'j_2' })
    .info('resuming', { why: 'a restart' })
  assert.equal(lines, ['12:03:04.512 info  resuming job=j_2 why="a restart"'])
})

test('BERTH_LOG_LEVEL: read in any case; an unknown name is said once and info is used', () => {
  assert.equal(levelFrom({ BERTH_LOG_LEVEL: 'DEBUG' }), { level: 'debug' })
  assert.equal(levelFrom({}), { level: 'info' })
  let out = ''
  const log = processLogger(
    { write: (s: string) => (out += s), isTTY: false },
    { BERTH_LOG_LEVEL: 'loud' }
  )
  log.debug('hidden')
  const said = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
  assert.equal(
    said.map((r) => [r.level, r.msg]),
    [['warn', 'BERTH_LOG_LEVEL: "loud" is not one of debug, info, warn, error; logging at info']]
  )
})

test.run()
