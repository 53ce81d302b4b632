/**
 * Builds a Debian node image (`berth image build-debian`): a root filesystem made by Debian's
 * mmdebstrap (minbase and the packages asked for), streamed straight into `docker import`, with
 * no registry involved. The image is labelled with its recipe's hash (debian-recipe.ts): when the
 * tag already holds an image of that recipe, nothing is built. Progress goes to `progress`, one
 * line per stage.
 */
import { execFile, spawn } from 'node:child_process'
import { PassThrough } from 'node:stream'
import { promisify } from 'node:util'
import type { Engine } from '../engine/docker.ts'
import { BerthError } from '../engine/errors.ts'
import {
  explainFailure,
  importChanges,
  mmdebstrapArgs,
  parseRecipe,
  RECIPE_LABEL,
  type Recipe,
  type RecipeInput,
} from './debian-recipe.ts'

const run = promisify(execFile)

export interface DebianImageResult {
  image: string
  id: string
  built: boolean
  hash: string
  /** Size of the root filesystem tar (0 when nothing was built). */
  bytes: number
  seconds: number
}

export interface BuildOptions {
  force?: boolean
  progress?: (line: string) => void
  signal?: AbortSignal
}

// berth runs with umask 077 (bin/berth.mjs); what lands in an image must have Debian's modes.
const UMASK_022 = ['sh', '-c', 'umask 022 && exec "$@"', 'sh']

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`

export async function buildDebianImage(
  engine: Engine,
  input: RecipeInput,
  opts: BuildOptions = {}
): Promise<DebianImageResult> {
  const recipe = parseRecipe(input)
  const progress = opts.progress ?? ((line: string) => engine.log.debug(line))
  const t0 = Date.now()

  const present = await engine.inspectImage(recipe.image)
  if (present && !opts.force && present.Config?.Labels?.[RECIPE_LABEL] === recipe.hash) {
    progress(`${recipe.image} is up to date (recipe ${recipe.hash.slice(0, 12)})`)
    return {
      image: recipe.image,
      id: present.Id,
      built: false,
      hash: recipe.hash,
      bytes: 0,
      seconds: (Date.now() - t0) / 1000,
    }
  }

  const version = await ensureMmdebstrap(progress)
  progress(
    `debootstrapping ${recipe.suite} (${recipe.packages.length} package${recipe.packages.length === 1 ? '' : 's'} on ${'minbase'}) from ${recipe.mirror} with ${version}…`
  )
  const bytes = await debootstrapInto(engine, recipe, progress, opts.signal)

  const info = await engine.inspectImage(recipe.image)
  if (!info || info.Config?.Labels?.[RECIPE_LABEL] !== recipe.hash) {
    throw new BerthError('engine', `image "${recipe.image}" is missing right after its import`)
  }
  if (present && present.Id !== info.Id) {
    const removed = await engine.removeImageIfUnused(present.Id)
    engine.log.debug(`${removed ? 'Removed' : 'Kept (in use)'} the replaced image ${present.Id}`)
  }
  const seconds = (Date.now() - t0) / 1000
  progress(
    `done: ${recipe.image} (${info.Id.slice(7, 19)}, ${mb(bytes)}) in ${secs(Date.now() - t0)}`
  )
  return { image: recipe.image, id: info.Id, built: true, hash: recipe.hash, bytes, seconds }
}

/** mmdebstrap's version line; installs it with apt-get first when the host has none. */
async function ensureMmdebstrap(progress: (line: string) => void): Promise<string> {
  const version = async () => (await run('mmdebstrap', ['--version'])).stdout.trim()
  try {
    const v = await version()
    progress(`using ${v}`)
    return v
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new BerthError('preflight', `mmdebstrap --version failed: ${(err as Error).message}`, {
        cause: err,
      })
    }
  }
  if (process.getuid?.() !== 0) {
    throw new BerthError(
      'preflight',
      'mmdebstrap is missing and only root can install it: apt-get install mmdebstrap'
    )
  }
  progress('mmdebstrap is missing: installing it with apt-get…')
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const install = () =>
    run(UMASK_022[0], [...UMASK_022.slice(1), 'apt-get', 'install', '-y', '-q', 'mmdebstrap'], {
      env,
    })
  try {
    await install()
  } catch {
    // Stale package lists are the usual reason: refresh them once.
    try {
      progress('apt-get install failed: running apt-get update and trying again…')
      await run(UMASK_022[0], [...UMASK_022.slice(1), 'apt-get', 'update', '-q'], { env })
      await install()
    } catch (err) {
      const out = `${(err as { stderr?: string }).stderr ?? (err as Error).message}`
        .trim()
        .split('\n')
        .slice(-4)
        .join('\n')
      throw new BerthError(
        'preflight',
        `mmdebstrap is missing and apt-get could not install it:\n${out}`,
        { cause: err }
      )
    }
  }
  const v = await version()
  progress(`installed ${v}`)
  return v
}

/**
 * Runs mmdebstrap and streams its tar into `docker import`. The import starts with the tar's first
 * bytes, and the stream it reads ends only when mmdebstrap has exited 0: a failed or killed run
 * aborts the import, so no image is tagged from a partial tar. Returns the tar's size.
 */
async function debootstrapInto(
  engine: Engine,
  recipe: Recipe,
  progress: (line: string) => void,
  signal?: AbortSignal
): Promise<number> {
  const t0 = Date.now()
  const child = spawn(
    UMASK_022[0],
    [...UMASK_022.slice(1), 'mmdebstrap', ...mmdebstrapArgs(recipe)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    }
  )
  const onAbort = () => child.kill('SIGTERM')
  signal?.addEventListener('abort', onAbort, { once: true })

  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (s: string) => {
    engine.log.debug(s.trimEnd())
    stderr = (stderr + s).slice(-64_000)
  })

  const tar = new PassThrough()
  // Destroyed with the failure below: the import, when it started, hears it through its own
  // stream; when mmdebstrap failed before its first byte, nobody reads it, and the error is ours
  // to throw, not the stream's to crash the process with.
  tar.on('error', () => {})
  let bytes = 0
  let importing: Promise<void> | undefined
  child.stdout.on('data', (chunk: Buffer) => {
    bytes += chunk.length
    if (!importing && !signal?.aborted) {
      progress(
        `importing the root filesystem into Docker as ${recipe.image} (debootstrap took ${secs(Date.now() - t0)})…`
      )
      importing = engine.importImage(tar, {
        repo: recipe.repo,
        tag: recipe.tag,
        changes: importChanges(recipe),
      })
      importing.catch(() => {}) // awaited below; never an unhandled rejection meanwhile
    }
  })
  child.stdout.pipe(tar, { end: false })

  const exit = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ code: null, error }))
    child.on('close', (code) => resolve({ code }))
  })
  signal?.removeEventListener('abort', onAbort)

  const failed = exit.error || exit.code !== 0 || bytes === 0
  if (failed) {
    const why = signal?.aborted
      ? new BerthError('cancelled', 'the image build was cancelled')
      : exit.error
        ? new BerthError('preflight', `mmdebstrap could not run: ${exit.error.message}`, {
            cause: exit.error,
          })
        : explainFailure(stderr, exit.code, recipe)
    tar.destroy(why)
    await importing?.catch(() => {})
    throw why
  }
  tar.end()
  await importing
  progress(`imported ${mb(bytes)} in ${secs(Date.now() - t0)} (debootstrap and import)`)
  return bytes
}
