/**
 * The recipe of a Debian node image (`berth image build-debian`): what the command line asks for,
 * validated before anything runs, and the hash that says whether an image already is this recipe.
 * Also what mmdebstrap's error output means, in words that name the mirror or the package.
 * Pure: no process, no engine.
 */
import { createHash } from 'node:crypto'
import { BerthError } from '../engine/errors.ts'
import { imageRef } from '../engine/topology.ts'

/** Bump when the way an image is made changes in a way the fields below do not show. */
export const RECIPE_FORMAT = 1
export const RECIPE_LABEL = 'berth.debian.recipe'
export const DEFAULT_SUITE = 'bookworm'
export const DEFAULT_MIRROR = 'http://deb.debian.org/debian'
export const VARIANT = 'minbase'

/**
 * `docker import --change` lines. An imported image has no environment and no command: PATH is
 * Debian's usual one (a `docker exec` otherwise gets none), and the default command only keeps the
 * container alive — the image has no init and starts no service; a topology's `command` and
 * `bootstrap` say what runs.
 */
export const CHANGES = [
  'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  'WORKDIR /',
  'CMD ["sleep","infinity"]',
]

// Debian Policy 5.6.7: lowercase letters, digits, '+', '-', '.'; two characters at least,
// starting with a letter or digit.
const PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/
const SUITE = /^[a-z0-9][a-z0-9.-]{0,63}$/

export interface RecipeInput {
  tag?: unknown
  packages?: unknown
  suite?: unknown
  mirror?: unknown
}

export interface Recipe {
  /** The image reference as given, and the two halves `docker import` wants. */
  image: string
  repo: string
  tag: string
  suite: string
  /** Sorted, without duplicates. */
  packages: string[]
  /** Without a trailing slash. */
  mirror: string
  hash: string
}

const invalid = (message: string) => new BerthError('invalid_job', message)

function text(value: unknown, option: string): string | undefined {
  if (value === undefined) return undefined
  // minimist gives an array when an option is repeated, true when it has no value.
  if (typeof value !== 'string') throw invalid(`--${option}: expected one value`)
  return value
}

/** `repo[:tag]` split for `docker import`; a digest cannot name an image being made. */
export function splitTag(ref: string): { repo: string; tag: string } {
  const colon = ref.lastIndexOf(':')
  if (colon > ref.lastIndexOf('/')) return { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) }
  return { repo: ref, tag: 'latest' }
}

export function parseRecipe(input: RecipeInput): Recipe {
  const image = text(input.tag, 'tag')
  if (!image)
    throw invalid('--tag: the image to build is required (e.g. --tag berth/codenvy-puppet:1)')
  const problem = imageRef.safeParse(image).error?.issues[0]?.message
  if (problem) throw invalid(`--tag: ${problem}`)
  if (image.includes('@'))
    throw invalid(`--tag: "${image}" has a digest; an image being built is named by a tag`)

  const list = text(input.packages, 'packages')
  if (!list)
    throw invalid('--packages: at least one Debian package is required (e.g. --packages busybox)')
  const names = list
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
  if (!names.length)
    throw invalid('--packages: at least one Debian package is required (e.g. --packages busybox)')
  const bad = names.filter((p) => !PACKAGE.test(p))
  if (bad.length) {
    throw invalid(
      `--packages: ${bad.map((p) => JSON.stringify(p)).join(', ')} ${bad.length > 1 ? 'are not Debian package names' : 'is not a Debian package name'} (lowercase letters, digits, '+', '-', '.'; two characters at least)`
    )
  }

  const suite = text(input.suite, 'suite') ?? DEFAULT_SUITE
  if (!SUITE.test(suite))
    throw invalid(`--suite: "${suite}" is not a Debian suite name (like bookworm)`)

  const mirror = (text(input.mirror, 'mirror') ?? DEFAULT_MIRROR).replace(/\/+$/, '')
  let url: URL | undefined
  try {
    url = new URL(mirror)
  } catch {
    url = undefined
  }
  if (!url || !['http:', 'https:', 'file:'].includes(url.protocol) || /\s/.test(mirror)) {
    throw invalid(`--mirror: "${mirror}" is not an http(s):// or file:// URL of a Debian mirror`)
  }

  const packages = [...new Set(names)].sort()
  const { repo, tag } = splitTag(image)
  return {
    image,
    repo,
    tag,
    suite,
    packages,
    mirror,
    hash: recipeHash({ suite, packages, mirror }),
  }
}

/** sha256 of everything that decides what the image holds; the package order does not count. */
export function recipeHash(r: { suite: string; packages: string[]; mirror: string }): string {
  const canonical = {
    format: RECIPE_FORMAT,
    variant: VARIANT,
    suite: r.suite,
    packages: [...new Set(r.packages)].sort(),
    mirror: r.mirror.replace(/\/+$/, ''),
    changes: CHANGES,
  }
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex')
}

/** The `--change` lines of the import: the fixed ones and the labels that describe the recipe. */
export function importChanges(r: Recipe): string[] {
  return [
    ...CHANGES,
    `LABEL ${RECIPE_LABEL}=${r.hash}`,
    `LABEL berth.debian.suite=${r.suite}`,
    `LABEL berth.debian.packages=${r.packages.join(',')}`,
  ]
}

/** mmdebstrap's arguments: a tar on stdout. The mirror is always given, so stdin is never read. */
export function mmdebstrapArgs(r: Recipe): string[] {
  return [`--variant=${VARIANT}`, `--include=${r.packages.join(',')}`, r.suite, '-', r.mirror]
}

/**
 * What a failed mmdebstrap run means, from its error output: an unreachable mirror, a suite the
 * mirror does not have, a package that does not exist, or else its last lines as they are.
 */
export function explainFailure(stderr: string, exitCode: number | null, r: Recipe): BerthError {
  const missing = [
    ...stderr.matchAll(/Unable to locate package (\S+)/g),
    ...stderr.matchAll(/Package '?([^'\s]+)'? has no installation candidate/g),
  ].map((m) => m[1])
  if (missing.length) {
    const names = [...new Set(missing)].map((p) => `"${p}"`).join(', ')
    return new BerthError(
      'not_found',
      `--packages: no package ${names} in Debian ${r.suite} on ${r.mirror}`
    )
  }
  const unreachable = stderr.match(
    /(Could not connect to [^\n]*|Could not resolve [^\n]*|Temporary failure resolving [^\n]*|Connection failed[^\n]*|Connection timed out[^\n]*|Unable to connect to [^\n]*)/
  )
  if (unreachable) {
    return new BerthError(
      'preflight',
      `the Debian mirror ${r.mirror} cannot be reached: ${unreachable[1].trim()}`
    )
  }
  if (/does not have a Release file|404\s+Not Found/.test(stderr)) {
    return new BerthError(
      'not_found',
      `--suite: the Debian mirror ${r.mirror} has no suite "${r.suite}"`
    )
  }
  const tail = stderr.trim().split('\n').slice(-8).join('\n')
  return new BerthError(
    'internal',
    `mmdebstrap failed (${exitCode === null ? 'killed' : `exit ${exitCode}`}):\n${tail}`
  )
}
