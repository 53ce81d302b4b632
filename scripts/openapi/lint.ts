/**
 * npm run lint:openapi: the OpenAPI document berth serves, written from the code to a temporary
 * file and linted with `redocly lint --extends recommended` (redocly.yaml: the recommended rules,
 * nothing off, nothing ignored). Offline: telemetry and the update check are off. Every error
 * and warning is named; the exit status is 0 only with none (Redocly's own is 0 with warnings).
 * test/unit/openapi-lint.test.ts runs the same check.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openApiText } from './dump.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface LintProblem {
  severity: string
  rule: string
  /** The JSON pointer into the document. */
  at: string
  message: string
}

export interface LintReport {
  errors: number
  warnings: number
  ignored: number
  problems: LintProblem[]
}

interface RedoclyJson {
  totals: { errors: number; warnings: number; ignored: number }
  problems: {
    ruleId: string
    severity: string
    message: string
    location?: { pointer?: string }[]
  }[]
}

export function lintOpenApi(): LintReport {
  const dir = mkdtempSync(join(tmpdir(), 'berth-openapi-'))
  try {
    const file = join(dir, 'openapi.json')
    writeFileSync(file, openApiText())
    const r = spawnSync(
      process.execPath,
      [
        join(ROOT, 'node_modules/@redocly/cli/bin/cli.js'),
        'lint',
        '--extends',
        'recommended',
        '--format',
        'json',
        '--max-problems',
        '1000',
        file,
      ],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          REDOCLY_TELEMETRY: 'off',
          REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
          NO_COLOR: '1',
        },
        encoding: 'utf8',
        timeout: 120_000,
      }
    )
    if (r.error) throw r.error
    const start = r.stdout.indexOf('{')
    let out: RedoclyJson
    try {
      out = JSON.parse(r.stdout.slice(start)) as RedoclyJson
    } catch {
      throw new Error(`redocly lint said no JSON (exit ${r.status}):\n${r.stdout}\n${r.stderr}`)
    }
    return {
      ...out.totals,
      problems: out.problems.map((p) => ({
        severity: p.severity,
        rule: p.ruleId,
        at: p.location?.[0]?.pointer ?? '#',
        message: p.message,
      })),
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export const describeProblem = (p: LintProblem) =>
  `${p.severity} ${p.rule} at ${p.at}: ${p.message}`

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const report = lintOpenApi()
  for (const p of report.problems) console.log(describeProblem(p))
  console.log(
    `redocly lint --extends recommended (the served OpenAPI document): ${report.errors} errors, ${report.warnings} warnings, ${report.ignored} ignored`
  )
  process.exitCode = report.errors || report.warnings || report.ignored ? 1 : 0
}
