/**
 * `berth demo`: the main job end to end on the local Docker — check the host, build the offline
 * demo image, install the eight-node Codenvy layout, and show that every node found the Puppet
 * master by name.
 */
import { readFileSync } from 'node:fs'
import YAML from 'yaml'
import { chalk } from 'zx'
import { createEngine } from '../engine/docker.ts'
import type { JobEvent } from '../engine/events.ts'
import { runJob } from '../engine/job.ts'
import { containerName } from '../engine/labels.ts'
import { hostChecks } from '../engine/preflight.ts'
import { parseTopology } from '../engine/topology.ts'
import { buildDemoImage, DEMO_IMAGE } from '../image/demo-image.ts'
import { printResult } from './print.ts'
import { createRenderer, type Mode } from './render.ts'

const say = (s: string) => process.stdout.write(s + '\n')

export async function runDemo(opts: { mode: 'static' | 'dynamic'; destroy?: boolean; output: Mode }): Promise<never> {
  const engine = createEngine()
  say(chalk.bold('1/4 host'))
  const checks = await hostChecks(engine, null)
  for (const c of checks) say(`  ${c.status === 'fail' ? chalk.red('✗') : chalk.green('✓')} ${c.name}: ${c.message}`)
  if (checks.some((c) => c.status === 'fail')) process.exit(3)

  say(chalk.bold(`2/4 image ${DEMO_IMAGE} (offline, from busybox-static)`))
  const image = await buildDemoImage(engine)
  say(`  ${image.built ? 'built' : 'up to date'}: ${image.id.slice(7, 19)}`)

  const file = new URL('../../examples/codenvy.yaml', import.meta.url)
  const text = readFileSync(file, 'utf8')
  const topology = parseTopology(text, { file: 'examples/codenvy.yaml' })
  say(chalk.bold(`3/4 install ${topology.name}: ${topology.nodes.length} nodes, ${opts.mode} mode`))
  const renderer = createRenderer(opts.output)
  const run = async (spec: Record<string, unknown>) => {
    const r = await runJob(spec, {
      engine,
      emit: (e: JobEvent) => e.type !== 'result' && renderer.emit(e),
    })
    renderer.close()
    printResult(r.result)
    if (r.exitCode !== 0) process.exit(r.exitCode)
    return r.result
  }
  // The demo may switch the network mode, so it sends the file as data, not as text.
  const raw = { ...(YAML.parse(text) as object), network: { mode: opts.mode } }
  await run({ kind: 'install', cluster: topology.name, topology: raw })

  say(chalk.bold('4/4 check'))
  await run({ kind: 'status', cluster: topology.name })
  const api = (await engine.listContainers([`berth.cluster=${topology.name}`, 'berth.node=api']))[0]
  if (api) {
    const conf = await engine.readFile(api.Id, '/etc/demo/role.conf')
    say(`  ${containerName(topology.name, 'api')}:/etc/demo/role.conf, fetched from master.${topology.domain} by name:`)
    for (const line of (conf?.toString() ?? '(missing)').trim().split('\n')) say(`    ${line}`)
  }
  if (opts.destroy) {
    await run({ kind: 'destroy', cluster: topology.name, options: { volumes: true } })
  } else {
    say(chalk.dim(`\nthe cluster is running: berth status ${topology.name} · berth destroy ${topology.name} --volumes`))
  }
  process.exit(0)
}
