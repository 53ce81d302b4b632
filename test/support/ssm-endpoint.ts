/**
 * A local AWS Systems Manager endpoint for Run Command that the real @aws-sdk/client-ssm talks
 * to over HTTP (JSON 1.1, SigV4-checked) and that really runs each invocation on this machine,
 * with `bash -c`, the way the SSM agent runs AWS-RunShellScript. Instances are fake (an id and
 * tags); each gets its own working directory under `workDir`.
 *
 * Behaviour follows AWS's Run Command API (docs/edge.md, "Tested on the wire"): statuses, the 24,000/8,000/2,500
 * character output limits, InvocationDoesNotExist for a while after SendCommand, throttling.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { SSMClient, type SSMClientConfig } from '@aws-sdk/client-ssm'
import { verifySigV4, type SigV4Credentials } from './sigv4.ts'

export const TEST_CREDENTIALS: SigV4Credentials = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
}

// Limits of GetCommandInvocation and CommandPlugin.Output.
export const STDOUT_LIMIT = 24_000
export const STDERR_LIMIT = 8_000
export const PLUGIN_OUTPUT_LIMIT = 2_500
// Keeps a runaway command from filling memory; far above anything SSM would return inline.
const CAPTURE_LIMIT = 4 * 1024 * 1024

export const RUN_SHELL_SCRIPT = 'AWS-RunShellScript'

export interface FakeInstance {
  instanceId: string
  tags?: Record<string, string>
  /** An offline agent never picks the command up: it ends DeliveryTimedOut. Default true. */
  online?: boolean
  env?: Record<string, string>
}

/** String-array parameters, as on the wire: `{ commands: ['…'], executionTimeout: ['60'] }`. */
export type SsmParameters = Record<string, string[]>

export interface FakeDocument {
  /** Plugin (step) name reported back; AWS-RunShellScript's is aws:runShellScript. */
  plugin?: string
  /** Maps the document's parameters to the script bash runs. Throw to reject them
   *  (the SDK then raises InvalidParameters). */
  script(params: SsmParameters): string
  /** Seconds, when the parameters carry no `executionTimeout`. Default 3600. */
  executionTimeout?: number
}

export interface SsmEndpointOptions {
  fleet: FakeInstance[]
  credentials?: SigV4Credentials
  region?: string
  /** berth's own documents, by name, besides AWS-RunShellScript. */
  documents?: Record<string, FakeDocument>
  /** Root of the instances' working directories (`<workDir>/<instanceId>`). Default: a fresh
   *  temp dir, removed by close(). */
  workDir?: string
  /** Added to every command's environment (over PATH, HOME, LANG). */
  env?: Record<string, string>
  /** How long GetCommandInvocation answers InvocationDoesNotExist after SendCommand. */
  invocationVisibleAfterMs?: number
  /** Time an invocation stays Pending before the agent starts it. */
  deliveryDelayMs?: number
  /** Real milliseconds per SSM second, for TimeoutSeconds and executionTimeout, so a test
   *  can send realistic values (TimeoutSeconds ≥ 30) and still run fast. Default 1000. */
  secondMs?: number
  /** Between SIGTERM and SIGKILL to the process group on cancel or execution timeout. */
  killGraceMs?: number
}

export type InvocationStatus =
  | 'Pending'
  | 'InProgress'
  | 'Delayed'
  | 'Success'
  | 'Cancelled'
  | 'TimedOut'
  | 'Failed'
  | 'Cancelling'

export type CommandStatus =
  'Pending' | 'InProgress' | 'Success' | 'Cancelled' | 'Failed' | 'TimedOut' | 'Cancelling'

export interface FakeInvocation {
  commandId: string
  instanceId: string
  status: InvocationStatus
  statusDetails: string
  /** -1 until the script has finished. */
  responseCode: number
  /** Full captured output; the API returns only the first STDOUT_LIMIT/STDERR_LIMIT chars. */
  stdout: string
  stderr: string
  script: string
  cwd: string
  pid?: number
  requestedAt: number
  /** Before this, GetCommandInvocation says InvocationDoesNotExist. */
  visibleAt: number
  startedAt?: number
  endedAt?: number
}

