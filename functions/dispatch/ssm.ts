/**
 * SsmDispatcher: runs `berth job run` on the Docker host(s) through AWS Systems Manager Run
 * Command, with berth's own narrow document (infra/ssm/berth-job-run.json: it runs only
 * `berth job run --compact --spec-b64 <specB64>`) or, as a fallback, AWS-RunShellScript.
 *
 * Two faces over one set of calls: `run` (Dispatcher, for `berth serve`: send, poll, pass each
 * new event once) and `start`/`poll`/`cancel` (RemoteDispatcher, for the Worker, whose jobs
 * outlive the request). Runtime-neutral: no node:* imports, the Worker bundles this file.
 *
 * Fan-out (tag targets, or several instance ids): one job runs on every matching host. `poll`
 * answers the events so far as one list that only ever grows (the Worker stores the ones past
 * those it has), so hosts are taken in a fixed order — the instance ids as configured, or sorted
 * for tags once SSM has resolved them all — and a host's events are told only once every host
 * before it has ended: the hosts' events never interleave. Each carries `host: <instance id>`,
 * each host's end is told by a `log` event, and the one result comes last: ok only if every
 * host's job succeeded, `data.hosts` holding each host's status, exit code, code, message, nodes
 * and data. With one instance id the dispatcher is transparent: the host's own events and result.
 */
import {
  CancelCommandCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  SendCommandCommand,
  SSMClient,
  type SendCommandCommandInput,
  type SSMClientConfig,
} from '@aws-sdk/client-ssm'
import type { JobEvent, ResultEvent } from '../../scripts/engine/events.ts'
import type { ResultCode } from '../../scripts/engine/errors.ts'
import { newJobId } from '../../scripts/engine/labels.ts'
import { sleep } from '../../scripts/engine/retry.ts'
import {
  ndjsonReader,
  readLogVia,
  syntheticResult,
  type DispatchOptions,
  type DispatchSpec,
  type Dispatcher,
  type RemoteDispatcher,
} from './dispatcher.ts'
import { hostStatus, type StatusContext } from './ssm-status.ts'
import { silentLogger, type Logger } from '../../scripts/engine/logger.ts'

/** GetCommandInvocation returns only the first 24,000 characters of stdout (docs/edge.md: why jobs run --compact). */
export const SSM_STDOUT_LIMIT = 24_000

export type SsmTarget = { instanceIds: string[] } | { tags: Record<string, string> }

export interface SsmDispatcherOptions {
  /** A ready client (tests); otherwise one is made from region, credentials and endpoint. */
  client?: SSMClient
  region?: string
  credentials?: SSMClientConfig['credentials']
  endpoint?: string
  /** Attempts per call of the client made here, which retries adaptively (throttling). */
  maxAttempts?: number
  documentName?: string
  /** Send through AWS-RunShellScript instead of berth's document (whoever may send it is root on the host: infra/ssm/README.md). */
  useRunShellScript?: boolean
  target: SsmTarget
  /** SendCommand MaxConcurrency / MaxErrors: a count or a percentage ("10%"). */
  maxConcurrency?: string | number
  maxErrors?: string | number
  /** How long SSM may take to deliver the command (TimeoutSeconds, 30 at least). */
  timeoutSeconds?: number
  /** How long `berth job run` may run (the document's executionTimeout). */
  executionTimeoutSeconds?: number
  pollMs?: number
  /** How the host starts berth, for AWS-RunShellScript only (the document names its own). */
  berthCommand?: string
  /** One line per SSM call that went wrong, and per command sent or cancelled. */
  log?: Logger
}

/** A failure to talk to SSM, with a stable code (the Worker's queue stores `code`). */
export class SsmDispatchError extends Error {
  constructor(
    readonly code: ResultCode,
    message: string,
    options?: { cause?: unknown }
  ) {
    super(message, options)
    this.name = 'SsmDispatchError'
  }
}

const INSTANCE_ID = /^(i-(\w{8}|\w{17})|mi-\w{17})$/
const DOCUMENT_NAME = /^[a-zA-Z0-9_\-.:/]{3,128}$/
const MAX_CONCURRENCY = /^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$/
const MAX_ERRORS = /^([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)$/
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/
const MAX_SPEC_B64 = 65_536
/** berthCommand goes into a shell line: plain words (a path, a script) only. */
const COMMAND_WORDS = /^[A-Za-z0-9_./-]+( [A-Za-z0-9_./-]+)*$/
const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u
const TERMINAL_COMMAND = new Set(['Success', 'Cancelled', 'Failed', 'TimedOut'])

/** The SDK error names that mean the credentials (not the request) are wrong. */
const AUTH_ERRORS = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'MissingAuthenticationTokenException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'CredentialsProviderError',
])

