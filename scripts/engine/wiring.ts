/**
 * Hosts wiring. Static mode needs none at run time (ExtraHosts at create time); dynamic mode, the
 * 2015 installer's way, learns every address after start and writes one managed block into every
 * node's /etc/hosts in place. Both are then verified from each node's own /etc/hosts.
 */
import type { JobContext } from './context.ts'
import { BerthError } from './errors.ts'
import { entriesOf, hostsProblems, managedBlock, withManagedBlock, type HostEntry } from './hosts.ts'
import { networkName } from './labels.ts'
import { mapLimit } from './pool.ts'

/** What wiring needs of a cluster: its name and each node's names (a Topology is one). */
export interface WiredCluster {
  name: string
  nodes: { name: string; hostname: string }[]
}

/** The cluster's hosts entries from the addresses the running nodes have now. */
export async function liveEntries(
  ctx: JobContext,
  topology: WiredCluster,
  ids: Map<string, string>
): Promise<HostEntry[]> {
  const net = networkName(topology.name)
  const nodes = topology.nodes.filter((n) => ids.has(n.name))
  const infos = await mapLimit(nodes, ctx.concurrency, (n) =>
    ctx.engine.inspectContainer(ids.get(n.name) as string)
  )
  return entriesOf(
    nodes.map((n, i) => {
      const ip = infos[i].NetworkSettings?.Networks?.[net]?.IPAddress
      if (!ip) {
        throw new BerthError('hosts_failed', `node "${n.name}" has no address on network "${net}" (is it running?)`, {
          node: n.name,
          step: 'hosts',
        })
      }
      return { name: n.name, hostname: n.hostname, ip }
    })
  )
}

/**
 * Writes the managed block into every node. `rename()` over a bind-mounted /etc/hosts fails,
 * so the file is truncated and written in place; the text travels as an argument ("$1"), never
 * spliced into the shell command.
 */
export async function wireHosts(
  ctx: JobContext,
  topology: WiredCluster,
  ids: Map<string, string>
): Promise<HostEntry[]> {
  const entries = await liveEntries(ctx, topology, ids)
  const block = managedBlock(topology.name, entries)
  await mapLimit([...ids], ctx.concurrency, async ([node, id]) => {
    const current = (await ctx.engine.readFile(id, '/etc/hosts'))?.toString() ?? ''
    const next = withManagedBlock(current, block)
    const r = await ctx.engine.exec(id, ['sh', '-c', 'printf "%s" "$1" > /etc/hosts', 'berth-hosts', next], {
      timeoutMs: 10_000,
    })
    if (r.exitCode !== 0) {
      throw new BerthError(
        'hosts_failed',
        `node "${node}": writing /etc/hosts failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim()} — dynamic mode needs sh in the image; static mode needs nothing`,
        { node, step: 'hosts', output: r.stderr }
      )
    }
  })
  return entries
}

/** Reads every node's /etc/hosts (archive API: no shell needed) and checks every peer's name. */
export async function verifyHosts(
  ctx: JobContext,
  topology: WiredCluster,
  ids: Map<string, string>
): Promise<void> {
  const entries = await liveEntries(ctx, topology, ids)
  const failures = await mapLimit([...ids], ctx.concurrency, async ([node, id]) => {
    const text = (await ctx.engine.readFile(id, '/etc/hosts'))?.toString() ?? ''
    const problems = hostsProblems(text, entries)
    return problems.length ? `node "${node}": ${problems.join('; ')}` : null
  })
  const bad = failures.filter((f): f is string => f !== null)
  if (bad.length) {
    throw new BerthError('hosts_failed', `/etc/hosts is wrong on ${bad.length} node(s):\n${bad.join('\n')}`, {
      step: 'verify',
      node: bad[0].match(/^node "([^"]+)"/)?.[1],
    })
  }
}
