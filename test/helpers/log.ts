/** A logger whose lines a test reads back: each as {level, msg, …fields}. */
import { createLogger, type Logger } from '../../scripts/engine/logger.ts'

export interface LogRecord {
  level: string
  msg: string
  job?: string
  cluster?: string
  [field: string]: unknown
}

export function captureLog(): { log: Logger; records: LogRecord[]; messages: () => string[] } {
  const records: LogRecord[] = []
  const log = createLogger({
    level: 'debug',
    format: 'json',
    write: (line) => records.push(JSON.parse(line) as LogRecord),
  })
  return { log, records, messages: () => records.map((r) => r.msg) }
}