interface Ref {
  /** The CommandId. */
  c: string
  /** The instance ids it went to, when they were named; absent for tag targets. */
  i?: string[]
  /** When (epoch ms) SSM should long have ended it: sent + delivery and execution timeouts +
   *  LOST_AFTER_SECONDS. A command still not ended then (or no longer known) is given up on. */
  e?: number
}

/** The margin past a command's own timeouts before berth stops waiting for SSM to end it. */
const LOST_AFTER_SECONDS = 300

/** One host's invocation as last read. */
interface Invocation {
  host: string
  status?: string
  details?: string
  responseCode?: number
  stdout: string
  stderr: string
  startedAt?: number
  endedAt?: number
}

type HostEvent = JobEvent & { host?: string }

export interface HostOutcome {
  host: string
  status: string
  details: string
  exitCode: number | null
  ok: boolean
  code?: ResultCode
  message?: string
  nodes?: ResultEvent['nodes']
  data?: unknown
}

/** Base64 of the UTF-8 bytes, with btoa (Workers have no Buffer). */
export function base64Utf8(text: string): string {
  const bytes = new TextEncoder().encode(text)
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  }
  return btoa(binary)
}

const errName = (err: unknown) => (err as { name?: string } | null)?.name ?? ''
const timeOf = (iso?: string) => (iso ? Date.parse(iso) || undefined : undefined)
const lastLine = (text: string) => text.trim().split('\n').pop() ?? ''

export class SsmDispatcher implements Dispatcher, RemoteDispatcher {
  readonly name = 'ssm'
  readonly #client: SSMClient
  readonly #o: CheckedOptions
  readonly #where: string

  constructor(options: SsmDispatcherOptions) {
    const o = {
      documentName: 'berth-job-run',
      timeoutSeconds: 600,
      executionTimeoutSeconds: 3600,
      pollMs: 2000,
      berthCommand: 'berth',
      ...options,
    }
    checkOptions(o)
    this.#o = o
    this.#where = o.endpoint ?? (o.region ? `SSM in ${o.region}` : 'SSM')
    this.#client =
      o.client ??
      new SSMClient({
        region: o.region,
        credentials: o.credentials,
        endpoint: o.endpoint,
        // Throttling comes with fast polling and fan-outs: the adaptive mode
        // slows the client down as well as retrying.
        retryMode: 'adaptive',
        maxAttempts: o.maxAttempts ?? 8,
      })
  }

  // ---------- RemoteDispatcher ----------

