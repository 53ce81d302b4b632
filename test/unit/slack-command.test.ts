import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { ResultEvent } from '../../scripts/engine/events.ts'
import type { JobRecord } from '../../functions/store/store.ts'
import { hmacSha256Hex } from '../../functions/hooks/signatures.ts'
import {
  acceptedText,
  escapeSlack,
  jobRequestOf,
  jobsText,
  parseSlackCommand,
  SLACK_HELP,
  slackAllowed,
  statusText,
} from '../../functions/hooks/slack-command.ts'
import {
  confirmMessage,
  openConfirm,
  sealConfirm,
  type ConfirmRequest,
} from '../../functions/hooks/slack-confirm.ts'

test('parseSlackCommand reads every verb with its arguments', () => {
  assert.equal(parseSlackCommand(''), { verb: 'help' })
  assert.equal(parseSlackCommand('  help  '), { verb: 'help' })
  assert.equal(parseSlackCommand('install codenvy'), {
    verb: 'install',
    cluster: 'codenvy',
    topologyRef: 'codenvy',
  })
  assert.equal(parseSlackCommand('install che-2 from che'), {
    verb: 'install',
    cluster: 'che-2',
    topologyRef: 'che',
  })
  assert.equal(parseSlackCommand('snapshot codenvy keep 3 tag nightly-1'), {
    verb: 'snapshot',
    cluster: 'codenvy',
    keep: 3,
    tag: 'nightly-1',
  })
  assert.equal(parseSlackCommand('snapshot codenvy'), { verb: 'snapshot', cluster: 'codenvy' })
  assert.equal(parseSlackCommand('restore codenvy s-20261128'), {
    verb: 'restore',
    cluster: 'codenvy',
    snapshot: 's-20261128',
  })
  assert.equal(parseSlackCommand('destroy codenvy'), { verb: 'destroy', cluster: 'codenvy' })
  assert.equal(parseSlackCommand('status codenvy'), { verb: 'status', cluster: 'codenvy' })
  assert.equal(parseSlackCommand('jobs'), { verb: 'jobs' })
  assert.equal(parseSlackCommand('jobs codenvy'), { verb: 'jobs', cluster: 'codenvy' })
})

test('parseSlackCommand refuses what it cannot read, naming the part, and never passes shell text on', () => {
  const error = (text: string) => (parseSlackCommand(text) as { error: string }).error
  assert.match(error('reboot codenvy'), /unknown command "reboot"/)
  assert.match(error('install'), /needs a cluster name/)
  assert.match(error('install Bad_Name'), /"Bad_Name" is not a valid cluster name/)
  assert.match(error('install x; rm -rf /'), /"x;" is not a valid cluster name/)
  assert.match(error('status codenvy $(id)'), /unexpected "\$\(id\)"/)
  assert.match(error('install codenvy from ../etc'), /unexpected "from \.\.\/etc"/)
  assert.match(error('snapshot codenvy keep 0'), /unexpected "keep 0"/)
  assert.match(error('snapshot codenvy keep'), /unexpected "keep"/)
  assert.match(error('snapshot codenvy tag ../x'), /unexpected/)
  assert.match(error('restore codenvy'), /needs a snapshot id/)
  assert.match(error('restore codenvy ../../etc/passwd'), /not a valid snapshot id/)
  assert.match(error('destroy codenvy now'), /unexpected "now"/)
})

