/**
 * The compiled CLI: `npm run build` makes dist/, bin/berth.mjs runs it while it is as new as every
 * source it came from, and the sources (through tsx) as soon as one is edited — in a copy of the
 * package, so that the checkout under test is never touched. An installed package ships dist/
 * without the sources: it runs the compiled CLI.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync, symlinkSync, utimesSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import pkg from '../../package.json' with { type: 'json' }

const ROOT = new URL('../..', import.meta.url).pathname
const copy = mkdtempSync(join(tmpdir(), 'berth-cli-build-'))

const version = (root: string) => execFileSync(process.execPath, [join(root, 'bin', 'berth.mjs'), '--version'], { encoding: 'utf8', env: { ...process.env, BERTH_HOME: join(copy, 'home') } }).trim()

test.before(() => {
  for (const part of ['bin', 'scripts', 'functions', 'package.json', 'infra', 'examples']) cpSync(join(ROOT, part), join(copy, part), { recursive: true })
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'))
  execFileSync(process.execPath, [join(copy, 'scripts', 'build.mjs'), '--quiet'], { cwd: copy })
})
test.after(() => rmSync(copy, { recursive: true, force: true }))

test('after the build, bin/berth.mjs runs the compiled CLI; --version names it', () => {
  assert.is(version(copy), `berth ${pkg.version} (compiled)`)
})

test('a source edited after the build: the sources run (never a stale build); the next build: compiled again', () => {
  const later = new Date(Date.now() + 5000)
  utimesSync(join(copy, 'scripts', 'engine', 'hosts.ts'), later, later)
  assert.is(version(copy), `berth ${pkg.version} (sources)`)
  execFileSync(process.execPath, [join(copy, 'scripts', 'build.mjs'), '--quiet'], { cwd: copy })
  // The build is now newer than the edit only if the clock passed it: set the build's time.
  const after = new Date(Date.now() + 10_000)
  utimesSync(join(copy, 'dist', 'berth.js'), after, after)
  assert.is(version(copy), `berth ${pkg.version} (compiled)`)
})

test('an installed package (dist/ without the sources) runs the compiled CLI; its help and a real command work', () => {
  rmSync(join(copy, 'scripts'), { recursive: true })
  rmSync(join(copy, 'functions'), { recursive: true })
  assert.is(version(copy), `berth ${pkg.version} (compiled)`)
  const help = execFileSync(process.execPath, [join(copy, 'bin', 'berth.mjs'), '--help'], { encoding: 'utf8' })
  assert.match(help, /^berth — install multi-node container clusters on Docker/)
  const policy = execFileSync(process.execPath, [join(copy, 'bin', 'berth.mjs'), 'policy', 'check', join(copy, 'examples', 'che.yaml')], { encoding: 'utf8', env: { ...process.env, BERTH_HOME: join(copy, 'home') } })
  assert.match(policy, /allowed by policy "restricted"/)
})

test.run()
