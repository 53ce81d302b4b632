/**
 * SsmDispatcher through the real @aws-sdk/client-ssm against the local SSM endpoint, which runs
 * each command on this machine: an SSM-dispatched job installs a real cluster on the real Docker
 * engine. The document below runs what infra/ssm/berth-job-run.json runs, with this checkout's
 * berth in place of `berth`.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { GetCommandInvocationCommand, SendCommandCommand } from '@aws-sdk/client-ssm'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { JobEvent } from '../../scripts/engine/events.ts'
import type { DispatchSpec } from '../../functions/dispatch/dispatcher.ts'
import {
  SsmDispatcher,
  SsmDispatchError,
  type SsmDispatcherOptions,
} from '../../functions/dispatch/ssm.ts'
import { hook, rejects, until, withTimeout } from '../helpers/async.ts'
import { removeTestClusters } from '../helpers/docker.ts'
import { berthJobRun, shq } from '../support/berth-document.ts'
import {
  type SsmEndpoint,
  ssmClientFor,
  startSsmEndpoint,
  STDOUT_LIMIT,
} from '../support/ssm-endpoint.ts'
import { dispatcherContract } from './dispatcher.case.ts'

const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname
const HOST = 'i-0123456789abcdef0'
const X2 = 'i-0123456789abcdef1'
const Y1 = 'i-0123456789abcdef2'

const berthHomeOf = (ep: SsmEndpoint, instance: string) => join(ep.workDir, instance, '.berth')

// ---------- the shared contract ----------

dispatcherContract('ssm', async () => {
  const endpoint = await startSsmEndpoint({
    fleet: [{ instanceId: HOST, tags: { berth: 'host', team: 'x' } }],
    documents: { 'berth-job-run': berthJobRun },
    // Real seconds; a cancelled berth gets 10 s to clean up before SIGKILL, as the zx wrapper gives.
    secondMs: 1000,
    killGraceMs: 10_000,
  })
  const client = ssmClientFor(endpoint)
  return {
    dispatcher: new SsmDispatcher({ client, target: { instanceIds: [HOST] }, pollMs: 200 }),
    cleanup: async () => {
      client.destroy()
      await endpoint.close()
    },
  }
})

// ---------- what is particular to SSM ----------

const test = suite('ssm dispatcher')
let ep: SsmEndpoint
const clients: { destroy(): void }[] = []

function dispatcher(extra: Partial<SsmDispatcherOptions> = {}): SsmDispatcher {
  const client = ssmClientFor(ep)
  clients.push(client)
  return new SsmDispatcher({ client, target: { instanceIds: [HOST] }, pollMs: 100, ...extra })
}

async function run(d: SsmDispatcher, spec: DispatchSpec, ms = 90_000) {
  const events: JobEvent[] = []
  const out = await withTimeout(
    d.run(spec, { onEvent: (e) => events.push(e) }),
    ms,
    `ssm run ${spec.kind}`
  )
  return { ...out, events }
}

/** The command the endpoint recorded for job `id` (the Comment names it). */
function commandOf(id: string) {
  const cmd = [...ep.commands.values()].find((c) => c.comment === `berth job ${id}`)
  if (!cmd) throw new Error(`no command for job ${id}`)
  return cmd
}

const node = (name: string, extra: Record<string, unknown> = {}) => ({ name, ...extra })
const topology = (name: string, nodes: object[]) => ({
  name,
  image: 'berth/demo:1',
  domain: 'ssm.local',
  nodes,
})

test.before(
  hook(async () => {
    await removeTestClusters('t-ssm')
    ep = await startSsmEndpoint({
      fleet: [
        { instanceId: HOST, tags: { berth: 'host', team: 'x' } },
        { instanceId: X2, tags: { team: 'x' } },
        { instanceId: Y1, tags: { team: 'y' } },
      ],
      documents: { 'berth-job-run': berthJobRun },
      // Long enough that the first polls of every job meet InvocationDoesNotExist.
      invocationVisibleAfterMs: 800,
      secondMs: 1000,
      killGraceMs: 10_000,
    })
  })
)
test.after(
  hook(async () => {
    for (const c of clients) c.destroy()
    await ep?.close()
    await removeTestClusters('t-ssm')
  })
)