test('slackAllowed: a rule must match the user, the channel, the verb and the cluster glob; help needs none', () => {
  const rules = [
    { users: ['U1'], kinds: ['install', 'snapshot', 'status'], clusters: ['t-*'] },
    { channels: ['COPS'], kinds: ['restore'], clusters: ['codenvy'] },
  ]
  assert.ok(slackAllowed([], { user: 'U9', channel: 'C9' }, 'help'))
  assert.ok(slackAllowed(rules, { user: 'U1', channel: 'CX' }, 'install', 't-a'))
  assert.not.ok(
    slackAllowed(rules, { user: 'U1', channel: 'CX' }, 'install', 'codenvy'),
    'cluster outside the glob'
  )
  assert.not.ok(
    slackAllowed(rules, { user: 'U1', channel: 'CX' }, 'destroy', 't-a'),
    'verb not granted'
  )
  assert.not.ok(
    slackAllowed(rules, { user: 'U2', channel: 'CX' }, 'install', 't-a'),
    'another user'
  )
  assert.ok(
    slackAllowed(rules, { user: 'U2', channel: 'COPS' }, 'restore', 'codenvy'),
    'anyone in the channel'
  )
  assert.not.ok(
    slackAllowed(rules, { user: 'U2', channel: 'CDEV' }, 'restore', 'codenvy'),
    'not from another channel'
  )
  assert.not.ok(
    slackAllowed(
      [{ kinds: ['status'], clusters: ['t-.'] }],
      { user: 'U1', channel: 'C' },
      'status',
      't-x'
    ),
    'a dot is literal'
  )
  assert.not.ok(
    slackAllowed([], { user: 'U1', channel: 'C' }, 'status', 't-a'),
    'no rules, nothing but help'
  )
})

test('jobRequestOf maps each job verb onto the API body: snapshot keep/tag become options', () => {
  assert.equal(jobRequestOf({ verb: 'install', cluster: 'a', topologyRef: 'a' }), {
    kind: 'install',
    cluster: 'a',
    topologyRef: 'a',
  })
  assert.equal(jobRequestOf({ verb: 'snapshot', cluster: 'a', keep: 2, tag: 'n1' }), {
    kind: 'snapshot',
    cluster: 'a',
    options: { keep: 2, tag: 'n1' },
  })
  assert.equal(jobRequestOf({ verb: 'snapshot', cluster: 'a' }), { kind: 'snapshot', cluster: 'a' })
  assert.equal(jobRequestOf({ verb: 'restore', cluster: 'a', snapshot: 's1' }), {
    kind: 'restore',
    cluster: 'a',
    snapshot: 's1',
  })
  assert.equal(jobRequestOf({ verb: 'destroy', cluster: 'a' }), { kind: 'destroy', cluster: 'a' })
})

test('replies: Slack markup from outside is escaped; help lists every verb', () => {
  assert.is(escapeSlack('<!channel> & <@U1>'), '&lt;!channel&gt; &amp; &lt;@U1&gt;')
  for (const verb of ['install', 'snapshot', 'restore', 'destroy', 'status', 'jobs', 'help'])
    assert.match(SLACK_HELP, `/berth ${verb}`)
})

const job = (over: Partial<JobRecord> = {}): JobRecord => ({
  id: 'j20261128101005-abc123',
  kind: 'install',
  cluster: 't-a',
  spec: {},
  state: 'queued',
  createdAt: '2026-11-28T10:10:05.000Z',
  startedAt: null,
  finishedAt: null,
  requestedBy: 'slack:U1',
  source: null,
  idempotencyKey: null,
  bodyHash: null,
  result: null,
  exitCode: null,
  attempts: 0,
  dispatchRef: null,
  ...over,
})

test('acceptedText names the job and its place in the queue', () => {
  const cmd = { verb: 'install', cluster: 't-a' }
  assert.match(
    acceptedText(cmd, job(), 0),
    /job `j20261128101005-abc123`, place in queue: 1 \(next to run\)/
  )
  assert.match(acceptedText(cmd, job({ state: 'running' }), 0), /place in queue: 1 \(running now\)/)
  assert.match(acceptedText(cmd, job(), 2), /place in queue: 3 \(2 ahead of it on t-a\)/)
  assert.match(
    acceptedText({ verb: 'restore', cluster: 't-a', snapshot: 's1' }, job(), 0),
    /restore \*t-a\* from snapshot `s1` accepted/
  )
})

