/**
 * A topology file read from disk, with each `files[].source` read in: the path is relative to the
 * file's folder and may not leave it (nor through a symbolic link); the bytes become the entry's
 * `content` (base64). What comes out is the topology as data, which is what a job carries: a job
 * from the service can never name a path on the host.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs'
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path'
import { BerthError } from './errors.ts'
import { MAX_FILE_BYTES } from './runtime-keys.ts'
import {
  checkTopology,
  parseTopologyText,
  topologyError,
  type Topology,
  type TopologyFileData,
} from './topology.ts'
import type { Issue } from './zod-issues.ts'

export interface LoadedTopology {
  /** The topology as data, sources read in. */
  data: Record<string, unknown>
  file: TopologyFileData
  topology: Topology
}

export function loadTopologyFile(path: string): LoadedTopology {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new BerthError(
      'invalid_job',
      `cannot read topology file "${path}": ${(err as Error).message}`
    )
  }
  const data = parseTopologyText(text, { file: path })
  const issues = readSources(data, dirname(resolve(path)))
  if (issues.length) throw topologyError(issues)
  const { file, topology } = checkTopology(data, { file: path })
  return { data: data as Record<string, unknown>, file, topology }
}

const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/** Replaces every `source` with its content, in place; the problems, by path. */
function readSources(data: unknown, dir: string): Issue[] {
  if (!isMapping(data)) return []
  const lists: [string, unknown][] = []
  if (isMapping(data.defaults)) lists.push(['defaults.files', data.defaults.files])
  if (Array.isArray(data.nodes))
    data.nodes.forEach((n, i) => isMapping(n) && lists.push([`nodes[${i}].files`, n.files]))
  const issues: Issue[] = []
  const root = realpathSync(dir)
  for (const [at, files] of lists) {
    if (!Array.isArray(files)) continue
    files.forEach((f, j) => {
      if (!isMapping(f) || f.source === undefined) return
      const path = `${at}[${j}].source`
      const problem = sourceProblem(f.source, dir, root)
      if (typeof problem === 'string') return issues.push({ path, message: problem })
      if (f.content !== undefined)
        return issues.push({ path, message: 'give content or source, not both' })
      delete f.source
      f.content = problem.toString('base64')
      f.encoding = 'base64'
    })
  }
  return issues
}

function sourceProblem(source: unknown, dir: string, root: string): string | Buffer {
  if (typeof source !== 'string' || !source) return 'expected a path relative to the topology file'
  if (isAbsolute(source))
    return `"${source}" is absolute: write it relative to the topology file's folder`
  const path = resolve(dir, source)
  const inside = (p: string, base: string) => p === base || p.startsWith(base + sep)
  if (!inside(path, dir)) return `"${source}" leaves the topology file's folder`
  let real: string
  try {
    real = realpathSync(path)
  } catch {
    return `"${source}" does not exist (looked for ${path})`
  }
  if (!inside(real, root))
    return `"${source}" leads out of the topology file's folder (to ${relative(root, real)})`
  const st = statSync(real)
  if (!st.isFile()) return `"${source}" is not a file`
  if (st.size > MAX_FILE_BYTES)
    return `"${source}" is ${st.size} bytes; a file may hold at most ${MAX_FILE_BYTES}`
  return readFileSync(real)
}
