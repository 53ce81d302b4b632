import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { BerthError } from '../../scripts/engine/errors.ts'
import { dueRun, nextRun, ON_TIME_MS, parseSchedule } from '../../functions/schedules.ts'

const H = 3600_000
const at = (iso: string) => new Date(iso)
const daily = (lastRunAt: string | null, tz = 'UTC') => ({ cron: '0 2 * * *', tz, lastRunAt })
const iso = (d: Date | null) => d?.toISOString() ?? null

function invalid(input: unknown): string {
  try {
    parseSchedule(input)
  } catch (err) {
    assert.instance(err, BerthError)
    assert.is((err as BerthError).code, 'invalid_job')
    return (err as BerthError).message
  }
  throw new Error(`accepted ${JSON.stringify(input)}`)
}

// ─────────────────────────────────────────────────────────────────────────────
const Parse = suite('parseSchedule')

Parse(
  'names the schedule after its cluster, reads the cron in UTC and keeps every snapshot unless told',
  () => {
    assert.equal(parseSchedule({ cluster: 'codenvy', cron: ' 0  2 * * * ' }), {
      name: 'codenvy',
      cluster: 'codenvy',
      cron: '0 2 * * *',
      keep: null,
      tz: 'UTC',
      enabled: true,
    })
    const s = parseSchedule({
      cluster: 'codenvy',
      cron: '*/5 * * * * *',
      keep: 7,
      tz: 'europe/berlin',
      name: 'fast',
    })
    assert.equal(
      [s.name, s.cron, s.keep, s.tz],
      ['fast', '*/5 * * * * *', 7, 'Europe/Berlin'],
      'a 6-field cron; the zone spelled canonically'
    )
  }
)

Parse('refuses a bad cron, zone, keep or name with a message naming the field', () => {
  assert.match(invalid({ cluster: 'c', cron: '0 2 * *' }), /^cron: "0 2 \* \*" has 4 field\(s\)/)
  assert.match(invalid({ cluster: 'c', cron: '0 0 2 * * * *' }), /^cron: .* has 7 field\(s\)/)
  assert.match(invalid({ cluster: 'c', cron: '61 * * * *' }), /^cron: Invalid value for minute: 61/)
  assert.match(invalid({ cluster: 'c', cron: '0 0 30 2 *' }), /^cron: "0 0 30 2 \*" never fires/)
  assert.match(invalid({ cluster: 'c', cron: '? 2 * * *' }), /^cron: "\?" is not supported/)
  assert.match(
    invalid({ cluster: 'c', cron: '0 2 * * *', tz: 'Mars/Olympus' }),
    /^tz: is not an IANA time zone/
  )
  assert.match(
    invalid({ cluster: 'c', cron: '0 2 * * *', tz: '+02:00' }),
    /^tz: /,
    'an offset has no daylight-saving rules'
  )
  assert.match(
    invalid({ cluster: 'c', cron: '0 2 * * *', keep: 0 }),
    /^keep: must be a whole number from 1 to 1000/
  )
  assert.match(invalid({ cluster: 'c', cron: '0 2 * * *', keep: 1.5 }), /^keep: /)
  assert.match(
    invalid({ cluster: 'c', cron: '0 2 * * *', name: 'Nightly_1' }),
    /^name: is not a valid cluster name/
  )
  assert.match(invalid({ cluster: '../etc', cron: '0 2 * * *' }), /^cluster: /)
  assert.match(
    invalid({ cluster: 'c', cron: '0 2 * * *', command: 'rm -rf /' }),
    /^command: unknown key/
  )
  assert.match(invalid({ cluster: 'c' }), /^cron: /)
})

// ─────────────────────────────────────────────────────────────────────────────
const Due = suite('dueRun')

Due('is the run that just came due, and nothing before it or once it is taken', () => {
  const s = daily('2025-01-09T02:00:00.000Z')
  assert.is(iso(dueRun(s, at('2025-01-10T02:00:00.004Z'), 6 * H)), '2025-01-10T02:00:00.000Z')
  assert.is(dueRun(s, at('2025-01-10T01:59:59.999Z'), 6 * H), null, 'not yet')
  assert.is(
    dueRun(daily('2025-01-10T02:00:00.000Z'), at('2025-01-10T02:00:30Z'), 6 * H),
    null,
    'already run'
  )
})

Due('catches up once, the latest missed run, however many were missed', () => {
  const s = daily('2025-01-01T02:00:00.000Z')
  assert.is(
    iso(dueRun(s, at('2025-01-10T05:00:00Z'), 6 * H)),
    '2025-01-10T02:00:00.000Z',
    'nine missed, one run'
  )
  assert.is(
    dueRun({ ...s, lastRunAt: '2025-01-10T02:00:00.000Z' }, at('2025-01-10T05:00:01Z'), 6 * H),
    null,
    'and once that is taken, nothing'
  )
})

