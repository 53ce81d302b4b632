/**
 * The pieces topology schemas are built from: messages in the file's own words (what was
 * expected, what was found, "did you mean"), a union that says what it expected, an integer
 * range. Shared by the topology and its runtime keys.
 */
import { z } from 'zod'

export function show(v: unknown): string {
  if (v === undefined) return 'nothing'
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (v instanceof Uint8Array) return 'binary data'
  if (typeof v === 'object') return 'a mapping'
  if (typeof v === 'string') {
    return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v)
  }
  // What is left: a number, a bigint or a boolean (YAML and JSON give nothing else).
  const primitive = v as number | bigint | boolean
  return String(primitive)
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  null: 'null',
}

// The fallback for issues no schema below words itself; a missing key reads "required".
export const errorMap: z.core.$ZodErrorMap = (iss) => {
  if (iss.input === undefined && (iss.code === 'invalid_type' || iss.code === 'invalid_union')) {
    return 'required'
  }
  switch (iss.code) {
    case 'invalid_type':
      return `expected ${EXPECTED[iss.expected] ?? iss.expected}, got ${show(iss.input)}`
    case 'too_small':
      if (iss.origin === 'string') return 'must not be empty'
      if (iss.origin === 'array') return `must have at least ${iss.minimum} item(s)`
      return `must be at least ${iss.minimum}, got ${show(iss.input)}`
    case 'too_big':
      if (iss.origin === 'array') return `must have at most ${iss.maximum} item(s)`
      return `must be at most ${iss.maximum}, got ${show(iss.input)}`
    case 'invalid_value':
      return `must be one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}, got ${show(iss.input)}`
    default:
      return undefined
  }
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = row
  }
  return prev[b.length]
}

/** ` (did you mean "x"?)` for the closest candidate within edit distance 2, else ''. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  let best: string | undefined
  let bestDistance = 3
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase())
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return best === undefined ? '' : ` (did you mean ${JSON.stringify(best)}?)`
}

/** A union whose own message says what was expected, used when no single branch fits the type. */
export function oneOf<const T extends readonly [z.ZodType, ...z.ZodType[]]>(
  options: T,
  expected: string
) {
  return z.union(options, {
    error: (iss) => (iss.input === undefined ? 'required' : `${expected}, got ${show(iss.input)}`),
  })
}

export function intIn(min: number, max: number) {
  const error = (iss: { input?: unknown }) =>
    iss.input === undefined
      ? 'required'
      : `must be an integer from ${min} to ${max}, got ${show(iss.input)}`
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error })
}
