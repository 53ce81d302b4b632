/**
 * The OpenAPI document as the server serves it (GET /v1/openapi.json answers openApiDocument()),
 * written from the code: `tsx scripts/openapi/dump.ts [FILE]` (stdout without FILE). What
 * `npm run lint:openapi` lints and `npm run gen:client` generates the client types from.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { openApiDocument } from '../../functions/openapi.ts'

export function openApiText(): string {
  return `${JSON.stringify(openApiDocument(), null, 2)}\n`
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2]
  if (file) writeFileSync(file, openApiText())
  else process.stdout.write(openApiText())
}
