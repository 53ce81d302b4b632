/**
 * Where berth's own files are: the package root, the folder of its package.json. Found by walking
 * up from this module, so that it holds both when berth runs from its TypeScript sources and from
 * the compiled CLI in dist/ (whose chunks sit at another depth).
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json')
    if (existsSync(file)) {
      if ((JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'berth') return dir
    }
    if (dirname(dir) === dir)
      throw new Error(`berth's package.json is not above ${fileURLToPath(import.meta.url)}`)
  }
}

/** The package root: `bin/`, `examples/`, `infra/`, `scripts/image/demo/` are under it. */
export const PACKAGE_ROOT = findRoot()

/** A path under the package root. */
export const packagePath = (...parts: string[]): string => join(PACKAGE_ROOT, ...parts)
