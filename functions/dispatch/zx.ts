/**
 * ZxDispatcher: runs `berth job run` as a child process, locally or on the Docker host over ssh.
 * Node only. The job spec always travels on stdin, never on a command line: the remote command
 * is fixed by configuration and no string from a spec ever reaches a shell.
 */
import { $, quote } from 'zx'
import type { ResultEvent } from '../../scripts/engine/events.ts'
import { lineBuffer } from '../../scripts/engine/line-buffer.ts'
import {
  LOG_LEVELS,
  silentLogger,
  type Logger,
  type LogLevel,
} from '../../scripts/engine/logger.ts'
import {
  ndjsonReader,
  syntheticResult,
  type DispatchOptions,
  type DispatchSpec,
  type Dispatcher,
} from './dispatcher.ts'

interface Common {
  /** argv that starts berth on the target: ['node', '/opt/berth/lib/node_modules/berth/bin/berth.mjs'] or ['berth']. */
  berth: string[]
  /** How long a cancelled job may take to clean up before it is killed. */
  graceMs?: number
  /** Where the children's stderr goes (each job's lines with its id); default: nowhere. */
  log?: Logger
}

/** A child's stderr line: its own log line (JSON, from logger.ts) again at its level, else debug. */
function relay(log: Logger, line: string): void {
  if (!line.trim()) return
  try {
    const {
      level,
      msg,
      time: _time,
      ...fields
    } = JSON.parse(line) as { level?: unknown; msg?: unknown; time?: unknown }
    if (typeof msg === 'string' && (LOG_LEVELS as readonly unknown[]).includes(level))
      return log[level as LogLevel](msg, fields)
  } catch {
    // not one of berth's log lines: below
  }
  log.debug(line)
}

export type ZxDispatcherConfig =
  | (Common & { mode: 'local' })
  | (Common & {
      mode: 'ssh'
      host: string
      port?: number
      user: string
      identityFile: string
      /** Without one, the user's known_hosts applies; an unknown host key is always refused. */
      knownHostsFile?: string
    })

/**
 * Runs on the target as `sh -c JOB_WRAPPER berth-job <grace-seconds> <berth argv…>` — locally
 * as a child process, or on the remote host through ssh.
 *
 * Why a wrapper: without a tty, sshd signals nothing to the remote command when the client goes
 * away (verified with OpenSSH 9.2: `sleep` outlives a killed ssh client), so killing the local
 * ssh process alone leaves the job running; and a local child outlives a server killed with
 * SIGKILL. What does reach the job, when we cancel and when the server, the client or the
 * connection dies, is EOF on stdin. So the protocol, the same for both modes, is:
 * - the first stdin line is the spec; berth gets it on its own stdin, which then closes
 *   (berth reads stdin to EOF before it starts);
 * - our stdin stays open for the whole job; EOF on it means cancel: SIGTERM to berth (berth
 *   stops at its next safe point and cleans up), SIGKILL after the grace period;
 * - berth writes into fifos drained by relays that outlive a closed channel (the second `cat`
 *   swallows what the first can no longer deliver): when the connection is gone, berth's
 *   writes would otherwise fail with EPIPE and kill it in the middle of its cleanup.
 * The script is a constant; the only arguments are the grace period and the configured argv.
 */
const JOB_WRAPPER = `grace=$1; shift
IFS= read -r spec || exit 2
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
mkfifo "$dir/out" "$dir/err" || exit 1
{ cat; cat >/dev/null; } <"$dir/out" &
{ cat; cat >/dev/null; } <"$dir/err" >&2 &
exec 3<&0
printf '%s\\n' "$spec" | "$@" job run >"$dir/out" 2>"$dir/err" &
pid=$!
{
  cat >/dev/null
  kill -TERM "$pid"; n=0
  while kill -0 "$pid" && [ "$n" -lt "$grace" ]; do sleep 1; n=$((n + 1)); done
  kill -KILL "$pid"
} <&3 >/dev/null 2>&1 &
watch=$!
wait "$pid"; rc=$?
kill "$watch" 2>/dev/null
wait
exit "$rc"`

// ssh takes user and host as one word; a leading '-' would be read as an option.
const SSH_WORD = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/

export class ZxDispatcher implements Dispatcher {
  readonly name: string
  readonly #config: ZxDispatcherConfig
  readonly #graceMs: number

  constructor(config: ZxDispatcherConfig) {
    if (config.berth.length === 0) throw new Error('berth argv must not be empty')
    if (config.mode === 'ssh' && !(SSH_WORD.test(config.user) && SSH_WORD.test(config.host)))
      throw new Error(`invalid ssh user or host: ${config.user}@${config.host}`)
    this.#config = config
    this.#graceMs = config.graceMs ?? 10_000
    this.name = config.mode === 'local' ? 'zx-local' : 'zx-ssh'
  }

