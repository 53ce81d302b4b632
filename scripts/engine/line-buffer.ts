/**
 * Output arrives in chunks cut wherever the transport cut it, often mid-line: a log line per
 * chunk piece would split one line of a bootstrap into two. This keeps the unfinished end of
 * each chunk until its newline comes (or the output ends).
 */

/**
 * A line longer than this is logged in pieces of this size: output that never prints a newline
 * (a progress bar redrawn with \r, for minutes) must not grow the buffer without bound.
 */
export const MAX_LINE = 64 * 1024

export interface LineBuffer {
  /** Takes a chunk; calls `onLine` for every line it completes. */
  push(chunk: string): void
  /** The output has ended: the unfinished rest, if any, is a line too. */
  flush(): void
}

export function lineBuffer(onLine: (line: string) => void, maxLine = MAX_LINE): LineBuffer {
  let rest = ''
  return {
    push(chunk) {
      const lines = (rest + chunk).split('\n')
      rest = lines.pop() as string
      for (const line of lines) onLine(line)
      while (rest.length > maxLine) {
        onLine(rest.slice(0, maxLine))
        rest = rest.slice(maxLine)
      }
    },
    flush() {
      if (rest) onLine(rest)
      rest = ''
    },
  }
}
