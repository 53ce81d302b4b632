/**
 * berth's SSM document (infra/ssm/berth-job-run.json) as the local SSM endpoint runs it: the
 * parameters checked against the document's own patterns and limits, then the document's own
 * script (as an agent without ENV_VAR interpolation renders it, the harder case), with this
 * checkout's berth standing in for /usr/local/bin/berth.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  loadSsmDocument,
  renderCommand,
  resolveParameters,
} from '../../scripts/infra/ssm-document.ts'
import type { FakeDocument } from './ssm-endpoint.ts'

const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname

/** Single-quoted for sh. */
export const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

const doc = loadSsmDocument()
const berth = join(mkdtempSync(join(tmpdir(), 'berth-bin-')), 'berth')
writeFileSync(berth, `#!/bin/sh\nexec ${shq(process.execPath)} ${shq(BIN)} "$@"\n`)
chmodSync(berth, 0o755)

export const berthJobRun: FakeDocument = {
  plugin: doc.mainSteps[0].name,
  script(params) {
    const values = resolveParameters(doc, params)
    const { script } = renderCommand(doc, values, { agent: 'text' })
    if (!script.includes('/usr/local/bin/berth'))
      throw new Error('the document no longer runs /usr/local/bin/berth')
    return script.replaceAll('/usr/local/bin/berth', berth)
  },
}
