/** Final, human-readable output of a job: the node table, the plan, or what failed and where. */
import { color } from './color.ts'
import type { ResultEvent } from '../engine/events.ts'
import { formatPlan, type Plan } from '../engine/install.ts'
import type { ClusterListing, ClusterStatus } from '../engine/lifecycle.ts'
import type { Check } from '../engine/preflight.ts'

interface SnapshotSummary {
  id: string
  cluster: string
  createdAt: string
  nodes: number
  volumes: number
  volumeBytes: number
  windowMs: number
}
type DamagedSummary = { id: string; cluster: string; damaged: string }
type SnapshotData = {
  snapshots?: (SnapshotSummary | DamagedSummary)[]
  snapshot?: SnapshotSummary
  pruned?: string[]
}
type ExportData = { file: string; bytes: number; sha256: string }
type ClustersData = { clusters: ClusterListing[] }

const mb = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MB`

export function printResult(result: ResultEvent, logFile?: string): void {
  const w = (s: string) => process.stdout.write(s + '\n')
  for (const line of result.recovered ?? []) w(color.yellow(`↺ recovered first: ${line}`))
  if (!result.ok) {
    const where = [result.node && `node ${result.node}`, result.step && `step ${result.step}`]
      .filter(Boolean)
      .join(', ')
    w(
      color.red(
        `✗ ${result.kind} ${result.cluster} failed${where ? ` (${where})` : ''} [${result.code}]`
      )
    )
    w(result.message ?? '')
    if (logFile) w(color.dim(`full log: ${logFile}`))
    return
  }
  const data = result.data as
    { plan?: Plan } | ClusterStatus | SnapshotData | ExportData | ClustersData | undefined
  if (data && 'clusters' in data) {
    w(color.dim('  CLUSTER                                  MODE     NODES RUNNING'))
    for (const c of data.clusters)
      w(
        `  ${c.cluster.padEnd(40)} ${(c.mode ?? '?').padEnd(8)} ${String(c.nodes).padEnd(5)} ${c.running}`
      )
    if (!data.clusters.length) w('  no clusters on this Docker host')
    return
  }
  if (data && 'snapshots' in data && data.snapshots) {
    w(
      color.dim(
        '  SNAPSHOT                          CREATED                   NODES VOLUMES  VOLUME DATA  WINDOW'
      )
    )
    for (const m of data.snapshots) {
      if ('damaged' in m) w(`  ${m.id.padEnd(33)} ${color.red(`damaged: ${m.damaged}`)}`)
      else
        w(
          `  ${m.id.padEnd(33)} ${m.createdAt.padEnd(25)} ${String(m.nodes).padEnd(5)} ${String(m.volumes).padEnd(8)} ${mb(m.volumeBytes).padEnd(12)} ${m.windowMs} ms`
        )
    }
    const damaged = data.snapshots.filter((m) => 'damaged' in m)
    if (damaged.length) {
      w(
        color.dim(
          `  a damaged snapshot cannot be restored; remove it with: berth snapshot rm ${result.cluster} ${damaged[0].id}`
        )
      )
    }
    if (!data.snapshots.length) w(`  no snapshots of ${result.cluster}`)
    return
  }
  if (data && 'bytes' in data) {
    w(
      color.green(
        `✓ exported ${result.cluster} to ${data.file} (${mb(data.bytes)}, sha256 ${data.sha256.slice(0, 16)}…)`
      )
    )
    return
  }
  if (data && 'snapshot' in data && typeof data.snapshot === 'object') {
    const m = data.snapshot
    w(
      color.green(
        `✓ ${result.kind === 'import' ? 'imported' : 'snapshot'} ${m.id} of ${m.cluster}: ${m.nodes} images, ${m.volumes} volumes (${mb(m.volumeBytes)}), cluster paused ${m.windowMs} ms`
      )
    )
    if (data.pruned?.length) w(`  pruned ${data.pruned.join(', ')}`)
    return
  }
  if (data && 'plan' in data && data.plan) {
    w(formatPlan(data.plan))
    return
  }
  if (data && 'nodes' in data && Array.isArray(data.nodes)) {
    const s = data
    w(`cluster ${s.cluster}  mode ${s.mode ?? '?'}  network ${s.network ?? '-'} ${s.subnet ?? ''}`)
    w(
      color.dim(
        '  NODE           STATE    IP              HOSTNAME                    PHASE BOOTSTRAP HEALTH    IMAGE'
      )
    )
    for (const n of s.nodes) {
      const health =
        n.health === 'healthy'
          ? color.green(n.health)
          : n.health === 'unhealthy'
            ? color.red(n.health)
            : n.health
      w(
        `  ${n.name.padEnd(14)} ${n.state.padEnd(8)} ${(n.ip ?? '-').padEnd(15)} ${n.hostname.padEnd(27)} ${String(n.phase).padEnd(5)} ${n.bootstrap.padEnd(9)} ${health.padEnd(9)} ${n.image}`
      )
    }
    for (const n of s.nodes)
      if (n.published?.length) w(`  ${n.name} publishes ${n.published.join(', ')}`)
    for (const d of s.drift ?? [])
      w(color.yellow(`! ${d.node ? `node ${d.node}: ` : ''}${d.problem}`))
    if (s.drift?.length)
      w(
        color.yellow(
          `the cluster is not what berth made it: berth repair ${s.cluster} mends it (exit code 8)`
        )
      )
    return
  }
  const restored = (data as { restored?: string } | undefined)?.restored
  const what =
    restored && restored !== result.cluster ? `${result.cluster} → ${restored}` : result.cluster
  w(color.green(`✓ ${result.kind} ${what} in ${(result.ms / 1000).toFixed(1)} s`))
  for (const n of result.nodes ?? [])
    w(
      `  ${n.name.padEnd(14)} ${(n.ip ?? '-').padEnd(15)} ${n.hostname}${n.published?.length ? `  ${n.published.join(' ')}` : ''}`
    )
  for (const g of (data as { ports?: { port: string; unansweredMs: number | null }[] } | undefined)
    ?.ports ?? []) {
    w(
      `  port ${g.port}: ${g.unansweredMs === null ? 'moved (not measured: the engine is not on this machine)' : `did not answer for ${(g.unansweredMs / 1000).toFixed(2)} s during the swap`}`
    )
  }
}

export function printChecks(checks: Check[]): boolean {
  const icon = {
    ok: color.green('✓'),
    warn: color.yellow('!'),
    fail: color.red('✗'),
    skip: color.dim('-'),
  }
  for (const c of checks) {
    process.stdout.write(`${icon[c.status]} ${c.name.padEnd(22)} ${c.message}\n`)
    if (c.hint && c.status !== 'ok') process.stdout.write(`  ${color.dim('→')} ${c.hint}\n`)
  }
  return !checks.some((c) => c.status === 'fail')
}