test('statusText: one short line per node; a missing cluster and a failure said plainly', () => {
  const ok = {
    type: 'result',
    ok: true,
    data: {
      subnet: '10.7.0.0/24',
      nodes: [
        {
          name: 'app',
          hostname: 'app.che.local',
          state: 'running',
          ip: '10.7.0.2',
          bootstrap: 'done',
          health: 'healthy',
        },
        {
          name: 'db',
          hostname: 'db.che.local',
          state: 'exited',
          ip: null,
          bootstrap: 'pending',
          health: 'none',
        },
      ],
    },
  } as unknown as ResultEvent
  assert.is(
    statusText('t-a', ok),
    '*t-a*: 2 nodes on 10.7.0.0/24\n• app.che.local — running, healthy · 10.7.0.2\n• db.che.local — exited, bootstrap pending'
  )
  assert.match(
    statusText('t-a', { ok: false, code: 'not_found' } as ResultEvent),
    /no cluster named \*t-a\*/
  )
  assert.match(
    statusText('t-a', { ok: false, code: 'preflight', message: 'docker <down>' } as ResultEvent),
    /could not read \*t-a\*: docker &lt;down&gt;/
  )
  const many = {
    ...ok,
    data: {
      nodes: Array.from({ length: 12 }, (_, i) => ({
        name: `n${i}`,
        hostname: `n${i}.x`,
        state: 'running',
        ip: null,
      })),
    },
  } as ResultEvent
  assert.is(statusText('t-a', many).split('\n').length, 12, 'a head, ten nodes and "… and 2 more"')
})

test('jobsText: newest first, with state, age and who asked', () => {
  const now = Date.parse('2026-11-28T10:20:05.000Z')
  const text = jobsText(
    't-a',
    [job({ state: 'failed', result: { message: 'bootstrap failed on <db>\nmore' } })],
    now
  )
  assert.match(
    text,
    /Latest jobs on \*t-a\*:\n• `j20261128101005-abc123` install \*t-a\* — failed: bootstrap failed on &lt;db&gt; · 10 min ago · slack:U1/
  )
  assert.is(jobsText(undefined, [], now), 'No jobs yet.')
})

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5'
const request: ConfirmRequest = {
  verb: 'restore',
  cluster: 't-a',
  snapshot: 's1',
  user: 'U1',
  channel: 'C1',
  expires: 1_800_000_300,
  nonce: '123.456.abc',
}

test('a sealed confirmation opens to the same request; its buttons carry the value', async () => {
  const value = await sealConfirm(SECRET, request)
  assert.ok(value.length < 2000, 'fits a Slack button value')
  assert.equal(await openConfirm(SECRET, value), { ok: true, request })
  const msg = confirmMessage(request, value)
  const buttons = (msg.blocks[1] as { elements: { action_id: string; value: string }[] }).elements
  assert.equal(
    buttons.map((b) => b.action_id),
    ['berth_confirm', 'berth_cancel']
  )
  assert.ok(buttons.every((b) => b.value === value))
})

test('a confirmation is refused when forged, tampered, sealed with another secret or not a request', async () => {
  const value = await sealConfirm(SECRET, request)
  const [payload, mac] = value.split('.')
  const reason = async (v: string, secret = SECRET) =>
    ((await openConfirm(secret, v)) as { reason: string }).reason
  assert.match(await reason(value, 'another-secret-123'), /not issued by berth/)
  // The same request for another cluster, with the old seal.
  const other = Buffer.from(JSON.stringify({ ...request, cluster: 'prod' })).toString('base64url')
  assert.match(await reason(`${other}.${mac}`), /not issued by berth/)
  const flipped = mac.slice(0, -1) + (mac.endsWith('0') ? '1' : '0')
  assert.match(
    await reason(`${payload}.${flipped}`),
    /not issued by berth/,
    'one hex digit of the seal changed'
  )
  assert.match(await reason(payload), /malformed/)
  assert.match(await reason(''), /malformed/)
  // Sealed with the right key, but not a request (what a leaked secret could make): still refused.
  const junk = Buffer.from(JSON.stringify({ verb: 'install', cluster: 'x' })).toString('base64url')
  assert.match(
    await reason(`${junk}.${await hmacSha256Hex(SECRET, `berth-confirm:${junk}`)}`),
    /does not hold a request/
  )
  // A Slack v0 signature is not a confirmation seal (another prefix).
  const slackSig = await hmacSha256Hex(SECRET, `v0:${payload}`)
  assert.match(await reason(`${payload}.${slackSig}`), /not issued by berth/)
})

test.run()
