/**
 * The Worker as `wrangler deploy` would upload it (built with --dry-run, nothing sent): it must
 * hold nothing Node-only (the engine, the zx dispatcher, the SQLite store and their packages), import
 * nothing from outside itself (no compatibility flag supplies node:*) but the dashboard's two
 * assets as text, and stay small.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { withTimeout } from '../helpers/async.ts'
import { root, wrangler } from './wrangler.ts'

const NODE_ONLY_PACKAGES = [
  'dockerode',
  'docker-modem',
  'zx',
  'better-sqlite3',
  'ssh2',
  'cpu-features',
  'tar-stream',
  '@hono/node-server',
  'debug',
]
/** Our own files that run on Node only: the Node entry and whatever it alone brings. */
const NODE_ONLY_FILES = [
  /^functions\/node\.ts$/,
  /^functions\/config\.ts$/,
  /^functions\/scheduler\.ts$/,
  /^functions\/auto-rewire\.ts$/,
  /^functions\/dispatch\/zx\.ts$/,
  /^functions\/store\/sqlite\.ts$/,
  /^functions\/web\/node-assets\.ts$/,
  /^scripts\/(?!engine\/(errors|cidr|labels|topology|topology-kit|zod-issues|runtime-keys|job-spec|job-kinds|events|policy|patterns|retry|logger)\.ts$)/,
]
const MAX_GZIP = 1024 * 1024

interface Metafile {
  inputs: Record<string, unknown>
  outputs: Record<string, { imports: { path: string; external?: boolean }[] }>
}

const out = mkdtempSync(join(tmpdir(), 'berth-worker-bundle-'))
let meta: Metafile
let code: string

test.before(async () => {
  await withTimeout(
    wrangler(['deploy', '--dry-run', '--outdir', out, '--metafile', join(out, 'meta.json')]),
    60_000,
    'wrangler deploy --dry-run'
  )
  meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8'))
  code = readFileSync(join(out, 'worker.js'), 'utf8')
})
test.after(() => rmSync(out, { recursive: true, force: true }))

const packageOf = (input: string) => input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/)?.[1]

test('the bundle holds no Node-only package and none of the Node-only files', () => {
  const inputs = Object.keys(meta.inputs)
  assert.ok(
    inputs.includes('functions/worker.ts') && inputs.includes('functions/store/d1.ts'),
    `the metafile lists the Worker's own files (${inputs.length} inputs)`
  )
  const packages = new Set(inputs.map(packageOf).filter(Boolean))
  const bad = NODE_ONLY_PACKAGES.filter((p) => packages.has(p))
  assert.equal(bad, [], `Node-only packages in the Worker: ${bad.join(', ')}`)
  const ours = inputs.filter(
    (i) => !i.includes('node_modules') && NODE_ONLY_FILES.some((re) => re.test(i))
  )
  assert.equal(ours, [], `Node-only files in the Worker: ${ours.join(', ')}`)
  console.log(`  packages in the Worker: ${[...packages].sort().join(', ')}`)
})

test("the bundle imports nothing from outside itself but the dashboard's assets, node:* least of all", () => {
  const imports = Object.values(meta.outputs).flatMap((o) => o.imports.map((i) => i.path))
  // The dashboard's script and style sheet travel beside worker.js as Text modules, unchanged.
  const assets = imports.filter((p) => /^\.\/[0-9a-f]{40}-app\.(js|css)$/.test(p))
  assert.equal(
    assets.map((p) => p.replace(/^.*-/, '')).sort(),
    ['app.css', 'app.js'],
    `the two assets: ${assets.join(', ')}`
  )
  for (const p of assets)
    assert.is(
      readFileSync(join(out, p), 'utf8'),
      readFileSync(join(root, 'functions/web/assets', p.replace(/^.*-/, '')), 'utf8')
    )
  const external = imports.filter((p) => !assets.includes(p))
  assert.equal(external, [], `external imports: ${external.join(', ')}`)
  const nodeRefs =
    code.match(
      /\b(?:from\s*|import\s*\(\s*|require\s*\(\s*)["'](?:node:[a-z_/]+|child_process|fs|net|tls|worker_threads)["']/g
    ) ?? []
  assert.equal(nodeRefs, [], `Node module references in the code: ${nodeRefs.join(', ')}`)
})

test('the bundle is at most 1 MiB gzipped', () => {
  const raw = Buffer.byteLength(code)
  const gz = gzipSync(code, { level: 9 }).length
  console.log(
    `  worker.js: ${(raw / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped (limit ${MAX_GZIP / 1024} KiB)`
  )
  assert.ok(gz <= MAX_GZIP, `${gz} bytes gzipped > ${MAX_GZIP}`)
})

test.run()
