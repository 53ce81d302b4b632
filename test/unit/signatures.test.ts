import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  hmacSha256Hex,
  safeEqual,
  verifyHubSignature,
  verifySlack,
} from '../../functions/hooks/signatures.ts'

test('GitHub\'s published vector: secret "It\'s a Secret to Everybody", body "Hello, World!"', async () => {
  assert.is(
    await hmacSha256Hex("It's a Secret to Everybody", 'Hello, World!'),
    '757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'
  )
  const header = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'
  assert.equal(await verifyHubSignature("It's a Secret to Everybody", header, 'Hello, World!'), {
    ok: true,
  })
  assert.is(
    (await verifyHubSignature("It's a Secret to Everybody", header, 'Hello, World?')).ok,
    false,
    'tampered body'
  )
  assert.is(
    (await verifyHubSignature('another secret', header, 'Hello, World!')).ok,
    false,
    'wrong secret'
  )
  assert.is(
    (await verifyHubSignature("It's a Secret to Everybody", null, 'Hello, World!')).ok,
    false,
    'missing header'
  )
  assert.is(
    (await verifyHubSignature("It's a Secret to Everybody", header.slice(0, -1), 'Hello, World!'))
      .ok,
    false,
    'truncated'
  )
})

test('Slack v0: right secret and fresh timestamp pass; wrong secret, stale, future, tampered and missing fail', async () => {
  const secret = '8f742231b10e8888abcd99yyyzzz85a5'
  const body = 'token=x&team_id=T1&command=%2Fberth&text=status+codenvy'
  const now = 1_800_000_000
  const ts = String(now - 10)
  const sig = `v0=${await hmacSha256Hex(secret, `v0:${ts}:${body}`)}`
  assert.equal(await verifySlack(secret, { signature: sig, timestamp: ts }, body, now), {
    ok: true,
  })
  assert.match(
    (
      (await verifySlack('wrong', { signature: sig, timestamp: ts }, body, now)) as {
        reason: string
      }
    ).reason,
    /does not match/
  )
  assert.match(
    (
      (await verifySlack(secret, { signature: sig, timestamp: ts }, body, now + 301)) as {
        reason: string
      }
    ).reason,
    /5 minutes/
  )
  assert.match(
    (
      (await verifySlack(secret, { signature: sig, timestamp: ts }, body, now - 400)) as {
        reason: string
      }
    ).reason,
    /5 minutes/,
    'future'
  )
  // The edges, exactly: 300 s either way passes, 301 does not.
  for (const [at, ok] of [
    [300, true],
    [301, false],
    [-300, true],
    [-301, false],
  ] as const) {
    assert.is(
      (await verifySlack(secret, { signature: sig, timestamp: ts }, body, Number(ts) + at)).ok,
      ok,
      `${at} s`
    )
  }
  assert.is(
    (await verifySlack(secret, { signature: sig, timestamp: ts }, body + '&x=1', now)).ok,
    false,
    'tampered'
  )
  assert.is((await verifySlack(secret, { signature: sig, timestamp: null }, body, now)).ok, false)
  assert.is((await verifySlack(secret, { signature: null, timestamp: ts }, body, now)).ok, false)
  assert.is(
    (await verifySlack(secret, { signature: sig, timestamp: '1e9' }, body, now)).ok,
    false,
    'not a number'
  )
})

test('safeEqual', () => {
  assert.ok(safeEqual('abc', 'abc'))
  assert.not.ok(safeEqual('abc', 'abd'))
  assert.not.ok(safeEqual('abc', 'abcd'))
})

test.run()