test('installs a real cluster through berth’s document, both timeouts set, nodes in the result', async () => {
  const spec = {
    id: 'ssm-install',
    kind: 'install',
    cluster: 't-ssm-a',
    topology: topology('t-ssm-a', [node('api'), node('db')]),
  }
  const { result, exitCode, events } = await run(
    dispatcher({ timeoutSeconds: 120, executionTimeoutSeconds: 900 }),
    spec
  )
  assert.is(result.ok, true, JSON.stringify(result))
  assert.is(exitCode, 0)
  assert.equal(result.nodes?.map((n) => n.name).sort(), ['api', 'db'])
  assert.ok(
    result.nodes?.every((n) => n.ip && n.state === 'running'),
    JSON.stringify(result.nodes)
  )
  assert.equal(events.at(-1), result)
  assert.ok(
    events.some((e) => e.type === 'step' && e.step === 'create'),
    'the create phase is told'
  )
  const cmd = commandOf('ssm-install')
  assert.is(cmd.documentName, 'berth-job-run')
  assert.is(cmd.timeoutSeconds, 120)
  assert.equal(cmd.parameters.executionTimeout, ['900'])
  assert.equal(Object.keys(cmd.parameters).sort(), ['executionTimeout', 'specB64'])
  assert.equal(JSON.parse(Buffer.from(cmd.parameters.specB64[0], 'base64').toString('utf8')), spec)
  const destroyed = await run(dispatcher(), {
    id: 'ssm-destroy',
    kind: 'destroy',
    cluster: 't-ssm-a',
  })
  assert.is(destroyed.result.ok, true, JSON.stringify(destroyed.result))
})

test('rides out InvocationDoesNotExist right after SendCommand', async () => {
  const from = ep.calls.length
  const { result } = await run(dispatcher(), { id: 'ssm-early', kind: 'clusters' })
  assert.is(result.ok, true, JSON.stringify(result))
  const early = ep.calls.slice(from).filter((c) => c.error === 'InvocationDoesNotExist')
  assert.ok(early.length >= 1, 'the first polls met InvocationDoesNotExist')
})

test('rides out throttling with its own adaptive client', async () => {
  const d = new SsmDispatcher({
    endpoint: ep.url,
    region: ep.region,
    credentials: ep.credentials,
    target: { instanceIds: [HOST] },
    pollMs: 100,
  })
  const from = ep.calls.length
  ep.throttleNext(2)
  const { result } = await run(d, { id: 'ssm-throttled', kind: 'clusters' })
  assert.is(result.ok, true, JSON.stringify(result))
  const calls = ep.calls.slice(from)
  assert.equal(
    calls.slice(0, 3).map((c) => `${c.op} ${c.error ?? c.status}`),
    ['SendCommand ThrottlingException', 'SendCommand ThrottlingException', 'SendCommand 200']
  )
  assert.is(calls.filter((c) => c.op === 'SendCommand' && c.status === 200).length, 1, 'sent once')
})

test('fails a job past executionTimeout with a message naming the timeout', async () => {
  const spec = {
    id: 'ssm-slow',
    kind: 'install',
    cluster: 't-ssm-slow',
    topology: topology('t-ssm-slow', [node('slow', { bootstrap: 'sleep 60' })]),
  }
  const { result, exitCode } = await run(dispatcher({ executionTimeoutSeconds: 4 }), spec)
  assert.is(result.ok, false)
  assert.is(result.code, 'timeout')
  assert.match(result.message ?? '', /did not finish within executionTimeout \(4 s\)/)
  assert.is(exitCode, null)
  const cmd = commandOf('ssm-slow')
  assert.is(cmd.invocations.get(HOST)?.statusDetails, 'ExecutionTimedOut')
})