  async start(spec: DispatchSpec, opts: { host?: string } = {}): Promise<{ ref: string }> {
    const target =
      opts.host === undefined ? this.#o.target : { instanceIds: [this.#oneHost(opts.host)] }
    return { ref: JSON.stringify(await this.#send(spec, target)) }
  }

  /** A host named for one command: an instance id, and one of the target's when it lists them
   *  (with tags, SSM and the sender's policy decide which instances it may reach). */
  #oneHost(host: string): string {
    if (!INSTANCE_ID.test(host))
      throw new SsmDispatchError(
        'invalid_job',
        `host: "${host}" is not an instance id (i-… or mi-…)`
      )
    const t = this.#o.target
    if ('instanceIds' in t && !t.instanceIds.includes(host)) {
      throw new SsmDispatchError(
        'invalid_job',
        `host: ${host} is not one of this dispatcher's instances (${t.instanceIds.join(', ')})`
      )
    }
    return host
  }

  async poll(
    ref: string,
    spec: DispatchSpec
  ): Promise<{ events: JobEvent[]; done?: { result: ResultEvent; exitCode: number | null } }> {
    const r = parseRef(ref)
    const view = await (r.i
      ? this.#follow(spec, r.c, r.i, r.i.length > 1)
      : this.#followTags(spec, r.c))
    if (view.done || r.e === undefined || Date.now() <= r.e) return view
    // SSM ends every invocation within its delivery and execution timeouts. One it still has not
    // ended (or no longer knows: its history is kept 30 days) would hold its cluster for ever.
    await this.cancel(ref).catch((err) =>
      this.#log(`Failed to cancel ${r.c}: ${(err as Error).message}`)
    )
    const message = `SSM did not end command ${r.c} within its timeouts (and ${LOST_AFTER_SECONDS} s more); berth gave up on it and cancelled it`
    const result = syntheticResult(spec, Date.now(), 'timeout', message)
    return { events: [...view.events, result], done: { result, exitCode: null } }
  }

  async cancel(ref: string): Promise<void> {
    const { c } = parseRef(ref)
    this.#log(`Cancelling command ${c}…`)
    await this.#call('CancelCommand', () =>
      this.#client.send(new CancelCommandCommand({ CommandId: c }))
    )
    this.#log(`Cancelled command ${c}`)
  }

  // ---------- Dispatcher ----------

  async run(
    spec: DispatchSpec,
    { onEvent, signal, host }: DispatchOptions
  ): Promise<{ result: ResultEvent; exitCode: number | null }> {
    const startedAt = Date.now()
    if (signal?.aborted) {
      return {
        result: syntheticResult(spec, startedAt, 'cancelled', 'cancelled before start'),
        exitCode: null,
      }
    }
    let ref: string
    try {
      ref = (await this.start(spec, { host })).ref
    } catch (err) {
      const e = asDispatchError(err, 'SendCommand', this.#where)
      return { result: syntheticResult(spec, startedAt, e.code, e.message), exitCode: null }
    }
    // Abort → CancelCommand, then keep polling until SSM says the invocations have ended (berth
    // gets SIGTERM from the agent and cleans up; its own result tells how far it got).
    let cancelling: Promise<void> | undefined
    const cancel = () => {
      cancelling ??= this.cancel(ref).catch((err) =>
        this.#log(`Failed to cancel ${ref}: ${(err as Error).message}`)
      )
    }
    signal?.addEventListener('abort', cancel, { once: true })
    if (signal?.aborted) cancel()
    // No deadline here: poll gives up on a command SSM does not end within its timeouts.
    let emitted = 0
    let failures = 0
    try {
      for (;;) {
        let view: Awaited<ReturnType<SsmDispatcher['poll']>>
        try {
          view = await this.poll(ref, spec)
          failures = 0
        } catch (err) {
          const e = asDispatchError(err, 'poll', this.#where)
          this.#log(`Failed to poll ${ref}: ${e.message}`)
          // Credentials do not come back by themselves; a network blip or throttling may.
          if (e.code === 'dispatch_auth' || e.code === 'access_denied' || ++failures >= 5) {
            const message = `lost track of the SSM command (${ref}): ${e.message}`
            return { result: syntheticResult(spec, startedAt, e.code, message), exitCode: null }
          }
          // Once cancelling, a failed poll is tried again at the usual pace, not at once.
          await sleep(this.#o.pollMs, cancelling ? undefined : signal)
          continue
        }
        for (const e of view.events.slice(emitted)) onEvent(e)
        emitted = Math.max(emitted, view.events.length)
        if (view.done) return view.done
        // An abort wakes the loop: the cancel is on its way, its outcome is polled at once.
        await sleep(this.#o.pollMs, cancelling ? undefined : signal)
      }
    } finally {
      signal?.removeEventListener('abort', cancel)
      await cancelling
    }
  }

  // ---------- the full log, through a second command ----------

  /**
   * The full log of job `jobId` on `host` ($BERTH_HOME/jobs/<job>.log: every line and event),
   * read through read-only `log` jobs, one chunk (one SSM answer, under 24,000 characters) at a
   * time: the document runs nothing but `berth job run`.
   */
  async log(jobId: string, host?: string): Promise<string> {
    const ids = 'instanceIds' in this.#o.target ? this.#o.target.instanceIds : []
    const on = host ?? (ids.length === 1 ? ids[0] : undefined)
    if (!on)
      throw new SsmDispatchError(
        'invalid_job',
        `log: name the host (an instance id) to read the log of ${jobId} from`
      )
    const read = async (offset: number) => {
      const spec: DispatchSpec = { id: newJobId(), kind: 'log', options: { job: jobId, offset } }
      const { result } = await this.run(spec, { onEvent: () => {}, host: on })
      if (!result.ok)
        throw new SsmDispatchError(
          result.code ?? 'dispatch_failed',
          `log of ${jobId} on ${on}: ${result.message}`
        )
      return result.data
    }
    return (await readLogVia(read)).text
  }

  // ---------- SSM calls ----------

  async #send(spec: DispatchSpec, target: SsmTarget): Promise<Ref> {
    const o = this.#o
    // The spec travels as base64: no character of it can mean anything to a shell.
    const specB64 = base64Utf8(JSON.stringify(spec))
    if (!BASE64.test(specB64))
      throw new SsmDispatchError('internal', 'the spec did not encode to base64')
    // berth's document takes at most 65,536 characters (half Linux's limit on one argument).
    if (specB64.length > MAX_SPEC_B64) {
      throw new SsmDispatchError(
        'invalid_job',
        `the job spec is ${specB64.length} base64 characters; SSM dispatch takes at most ${MAX_SPEC_B64} (a 48 KiB spec)`
      )
    }
    const executionTimeout = [String(o.executionTimeoutSeconds)]
    const input: SendCommandCommandInput = {
      DocumentName: o.useRunShellScript ? 'AWS-RunShellScript' : o.documentName,
      Parameters: o.useRunShellScript
        ? {
            commands: [`${o.berthCommand} job run --compact --spec-b64 ${specB64}`],
            executionTimeout,
          }
        : { specB64: [specB64], executionTimeout },
      TimeoutSeconds: o.timeoutSeconds,
      Comment: `berth job ${spec.id}`.slice(0, 100),
      ...('instanceIds' in target
        ? { InstanceIds: target.instanceIds }
        : {
            Targets: Object.entries(target.tags).map(([k, v]) => ({
              Key: `tag:${k}`,
              Values: [v],
            })),
          }),
      ...(o.maxConcurrency !== undefined && { MaxConcurrency: String(o.maxConcurrency) }),
      ...(o.maxErrors !== undefined && { MaxErrors: String(o.maxErrors) }),
    }
    this.#log(`Sending job ${spec.id} (${spec.kind}) to ${describeTarget(target)}…`)
    const out = await this.#call('SendCommand', () =>
      this.#client.send(new SendCommandCommand(input))
    )
    const commandId = out.Command?.CommandId
    if (!commandId)
      throw new SsmDispatchError('dispatch_failed', 'SendCommand answered without a CommandId')
    this.#log(`Sent job ${spec.id} as command ${commandId}`)
    const e =
      Date.now() + (o.timeoutSeconds + o.executionTimeoutSeconds + LOST_AFTER_SECONDS) * 1000
    return 'instanceIds' in target
      ? { c: commandId, i: target.instanceIds, e }
      : { c: commandId, e }
  }

  /** Tag targets: the hosts are whatever SSM resolved; followed once it has resolved them all. */
  async #followTags(spec: DispatchSpec, commandId: string) {
    const listed = await this.#call('ListCommands', () =>
      this.#client.send(new ListCommandsCommand({ CommandId: commandId }))
    )
    const command = listed.Commands?.[0]
    const hosts: string[] = []
    let token: string | undefined
    do {
      const page = await this.#call('ListCommandInvocations', () =>
        this.#client.send(
          new ListCommandInvocationsCommand({
            CommandId: commandId,
            MaxResults: 50,
            NextToken: token,
          })
        )
      )
      for (const inv of page.CommandInvocations ?? [])
        if (inv.InstanceId) hosts.push(inv.InstanceId)
      token = page.NextToken
    } while (token)
    const targets = command?.TargetCount ?? 0
    // Right after SendCommand the list may be empty, or short, even when the
    // command has already ended: not yet, rather than none. No targets at all once it has ended.
    if (targets > 0 ? hosts.length < targets : !TERMINAL_COMMAND.has(command?.Status ?? '')) {
      return { events: [] }
    }
    if (hosts.length === 0) {
      const tags = Object.entries((this.#o.target as { tags: Record<string, string> }).tags)
      const message =
        `no instance matched ${tags.map(([k, v]) => `tag:${k}=${v}`).join(' and ')} ` +
        `(SSM: ${command?.StatusDetails ?? command?.Status})`
      const result = syntheticResult(spec, Date.now(), 'no_targets', message)
      return { events: [result], done: { result, exitCode: null } }
    }
    return this.#follow(spec, commandId, [...new Set(hosts)].sort(), true)
  }

  /**
   * Reads the hosts in order up to the first one still going (the later ones' events could not
   * be told yet anyway), and puts together the events so far and, once all have ended, the result.
   */
  async #follow(
    spec: DispatchSpec,
    commandId: string,
    hosts: string[],
    fanOut: boolean
  ): Promise<{ events: JobEvent[]; done?: { result: ResultEvent; exitCode: number | null } }> {
    const events: HostEvent[] = []
    const outcomes: HostOutcome[] = []
    const ends: { result: ResultEvent; exitCode: number | null }[] = []
    for (const host of hosts) {
      const inv = await this.#invocation(commandId, host)
      const status = hostStatus(inv.status, inv.details, this.#context(host))
      const parsed = parseOutput(inv.stdout, status.terminal)
      if (!status.terminal) {
        events.push(...(fanOut ? parsed.events.map((e) => ({ ...e, host })) : parsed.events))
        return { events }
      }
      const end = this.#ending(spec, inv, parsed)
      ends.push(end)
      if (!fanOut) return { events: [...parsed.events, end.result], done: end }
      events.push(...parsed.events.map((e) => ({ ...e, host })))
      const r = end.result
      events.push({
        type: 'log',
        t: r.t,
        job: spec.id,
        host,
        msg: r.ok ? `${host}: ${r.kind} ok` : `${host}: failed [${r.code}] ${r.message ?? ''}`,
      })
      outcomes.push({
        host,
        status: inv.status ?? '',
        details: inv.details ?? '',
        exitCode: end.exitCode,
        ok: r.ok,
        ...(r.code !== undefined && { code: r.code }),
        ...(r.message !== undefined && { message: r.message }),
        ...(r.nodes !== undefined && { nodes: r.nodes }),
        ...(r.data !== undefined && { data: r.data }),
      })
    }
    const result = combine(spec, outcomes, ends)
    const failed = outcomes.find((h) => !h.ok)
    const exitCode = failed ? (failed.exitCode ?? 1) : 0
    events.push(result)
    return { events, done: { result, exitCode } }
  }

  async #invocation(commandId: string, host: string): Promise<Invocation> {
    try {
      const o = await this.#client.send(
        new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: host })
      )
      return {
        host,
        status: o.Status,
        details: o.StatusDetails,
        responseCode: o.ResponseCode,
        stdout: o.StandardOutputContent ?? '',
        stderr: o.StandardErrorContent ?? '',
        startedAt: timeOf(o.ExecutionStartDateTime),
        endedAt: timeOf(o.ExecutionEndDateTime),
      }
    } catch (err) {
      // Right after SendCommand the invocation may not exist yet: not yet.
      if (errName(err) === 'InvocationDoesNotExist') {
        return { host, status: 'Pending', details: 'Pending', stdout: '', stderr: '' }
      }
      throw asDispatchError(err, 'GetCommandInvocation', this.#where)
    }
  }

  /** The result of one host's job once SSM has ended its invocation. */
  #ending(
    spec: DispatchSpec,
    inv: Invocation,
    parsed: { events: JobEvent[]; result?: ResultEvent }
  ): { result: ResultEvent; exitCode: number | null } {
    const status = hostStatus(inv.status, inv.details, this.#context(inv.host))
    const exitCode =
      inv.responseCode !== undefined && inv.responseCode >= 0 ? inv.responseCode : null
    const said = parsed.result
    const made = (code: ResultCode, message: string): ResultEvent => ({
      ...syntheticResult(spec, 0, code, message),
      // From what SSM reported, so that every poll puts together the same result.
      t: inv.endedAt ?? said?.t ?? parsed.events.at(-1)?.t ?? Date.now(),
      ms: inv.startedAt && inv.endedAt ? inv.endedAt - inv.startedAt : 0,
    })
    // Success, Failed, and Cancelled once berth has told how far it got: berth's result decides.
    if (!status.code || (status.code === 'cancelled' && said)) {
      if (said) return { result: said, exitCode }
      const truncated =
        inv.stdout.length >= SSM_STDOUT_LIMIT
          ? ` (stdout passed SSM's ${SSM_STDOUT_LIMIT}-character limit before the result; ` +
            `the whole log is on the host: berth job log ${spec.id})`
          : ''
      if (status.state === 'cancelled')
        return { result: made('cancelled', status.message), exitCode }
      const how = status.state === 'succeeded' ? 'exited 0' : `failed (exit ${exitCode ?? '?'})`
      const stderr = lastLine(inv.stderr)
      const message = `berth job run ${how} on ${inv.host} without a result event${truncated}${stderr ? `: ${stderr}` : ''}`
      return { result: made('dispatch_failed', message), exitCode }
    }
    // SSM ended it (timeouts, delivery, permissions): its reason first, berth's after.
    const also = said && !said.ok ? `; berth said [${said.code}] ${said.message}` : ''
    return { result: made(status.code, status.message + also), exitCode }
  }

  #context(host: string): StatusContext {
    const o = this.#o
    return {
      host,
      timeoutSeconds: o.timeoutSeconds,
      executionTimeoutSeconds: o.executionTimeoutSeconds,
      ...(o.maxErrors !== undefined && { maxErrors: String(o.maxErrors) }),
    }
  }

  async #call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      const e = asDispatchError(err, op, this.#where)
      this.#log(`Failed ${op}: ${e.message}`)
      throw e
    }
  }

  #log(line: string): void {
    ;(this.#o.log ?? silentLogger).info(`ssm: ${line}`)
  }
}

