import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)))
}

test('dockerode is behind the engine seam: only scripts/engine/docker.ts imports it or reaches .docker', () => {
  const offenders = [...sources('functions'), ...sources('scripts')].filter((file) => {
    if (file === 'scripts/engine/docker.ts') return false
    const text = readFileSync(join(root, file), 'utf8')
    return /from 'dockerode'|require\('dockerode'\)|\bengine\.docker\b/.test(text)
  })
  assert.equal(offenders, [])
})

test.run()