test('fails with a clear auth message when the secret key is wrong, and sends nothing', async () => {
  const before = ep.commands.size
  const wrong = { accessKeyId: ep.credentials.accessKeyId, secretAccessKey: 'not-the-secret' }
  const d = new SsmDispatcher({
    endpoint: ep.url,
    region: ep.region,
    credentials: wrong,
    target: { instanceIds: [HOST] },
    maxAttempts: 1,
  })
  const { result, exitCode, events } = await run(d, { id: 'ssm-auth', kind: 'clusters' })
  assert.is(result.ok, false)
  assert.is(result.code, 'dispatch_auth')
  assert.match(result.message ?? '', /refused the credentials \(InvalidSignatureException/)
  assert.match(result.message ?? '', /secret key/)
  assert.is(exitCode, null)
  assert.equal(events, [])
  const err = await rejects(d.start({ id: 'ssm-auth2', kind: 'clusters' }))
  assert.instance(err, SsmDispatchError)
  assert.is((err as SsmDispatchError).code, 'dispatch_auth')
  assert.is(ep.commands.size, before)
})

test('keeps a 32-node install’s output within SSM’s 24,000 characters, where the full output is not', async () => {
  const nodes = Array.from({ length: 32 }, (_, i) => node(`n${i + 1}`, { bootstrap: 'true' }))
  const spec = {
    id: 'ssm-wide',
    kind: 'install',
    cluster: 't-ssm-wide',
    topology: topology('t-ssm-wide', nodes),
  }
  const { result } = await run(dispatcher(), spec, 180_000)
  assert.is(result.ok, true, JSON.stringify(result).slice(0, 2000))
  assert.is(result.nodes?.length, 32)
  const compact = commandOf('ssm-wide').invocations.get(HOST)!.stdout
  assert.ok(compact.length < STDOUT_LIMIT, `compact stdout is ${compact.length} characters`)
  const ssm_wide_rm = await run(dispatcher(), {
    id: 'ssm-wide-rm',
    kind: 'destroy',
    cluster: 't-ssm-wide',
  })
  assert.is(ssm_wide_rm.result.ok, true, JSON.stringify(ssm_wide_rm.result))

  // The same install without --compact, through AWS-RunShellScript: its output is cut.
  const client = ssmClientFor(ep)
  clients.push(client)
  const full = { ...spec, id: 'ssm-wide-full' }
  const b64 = Buffer.from(JSON.stringify(full)).toString('base64')
  const sent = await client.send(
    new SendCommandCommand({
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: [HOST],
      TimeoutSeconds: 60,
      Parameters: { commands: [`${shq(process.execPath)} ${shq(BIN)} job run --spec-b64 ${b64}`] },
    })
  )
  const id = sent.Command!.CommandId!
  await withTimeout(ep.settled(id), 180_000, 'the full-output install')
  const o = await client.send(new GetCommandInvocationCommand({ CommandId: id, InstanceId: HOST }))
  const inv = ep.invocation(id, HOST)!
  assert.is(o.Status, 'Success')
  assert.ok(inv.stdout.length > STDOUT_LIMIT, `the full stdout is ${inv.stdout.length} characters`)
  assert.is(o.StandardOutputContent!.length, STDOUT_LIMIT)
  assert.not.ok(o.StandardOutputContent!.includes('"type":"result"'), 'the result is past the cut')
  console.log(
    `  32-node install: compact stdout ${compact.length} chars, full ${inv.stdout.length} (SSM keeps ${STDOUT_LIMIT})`
  )
  const ssm_wide_rm2 = await run(dispatcher(), {
    id: 'ssm-wide-rm2',
    kind: 'destroy',
    cluster: 't-ssm-wide',
  })
  assert.is(ssm_wide_rm2.result.ok, true, JSON.stringify(ssm_wide_rm2.result))
})

test('returns the full log, locally with berth job log and through SSM with the log kind', async () => {
  // The 32-node install's log holds every per-node step the compact stdout left out.
  const local = await promisify(execFile)(process.execPath, [BIN, 'job', 'log', 'ssm-wide'], {
    env: { ...process.env, BERTH_HOME: berthHomeOf(ep, HOST) },
    maxBuffer: 16 * 1024 * 1024,
  })
  const text = local.stdout
  assert.ok(text.length > 20_000, `a log of ${text.length} characters takes several chunks`)
  for (let i = 1; i <= 32; i++) assert.match(text, new RegExp(`\\[n${i}\\] step create done`))
  assert.match(text, /result \{"type":"result".*"ok":true/)
  const from = ep.commands.size
  const remote = await withTimeout(dispatcher().log('ssm-wide'), 60_000, 'log through SSM')
  assert.is(remote, text)
  assert.ok(ep.commands.size - from >= 2, `read in ${ep.commands.size - from} commands`)
  for (const c of [...ep.commands.values()].slice(from)) {
    assert.ok(
      c.invocations.get(HOST)!.stdout.length < STDOUT_LIMIT,
      'each chunk fits one SSM answer'
    )
  }
  const missing = await rejects(dispatcher().log('no-such-job'))
  assert.is((missing as SsmDispatchError).code, 'not_found')
  assert.match((missing as Error).message, /no log for job "no-such-job"/)
})

test('fans one job out to every instance with the tag, host by host, MaxConcurrency and MaxErrors passed on', async () => {
  const d = dispatcher({ target: { tags: { team: 'x' } }, maxConcurrency: 1, maxErrors: 1 })
  const { result, exitCode, events } = await run(d, { id: 'ssm-fan', kind: 'clusters' })
  assert.is(result.ok, true, JSON.stringify(result))
  assert.is(exitCode, 0)
  const hosts = (
    result.data as { hosts: { host: string; ok: boolean; status: string; exitCode: number }[] }
  ).hosts
  assert.equal(
    hosts.map((h) => [h.host, h.ok, h.status, h.exitCode]),
    [
      [HOST, true, 'Success', 0],
      [X2, true, 'Success', 0],
    ]
  )
  const cmd = commandOf('ssm-fan')
  assert.equal([...cmd.invocations.keys()].sort(), [HOST, X2], 'only the tagged instances ran it')
  assert.equal(cmd.targets, [{ Key: 'tag:team', Values: ['x'] }])
  assert.is(cmd.maxConcurrency, '1')
  assert.is(cmd.maxErrors, '1')
  // Host by host: every event of the first host before any of the second, each marked.
  const order = events.slice(0, -1).map((e) => (e as JobEvent & { host?: string }).host)
  assert.ok(order.every(Boolean), 'every event names its host')
  assert.equal([...new Set(order)], [HOST, X2])
  assert.ok(order.lastIndexOf(HOST) < order.indexOf(X2))
  assert.equal(events.at(-1), result)
})

test('reads the log of a fanned-out job from the one host named, and only from a host of the target', async () => {
  const from = ep.commands.size
  const text = await withTimeout(
    dispatcher({ target: { tags: { team: 'x' } } }).log('ssm-fan', X2),
    30_000,
    'log from one host'
  )
  assert.is(
    text,
    readFileSync(join(berthHomeOf(ep, X2), 'jobs', 'ssm-fan.log'), 'utf8'),
    "that host's log, whole"
  )
  assert.match(text, /job ssm-fan: clusters/)
  const sent = [...ep.commands.values()].slice(from)
  assert.ok(sent.length >= 1)
  for (const c of sent) assert.equal([...c.invocations.keys()], [X2], 'sent to that host alone')
  const other = await rejects(dispatcher().log('ssm-fan', X2))
  assert.is((other as SsmDispatchError).code, 'invalid_job')
  assert.match(
    (other as Error).message,
    /host: i-0123456789abcdef1 is not one of this dispatcher's instances \(i-0123456789abcdef0\)/
  )
  assert.is(ep.commands.size, from + sent.length, 'and nothing sent for it')
})

test('fails a fan-out if one host fails; past MaxErrors the rest are Terminated', async () => {
  const d = dispatcher({ target: { tags: { team: 'x' } }, maxConcurrency: 1, maxErrors: 0 })
  const { result, exitCode } = await run(d, {
    id: 'ssm-fan-nf',
    kind: 'status',
    cluster: 't-ssm-none',
  })
  assert.is(result.ok, false)
  assert.is(result.code, 'not_found')
  assert.is(exitCode, 5)
  const hosts = (result.data as { hosts: { host: string; code: string; details: string }[] }).hosts
  assert.equal(
    hosts.map((h) => [h.host, h.code, h.details]),
    [
      [HOST, 'not_found', 'Failed'],
      [X2, 'terminated', 'Terminated'],
    ]
  )
  assert.match(
    result.message ?? '',
    /^2 of 2 hosts failed: i-0123456789abcdef0 \[not_found\].*i-0123456789abcdef1 \[terminated\] .*MaxErrors \(0\)/
  )
})

test('fails a fan-out that no instance matches with no_targets, naming the tag', async () => {
  const d = dispatcher({ target: { tags: { team: 'nobody' } } })
  const { result, exitCode } = await run(d, { id: 'ssm-fan-none', kind: 'clusters' })
  assert.is(result.ok, false)
  assert.is(result.code, 'no_targets')
  assert.match(result.message ?? '', /no instance matched tag:team=nobody/)
  assert.is(exitCode, null)
})

test('answers RemoteDispatcher polls with a list that only grows, the result last', async () => {
  const d = dispatcher()
  const spec = { id: 'ssm-remote', kind: 'clusters' }
  const sentAt = Date.now()
  const { ref } = await d.start(spec)
  const parsed = JSON.parse(ref)
  assert.equal(Object.keys(parsed), ['c', 'i', 'e'])
  const by = sentAt + (600 + 3600 + 300) * 1000
  assert.ok(
    parsed.e >= by && parsed.e < by + 5000,
    'given up on only past both timeouts and 300 s more'
  )
  const seen: JobEvent[][] = []
  const done = await until(
    'the remote job',
    async () => {
      const p = await d.poll(ref, spec)
      seen.push(p.events)
      return p.done
    },
    30_000,
    50
  )
  for (let i = 1; i < seen.length; i++)
    assert.equal(seen[i].slice(0, seen[i - 1].length), seen[i - 1])
  assert.ok(
    seen.some((s) => s.length === 0),
    'polled before the invocation existed'
  )
  assert.equal(seen.at(-1)!.at(-1), done.result)
  assert.is(done.result.ok, true)
})

test('gives up on a command SSM no longer knows once past its timeouts, and cancels it', async () => {
  // As after SSM's 30 days of history: every GetCommandInvocation says InvocationDoesNotExist.
  const d = dispatcher()
  const spec = { id: 'ssm-forgotten', kind: 'install', cluster: 't-ssm-gone' }
  const ref = (e: number) =>
    JSON.stringify({ c: '0b6e3c1a-1111-4222-8333-444455556666', i: [HOST], e })
  assert.equal(
    await d.poll(ref(Date.now() + 60_000), spec),
    { events: [] },
    'within its timeouts: not yet'
  )
  const from = ep.calls.length
  const { events, done } = await d.poll(ref(Date.now() - 1), spec)
  assert.ok(done, 'past them: done')
  assert.equal([done.result.ok, done.result.code, done.exitCode], [false, 'timeout', null])
  assert.match(
    done.result.message ?? '',
    /SSM did not end command 0b6e3c1a-\S+ within its timeouts/
  )
  assert.equal(events, [done.result], 'the result is its last event')
  assert.ok(
    ep.calls.slice(from).some((c) => c.op === 'CancelCommand'),
    'and it was cancelled'
  )
})

test('sends through AWS-RunShellScript with a base64-only command line when asked', async () => {
  const d = dispatcher({ useRunShellScript: true, berthCommand: `${process.execPath} ${BIN}` })
  const spec = { id: 'ssm-shell', kind: 'status', cluster: "x'; touch /tmp/ssm-pwned; '" }
  const { result, exitCode } = await run(d, spec)
  assert.is(result.code, 'invalid_job')
  assert.is(result.cluster, spec.cluster)
  assert.is(exitCode, 2)
  const cmd = commandOf('ssm-shell')
  assert.is(cmd.documentName, 'AWS-RunShellScript')
  assert.equal(cmd.parameters.executionTimeout, ['3600'])
  assert.match(
    cmd.parameters.commands[0],
    /^\S+ \S+ job run --compact --spec-b64 [A-Za-z0-9+/]+=*$/
  )
  assert.throws(
    () => dispatcher({ useRunShellScript: true, berthCommand: 'berth; rm -rf /' }),
    /berthCommand/
  )
})

test.run()
