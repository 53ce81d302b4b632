/**
 * `berth image build-debian` for real: Debian's mirror, mmdebstrap and the Docker engine, through
 * the command line as a person runs it. A small minbase image is built, found up to date on the
 * second run, rebuilt with --force; an unreachable mirror and a missing package fail plainly and
 * leave no image. Every image is tagged `berth-test/…` and removed at the end.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { $ } from 'zx'
import { DockerEngine } from '../../scripts/engine/docker.ts'
import { parseRecipe, RECIPE_LABEL } from '../../scripts/image/debian-recipe.ts'
import { hook, withTimeout } from '../helpers/async.ts'

const engine = new DockerEngine()
const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname
const sh = $({ quiet: true, nothrow: true })

const TAG = 'berth-test/debian-hello:1'
const NO_MIRROR = 'berth-test/debian-nomirror:1'
const NO_PACKAGE = 'berth-test/debian-nopackage:1'
const MIRROR_DOWN = 'http://127.0.0.1:9/debian'

async function build(tag: string, ...extra: string[]) {
  const t0 = Date.now()
  const r = await sh`node ${BIN} image build-debian --tag ${tag} ${extra}`
  // Colours off: the CLI colours "error:" when it thinks it may.
  const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '') // eslint-disable-line no-control-regex -- ESC starts the colour codes it strips
  return {
    exitCode: r.exitCode,
    stdout: plain(r.stdout),
    stderr: plain(r.stderr),
    ms: Date.now() - t0,
  }
}

const report = (what: string, ms: number) => console.log(`    ${what}: ${(ms / 1000).toFixed(1)} s`)

/** Runs `cmd` in a container of the image (its default command keeps it up); removes it after. */
async function runIn(image: string, cmd: string[]) {
  const id = await engine.createContainer({ Image: image, name: `berth-test-debian-${Date.now()}` })
  try {
    await engine.startContainer(id)
    return await engine.exec(id, cmd, { timeoutMs: 20_000 })
  } finally {
    await engine.removeContainer(id)
  }
}

const Build = suite('berth image build-debian (mmdebstrap, Debian mirror, docker import)')
let firstId = ''

const cleanup = hook(async () => {
  for (const tag of [TAG, NO_MIRROR, NO_PACKAGE]) await engine.removeImage(tag)
})
Build.before(cleanup)
Build.after(cleanup)

Build('a minbase image with one package is built, labelled with its recipe, and runs', async () => {
  const r = await withTimeout(build(TAG, '--packages', 'hello', '--json'), 300_000, 'build')
  assert.is(r.exitCode, 0, r.stderr)
  report('first build (minbase + hello)', r.ms)
  const out = JSON.parse(r.stdout)
  assert.is(out.built, true)
  console.log(`    root filesystem: ${(out.bytes / 1e6).toFixed(0)} MB`)
  assert.match(r.stderr, /image: (using|installed) mmdebstrap/)
  assert.match(
    r.stderr,
    /image: debootstrapping bookworm \(1 package on minbase\) from http:\/\/deb\.debian\.org\/debian/
  )
  assert.match(
    r.stderr,
    /image: importing the root filesystem into Docker as berth-test\/debian-hello:1/
  )
  assert.match(r.stderr, /image: imported \d+ MB/)
  assert.match(r.stderr, /image: done: berth-test\/debian-hello:1 .* in [\d.]+ s/)

  const info = await engine.inspectImage(TAG)
  assert.ok(info)
  firstId = info.Id
  assert.is(out.id, firstId)
  assert.is(info.Config?.Labels?.[RECIPE_LABEL], parseRecipe({ tag: TAG, packages: 'hello' }).hash)
  assert.equal(info.Config?.Cmd, ['sleep', 'infinity'])
  const hello = await runIn(TAG, ['hello'])
  assert.is(hello.stdout.trim(), 'Hello, world!')
  const debian = await runIn(TAG, ['cat', '/etc/debian_version'])
  assert.match(debian.stdout, /^12\./)
})

Build('the same command again reuses the image: up to date, same id, no rebuild', async () => {
  const r = await withTimeout(build(TAG, '--packages', 'hello'), 30_000, 'rerun')
  assert.is(r.exitCode, 0, r.stderr)
  report('second run (up to date)', r.ms)
  assert.match(r.stdout, /^berth-test\/debian-hello:1 is up to date/)
  assert.not.match(r.stderr, /debootstrapping/)
  assert.is((await engine.inspectImage(TAG))!.Id, firstId)
  // Node and tsx start in about a second here; a rebuild takes tens.
  assert.ok(r.ms < 5000, `took ${r.ms} ms`)
})

Build('--force rebuilds: a new image id, the replaced one removed', async () => {
  const r = await withTimeout(build(TAG, '--packages', 'hello', '--force'), 300_000, 'forced build')
  assert.is(r.exitCode, 0, r.stderr)
  report('forced rebuild', r.ms)
  assert.match(r.stdout, /^built berth-test\/debian-hello:1/)
  const id = (await engine.inspectImage(TAG))!.Id
  assert.is.not(id, firstId)
  assert.is(await engine.inspectImage(firstId), null, 'the replaced image is gone')
})

Build('an unreachable mirror fails plainly (exit 3) and makes no image', async () => {
  const r = await withTimeout(
    build(NO_MIRROR, '--packages', 'hello', '--mirror', MIRROR_DOWN),
    120_000,
    'build'
  )
  report('unreachable mirror reported', r.ms)
  assert.is(r.exitCode, 3, r.stderr)
  assert.match(r.stderr, `error: the Debian mirror ${MIRROR_DOWN} cannot be reached`)
  assert.is(await engine.inspectImage(NO_MIRROR), null)
  const hash = parseRecipe({ tag: NO_MIRROR, packages: 'hello', mirror: MIRROR_DOWN }).hash
  assert.equal(await engine.listImages([`${RECIPE_LABEL}=${hash}`]), [], 'not even an untagged one')
})

Build('a package Debian does not have is named (exit 5) and makes no image', async () => {
  const r = await withTimeout(
    build(NO_PACKAGE, '--packages', 'hello,berth-no-such-package'),
    300_000,
    'build'
  )
  assert.is(r.exitCode, 5, r.stderr)
  assert.match(r.stderr, 'error: --packages: no package "berth-no-such-package" in Debian bookworm')
  assert.is(await engine.inspectImage(NO_PACKAGE), null)
})

Build('a wrong option is refused before anything runs (exit 2, naming the option)', async () => {
  const r = await build('berth-test/Upper:1', '--packages', 'hello')
  assert.is(r.exitCode, 2)
  assert.match(r.stderr, /error: --tag: /)
  const p = await build(TAG, '--packages', 'hello,Not_A_Package')
  assert.is(p.exitCode, 2)
  assert.match(p.stderr, /error: --packages: "Not_A_Package"/)
})

Build.run()