/** Every event the output holds (a last line without its newline only once the run ended). */
function parseOutput(stdout: string, final: boolean): { events: JobEvent[]; result?: ResultEvent } {
  const events: JobEvent[] = []
  const reader = ndjsonReader(
    (e) => {
      if (e.type !== 'result') events.push(e)
    },
    () => {}
  )
  reader.push(final ? stdout : stdout.slice(0, stdout.lastIndexOf('\n') + 1))
  const result = final ? reader.end() : undefined
  return { events, ...(result && { result }) }
}

function combine(
  spec: DispatchSpec,
  hosts: HostOutcome[],
  ends: { result: ResultEvent }[]
): ResultEvent {
  const failed = hosts.filter((h) => !h.ok)
  const t = Math.max(...ends.map((e) => e.result.t))
  const ms = Math.max(...ends.map((e) => e.result.ms))
  const message = failed.length
    ? `${failed.length} of ${hosts.length} hosts failed: ` +
      failed.map((h) => `${h.host} [${h.code}] ${(h.message ?? '').slice(0, 200)}`).join('; ')
    : undefined
  return {
    type: 'result',
    t,
    job: spec.id,
    kind: spec.kind,
    cluster: typeof spec.cluster === 'string' ? spec.cluster : '',
    ok: failed.length === 0,
    ms,
    ...(failed[0] && { code: failed[0].code ?? 'dispatch_failed', message }),
    data: { hosts },
  }
}

