/**
 * npm run bench:recovery — how long the next command takes after a kill -9, on the 8-node example
 * (examples/codenvy.yaml, runner without SYS_ADMIN so it needs no privileged level): an install
 * killed mid-bootstrap, then the same install again; a snapshot killed while the cluster is paused,
 * then `status`; a restore killed mid-swap, then `status`. Each as a user sees it: from the kill to
 * the next command's exit, in its own process, against the time the command takes on its own.
 *
 *   npm run bench:recovery -- [--json]
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import YAML from 'yaml'
import { minimist } from 'zx'
import { createEngine } from '../engine/docker.ts'
import { buildDemoImage } from '../image/demo-image.ts'

const argv = minimist(process.argv.slice(2), { boolean: ['json'] })
const BIN = fileURLToPath(new URL('../../bin/berth.mjs', import.meta.url))
const home = mkdtempSync(join(tmpdir(), 'berth-bench-recovery-'))
const example = YAML.parse(
  readFileSync(fileURLToPath(new URL('../../examples/codenvy.yaml', import.meta.url)), 'utf8')
) as { nodes: object[] }
const topology = {
  ...example,
  name: 'bench-recovery',
  nodes: example.nodes.map((n) => ({ ...n, capAdd: undefined })),
}

/** A job in its own process; with `killAfter`, SIGKILLed right after that event. Seconds and exit. */
function job(
  spec: object,
  killAfter?: string
): Promise<{ s: number; code: number | null; signal: string | null }> {
  const t0 = performance.now()
  return new Promise((resolve, reject) => {
    const env = {
      ...process.env,
      BERTH_HOME: home,
      ...(killAfter ? { BERTH_FAULT: `kill-after:${killAfter}` } : {}),
    }
    const child = spawn(process.execPath, [BIN, 'job', 'run', '--compact'], {
      env,
      stdio: ['pipe', 'ignore', 'ignore'],
    })
    child.on('error', reject)
    child.on('close', (code, signal) =>
      resolve({ s: (performance.now() - t0) / 1000, code, signal })
    )
    child.stdin.end(JSON.stringify(spec))
  })
}

async function must(spec: object, killAfter?: string) {
  const r = await job(spec, killAfter)
  if (killAfter ? r.signal !== 'SIGKILL' : r.code !== 0)
    throw new Error(`${JSON.stringify(spec).slice(0, 80)}: exit ${r.code} ${r.signal}`)
  return r.s
}

const install = { kind: 'install', cluster: topology.name, topology }
const rows: { what: string; next: string; alone: number; recovery: number }[] = []

await buildDemoImage(createEngine())
await job({ kind: 'destroy', cluster: topology.name, options: { volumes: true } })

// An install killed while phase 2 bootstraps, then the same install again.
const fresh = await must(install)
await must({ kind: 'destroy', cluster: topology.name, options: { volumes: true } })
await must(install, 'bootstrap:start:3')
rows.push({
  what: 'install killed mid-bootstrap (8 nodes)',
  next: 'install again',
  alone: fresh,
  recovery: await must(install),
})

// A snapshot killed while every node is paused, then status.
const status = { kind: 'status', cluster: topology.name }
const statusAlone = await must(status)
await must(
  { kind: 'snapshot', cluster: topology.name, options: { tag: 'bench-1' } },
  'commit:start:4'
)
rows.push({
  what: 'snapshot killed while paused',
  next: 'status',
  alone: statusAlone,
  recovery: await must(status),
})

// A restore over the running cluster killed in its swap, then status.
await must({ kind: 'snapshot', cluster: topology.name, options: { tag: 'bench-2' } })
await must({ kind: 'restore', cluster: topology.name, snapshot: 'bench-2' }, 'swap:start:1')
rows.push({
  what: 'restore killed at its swap',
  next: 'status',
  alone: statusAlone,
  recovery: await must(status),
})

await job({ kind: 'destroy', cluster: topology.name, options: { volumes: true } })

if (argv.json) console.log(JSON.stringify(rows))
else {
  console.log(
    "recovery on the 8-node example: from the kill to the next command's exit (its own process)"
  )
  console.log(
    '  killed job                                 next command     next, after the kill   same command alone'
  )
  for (const r of rows)
    console.log(
      `  ${r.what.padEnd(42)} ${r.next.padEnd(16)} ${r.recovery.toFixed(1).padStart(8)} s             ${r.alone.toFixed(1).padStart(6)} s`
    )
}
