import { invalid } from '../errors.ts'

/** `?limit=`: a whole number from 1 to `max`, else 422 (never "no limit"). */
export function listLimit(raw: string | undefined, fallback: number, max = 500): number {
  if (raw === undefined) return fallback
  if (!/^\d{1,6}$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw invalid(`limit: "${raw.slice(0, 40)}" is not a whole number from 1 to ${max}`)
  }
  return Number(raw)
}