function parseRef(ref: string): Ref {
  let r: unknown
  try {
    r = JSON.parse(ref)
  } catch {
    throw new SsmDispatchError('invalid_ref', `not an SSM dispatch ref: ${ref.slice(0, 100)}`)
  }
  const v = r as Partial<Ref> | null
  if (
    typeof v?.c !== 'string' ||
    (v.i !== undefined && !(Array.isArray(v.i) && v.i.every((x) => typeof x === 'string'))) ||
    (v.e !== undefined && typeof v.e !== 'number')
  ) {
    throw new SsmDispatchError('invalid_ref', `not an SSM dispatch ref: ${ref.slice(0, 100)}`)
  }
  return v as Ref
}

function describeTarget(t: SsmTarget): string {
  return 'instanceIds' in t
    ? t.instanceIds.join(', ')
    : Object.entries(t.tags)
        .map(([k, v]) => `tag:${k}=${v}`)
        .join(' and ')
}

/** An SDK (or network) error as a dispatch error: a stable code, a message that says what to do. */
export function asDispatchError(err: unknown, op: string, where: string): SsmDispatchError {
  if (err instanceof SsmDispatchError) return err
  const name = errName(err)
  const text = (err as Error)?.message ?? String(err)
  const attempts = (err as { $metadata?: { attempts?: number } }).$metadata?.attempts
  const make = (code: ResultCode, message: string) =>
    new SsmDispatchError(code, message, { cause: err })
  if (AUTH_ERRORS.has(name)) {
    return make(
      'dispatch_auth',
      `${where} refused the credentials (${name}: ${text}): check the access key id, the secret ` +
        `key and the region`
    )
  }
  if (name === 'AccessDeniedException') {
    return make(
      'access_denied',
      `${where} denied ${op} (${text}): the IAM policy must allow ssm:${op}`
    )
  }
  if (name === 'ThrottlingException') {
    return make(
      'throttled',
      `${where} throttled ${op}${attempts ? ` ${attempts} times` : ''}: ${text}`
    )
  }
  if (name === 'InvalidDocument') {
    return make(
      'dispatch_failed',
      `${where} has no such document (${text}): create berth's document from ` +
        `infra/ssm/berth-job-run.json, or use AWS-RunShellScript`
    )
  }
  if (name === 'InvalidInstanceId') {
    return make(
      'unreachable',
      `${where} cannot send to the instance (${text}): it is not managed by SSM, its agent is ` +
        `not running, or the caller may not use it`
    )
  }
  if (name === 'InvalidParameters') {
    return make(
      'dispatch_failed',
      `the document refused its parameters (${text}): does it take specB64 and executionTimeout?`
    )
  }
  if (!(err as { $metadata?: unknown })?.$metadata) {
    // No HTTP answer at all: DNS, connection refused, TLS.
    return make(
      'dispatch_failed',
      `cannot reach ${where} for ${op}: ${name ? `${name}: ` : ''}${text}`
    )
  }
  return make('dispatch_failed', `${where}: ${op} failed: ${name}: ${text}`)
}

