/**
 * `berth demo`: the main job end to end on the local Docker — check the host, build the offline
 * demo image, install the eight-node Codenvy layout, show that every node found the Puppet master
 * by name, snapshot it with data in a volume and in a container layer, destroy it, restore it,
 * and show the data came back byte for byte.
 */
import { readFileSync } from 'node:fs'
import YAML from 'yaml'
import { color } from './color.ts'
import { createEngine } from '../engine/docker.ts'
import type { JobEvent } from '../engine/events.ts'
import { runJob } from '../engine/job.ts'
import { containerName } from '../engine/labels.ts'
import { hostChecks } from '../engine/preflight.ts'
import { parseTopology } from '../engine/topology.ts'
import { buildDemoImage, DEMO_IMAGE } from '../image/demo-image.ts'
import { printResult } from './print.ts'
import { createRenderer, type Mode } from './render.ts'
import { packagePath } from '../engine/package-root.ts'

const say = (s: string) => process.stdout.write(s + '\n')

export async function runDemo(opts: {
  mode: 'static' | 'dynamic'
  destroy?: boolean
  output: Mode
}): Promise<never> {
  const engine = createEngine()
  say(color.bold('1/6 host'))
  const checks = await hostChecks(engine, null)
  const mark = {
    ok: color.green('✓'),
    warn: color.yellow('!'),
    fail: color.red('✗'),
    skip: color.dim('-'),
  }
  for (const c of checks) say(`  ${mark[c.status]} ${c.name}: ${c.message}`)
  if (checks.some((c) => c.status === 'fail')) process.exit(3)

  say(color.bold(`2/6 image ${DEMO_IMAGE} (offline, from busybox-static)`))
  const image = await buildDemoImage(engine)
  say(`  ${image.built ? 'built' : 'up to date'}: ${image.id.slice(7, 19)}`)

  const file = packagePath('examples', 'codenvy.yaml')
  const text = readFileSync(file, 'utf8')
  const topology = parseTopology(text, { file: 'examples/codenvy.yaml' })
  say(color.bold(`3/6 install ${topology.name}: ${topology.nodes.length} nodes, ${opts.mode} mode`))
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

  say(color.bold('4/6 check'))
  await run({ kind: 'status', cluster: topology.name })
  const api = (await engine.listContainers([`berth.cluster=${topology.name}`, 'berth.node=api']))[0]
  if (api) {
    const conf = await engine.readFile(api.Id, '/etc/demo/role.conf')
    say(
      `  ${containerName(topology.name, 'api')}:/etc/demo/role.conf, fetched from master.${topology.domain} by name:`
    )
    for (const line of (conf?.toString() ?? '(missing)').trim().split('\n')) say(`    ${line}`)
  }

  say(
    color.bold(
      '5/6 snapshot: data written into a volume and into a container layer, then one consistent snapshot'
    )
  )
  const node = async (name: string) =>
    (await engine.listContainers([`berth.cluster=${topology.name}`, `berth.node=${name}`]))[0].Id
  const proof = [
    { node: 'data', path: '/var/lib/demo/demo.bin' }, // in the data node's volume
    { node: 'api', path: '/opt/demo-work/demo.bin' }, // in the api node's container layer
  ]
  const sums = new Map<string, string>()
  for (const p of proof) {
    const id = await node(p.node)
    await engine.exec(id, [
      'sh',
      '-c',
      'mkdir -p "$(dirname "$1")" && dd if=/dev/urandom of="$1" bs=1M count=4 2>/dev/null',
      'w',
      p.path,
    ])
    sums.set(
      `${p.node}:${p.path}`,
      (await engine.exec(id, ['sha256sum', p.path])).stdout.split(' ')[0]
    )
  }
  const snap = await run({ kind: 'snapshot', cluster: topology.name, options: { keep: 3 } })
  const id = (snap.data as { snapshot: { id: string } }).snapshot.id

  say(
    color.bold(`6/6 disaster and restore: destroy ${topology.name} with its volumes, restore ${id}`)
  )
  await run({ kind: 'destroy', cluster: topology.name, options: { volumes: true } })
  await run({ kind: 'restore', cluster: topology.name, snapshot: id })
  for (const p of proof) {
    const got = (await engine.exec(await node(p.node), ['sha256sum', p.path])).stdout.split(' ')[0]
    const ok = got === sums.get(`${p.node}:${p.path}`)
    say(
      `  ${ok ? color.green('✓') : color.red('✗')} ${p.node}:${p.path} sha256 ${got.slice(0, 16)}… ${ok ? 'identical after restore' : 'DIFFERS'}`
    )
    if (!ok) process.exit(1)
  }
  if (opts.destroy) {
    await run({ kind: 'destroy', cluster: topology.name, options: { volumes: true } })
  } else {
    say(
      color.dim(
        `\nthe cluster is running: berth status ${topology.name} · berth snapshots ${topology.name} · berth destroy ${topology.name} --volumes`
      )
    )
  }
  process.exit(0)
}