export interface FakeCommand {
  commandId: string
  documentName: string
  parameters: SsmParameters
  comment?: string
  instanceIds: string[]
  targets: { Key: string; Values: string[] }[]
  requestedAt: number
  expiresAt: number
  timeoutSeconds: number
  executionTimeoutSeconds: number
  maxConcurrency: string
  maxErrors: string
  status: CommandStatus
  statusDetails: string
  cancelRequested: boolean
  /** Set once deliveryDelayMs has passed: the agents may pick the command up. */
  delivered: boolean
  invocations: Map<string, FakeInvocation>
}

export interface ApiCall {
  op: string
  status: number
  error?: string
  at: number
}

export interface SsmEndpoint extends AsyncDisposable {
  url: string
  region: string
  credentials: SigV4Credentials
  workDir: string
  /** Every command sent, by CommandId. */
  commands: ReadonlyMap<string, FakeCommand>
  /** Every API call that reached the endpoint, including rejected and throttled ones. */
  calls: readonly ApiCall[]
  /** The next `n` calls (after authentication) get ThrottlingException. */
  throttleNext(n: number): void
  invocation(commandId: string, instanceId: string): FakeInvocation | undefined
  /** Resolves once every invocation of the command is terminal. */
  settled(commandId: string): Promise<FakeCommand>
  /** Kills whatever still runs, stops the server, removes a temp workDir. */
  close(): Promise<void>
}

class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400
  ) {
    super(message)
  }
}

const TERMINAL: ReadonlySet<InvocationStatus> = new Set([
  'Success',
  'Cancelled',
  'TimedOut',
  'Failed',
])
const INSTANCE_ID = /(^i-(\w{8}|\w{17})$)|(^mi-\w{17}$)/
const COMMAND_ID = /^[0-9a-f-]{36}$/
const CONCURRENCY = /^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$/
const ERRORS = /^([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)$/

const epochSeconds = (ms: number) => ms / 1000
const isoOrEmpty = (ms?: number) => (ms === undefined ? '' : new Date(ms).toISOString())
/** A field of a request's JSON body as text, the way the service echoes or reads it. */
const fieldText = (v: unknown): string => String(v)

/** "50", "10%" → a count over `total` targets. Concurrency is at least 1. */
function countOf(spec: string, total: number, atLeastOne: boolean): number {
  const n = spec.endsWith('%')
    ? Math.floor((Number(spec.slice(0, -1)) / 100) * total)
    : Number(spec)
  return atLeastOne ? Math.max(1, n) : n
}

const runShellScript: FakeDocument = {
  plugin: 'aws:runShellScript',
  // The agent writes the commands array to a script file, one entry per line.
  script(params) {
    const commands = params.commands
    if (!commands?.length)
      throw new ApiError('InvalidParameters', 'Parameter "commands" is required.')
    return commands.join('\n')
  },
}

function isParameters(v: unknown): v is SsmParameters {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    Object.values(v).every((a) => Array.isArray(a) && a.every((s) => typeof s === 'string'))
  )
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null
}

