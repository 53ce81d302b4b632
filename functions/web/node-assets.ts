/** The dashboard's script and style sheet, read from the package (Node only). */
import { readFileSync } from 'node:fs'
import { packagePath } from '../../scripts/engine/package-root.ts'
import type { WebAssets } from './assets.ts'

export const nodeAssets = (): WebAssets => ({
  js: readFileSync(packagePath('functions', 'web', 'assets', 'app.js'), 'utf8'),
  css: readFileSync(packagePath('functions', 'web', 'assets', 'app.css'), 'utf8'),
})
