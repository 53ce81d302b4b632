#!/usr/bin/env node
// berth. The compiled CLI (dist/, built by `npm run build`, which `npm ci` runs) while it is at
// least as new as every source it was built from; otherwise — a checkout being edited — the
// TypeScript sources through tsx's loader, so that what runs is always what the sources say.
import { existsSync, readFileSync, statSync } from 'node:fs'

// Whatever berth writes under $BERTH_HOME (the store, topologies, logs, snapshots, secrets) is
// root's alone. Programs berth starts to build images set their own.
process.umask(0o077)

const root = new URL('../', import.meta.url)
const dist = new URL('dist/berth.js', root)

function compiledIsCurrent() {
  if (!existsSync(dist)) return false
  // An installed package (npm pack, then npm install) ships dist/ without the sources: it has
  // nothing else to run, whatever times npm gave the files it wrote (package.json, an input for
  // the version, is written after dist/).
  if (!existsSync(new URL('scripts/berth.ts', root))) return true
  const built = statSync(dist).mtimeMs
  const inputs = JSON.parse(readFileSync(new URL('dist/inputs.json', root), 'utf8'))
  // A source that is not here cannot be newer.
  return inputs.every(
    (file) => (statSync(new URL(file, root), { throwIfNoEntry: false })?.mtimeMs ?? 0) <= built
  )
}

if (compiledIsCurrent()) {
  await import(dist.href)
} else {
  const { register } = await import('tsx/esm/api')
  register()
  await import('../scripts/berth.ts')
}