  async run(
    spec: DispatchSpec,
    { onEvent, signal }: DispatchOptions
  ): Promise<{ result: ResultEvent; exitCode: number | null }> {
    const startedAt = Date.now()
    if (signal?.aborted) {
      const result = syntheticResult(spec, startedAt, 'cancelled', 'cancelled before start')
      return { result, exitCode: null }
    }

    const c = this.#config
    // nothrow: a failed job is a result we report, not an exception.
    const sh = $({ quiet: true, nothrow: true, verbose: false })
    // `exec` so the pid we signal is the wrapper (or ssh) itself, not an intermediate bash.
    const graceSeconds = String(Math.ceil(this.#graceMs / 1000))
    const proc =
      c.mode === 'local'
        ? sh`exec sh -c ${JOB_WRAPPER} berth-job ${graceSeconds} ${c.berth}`
        : sh`exec ssh ${this.#sshArgs(['sh', '-c', JOB_WRAPPER, 'berth-job', graceSeconds, ...c.berth])}`
    const log = (c.log ?? silentLogger).with({ job: spec.id })
    const reader = ndjsonReader(onEvent, (line) => log.debug(`not an event: ${line}`))
    proc.stdout.setEncoding('utf8')
    proc.stdout.on('data', (chunk: string) => reader.push(chunk))
    proc.stderr.setEncoding('utf8')
    const stderr = lineBuffer((l) => relay(log, l))
    proc.stderr.on('data', (chunk: string) => stderr.push(chunk))
    proc.stderr.on('end', () => stderr.flush())
    // The process may die before reading its stdin; the exit code tells that story, not EPIPE.
    proc.stdin.on('error', (err) => log.debug(`stdin: ${err.message}`))

    // The spec is the first line; stdin then stays open: its EOF means cancel.
    proc.stdin.write(JSON.stringify(spec) + '\n')

    let killTimer: NodeJS.Timeout | undefined
    const cancel = () => {
      log.info(`cancelling (${this.name})`)
      proc.stdin.end()
      // Grace for the cleanup, then no more: the wrapper escalates on its side too.
      killTimer = setTimeout(() => this.#signal(proc.pid, 'SIGKILL'), this.#graceMs + 2_000)
    }
    signal?.addEventListener('abort', cancel, { once: true })

    try {
      const out = await proc
      const result =
        reader.end() ??
        (signal?.aborted
          ? syntheticResult(spec, startedAt, 'cancelled', 'the job was cancelled')
          : syntheticResult(
              spec,
              startedAt,
              'dispatch_failed',
              `${this.name}: no result (exit ${out.exitCode ?? out.signal}): ` +
                lastLine(out.stderr)
            ))
      return { result, exitCode: out.exitCode }
    } finally {
      signal?.removeEventListener('abort', cancel)
      clearTimeout(killTimer)
      if (!proc.stdin.writableEnded) proc.stdin.end()
    }
  }

  /**
   * Runs `berth watch` on the target until `signal` aborts (or it ends by itself, e.g. when the
   * Docker daemon restarts): each NDJSON line goes to `onLine`. Closing its stdin ends it, on
   * the remote host too. Resolves with its exit code.
   */
  async watch(onLine: (value: unknown) => void, signal: AbortSignal): Promise<number | null> {
    const c = this.#config
    const sh = $({ quiet: true, nothrow: true, verbose: false })
    const argv = [...c.berth, 'watch']
    const proc = c.mode === 'local' ? sh`exec ${argv}` : sh`exec ssh ${this.#sshArgs(argv)}`
    let rest = ''
    proc.stdout.setEncoding('utf8')
    proc.stdout.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n')
      rest = lines.pop() ?? ''
      for (const l of lines) {
        try {
          if (l.trim()) onLine(JSON.parse(l))
        } catch {
          ;(this.#config.log ?? silentLogger).debug(`watch: not JSON: ${l}`)
        }
      }
    })
    proc.stderr.setEncoding('utf8')
    const stderr = lineBuffer((l) => relay(this.#config.log ?? silentLogger, l))
    proc.stderr.on('data', (chunk: string) => stderr.push(chunk))
    proc.stdin.on('error', () => {})
    let killTimer: NodeJS.Timeout | undefined
    const stop = () => {
      proc.stdin.end()
      killTimer = setTimeout(() => this.#signal(proc.pid, 'SIGKILL'), 3_000)
    }
    if (signal.aborted) stop()
    signal.addEventListener('abort', stop, { once: true })
    try {
      return (await proc).exitCode
    } finally {
      signal.removeEventListener('abort', stop)
      clearTimeout(killTimer)
    }
  }

  #sshArgs(remoteArgv: string[]): string[] {
    const c = this.#config
    if (c.mode !== 'ssh') throw new Error('not an ssh dispatcher')
    // ssh joins everything after the destination with spaces and hands it to the remote login
    // shell, so the remote argv is quoted here, with the same quoting zx applies to `${}`.
    const remote = remoteArgv.map(quote).join(' ')
    // Options with their values, one pair per line.
    // prettier-ignore
    return [
      '-T',
      '-o', 'BatchMode=yes',
      '-o', 'StrictHostKeyChecking=yes',
      ...(c.knownHostsFile ? ['-o', `UserKnownHostsFile=${c.knownHostsFile}`] : []),
      '-o', 'IdentitiesOnly=yes',
      // A dead link must end the job here too, not hang until TCP gives up.
      '-o', 'ServerAliveInterval=15',
      '-o', 'ServerAliveCountMax=4',
      '-o', 'LogLevel=ERROR',
      '-i', c.identityFile,
      '-p', String(c.port ?? 22),
      `${c.user}@${c.host}`,
      '--',
      remote,
    ]
  }

  // Not zx's kill(): it signals the whole process tree, and berth exits without cleaning up
  // on a second signal.
  #signal(pid: number | undefined, sig: NodeJS.Signals) {
    if (pid === undefined) return
    try {
      process.kill(pid, sig)
    } catch {
      // already gone
    }
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? ''
}
