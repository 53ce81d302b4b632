/**
 * The compiled CLI: `npm run build` makes dist/, bin/berth.mjs runs it while it is as new as every
 * source it came from, and the sources (through tsx) as soon as one is edited — in a copy of the
 * package, so that the checkout under test is never touched. An installed package ships dist/
 * without the sources: it runs the compiled CLI.
 */
import { execFileSync } from 'node:child_process'
import {
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
} from 'node:fs'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import pkg from '../../package.json' with { type: 'json' }

const ROOT = new URL('../..', import.meta.url).pathname
const copy = mkdtempSync(join(tmpdir(), 'berth-cli-build-'))

const version = (root: string) =>
  execFileSync(process.execPath, [join(root, 'bin', 'berth.mjs'), '--version'], {
    encoding: 'utf8',
    env: { ...process.env, BERTH_HOME: join(copy, 'home') },
  }).trim()

test.before(() => {
  for (const part of ['bin', 'scripts', 'functions', 'package.json', 'infra', 'examples'])
    cpSync(join(ROOT, part), join(copy, part), { recursive: true })
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

test('every package dist/ loads at run time is among the dependencies an installed package gets', () => {
  // What esbuild left out of the bundle (scripts/build.mjs EXTERNAL, and what bundled code
  // requires): import … from "x", import("x"), require("x"), but not Node's own modules. esbuild
  // writes them with double quotes (the bundled packages' comments quote theirs singly).
  const files = [
    join(copy, 'dist', 'berth.js'),
    ...readdirSync(join(copy, 'dist', 'chunks')).map((f) => join(copy, 'dist', 'chunks', f)),
  ]
  const loaded = new Set<string>()
  for (const file of files) {
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(
      /(?:\bfrom\s*|\bimport\s*\(\s*|(?<![\w$.])(?:__)?require\s*\(\s*)"((?:@[\w.-]+\/)?[\w-][\w.-]*(?:\/[\w./-]*)?)"/g
    )) {
      const name = m[1].startsWith('@') ? m[1].split('/').slice(0, 2).join('/') : m[1].split('/')[0]
      if (name.startsWith('node:') || builtinModules.includes(name)) continue
      loaded.add(name)
    }
  }
  for (const external of ['better-sqlite3', 'ssh2', '@aws-sdk/client-ssm'])
    assert.ok(loaded.has(external), `the scan sees ${external}`)
  const missing = [...loaded].filter((name) => !(name in pkg.dependencies))
  assert.equal(
    missing,
    [],
    `dist/ loads ${missing.join(', ')}: list it in package.json's dependencies`
  )
})

test('an installed package (dist/ without the sources) runs the compiled CLI; its help and a real command work', () => {
  rmSync(join(copy, 'scripts'), { recursive: true })
  rmSync(join(copy, 'functions'), { recursive: true })
  assert.is(version(copy), `berth ${pkg.version} (compiled)`)
  // npm install writes package.json after dist/ (an input of the build: the version): without
  // the sources, the compiled CLI is all there is, whatever the times.
  const later = new Date(Date.now() + 60_000)
  utimesSync(join(copy, 'package.json'), later, later)
  assert.is(version(copy), `berth ${pkg.version} (compiled)`)
  const help = execFileSync(process.execPath, [join(copy, 'bin', 'berth.mjs'), '--help'], {
    encoding: 'utf8',
  })
  assert.match(help, /^berth — install multi-node container clusters on Docker/)
  const policy = execFileSync(
    process.execPath,
    [join(copy, 'bin', 'berth.mjs'), 'policy', 'check', join(copy, 'examples', 'che.yaml')],
    { encoding: 'utf8', env: { ...process.env, BERTH_HOME: join(copy, 'home') } }
  )
  assert.match(policy, /allowed by policy "restricted"/)
})

test.run()