type CheckedOptions = SsmDispatcherOptions &
  Required<
    Pick<
      SsmDispatcherOptions,
      'documentName' | 'timeoutSeconds' | 'executionTimeoutSeconds' | 'pollMs' | 'berthCommand'
    >
  >

function checkOptions(o: CheckedOptions): void {
  const bad = (what: string): never => {
    throw new Error(`SsmDispatcher: ${what}`)
  }
  if (typeof o.target !== 'object' || o.target === null)
    bad('target: { instanceIds: [...] } or { tags: {...} }')
  if ('instanceIds' in o.target) {
    const ids = o.target.instanceIds
    if (!Array.isArray(ids) || ids.length < 1 || ids.length > 50)
      bad('target.instanceIds: 1 to 50 instance ids')
    for (const id of ids)
      if (!INSTANCE_ID.test(id))
        bad(`target.instanceIds: "${id}" is not an instance id (i-… or mi-…)`)
    if (new Set(ids).size !== ids.length) bad('target.instanceIds: an instance id is listed twice')
  } else if ('tags' in o.target) {
    if (typeof o.target.tags !== 'object' || o.target.tags === null)
      bad('target.tags: an object of tag → value')
    const tags = Object.entries(o.target.tags)
    if (tags.length < 1 || tags.length > 5)
      bad('target.tags: 1 to 5 tags (SSM takes at most 5 targets)')
    for (const [k, v] of tags) {
      if (!TAG_KEY.test(k)) bad(`target.tags: "${k}" is not a tag key`)
      if (typeof v !== 'string' || v.length < 1 || v.length > 256)
        bad(`target.tags.${k}: a value of 1 to 256 characters`)
    }
  } else bad('target: { instanceIds: [...] } or { tags: {...} }')
  if (!DOCUMENT_NAME.test(o.documentName))
    bad(`documentName: "${o.documentName}" is not a document name`)
  if (o.maxConcurrency !== undefined && !MAX_CONCURRENCY.test(String(o.maxConcurrency))) {
    bad(`maxConcurrency: "${o.maxConcurrency}" is not a count (1, 2, …) or a percentage (10%)`)
  }
  if (o.maxErrors !== undefined && !MAX_ERRORS.test(String(o.maxErrors))) {
    bad(`maxErrors: "${o.maxErrors}" is not a count (0, 1, …) or a percentage (10%)`)
  }
  if (
    !Number.isInteger(o.timeoutSeconds) ||
    o.timeoutSeconds < 30 ||
    o.timeoutSeconds > 2_592_000
  ) {
    bad('timeoutSeconds: whole seconds, 30 to 2592000')
  }
  if (
    !Number.isInteger(o.executionTimeoutSeconds) ||
    o.executionTimeoutSeconds < 1 ||
    o.executionTimeoutSeconds > 172_800
  ) {
    bad('executionTimeoutSeconds: whole seconds, 1 to 172800 (48 h)')
  }
  if (!(o.pollMs > 0)) bad('pollMs: more than 0')
  if (!COMMAND_WORDS.test(o.berthCommand)) {
    bad(
      `berthCommand: "${o.berthCommand}" must be plain words (letters, digits, _ . / -) separated by spaces`
    )
  }
}