Due('runs nothing missed longer ago than the grace', () => {
  const s = daily('2025-01-01T02:00:00.000Z')
  assert.is(dueRun(s, at('2025-01-10T08:00:00.001Z'), 6 * H), null, '6 h and 1 ms late')
  assert.is(
    iso(dueRun(s, at('2025-01-10T08:00:00.000Z'), 6 * H)),
    '2025-01-10T02:00:00.000Z',
    'exactly 6 h late still runs'
  )
  assert.is(dueRun(s, at('2025-01-10T02:05:00Z'), 0), null, 'grace 0: five minutes late is missed')
  assert.is(
    iso(dueRun(s, at('2025-01-10T02:00:45Z'), 0)),
    '2025-01-10T02:00:00.000Z',
    `a tick's lateness (under ${ON_TIME_MS / 1000} s) is on time`
  )
})

Due(
  'catches up nothing from before the schedule existed (last run = creation time), or with no last run',
  () => {
    // Added at 03:00: the 02:00 run that day was never the schedule's.
    assert.is(dueRun(daily('2025-01-10T03:00:00.000Z'), at('2025-01-10T04:00:00Z'), 6 * H), null)
    assert.is(
      iso(dueRun(daily('2025-01-10T03:00:00.000Z'), at('2025-01-11T02:00:01Z'), 6 * H)),
      '2025-01-11T02:00:00.000Z'
    )
    // Added at 02:00:00.300, just after that second's run.
    assert.is(
      dueRun(
        { cron: '* * * * * *', tz: 'UTC', lastRunAt: '2025-01-10T02:00:00.300Z' },
        at('2025-01-10T02:00:00.900Z'),
        H
      ),
      null
    )
    assert.is(dueRun(daily(null), at('2025-01-10T02:00:01Z'), 6 * H), null)
  }
)

Due("reads the cron in the schedule's zone, daylight saving included", () => {
  // 02:00 in Berlin is 01:00 UTC in winter (CET) and 00:00 UTC in summer (CEST).
  assert.is(
    iso(dueRun(daily('2025-01-09T12:00:00Z', 'Europe/Berlin'), at('2025-01-10T03:00:00Z'), 6 * H)),
    '2025-01-10T01:00:00.000Z'
  )
  assert.is(
    iso(dueRun(daily('2025-07-09T12:00:00Z', 'Europe/Berlin'), at('2025-07-10T03:00:00Z'), 6 * H)),
    '2025-07-10T00:00:00.000Z'
  )
  assert.is(
    dueRun(daily('2025-07-09T12:00:00Z', 'UTC'), at('2025-07-10T01:59:00Z'), 6 * H),
    null,
    'the same instant is not yet 02:00 in UTC'
  )
  assert.is(
    nextRun({ cron: '30 9 * * 1-5', tz: 'America/New_York' }, at('2025-01-10T15:00:00Z')),
    '2025-01-13T14:30:00.000Z',
    'Friday → Monday 09:30 EST'
  )
})

Due('takes 6-field crons to the second', () => {
  const s = { cron: '*/5 * * * * *', tz: 'UTC', lastRunAt: '2025-01-10T10:00:01.000Z' }
  assert.is(iso(dueRun(s, at('2025-01-10T10:00:07.300Z'), H)), '2025-01-10T10:00:05.000Z')
  assert.is(
    dueRun({ ...s, lastRunAt: '2025-01-10T10:00:05.000Z' }, at('2025-01-10T10:00:09.999Z'), H),
    null
  )
  assert.is(
    iso(dueRun({ ...s, lastRunAt: '2025-01-10T10:00:05.000Z' }, at('2025-01-10T10:00:10Z'), H)),
    '2025-01-10T10:00:10.000Z'
  )
  // Two runs close together, long ago: the later one.
  const pair = { cron: '0,1 * * * * *', tz: 'UTC', lastRunAt: '2025-01-10T09:59:30.000Z' }
  assert.is(iso(dueRun(pair, at('2025-01-10T10:00:30Z'), H)), '2025-01-10T10:00:01.000Z')
})

Due(
  'finds the latest of many missed runs in a few steps (a seconds cron over a 6-hour grace)',
  () => {
    const s = { cron: '* * * * * *', tz: 'Europe/Berlin', lastRunAt: '2025-01-10T00:00:00.000Z' }
    const t0 = performance.now()
    assert.is(iso(dueRun(s, at('2025-01-10T05:59:59.500Z'), 6 * H)), '2025-01-10T05:59:59.000Z')
    // A sparse one: the 02:00 run, 5 h 59 min back from now, after 21,000 empty seconds.
    assert.is(
      iso(dueRun(daily('2025-01-01T00:00:00Z'), at('2025-01-10T07:59:00Z'), 6 * H)),
      '2025-01-10T02:00:00.000Z'
    )
    const ms = performance.now() - t0
    assert.ok(ms < 200, `${ms.toFixed(0)} ms (walking run by run would be seconds)`)
  }
)

Parse.run()
Due.run()