export async function startSsmEndpoint(opts: SsmEndpointOptions): Promise<SsmEndpoint> {
  const credentials = opts.credentials ?? TEST_CREDENTIALS
  const region = opts.region ?? 'us-east-1'
  const visibleAfter = opts.invocationVisibleAfterMs ?? 300
  const deliveryDelay = opts.deliveryDelayMs ?? 50
  const secondMs = opts.secondMs ?? 1000
  const killGrace = opts.killGraceMs ?? 2000
  const ownWorkDir = opts.workDir === undefined
  const workDir = opts.workDir ?? mkdtempSync(join(tmpdir(), 'berth-ssm-'))
  const fleet = new Map(opts.fleet.map((i) => [i.instanceId, i]))
  const documents = new Map<string, FakeDocument>([[RUN_SHELL_SCRIPT, runShellScript]])
  for (const [name, doc] of Object.entries(opts.documents ?? {})) documents.set(name, doc)
  for (const id of fleet.keys()) mkdirSync(join(workDir, id), { recursive: true })

  const commands = new Map<string, FakeCommand>()
  const calls: ApiCall[] = []
  const timers = new Set<NodeJS.Timeout>()
  const children = new Map<FakeInvocation, ChildProcess>()
  const waiters = new Map<string, (() => void)[]>()
  let throttled = 0
  let closed = false

  const later = (ms: number, fn: () => void): NodeJS.Timeout => {
    const t = setTimeout(() => {
      timers.delete(t)
      if (!closed) fn()
    }, ms)
    timers.add(t)
    return t
  }
  const cancelTimer = (t?: NodeJS.Timeout) => {
    if (t) {
      clearTimeout(t)
      timers.delete(t)
    }
  }

  // ---------- the agent side: running, finishing, scheduling ----------

  function finish(
    cmd: FakeCommand,
    inv: FakeInvocation,
    status: InvocationStatus,
    details: string,
    code = -1
  ) {
    if (TERMINAL.has(inv.status)) return
    inv.status = status
    inv.statusDetails = details
    inv.responseCode = code
    inv.endedAt = Date.now()
    pump(cmd)
  }

  function killGroup(inv: FakeInvocation): void {
    const child = children.get(inv)
    if (!child?.pid || !alive(child)) return
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig)
      } catch {
        // the group is already gone
      }
    }
    signal('SIGTERM')
    const t = later(killGrace, () => signal('SIGKILL'))
    child.once('close', () => cancelTimer(t))
  }

  function start(cmd: FakeCommand, inv: FakeInvocation): void {
    inv.status = 'InProgress'
    inv.statusDetails = 'InProgress'
    inv.startedAt = Date.now()
    try {
      if (!statSync(inv.cwd).isDirectory()) throw new Error('not a directory')
    } catch {
      inv.stderr = `Invalid workingDirectory ${inv.cwd}: the directory does not exist\n`
      return finish(cmd, inv, 'Failed', 'Failed', 1)
    }
    const instance = fleet.get(inv.instanceId)!
    // The script is the whole program: bash reads it as its -c argument, nothing is spliced
    // into another shell. detached: its own process group, so cancel reaches grandchildren.
    const child = spawn('bash', ['-c', inv.script], {
      cwd: inv.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
        HOME: join(workDir, inv.instanceId),
        LANG: 'C.UTF-8',
        ...opts.env,
        ...instance.env,
        // The real agent sets these two for every command.
        AWS_SSM_INSTANCE_ID: inv.instanceId,
        AWS_SSM_REGION_NAME: region,
      },
    })
    inv.pid = child.pid
    children.set(inv, child)
    const capture = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      if (inv[stream].length < CAPTURE_LIMIT) inv[stream] += chunk.toString('utf8')
    }
    child.stdout.on('data', capture('stdout'))
    child.stderr.on('data', capture('stderr'))
    const timeout = later(cmd.executionTimeoutSeconds * secondMs, () => {
      inv.statusDetails = 'ExecutionTimedOut'
      killGroup(inv)
    })
    child.on('error', (err) => {
      inv.stderr += `${err.message}\n`
    })
    // 'close', not 'exit': like the agent, wait until the output pipes are closed too.
    child.on('close', (code, sig) => {
      cancelTimer(timeout)
      children.delete(inv)
      if (inv.status === 'Cancelling') return finish(cmd, inv, 'Cancelled', 'Cancelled', -1)
      if (inv.statusDetails === 'ExecutionTimedOut') {
        return finish(cmd, inv, 'TimedOut', 'ExecutionTimedOut', -1)
      }
      const exit = code ?? 128 + (sig ? signalNumber(sig) : 0)
      finish(cmd, inv, exit === 0 ? 'Success' : 'Failed', exit === 0 ? 'Success' : 'Failed', exit)
    })
  }

  /** Starts what MaxConcurrency allows, stops the rest once MaxErrors is exceeded. */
  function pump(cmd: FakeCommand): void {
    const all = [...cmd.invocations.values()]
    const total = all.length
    const errors = all.filter(
      (i) => i.status === 'Failed' || i.statusDetails === 'ExecutionTimedOut'
    ).length
    if (errors > countOf(cmd.maxErrors, total, false)) {
      for (const inv of all) {
        if (inv.status === 'Pending') finish(cmd, inv, 'Cancelled', 'Terminated')
      }
    }
    if (!cmd.cancelRequested && cmd.delivered) {
      let running = all.filter((i) => i.status === 'InProgress' || i.status === 'Cancelling').length
      const limit = countOf(cmd.maxConcurrency, total, true)
      for (const inv of all) {
        if (running >= limit) break
        if (inv.status !== 'Pending' || fleet.get(inv.instanceId)?.online === false) continue
        running++
        start(cmd, inv)
      }
    }
    updateCommand(cmd)
  }

  function updateCommand(cmd: FakeCommand): void {
    const all = [...cmd.invocations.values()]
    const done = all.every((i) => TERMINAL.has(i.status))
    if (!done) {
      const [status, details]: [CommandStatus, string] = cmd.cancelRequested
        ? ['Cancelling', 'Cancelling']
        : all.some((i) => i.status !== 'Pending')
          ? ['InProgress', 'InProgress']
          : ['Pending', 'Pending']
      cmd.status = status
      cmd.statusDetails = details
      return
    }
    const errors = all.filter(
      (i) => i.status === 'Failed' || i.statusDetails === 'ExecutionTimedOut'
    )
    const maxErrors = countOf(cmd.maxErrors, all.length, false)
    // A guess where the docs are vague: the command takes the "worst" outcome its invocations
    // allow, and Incomplete (some not Success, within MaxErrors) is reported as Success.
    const set = (s: CommandStatus, d: string) => ((cmd.status = s), (cmd.statusDetails = d))
    if (all.length === 0) set('Success', 'Success')
    else if (cmd.cancelRequested && all.some((i) => i.status === 'Cancelled'))
      set('Cancelled', 'Cancelled')
    else if (all.every((i) => i.status === 'Success')) set('Success', 'Success')
    else if (errors.length > maxErrors) {
      if (errors.every((i) => i.statusDetails === 'ExecutionTimedOut')) set('TimedOut', 'TimedOut')
      else set('Failed', 'Failed')
    } else if (all.every((i) => i.statusDetails === 'DeliveryTimedOut'))
      set('TimedOut', 'DeliveryTimedOut')
    else set('Success', 'Incomplete')
    for (const wake of waiters.get(cmd.commandId) ?? []) wake()
    waiters.delete(cmd.commandId)
  }

  // ---------- the API side ----------

  function targetsOf(body: Record<string, unknown>): string[] {
    const ids = body.InstanceIds as string[] | undefined
    const targets = body.Targets as { Key?: string; Values?: string[] }[] | undefined
    if (ids?.length && targets?.length) {
      throw new ApiError('ValidationException', 'Specify either InstanceIds or Targets, not both.')
    }
    if (ids?.length) {
      if (ids.length > 50) throw new ApiError('ValidationException', 'InstanceIds: at most 50.')
      if (new Set(ids).size !== ids.length)
        throw new ApiError('DuplicateInstanceId', 'Duplicate instance ids.')
      for (const id of ids) {
        if (!INSTANCE_ID.test(id) || !fleet.has(id)) {
          throw new ApiError(
            'InvalidInstanceId',
            `Instances [[${id}]] not in a valid state for account.`
          )
        }
      }
      return ids
    }
    if (!targets?.length)
      throw new ApiError('ValidationException', 'InstanceIds or Targets is required.')
    if (targets.length > 5) throw new ApiError('ValidationException', 'Targets: at most 5.')
    let chosen = [...fleet.values()]
    // Several targets narrow each other down; the values within one target are alternatives.
    for (const { Key = '', Values = [] } of targets) {
      if (Key === 'InstanceIds') chosen = chosen.filter((i) => Values.includes(i.instanceId))
      else if (Key === 'tag-key')
        chosen = chosen.filter((i) => Values.some((k) => k in (i.tags ?? {})))
      else if (Key.startsWith('tag:')) {
        const tag = Key.slice(4)
        chosen = chosen.filter((i) => i.tags?.[tag] !== undefined && Values.includes(i.tags[tag]))
      } else throw new ApiError('InvalidTarget', `Target key ${Key} is not supported here.`)
    }
    return chosen.map((i) => i.instanceId)
  }

  function sendCommand(body: Record<string, unknown>) {
    const documentName = body.DocumentName
    if (typeof documentName !== 'string' || !/^[a-zA-Z0-9_\-.:/]{3,128}$/.test(documentName)) {
      throw new ApiError('ValidationException', 'DocumentName is invalid.')
    }
    const doc = documents.get(documentName)
    if (!doc) throw new ApiError('InvalidDocument', `Document ${documentName} does not exist.`)
    const parameters = body.Parameters ?? {}
    if (!isParameters(parameters))
      throw new ApiError('InvalidParameters', 'Parameters must be string lists.')
    const timeoutSeconds = (body.TimeoutSeconds as number | undefined) ?? 3600
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 30 || timeoutSeconds > 2_592_000) {
      throw new ApiError('ValidationException', 'TimeoutSeconds must be between 30 and 2592000.')
    }
    const maxConcurrency = (body.MaxConcurrency as string | undefined) ?? '50'
    const maxErrors = (body.MaxErrors as string | undefined) ?? '0'
    if (!CONCURRENCY.test(maxConcurrency))
      throw new ApiError('ValidationException', 'MaxConcurrency is invalid.')
    if (!ERRORS.test(maxErrors)) throw new ApiError('ValidationException', 'MaxErrors is invalid.')
    const comment = body.Comment as string | undefined
    if (comment !== undefined && comment.length > 100) {
      throw new ApiError('ValidationException', 'Comment: at most 100 characters.')
    }
    let script: string
    try {
      script = doc.script(parameters)
    } catch (err) {
      if (err instanceof ApiError) throw err
      throw new ApiError('InvalidParameters', (err as Error).message)
    }
    const executionTimeoutSeconds = Number(
      parameters.executionTimeout?.[0] ?? doc.executionTimeout ?? 3600
    )
    if (!Number.isFinite(executionTimeoutSeconds) || executionTimeoutSeconds < 1) {
      throw new ApiError('InvalidParameters', 'executionTimeout must be a number of seconds.')
    }
    const instanceIds = targetsOf(body)
    const now = Date.now()
    const commandId = randomUUID()
    const wd = parameters.workingDirectory?.[0]
    const cmd: FakeCommand = {
      commandId,
      documentName,
      parameters,
      comment,
      instanceIds: (body.InstanceIds as string[] | undefined) ?? [],
      targets: (body.Targets as FakeCommand['targets'] | undefined) ?? [],
      requestedAt: now,
      expiresAt: now + timeoutSeconds * secondMs,
      timeoutSeconds,
      executionTimeoutSeconds,
      maxConcurrency,
      maxErrors,
      status: 'Pending',
      statusDetails: 'Pending',
      cancelRequested: false,
      delivered: false,
      invocations: new Map(),
    }
    for (const instanceId of instanceIds) {
      const home = join(workDir, instanceId)
      cmd.invocations.set(instanceId, {
        commandId,
        instanceId,
        status: 'Pending',
        statusDetails: 'Pending',
        responseCode: -1,
        stdout: '',
        stderr: '',
        script,
        cwd: wd ? (isAbsolute(wd) ? wd : resolve(home, wd)) : home,
        requestedAt: now,
        visibleAt: now + visibleAfter,
      })
    }
    commands.set(commandId, cmd)
    later(deliveryDelay, () => {
      cmd.delivered = true
      pump(cmd)
    })
    // TimeoutSeconds: "if this time is reached and the command hasn't already started running,
    // it won't run" (SendCommand API reference).
    later(timeoutSeconds * secondMs, () => {
      for (const inv of cmd.invocations.values()) {
        if (inv.status === 'Pending') finish(cmd, inv, 'TimedOut', 'DeliveryTimedOut')
      }
      updateCommand(cmd)
    })
    updateCommand(cmd)
    return { Command: commandJson(cmd) }
  }

  function commandJson(cmd: FakeCommand) {
    const all = [...cmd.invocations.values()]
    return {
      CommandId: cmd.commandId,
      DocumentName: cmd.documentName,
      DocumentVersion: '$DEFAULT',
      Comment: cmd.comment ?? '',
      ExpiresAfter: epochSeconds(cmd.expiresAt),
      Parameters: cmd.parameters,
      InstanceIds: cmd.instanceIds,
      Targets: cmd.targets,
      RequestedDateTime: epochSeconds(cmd.requestedAt),
      Status: cmd.status,
      StatusDetails: cmd.statusDetails,
      OutputS3Region: region,
      OutputS3BucketName: '',
      OutputS3KeyPrefix: '',
      MaxConcurrency: cmd.maxConcurrency,
      MaxErrors: cmd.maxErrors,
      TargetCount: all.length,
      CompletedCount: all.filter((i) => TERMINAL.has(i.status)).length,
      ErrorCount: all.filter(
        (i) => i.status === 'Failed' || i.statusDetails === 'ExecutionTimedOut'
      ).length,
      DeliveryTimedOutCount: all.filter((i) => i.statusDetails === 'DeliveryTimedOut').length,
      ServiceRole: '',
      NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
      CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
      TimeoutSeconds: cmd.timeoutSeconds,
    }
  }

  const pluginOf = (cmd: FakeCommand) =>
    documents.get(cmd.documentName)!.plugin ?? 'aws:runShellScript'

  function pluginOutput(inv: FakeInvocation): string {
    const text = inv.stderr ? `${inv.stdout}\n----------ERROR-------\n${inv.stderr}` : inv.stdout
    return text.slice(0, PLUGIN_OUTPUT_LIMIT)
  }

  function findCommand(id: unknown, code = 'InvalidCommandId'): FakeCommand | undefined {
    if (id === undefined) return undefined
    if (typeof id !== 'string' || !COMMAND_ID.test(id))
      throw new ApiError('InvalidCommandId', 'Invalid command id.')
    const cmd = commands.get(id)
    if (!cmd && code)
      throw new ApiError(code, code === 'InvalidCommandId' ? 'Invalid command id.' : 'Not found.')
    return cmd
  }

  function getCommandInvocation(body: Record<string, unknown>) {
    const cmd = findCommand(body.CommandId, 'InvocationDoesNotExist')!
    if (typeof body.InstanceId !== 'string' || !INSTANCE_ID.test(body.InstanceId)) {
      throw new ApiError('InvalidInstanceId', 'Invalid instance id.')
    }
    const inv = cmd.invocations.get(body.InstanceId)
    if (!inv || Date.now() < inv.visibleAt) throw new ApiError('InvocationDoesNotExist', '')
    const plugin = pluginOf(cmd)
    if (body.PluginName !== undefined && body.PluginName !== plugin) {
      throw new ApiError(
        'InvalidPluginName',
        `Plugin ${fieldText(body.PluginName)} is not in the document.`
      )
    }
    const elapsed =
      inv.startedAt === undefined
        ? ''
        : `PT${(((inv.endedAt ?? Date.now()) - inv.startedAt) / 1000).toFixed(3)}S`
    return {
      CommandId: cmd.commandId,
      InstanceId: inv.instanceId,
      Comment: cmd.comment ?? '',
      DocumentName: cmd.documentName,
      DocumentVersion: '$DEFAULT',
      PluginName: plugin,
      ResponseCode: inv.responseCode,
      ExecutionStartDateTime: isoOrEmpty(inv.startedAt),
      ExecutionElapsedTime: elapsed,
      ExecutionEndDateTime: isoOrEmpty(inv.endedAt),
      Status: inv.status,
      StatusDetails: inv.statusDetails,
      StandardOutputContent: inv.stdout.slice(0, STDOUT_LIMIT),
      StandardOutputUrl: '',
      StandardErrorContent: inv.stderr.slice(0, STDERR_LIMIT),
      StandardErrorUrl: '',
      CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
    }
  }

  function page<T>(items: T[], body: Record<string, unknown>, max: number) {
    const size = (body.MaxResults as number | undefined) ?? max
    if (!Number.isInteger(size) || size < 1 || size > max) {
      throw new ApiError('ValidationException', `MaxResults must be between 1 and ${max}.`)
    }
    let from = 0
    if (body.NextToken !== undefined) {
      from = Number(Buffer.from(fieldText(body.NextToken), 'base64url').toString())
      if (!Number.isInteger(from) || from < 0)
        throw new ApiError('InvalidNextToken', 'The token is invalid.')
    }
    const slice = items.slice(from, from + size)
    const next =
      from + size < items.length
        ? Buffer.from(String(from + size)).toString('base64url')
        : undefined
    return { slice, next }
  }

  function listCommandInvocations(body: Record<string, unknown>) {
    const only = findCommand(body.CommandId, '')
    const pool = only ? [only] : body.CommandId === undefined ? [...commands.values()] : []
    const now = Date.now()
    const items = pool
      .flatMap((cmd) => [...cmd.invocations.values()].map((inv) => ({ cmd, inv })))
      .filter(
        ({ inv }) =>
          inv.visibleAt <= now &&
          (body.InstanceId === undefined || inv.instanceId === body.InstanceId)
      )
      .sort((a, b) => b.inv.requestedAt - a.inv.requestedAt)
    const { slice, next } = page(items, body, 50)
    return {
      CommandInvocations: slice.map(({ cmd, inv }) => ({
        CommandId: cmd.commandId,
        InstanceId: inv.instanceId,
        InstanceName: '',
        Comment: cmd.comment ?? '',
        DocumentName: cmd.documentName,
        DocumentVersion: '$DEFAULT',
        RequestedDateTime: epochSeconds(inv.requestedAt),
        Status: inv.status,
        StatusDetails: inv.statusDetails,
        TraceOutput: '',
        StandardOutputUrl: '',
        StandardErrorUrl: '',
        CommandPlugins: body.Details
          ? [
              {
                Name: pluginOf(cmd),
                Status: inv.status,
                StatusDetails: inv.statusDetails,
                ResponseCode: inv.responseCode,
                ...(inv.startedAt !== undefined && {
                  ResponseStartDateTime: epochSeconds(inv.startedAt),
                }),
                ...(inv.endedAt !== undefined && {
                  ResponseFinishDateTime: epochSeconds(inv.endedAt),
                }),
                Output: pluginOutput(inv),
                StandardOutputUrl: '',
                StandardErrorUrl: '',
                OutputS3Region: region,
                OutputS3BucketName: '',
                OutputS3KeyPrefix: '',
              },
            ]
          : [],
        ServiceRole: '',
        NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
        CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
      })),
      ...(next && { NextToken: next }),
    }
  }

  function listCommands(body: Record<string, unknown>) {
    const only = findCommand(body.CommandId)
    const filters = (body.Filters as { key: string; value: string }[] | undefined) ?? []
    const items = (only ? [only] : [...commands.values()])
      .filter((c) => body.InstanceId === undefined || c.invocations.has(fieldText(body.InstanceId)))
      .filter((c) =>
        filters.every(({ key, value }) => {
          if (key === 'Status') return c.status === value
          if (key === 'DocumentName') return c.documentName === value
          if (key === 'InvokedAfter') return c.requestedAt >= Date.parse(value)
          if (key === 'InvokedBefore') return c.requestedAt <= Date.parse(value)
          throw new ApiError('InvalidFilterKey', `Filter key ${key} is not supported here.`)
        })
      )
      .sort((a, b) => b.requestedAt - a.requestedAt)
    const { slice, next } = page(items, body, 50)
    return { Commands: slice.map(commandJson), ...(next && { NextToken: next }) }
  }

  function cancelCommand(body: Record<string, unknown>) {
    const cmd = findCommand(body.CommandId)
    if (!cmd) throw new ApiError('InvalidCommandId', 'CommandId is required.')
    const ids = (body.InstanceIds as string[] | undefined) ?? [...cmd.invocations.keys()]
    for (const id of ids) {
      if (!cmd.invocations.has(id))
        throw new ApiError('InvalidInstanceId', `Instance ${id} is not in the command.`)
    }
    if (!body.InstanceIds) cmd.cancelRequested = true
    for (const id of ids) {
      const inv = cmd.invocations.get(id)!
      if (inv.status === 'Pending') finish(cmd, inv, 'Cancelled', 'Cancelled')
      else if (inv.status === 'InProgress') {
        inv.status = 'Cancelling'
        inv.statusDetails = 'Cancelling'
        killGroup(inv)
      }
    }
    updateCommand(cmd)
    return {}
  }

  const operations: Record<string, (body: Record<string, unknown>) => unknown> = {
    SendCommand: sendCommand,
    GetCommandInvocation: getCommandInvocation,
    ListCommandInvocations: listCommandInvocations,
    ListCommands: listCommands,
    CancelCommand: cancelCommand,
  }

  // ---------- HTTP ----------

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const raw = Buffer.concat(chunks)
    const target = String(req.headers['x-amz-target'] ?? '')
    const op = target.startsWith('AmazonSSM.') ? target.slice('AmazonSSM.'.length) : target
    const reply = (status: number, payload: unknown, errorType?: string) => {
      calls.push({ op, status, at: Date.now(), ...(errorType && { error: errorType }) })
      res.writeHead(status, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-requestid': randomUUID(),
        ...(errorType && { 'x-amzn-errortype': errorType }),
      })
      res.end(JSON.stringify(payload))
    }
    try {
      if (req.method !== 'POST' || (req.url ?? '/') !== '/') {
        throw new ApiError(
          'UnknownOperationException',
          `${req.method} ${req.url} is not an SSM call.`,
          404
        )
      }
      const verdict = verifySigV4(
        { method: req.method, url: req.url ?? '/', headers: req.headers, body: raw },
        { credentials, region, service: 'ssm' }
      )
      if (!verdict.ok) throw new ApiError(verdict.code, verdict.message)
      const handler = target.startsWith('AmazonSSM.') ? operations[op] : undefined
      if (!handler) throw new ApiError('UnknownOperationException', `Unknown operation ${target}.`)
      if (!String(req.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.1')) {
        throw new ApiError(
          'SerializationException',
          'Content-Type must be application/x-amz-json-1.1.'
        )
      }
      if (throttled > 0) {
        throttled--
        throw new ApiError('ThrottlingException', 'Rate exceeded')
      }
      let body: unknown
      try {
        body = raw.length ? JSON.parse(raw.toString('utf8')) : {}
      } catch {
        throw new ApiError('SerializationException', 'The request body is not JSON.')
      }
      if (typeof body !== 'object' || body === null)
        throw new ApiError('SerializationException', 'Expected an object.')
      reply(200, handler(body as Record<string, unknown>))
    } catch (err) {
      if (err instanceof ApiError) {
        // The SDK's JSON RPC deserializer takes the code from __type (then `code`, then the
        // x-amzn-errortype header) and the text from `message` or `Message`.
        reply(err.status, { __type: err.code, message: err.message }, err.code)
      } else {
        reply(
          500,
          { __type: 'InternalServerError', message: (err as Error).message },
          'InternalServerError'
        )
      }
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      res.destroy(err as Error)
    })
  })
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolveListen())
  })
  const { port } = server.address() as { port: number }

  async function close(): Promise<void> {
    if (closed) return
    closed = true
    for (const t of timers) clearTimeout(t)
    timers.clear()
    const exits = [...children.values()].map(
      (child) =>
        new Promise<void>((done) => {
          if (!alive(child)) return done()
          child.once('close', () => done())
          try {
            process.kill(-child.pid!, 'SIGKILL')
          } catch {
            done()
          }
        })
    )
    await Promise.all(exits)
    server.closeAllConnections()
    await new Promise<void>((done) => server.close(() => done()))
    if (ownWorkDir) rmSync(workDir, { recursive: true, force: true })
  }

  return {
    url: `http://127.0.0.1:${port}`,
    region,
    credentials,
    workDir,
    commands,
    calls,
    throttleNext(n) {
      throttled = n
    },
    invocation: (commandId, instanceId) => commands.get(commandId)?.invocations.get(instanceId),
    settled(commandId) {
      const cmd = commands.get(commandId)
      if (!cmd) return Promise.reject(new Error(`no command ${commandId}`))
      if ([...cmd.invocations.values()].every((i) => TERMINAL.has(i.status)))
        return Promise.resolve(cmd)
      return new Promise((done) => {
        const list = waiters.get(commandId) ?? []
        list.push(() => done(cmd))
        waiters.set(commandId, list)
      })
    },
    close,
    [Symbol.asyncDispose]: close,
  }
}

function signalNumber(sig: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGKILL: 9,
    SIGTERM: 15,
  }
  return numbers[sig] ?? 0
}

/** A real SDK client for the endpoint: test credentials, its region, no retries beyond
 *  `maxAttempts` (default 3, standard mode). */
export function ssmClientFor(
  endpoint: Pick<SsmEndpoint, 'url' | 'region' | 'credentials'>,
  overrides: Partial<SSMClientConfig> = {}
): SSMClient {
  return new SSMClient({
    endpoint: endpoint.url,
    region: endpoint.region,
    credentials: endpoint.credentials,
    maxAttempts: 3,
    retryMode: 'standard',
    ...overrides,
  })
}
