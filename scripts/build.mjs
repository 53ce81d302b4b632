/**
 * npm run build (and `npm ci`, through `prepare`): the CLI compiled to dist/ with esbuild — one
 * entry (dist/berth.js) and the chunks each command loads when it runs, the packages bundled in
 * (fewer files to find and read at start) but for EXTERNAL. dist/inputs.json lists the sources
 * it was built from: bin/berth.mjs runs the sources instead (through tsx) while any of them is
 * newer than the build.
 */
import { build } from 'esbuild'
import { rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

// Native addons and what only loads them stay in node_modules.
const EXTERNAL = ['better-sqlite3', 'cpu-features', 'ssh2', 'tsx', 'esbuild', '@aws-sdk/*']
// dockerode loads its BuildKit session support (gRPC and protobufjs: 1.2 MB of JavaScript) when
// it loads; berth never builds with BuildKit, so the session module is left out of the bundle.
const noBuildkitSession = {
  name: 'no-buildkit-session',
  setup(b) {
    b.onResolve({ filter: /^\.\/session$/ }, (args) =>
      args.importer.includes('/dockerode/lib/')
        ? { path: 'dockerode-session', namespace: 'berth-stub' }
        : undefined
    )
    b.onLoad({ filter: /.*/, namespace: 'berth-stub' }, () => ({
      contents:
        "module.exports = function () { throw new Error('berth is built without BuildKit sessions') }",
      loader: 'js',
    }))
  },
}
const root = fileURLToPath(new URL('..', import.meta.url))
const outdir = `${root}dist`
const t0 = Date.now()
rmSync(outdir, { recursive: true, force: true })
const result = await build({
  absWorkingDir: root,
  entryPoints: { berth: 'scripts/berth.ts' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  outdir,
  chunkNames: 'chunks/[name]-[hash]',
  metafile: true,
  plugins: [noBuildkitSession],
  // Bundled CommonJS packages call require() for Node's own modules.
  banner: {
    js: "import { createRequire as __berthRequire } from 'node:module'; const require = __berthRequire(import.meta.url);",
  },
  logLevel: 'warning',
})
const inputs = Object.keys(result.metafile.inputs)
  .filter((i) => !i.includes('node_modules') && !i.includes(':'))
  .sort()
writeFileSync(`${outdir}/inputs.json`, JSON.stringify(inputs) + '\n')
if (!process.argv.includes('--quiet'))
  console.log(`dist/: the CLI from ${inputs.length} sources in ${Date.now() - t0} ms`)
