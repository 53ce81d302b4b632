/**
 * The local SSM endpoint, driven by the real @aws-sdk/client-ssm over HTTP: what the SsmDispatcher
 * will be tested against has to behave like Run Command where the dispatcher can tell.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  CancelCommandCommand,
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  InvalidDocument,
  InvalidInstanceId,
  InvalidParameters,
  InvocationDoesNotExist,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  SendCommandCommand,
  type SendCommandCommandInput,
  type SSMClient,
  ThrottlingException,
  waitUntilCommandExecuted,
} from '@aws-sdk/client-ssm'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hook, rejects, until, withTimeout } from '../helpers/async.ts'
import { type SsmEndpoint, ssmClientFor, startSsmEndpoint } from '../support/ssm-endpoint.ts'

const A1 = 'i-0a0000000000000a1'
const A2 = 'i-0a0000000000000a2'
const B1 = 'i-0b0000000000000b1'
const OFF = 'i-0f00000000000000f'

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

const test = suite('ssm endpoint')
let ep: SsmEndpoint
let ssm: SSMClient

test.before(
  hook(async () => {
    ep = await startSsmEndpoint({
      fleet: [
        { instanceId: A1, tags: { team: 'alpha' } },
        { instanceId: A2, tags: { team: 'alpha' } },
        { instanceId: B1, tags: { team: 'beta' } },
        { instanceId: OFF, tags: { team: 'gone' }, online: false },
      ],
      documents: {
        'berth-Run': {
          plugin: 'berth:run',
          script: (p) => {
            const action = p.action?.[0]
            if (!action || !/^(install|snapshot|restore)$/.test(action))
              throw new Error('bad action')
            return ['printf', '%s|', action, p.cluster?.[0] ?? ''].map(shq).join(' ')
          },
        },
      },
      // 1 SSM second = 50 ms: realistic TimeoutSeconds/executionTimeout values, fast tests.
      secondMs: 50,
      killGraceMs: 400,
    })
    ssm = ssmClientFor(ep)
  })
)
test.after(
  hook(async () => {
    ssm?.destroy()
    await ep?.close()
  })
)

async function send(
  input: Partial<SendCommandCommandInput> & { script?: string }
): Promise<string> {
  const { script, ...rest } = input
  const out = await ssm.send(
    new SendCommandCommand({
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: [A1],
      TimeoutSeconds: 600,
      ...(script !== undefined && { Parameters: { commands: [script] } }),
      ...rest,
    })
  )
  return out.Command!.CommandId!
}

/** GetCommandInvocation until `ok` holds, riding out InvocationDoesNotExist as waiters do. */
function poll(
  CommandId: string,
  InstanceId: string,
  ok: (o: GetCommandInvocationCommandOutput) => boolean = (o) =>
    !['Pending', 'InProgress', 'Delayed', 'Cancelling'].includes(o.Status!),
  ms = 10_000
): Promise<GetCommandInvocationCommandOutput> {
  return until(
    `invocation ${CommandId}/${InstanceId}`,
    async () => {
      try {
        const o = await ssm.send(new GetCommandInvocationCommand({ CommandId, InstanceId }))
        return ok(o) ? o : undefined
      } catch (err) {
        if (err instanceof InvocationDoesNotExist) return undefined
        throw err
      }
    },
    ms,
    50
  )
}

