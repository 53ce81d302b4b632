/**
 * The one logger of berth's processes (`berth serve`, the Worker, a job run's engine trace):
 * levels, a line per message, JSON lines when the output is not a terminal (a journal, a log
 * shipper, Cloudflare's logs) and `time level message key=value` on one; a job's id (and its
 * cluster) on every line about a job, as fields. A job's own output is not this: it is the job's
 * events and its log file (job-log.ts).
 *
 * The level is BERTH_LOG_LEVEL (debug, info — the default —, warn, error); debug traces every
 * Docker call. Pure (the Worker bundles it); `processLogger` reads the environment it is given.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** What a line is about: `job` and `cluster` where it is about a job, anything else by name. */
export type LogFields = { job?: string; cluster?: string } & Record<string, unknown>

export interface Logger {
  debug(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
  /** This logger, every line of which also carries `fields` (a job's id). */
  with(fields: LogFields): Logger
  /** Whether a line at `level` is written (to skip building an expensive one). */
  enabled(level: LogLevel): boolean
}

export interface LoggerOptions {
  /** The least level written; default info. */
  level?: LogLevel
  /** json: one JSON object per line ({time, level, msg, …fields}); text: for a terminal. */
  format?: 'json' | 'text'
  /** Where each line goes (without its newline). */
  write: (line: string) => void
  now?: () => Date
}

function render(o: LoggerOptions, level: LogLevel, msg: string, fields: LogFields): string {
  const time = (o.now?.() ?? new Date()).toISOString()
  if (o.format !== 'text') return JSON.stringify({ time, level, msg, ...fields })
  const extra = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join('')
  return `${time.slice(11, 23)} ${level.padEnd(5)} ${msg}${extra}`
}

export function createLogger(o: LoggerOptions, bound: LogFields = {}): Logger {
  const least = LOG_LEVELS.indexOf(o.level ?? 'info')
  const enabled = (level: LogLevel) => LOG_LEVELS.indexOf(level) >= least
  const line = (level: LogLevel) => (message: string, fields?: LogFields) => {
    if (enabled(level)) o.write(render(o, level, message, { ...bound, ...fields }))
  }
  return {
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
    with: (fields) => createLogger(o, { ...bound, ...fields }),
    enabled,
  }
}

/** Writes nothing (a library's default when no logger is given). */
export const silentLogger: Logger = createLogger({ write: () => {} })

/** The level BERTH_LOG_LEVEL names, or info (an unknown name is said once, at warn). */
export function levelFrom(env: Record<string, string | undefined>): {
  level: LogLevel
  unknown?: string
} {
  const named = env.BERTH_LOG_LEVEL?.trim().toLowerCase()
  if (!named) return { level: 'info' }
  return (LOG_LEVELS as readonly string[]).includes(named)
    ? { level: named as LogLevel }
    : { level: 'info', unknown: named }
}

/**
 * A process's logger on one of its streams (serve: stdout; a CLI command whose stdout is its
 * output: stderr), JSON lines unless the stream is a terminal.
 */
export function processLogger(
  stream: { write(s: string): unknown; isTTY?: boolean },
  env: Record<string, string | undefined>
): Logger {
  const { level, unknown } = levelFrom(env)
  const log = createLogger({
    level,
    format: stream.isTTY ? 'text' : 'json',
    write: (l) => stream.write(`${l}\n`),
  })
  if (unknown)
    log.warn(
      `BERTH_LOG_LEVEL: "${unknown}" is not one of ${LOG_LEVELS.join(', ')}; logging at info`
    )
  return log
}
