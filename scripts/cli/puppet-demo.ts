/**
 * `berth demo --puppet` (`npm run demo:puppet`): the seed's scenario with real Puppet
 * (examples/codenvy-puppet): the image built from Debian's packages if missing, the eight nodes
 * installed (the Puppet server first, seven agents configured by it by name), the site's page
 * fetched through its published port with each role's line, a snapshot, a destroy, a restore, and
 * `puppet agent --test` on every restored node against the restored server.
 */
import { color } from './color.ts'
import { createEngine, type Engine } from '../engine/docker.ts'
import type { JobEvent } from '../engine/events.ts'
import { runJob } from '../engine/job.ts'
import { loadTopologyFile } from '../engine/topology-sources.ts'
import { buildDebianImage, type DebianImageResult } from '../image/debian-image.ts'
import { printResult } from './print.ts'
import { createRenderer, type Mode } from './render.ts'
import { packagePath } from '../engine/package-root.ts'

export const PUPPET_EXAMPLE = packagePath('examples', 'codenvy-puppet', 'codenvy-puppet.yaml')

/** The example's one image: Puppet server and agent, nginx for the site (Debian bookworm). */
export const PUPPET_IMAGE = {
  tag: 'berth/codenvy-puppet:1',
  packages: [
    'puppetserver',
    'puppet-agent',
    'nginx-light',
    'ca-certificates',
    'procps',
    'iproute2',
  ],
}

/** Builds the example's image unless the engine holds one of the same recipe. */
export function ensurePuppetImage(
  engine: Engine,
  progress: (line: string) => void
): Promise<DebianImageResult> {
  return buildDebianImage(
    engine,
    { tag: PUPPET_IMAGE.tag, packages: PUPPET_IMAGE.packages.join(',') },
    { progress }
  )
}

const say = (s: string) => process.stdout.write(s + '\n')

export async function runPuppetDemo(opts: { destroy?: boolean; output: Mode }): Promise<never> {
  const engine = createEngine()
  say(
    color.bold(
      `1/6 image ${PUPPET_IMAGE.tag} (Debian bookworm: ${PUPPET_IMAGE.packages.join(', ')})`
    )
  )
  const image = await ensurePuppetImage(engine, (line) => say(`  ${line}`))
  say(
    `  ${image.built ? `built in ${image.seconds.toFixed(0)} s` : 'up to date'}: ${image.id.slice(7, 19)}`
  )

  const { topology, data } = loadTopologyFile(PUPPET_EXAMPLE)
  const cluster = topology.name
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
  say(
    color.bold(
      `2/6 install ${cluster}: the Puppet server first, then ${topology.nodes.length - 1} agents`
    )
  )
  const installed = await run({ kind: 'install', cluster, topology: data })
  const url = installed.nodes?.flatMap((n) => n.published ?? [])[0]
  if (!url) throw new Error('the site publishes no port')

  say(color.bold(`3/6 the site's page, written by Puppet from what the server knows: ${url}`))
  const page = await (await fetch(`${url}/`, { signal: AbortSignal.timeout(10_000) })).text()
  for (const line of page.split('\n').filter((l) => /^\w+ \S+\.\S+ [\d.]+$/.test(l.trim())))
    say(`  ${line.trim()}`)

  say(color.bold('4/6 snapshot'))
  const snap = await run({ kind: 'snapshot', cluster, options: { keep: 3 } })
  const id = (snap.data as { snapshot: { id: string } }).snapshot.id

  say(color.bold(`5/6 destroy ${cluster} with its volumes, restore ${id}`))
  await run({ kind: 'destroy', cluster, options: { volumes: true } })
  await run({ kind: 'restore', cluster, snapshot: id })

  say(color.bold('6/6 puppet agent --test on every restored node, against the restored server'))
  let failed = 0
  for (const node of topology.nodes.filter((n) => n.bootstrap)) {
    const r = await engine.exec(
      `${cluster}.${node.name}`,
      [
        'sh',
        '-c',
        `puppet agent --test --server master.${topology.domain} --detailed-exitcodes >/dev/null 2>&1; echo $?`,
      ],
      { timeoutMs: 300_000 }
    )
    const code = r.stdout.trim()
    const ok = code === '0' || code === '2'
    if (!ok) failed++
    say(
      `  ${ok ? color.green('✓') : color.red('✗')} ${node.hostname}: exit ${code}${code === '0' ? ' (nothing to change: its certificate and configuration came back)' : ''}`
    )
  }
  if (opts.destroy) await run({ kind: 'destroy', cluster, options: { volumes: true } })
  else
    say(
      color.dim(
        `\nthe cluster is running: ${url} · berth status ${cluster} · berth destroy ${cluster} --volumes`
      )
    )
  process.exit(failed ? 1 : 0)
}