/** Alive and not a zombie (an orphan reparented to a PID 1 that never reaps stays one). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

test('runs the script for real and returns Success with its stdout', async () => {
  const id = await send({
    script: 'echo "hello from $AWS_SSM_INSTANCE_ID"\necho data > out.txt\npwd',
    Comment: 'job-1',
  })
  const o = await poll(id, A1)
  assert.is(o.Status, 'Success')
  assert.is(o.StatusDetails, 'Success')
  assert.is(o.ResponseCode, 0)
  assert.is(o.PluginName, 'aws:runShellScript')
  assert.is(o.Comment, 'job-1')
  const home = join(ep.workDir, A1)
  assert.is(o.StandardOutputContent, `hello from ${A1}\n${home}\n`)
  assert.is(readFileSync(join(home, 'out.txt'), 'utf8'), 'data\n')
  assert.ok(o.ExecutionStartDateTime && o.ExecutionEndDateTime, 'start and end times are set')
})

test('joins the commands array into one script, run by bash from the working directory', async () => {
  const out = await ssm.send(
    new SendCommandCommand({
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: [A1],
      Parameters: {
        commands: [
          'cd sub 2>/dev/null || mkdir -p sub',
          'x=$((6*7))',
          'echo "$x $BASH_VERSION" | cut -c1-3',
        ],
        workingDirectory: ['.'],
      },
    })
  )
  const o = await poll(out.Command!.CommandId!, A1)
  assert.is(o.Status, 'Success')
  assert.is(o.StandardOutputContent, '42 \n')
})

test('satisfies the SDK waiter, which rides out InvocationDoesNotExist', async () => {
  const id = await send({ script: 'sleep 0.3; echo waited' })
  const r = await withTimeout(
    waitUntilCommandExecuted(
      { client: ssm, maxWaitTime: 10, minDelay: 1, maxDelay: 1 },
      { CommandId: id, InstanceId: A1 }
    ),
    12_000,
    'waiter'
  )
  assert.is(r.state, 'SUCCESS')
  assert.is(ep.invocation(id, A1)!.stdout, 'waited\n')
})

test('reports a failing script as Failed with its exit code and stderr', async () => {
  const id = await send({ script: 'echo partial\necho oops >&2\nexit 3' })
  const o = await poll(id, A1)
  assert.is(o.Status, 'Failed')
  assert.is(o.StatusDetails, 'Failed')
  assert.is(o.ResponseCode, 3)
  assert.is(o.StandardOutputContent, 'partial\n')
  assert.is(o.StandardErrorContent, 'oops\n')
  const listed = await ssm.send(new ListCommandsCommand({ CommandId: id }))
  assert.is(listed.Commands?.[0]?.Status, 'Failed')
  assert.is(listed.Commands?.[0]?.ErrorCount, 1)
})

test('answers InvocationDoesNotExist right after SendCommand, then finds the invocation', async () => {
  const id = await send({ script: 'echo late' })
  const err = await rejects(
    ssm.send(new GetCommandInvocationCommand({ CommandId: id, InstanceId: A1 }))
  )
  assert.instance(err, InvocationDoesNotExist)
  const early = await ssm.send(new ListCommandInvocationsCommand({ CommandId: id }))
  assert.equal(early.CommandInvocations, [], 'the invocation list is empty at first, with 200')
  const o = await poll(id, A1)
  assert.is(o.StandardOutputContent, 'late\n')
  const ms = ep.calls.filter((c) => c.error === 'InvocationDoesNotExist').length
  assert.ok(ms >= 1)
})

test('truncates stdout to 24,000 characters, stderr to 8,000 and plugin output to 2,500', async () => {
  const id = await send({
    script: "head -c 30000 /dev/zero | tr '\\0' a\nhead -c 9000 /dev/zero | tr '\\0' b >&2",
  })
  const o = await poll(id, A1)
  assert.is(o.Status, 'Success')
  assert.is(o.StandardOutputContent!.length, 24_000)
  assert.is(o.StandardErrorContent!.length, 8_000)
  assert.is(ep.invocation(id, A1)!.stdout.length, 30_000, 'the endpoint itself kept everything')
  const listed = await ssm.send(new ListCommandInvocationsCommand({ CommandId: id, Details: true }))
  const plugin = listed.CommandInvocations?.[0]?.CommandPlugins?.[0]
  assert.is(plugin?.Name, 'aws:runShellScript')
  assert.is(plugin?.ResponseCode, 0)
  assert.is(plugin?.Output?.length, 2_500)
})

test('cancels a running command: Cancelled, and the whole process group is gone', async () => {
  const id = await send({ script: 'sleep 30 &\necho $! > sleep.pid\nwait\necho never' })
  const pidFile = join(ep.workDir, A1, 'sleep.pid')
  await poll(id, A1, (o) => o.Status === 'InProgress' && existsSync(pidFile))
  const sleepPid = Number(readFileSync(pidFile, 'utf8'))
  const bashPid = ep.invocation(id, A1)!.pid!
  assert.ok(running(sleepPid) && running(bashPid))
  await ssm.send(new CancelCommandCommand({ CommandId: id }))
  const o = await poll(id, A1, undefined, 5_000)
  assert.is(o.Status, 'Cancelled')
  assert.is(o.StandardOutputContent, '')
  assert.not.ok(running(bashPid), 'bash is gone')
  assert.not.ok(running(sleepPid), 'its child is gone')
  const listed = await ssm.send(new ListCommandsCommand({ CommandId: id }))
  assert.is(listed.Commands?.[0]?.Status, 'Cancelled')
})

test('kills with SIGKILL what ignores SIGTERM on cancel', async () => {
  const id = await send({ script: "trap '' TERM\nsleep 30 &\necho $! > stubborn.pid\nwait" })
  const pidFile = join(ep.workDir, A1, 'stubborn.pid')
  await poll(id, A1, (o) => o.Status === 'InProgress' && existsSync(pidFile))
  const sleepPid = Number(readFileSync(pidFile, 'utf8'))
  await ssm.send(new CancelCommandCommand({ CommandId: id, InstanceIds: [A1] }))
  const o = await poll(id, A1, undefined, 5_000)
  assert.is(o.Status, 'Cancelled')
  assert.not.ok(running(sleepPid))
})

test('stops a script past executionTimeout: TimedOut / ExecutionTimedOut', async () => {
  const t0 = Date.now()
  const out = await ssm.send(
    new SendCommandCommand({
      DocumentName: 'AWS-RunShellScript',
      InstanceIds: [A1],
      TimeoutSeconds: 600,
      Parameters: { commands: ['echo started', 'sleep 60'], executionTimeout: ['20'] },
    })
  )
  const id = out.Command!.CommandId!
  const o = await poll(id, A1)
  assert.is(o.Status, 'TimedOut')
  assert.is(o.StatusDetails, 'ExecutionTimedOut')
  assert.is(o.StandardOutputContent, 'started\n')
  assert.ok(Date.now() - t0 < 5_000, 'stopped after ~20 × 50 ms')
  const listed = await ssm.send(new ListCommandsCommand({ CommandId: id }))
  assert.is(listed.Commands?.[0]?.Status, 'TimedOut')
})

test('times out delivery to an offline instance: TimedOut / DeliveryTimedOut, never run', async () => {
  const id = await send({ InstanceIds: [OFF], TimeoutSeconds: 30, script: 'touch ran' })
  const o = await poll(id, OFF)
  assert.is(o.Status, 'TimedOut')
  assert.is(o.StatusDetails, 'DeliveryTimedOut')
  assert.is(o.ResponseCode, -1)
  assert.not.ok(existsSync(join(ep.workDir, OFF, 'ran')))
  const listed = await ssm.send(new ListCommandsCommand({ CommandId: id }))
  assert.is(listed.Commands?.[0]?.DeliveryTimedOutCount, 1)
})

test('fans tag targets out to the matching instances only, each with its own result', async () => {
  const id = await send({
    InstanceIds: undefined,
    Targets: [{ Key: 'tag:team', Values: ['alpha'] }],
    script:
      'echo "$AWS_SSM_INSTANCE_ID" > me.txt\necho "I am $AWS_SSM_INSTANCE_ID"\n[ "$AWS_SSM_INSTANCE_ID" != ' +
      A2 +
      ' ]',
  })
  const invs = await until('two invocations', async () => {
    const r = await ssm.send(new ListCommandInvocationsCommand({ CommandId: id }))
    return r.CommandInvocations?.length === 2 ? r.CommandInvocations : undefined
  })
  assert.equal(invs.map((i) => i.InstanceId).sort(), [A1, A2])
  const a1 = await poll(id, A1)
  const a2 = await poll(id, A2)
  assert.is(a1.Status, 'Success')
  assert.is(a1.StandardOutputContent, `I am ${A1}\n`)
  assert.is(a2.Status, 'Failed')
  assert.is(a2.StandardOutputContent, `I am ${A2}\n`)
  assert.is(readFileSync(join(ep.workDir, A2, 'me.txt'), 'utf8'), `${A2}\n`)
  assert.not.ok(existsSync(join(ep.workDir, B1, 'me.txt')), 'the beta instance ran nothing')
  const err = await rejects(
    ssm.send(new GetCommandInvocationCommand({ CommandId: id, InstanceId: B1 }))
  )
  assert.instance(err, InvocationDoesNotExist)
  const listed = await ssm.send(new ListCommandsCommand({ CommandId: id }))
  assert.is(listed.Commands?.[0]?.TargetCount, 2)
})

test('honours MaxConcurrency and stops the rest once MaxErrors is exceeded', async () => {
  const serial = await send({
    InstanceIds: [A1, A2, B1],
    MaxConcurrency: '1',
    MaxErrors: '5',
    script: 'sleep 0.2',
  })
  const cmd = await withTimeout(ep.settled(serial), 10_000, 'serial command')
  const spans = [...cmd.invocations.values()]
    .map((i) => [i.startedAt!, i.endedAt!] as const)
    .sort((a, b) => a[0] - b[0])
  for (let k = 1; k < spans.length; k++) assert.ok(spans[k][0] >= spans[k - 1][1], 'one at a time')

  const failing = await send({
    InstanceIds: [A1, A2, B1],
    MaxConcurrency: '1',
    MaxErrors: '0',
    script: 'exit 1',
  })
  const done = await withTimeout(ep.settled(failing), 10_000, 'failing command')
  const statuses = [...done.invocations.values()].map((i) => `${i.status}/${i.statusDetails}`)
  assert.equal(statuses, ['Failed/Failed', 'Cancelled/Terminated', 'Cancelled/Terminated'])
  const listed = await ssm.send(new ListCommandsCommand({ CommandId: failing }))
  assert.is(listed.Commands?.[0]?.Status, 'Failed')
})

test('runs berth’s own document through its parameter mapping, never re-parsing values', async () => {
  const out = await ssm.send(
    new SendCommandCommand({
      DocumentName: 'berth-Run',
      InstanceIds: [B1],
      Parameters: { action: ['install'], cluster: ['c1; touch pwned'] },
    })
  )
  const o = await poll(out.Command!.CommandId!, B1)
  assert.is(o.PluginName, 'berth:run')
  assert.is(o.StandardOutputContent, 'install|c1; touch pwned|')
  assert.not.ok(existsSync(join(ep.workDir, B1, 'pwned')))
  const bad = await rejects(
    ssm.send(
      new SendCommandCommand({
        DocumentName: 'berth-Run',
        InstanceIds: [B1],
        Parameters: { action: ['rm'] },
      })
    )
  )
  assert.instance(bad, InvalidParameters)
})

test('rejects unknown documents, unknown instances and missing commands with the modelled errors', async () => {
  const before = ep.commands.size
  assert.instance(
    await rejects(send({ DocumentName: 'No-Such-Doc', script: 'true' })),
    InvalidDocument
  )
  assert.instance(
    await rejects(send({ InstanceIds: ['i-0123456789abcdef0'], script: 'true' })),
    InvalidInstanceId
  )
  assert.instance(await rejects(send({ Parameters: { commands: [] } })), InvalidParameters)
  assert.is(ep.commands.size, before)
})

test('rejects a request signed with the wrong secret key, and runs nothing', async () => {
  const before = ep.commands.size
  const wrong = ssmClientFor(
    {
      ...ep,
      credentials: { accessKeyId: ep.credentials.accessKeyId, secretAccessKey: 'not-the-secret' },
    },
    { maxAttempts: 1 }
  )
  const err = (await rejects(
    wrong.send(
      new SendCommandCommand({
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: [A1],
        Parameters: { commands: ['touch signed-badly'] },
      })
    )
  )) as Error & { $metadata?: { httpStatusCode?: number } }
  wrong.destroy()
  assert.is(err.name, 'InvalidSignatureException')
  assert.is(err.$metadata?.httpStatusCode, 400)
  const stranger = ssmClientFor(
    {
      ...ep,
      credentials: {
        accessKeyId: 'AKIAOTHER0000000000',
        secretAccessKey: ep.credentials.secretAccessKey,
      },
    },
    { maxAttempts: 1 }
  )
  const err2 = (await rejects(stranger.send(new ListCommandsCommand({})))) as Error
  stranger.destroy()
  assert.is(err2.name, 'UnrecognizedClientException')
  assert.is(ep.commands.size, before)
  assert.not.ok(existsSync(join(ep.workDir, A1, 'signed-badly')))
})

test('throttles the next n calls: the SDK retries through, or raises ThrottlingException with one attempt', async () => {
  ep.throttleNext(2)
  const from = ep.calls.length
  const listed = await withTimeout(
    ssm.send(new ListCommandsCommand({ MaxResults: 1 })),
    15_000,
    'retried call'
  )
  assert.is(listed.Commands?.length, 1)
  assert.equal(
    ep.calls.slice(from).map((c) => c.error ?? c.status),
    ['ThrottlingException', 'ThrottlingException', 200]
  )
  assert.is(listed.$metadata.attempts, 3)

  ep.throttleNext(1)
  const once = ssmClientFor(ep, { maxAttempts: 1 })
  const err = await rejects(once.send(new ListCommandsCommand({})))
  once.destroy()
  assert.instance(err, ThrottlingException)
  assert.is((err as ThrottlingException).message, 'Rate exceeded')
})

test('pages ListCommands with MaxResults and NextToken, newest first', async () => {
  const first = await ssm.send(new ListCommandsCommand({ MaxResults: 2 }))
  assert.is(first.Commands?.length, 2)
  assert.ok(first.NextToken)
  const second = await ssm.send(
    new ListCommandsCommand({ MaxResults: 2, NextToken: first.NextToken })
  )
  assert.ok(second.Commands!.length >= 1)
  const times = [...first.Commands!, ...second.Commands!].map((c) => c.RequestedDateTime!.getTime())
  assert.equal(
    times,
    [...times].sort((a, b) => b - a)
  )
  assert.not.ok(
    second.Commands!.some((c) => first.Commands!.some((f) => f.CommandId === c.CommandId))
  )
})

test.run()
