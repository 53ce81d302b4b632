/**
 * berth's SSM Command document (infra/ssm/berth-job-run.json) as Run Command treats it: the
 * service checks each parameter (allowedPattern, minChars, maxChars, defaults, unknown names)
 * before anything is sent, then the agent either puts a parameter in the script's environment
 * (`interpolationType: ENV_VAR`, SSM Agent 3.3.2746.0 and later, as `SSM_<name>`) or substitutes
 * `{{ name }}` as plain text: no quoting, no escaping. Tests run the result with sh; the local SSM
 * endpoint (test/support/ssm-endpoint.ts) can run it as a document of its fleet.
 */
import { readFileSync } from 'node:fs'
import { packagePath } from '../engine/package-root.ts'

export const BERTH_DOCUMENT_FILE = packagePath('infra', 'ssm', 'berth-job-run.json')

export interface SsmDocumentParameter {
  type: string
  description?: string
  default?: string
  allowedPattern?: string
  allowedValues?: string[]
  minChars?: number
  maxChars?: number
  interpolationType?: 'ENV_VAR'
}

export interface SsmDocumentStep {
  action: string
  name: string
  precondition?: unknown
  inputs: { runCommand: string[]; timeoutSeconds?: string; workingDirectory?: string }
}

export interface SsmCommandDocument {
  schemaVersion: string
  description?: string
  parameters: Record<string, SsmDocumentParameter>
  mainSteps: SsmDocumentStep[]
}

export function loadSsmDocument(file = BERTH_DOCUMENT_FILE): SsmCommandDocument {
  return JSON.parse(readFileSync(file, 'utf8')) as SsmCommandDocument
}

/** `{{ name }}` as the agent finds it (spaces inside the braces are optional). */
export const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.:-]+)\s*\}\}/g

/** Every `{{ … }}` name the steps use (runCommand and every other input). */
export function placeholders(doc: SsmCommandDocument): string[] {
  const names = new Set<string>()
  for (const m of JSON.stringify(doc.mainSteps).matchAll(PLACEHOLDER)) names.add(m[1])
  return [...names]
}

/**
 * allowedPattern is RE2 (Google's syntax): no lookaround, no back-references, repetition counts
 * of at most 1000. A pattern that leans on any of these would be refused by SSM or mean something
 * else there than in the JavaScript this file tests it with. Returns what is wrong, or undefined.
 */
export function re2Trouble(pattern: string): string | undefined {
  if (/\(\?<?[=!]/.test(pattern)) return 'lookaround'
  if (/\\[1-9]|\\k</.test(pattern)) return 'a back-reference'
  for (const m of pattern.matchAll(/\{(\d+)(?:,(\d*))?\}/g)) {
    if (Number(m[1]) > 1000 || Number(m[2] || 0) > 1000)
      return `the repetition count ${m[0]} (RE2 allows 1000)`
  }
  return undefined
}

export class InvalidParameters extends Error {
  override readonly name = 'InvalidParameters'
}

/**
 * The parameters of a SendCommand (string lists, as on the wire) checked as Run Command does,
 * defaults filled in; one string per parameter. Throws InvalidParameters.
 */
export function resolveParameters(
  doc: SsmCommandDocument,
  given: Record<string, string[]>
): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of Object.keys(given)) {
    if (!(name in doc.parameters))
      throw new InvalidParameters(`the document has no parameter "${name}"`)
  }
  for (const [name, p] of Object.entries(doc.parameters)) {
    const list = given[name]
    if (list !== undefined && (p.type !== 'String' || list.length !== 1)) {
      throw new InvalidParameters(`${name}: one string`)
    }
    const value = list?.[0] ?? p.default
    if (value === undefined) throw new InvalidParameters(`${name} is required`)
    if (p.minChars !== undefined && value.length < p.minChars) {
      throw new InvalidParameters(`${name}: at least ${p.minChars} characters`)
    }
    if (p.maxChars !== undefined && value.length > p.maxChars) {
      throw new InvalidParameters(`${name}: at most ${p.maxChars} characters`)
    }
    if (p.allowedValues && !p.allowedValues.includes(value)) {
      throw new InvalidParameters(`${name}: not one of the allowed values`)
    }
    if (p.allowedPattern !== undefined && !new RegExp(p.allowedPattern).test(value)) {
      throw new InvalidParameters(`${name}: does not match ${p.allowedPattern}`)
    }
    out[name] = value
  }
  return out
}

export interface RenderedCommand {
  /** The script the agent writes and runs: the runCommand lines, `{{ }}` substituted. */
  script: string
  /** The environment the agent adds: SSM_<name> for every ENV_VAR parameter (new agents). */
  env: Record<string, string>
  /** The step's timeoutSeconds, substituted. */
  timeoutSeconds?: string
}

/**
 * What the agent runs for the (only) runShellScript step, given checked parameter values.
 * `agent: 'text'` is an agent before ENV_VAR interpolation: no SSM_ variables, text only.
 */
export function renderCommand(
  doc: SsmCommandDocument,
  values: Record<string, string>,
  { agent = 'env' }: { agent?: 'env' | 'text' } = {}
): RenderedCommand {
  const step = doc.mainSteps.find((s) => s.action === 'aws:runShellScript')
  if (!step) throw new Error('the document has no aws:runShellScript step')
  const sub = (text: string) =>
    text.replace(PLACEHOLDER, (whole, name: string) => (name in values ? values[name] : whole))
  const env: Record<string, string> = {}
  if (agent === 'env') {
    for (const [name, p] of Object.entries(doc.parameters)) {
      if (p.interpolationType === 'ENV_VAR' && name in values) env[`SSM_${name}`] = values[name]
    }
  }
  return {
    script: step.inputs.runCommand.map(sub).join('\n') + '\n',
    env,
    ...(step.inputs.timeoutSeconds !== undefined && {
      timeoutSeconds: sub(step.inputs.timeoutSeconds),
    }),
  }
}
