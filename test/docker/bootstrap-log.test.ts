import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createContext } from '../../scripts/engine/context.ts'
import { installCluster } from '../../scripts/engine/install.ts'
import { validateTopology } from '../../scripts/engine/topology.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import { engine, ensureDemoImage, removeTestClusters } from '../helpers/docker.ts'

process.env.BERTH_HOME = mkdtempSync(join(tmpdir(), 'berth-dmg-log-'))

const Log = suite('bootstrap output in the job log')

Log.before(
  hook(async () => {
    await withTimeout(removeTestClusters('t-dmg-log'), 60_000, 'cleanup')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
  })
)
Log.after(hook(() => removeTestClusters('t-dmg-log')))

Log(
  'a line printed in two writes is logged whole, and output without a final newline is logged at the end',
  async () => {
    // The pauses make Docker send the halves of a line as two chunks. stdout and stderr reach the
    // log in no fixed order between them (two pipes), so the lines are compared sorted.
    const bootstrap =
      "printf 'half a '; sleep 0.5; printf 'line\\n'; printf 'err one\\nerr tw' >&2; sleep 0.3; printf 'o\\nno newline at the end' >&2"
    const t = validateTopology({
      name: 't-dmg-log',
      image: 'berth/demo:1',
      domain: 'log.local',
      nodes: [{ name: 'n1', bootstrap }],
    })
    const dir = mkdtempSync(join(tmpdir(), 'berth-dmg-jobs-'))
    const ctx = createContext({ engine, emit: () => {}, logDir: dir })
    await withTimeout(installCluster(ctx, t), 120_000, 'install')
    const log = readFileSync(join(dir, `${ctx.job}.log`), 'utf8')
    const output = log
      .split('\n')
      .map((l) => l.split(' [n1] ')[1])
      .filter((l) => l !== undefined && !/^(step |bootstrap: )/.test(l))
    assert.equal(output.sort(), ['err one', 'err two', 'half a line', 'no newline at the end'], log)
  }
)

Log.run()
