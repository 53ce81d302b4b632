/**
 * The one way berth turns zod's issues into what it reports: each problem at its path, written as
 * in the file (`nodes[2].ports[0]`), an unknown key with a "did you mean", a failed union
 * explained by the branch whose type matched. Every parser reports through it: the topology, the
 * job spec, a snapshot's manifest, schedules, the server's config, the Worker's bindings and the
 * HTTP bodies. Pure (the Worker bundles it).
 */
import type { z } from 'zod'
import { didYouMean } from './topology-kit.ts'

export type Path = readonly PropertyKey[]

/** A problem at a path, before the path is written out (checks across fields make these too). */
export interface RawIssue {
  path: Path
  message: string
}

/** A problem as reported: in an error's `issues`, one line each in its message. */
export interface Issue {
  path: string
  message: string
}

export interface IssueOptions {
  /** The keys allowed where an unknown key was found, for "did you mean" (strict schemas). */
  knownKeys?: (path: Path) => readonly string[]
}

/** `nodes[2].env["A B"]`: dots between names, brackets for indexes and keys that are not names. */
export function formatPath(path: Path): string {
  return path
    .map((p, i) => {
      if (typeof p === 'number') return `[${p}]`
      const key = String(p)
      if (/^[A-Za-z_$][\w$-]*$/.test(key)) return i === 0 ? key : `.${key}`
      return `[${JSON.stringify(key)}]`
    })
    .join('')
}

// Zod reports a failed union as one issue holding every branch's issues. The branch to explain
// is the one whose type matched (a mapping given for a volume → the mapping form's issues);
// when none or several matched, the union's own message says what was expected.
function isTypeMismatch(iss: z.core.$ZodIssue): boolean {
  return iss.path.length === 0 && (iss.code === 'invalid_type' || iss.code === 'invalid_value')
}

/** Zod's issues flattened: one per unknown key, a union's fitting branch instead of the union. */
export function rawIssues(
  issues: readonly z.core.$ZodIssue[],
  opts: IssueOptions = {},
  base: Path = []
): RawIssue[] {
  const out: RawIssue[] = []
  for (const iss of issues) {
    const path = [...base, ...iss.path]
    if (iss.code === 'unrecognized_keys') {
      const known = opts.knownKeys?.(path) ?? []
      for (const key of iss.keys) {
        out.push({ path: [...path, key], message: `unknown key${didYouMean(key, known)}` })
      }
    } else if (iss.code === 'invalid_union') {
      const fitting = iss.errors.filter((branch) => !branch.every(isTypeMismatch))
      if (fitting.length === 1) out.push(...rawIssues(fitting[0], opts, path))
      else out.push({ path, message: iss.message })
    } else {
      out.push({ path, message: iss.message })
    }
  }
  return out
}

/** Writes raw issues' paths out; an issue about the whole input is at `root`. */
export function written(issues: readonly RawIssue[], root: string): Issue[] {
  return issues.map((i) => ({ path: formatPath(i.path) || root, message: i.message }))
}

/** A zod error's issues as reported, the whole input's at `root` (`(body)`, `(spec)`, a file). */
export function zodIssues(
  error: { issues: readonly z.core.$ZodIssue[] },
  root: string,
  opts: IssueOptions = {}
): Issue[] {
  return written(rawIssues(error.issues, opts), root)
}

/** `path: message` per issue (the message alone at an empty path), joined: one per line in a
 *  CLI's message, `; ` in a one-line one. */
export function issueLines(issues: readonly Issue[], separator = '\n'): string {
  return issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join(separator)
}
