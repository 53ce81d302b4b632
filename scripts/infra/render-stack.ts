/**
 * Writes the JSON files that infra/cloudformation/docker-host.yaml carries inline into it.
 * CloudFormation cannot include a file, and the SSM document and the host role's trust policy
 * must each live in one place: infra/ssm/ and infra/iam/. So the template marks each copy
 *
 *     # >>> infra/ssm/berth-job-run.json
 *     { … }
 *     # <<< infra/ssm/berth-job-run.json
 *
 * and this script replaces what is between the marks with the file's JSON (JSON is YAML, and a
 * flow mapping indented under its key is a valid value), keeping every comment around it.
 *
 *   tsx scripts/infra/render-stack.ts           rewrite the template
 *   tsx scripts/infra/render-stack.ts --check   exit 1 when the template is not up to date
 *
 * test/unit/infra.test.ts compares the parsed copies with the files as well, so a forgotten run
 * fails the tests.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseCfnYaml } from './cfn-yaml.ts'

export const REPO = fileURLToPath(new URL('../..', import.meta.url))
export const STACK_FILE = resolve(REPO, 'infra/cloudformation/docker-host.yaml')

const OPEN = /^(\s*)# >>> (\S+)\s*$/

/** The template with every marked block rewritten from the file it names. */
export function renderStack(
  template: string,
  read = (path: string) => readFileSync(resolve(REPO, path), 'utf8')
): string {
  const lines = template.split('\n')
  const out: string[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = OPEN.exec(lines[i])
    out.push(lines[i])
    if (!open) continue
    const [, indent, path] = open
    const close = lines.findIndex((l, j) => j > i && l.trim() === `# <<< ${path}`)
    if (close < 0) throw new Error(`${STACK_FILE}:${i + 1}: "# >>> ${path}" has no "# <<< ${path}"`)
    const json = JSON.stringify(JSON.parse(read(path)), null, 2)
    for (const l of json.split('\n')) out.push(indent + l)
    out.push(lines[close])
    i = close
  }
  return out.join('\n')
}

function main(argv: string[]): number {
  const before = readFileSync(STACK_FILE, 'utf8')
  const after = renderStack(before)
  parseCfnYaml(after) // a block that broke the YAML fails here, before anything is written
  const name = relative(process.cwd(), STACK_FILE)
  if (argv.includes('--check')) {
    if (after === before) return 0
    console.error(`${name} is out of date: run tsx scripts/infra/render-stack.ts`)
    return 1
  }
  if (after !== before) writeFileSync(STACK_FILE, after)
  console.log(after === before ? `${name} was up to date` : `wrote ${name}`)
  return 0
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2))
}
