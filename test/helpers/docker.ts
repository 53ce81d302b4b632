/**
 * Real-engine test support. Every cluster a test makes is named `t-…`, so a crashed earlier run's
 * leftovers are found by label and removed before and after each file.
 */
import { createContext, type JobContext } from '../../scripts/engine/context.ts'
import { DockerEngine } from '../../scripts/engine/docker.ts'
import type { JobEvent } from '../../scripts/engine/events.ts'
import * as assert from 'uvu/assert'
import { LABEL, networkName } from '../../scripts/engine/labels.ts'
import type { Topology } from '../../scripts/engine/topology.ts'
import { buildDemoImage } from '../../scripts/image/demo-image.ts'
import Docker from 'dockerode'

/** The Docker engine as tests see it, apart from berth's own (what a user would check with docker). */
export const docker = new Docker()

export const engine = new DockerEngine()

/** Removes every resource of the clusters whose name starts with `prefix` (one test file's own). */
export async function removeTestClusters(prefix: string): Promise<void> {
  const mine = (labels: Record<string, string> | undefined) => {
    const c = labels?.[LABEL.cluster]
    return !!c && (c.startsWith(prefix) || c === 'berth-probe')
  }
  const containers = await engine.listContainers([LABEL.cluster])
  await Promise.all(
    containers.filter((c) => mine(c.Labels)).map((c) => engine.removeContainer(c.Id))
  )
  const nets = await engine.listNetworks([LABEL.cluster])
  await Promise.all(nets.filter((n) => mine(n.Labels)).map((n) => engine.removeNetwork(n.Id)))
  const vols = await engine.listVolumes([LABEL.cluster])
  await Promise.all(vols.filter((v) => mine(v.Labels)).map((v) => engine.removeVolume(v.Name)))
  // Snapshot images, and the untagged ones a restore commits for nodes with published ports.
  const images = [
    ...(await docker.listImages({ filters: { label: [LABEL.snapshot] } })),
    ...(await docker.listImages({ filters: { label: [LABEL.restore] } })),
  ]
  for (const i of images.filter((i) => mine(i.Labels))) {
    const tags = (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>')
    for (const tag of tags.length ? tags : [i.Id]) await engine.removeImage(tag)
  }
}

let demo: Promise<unknown> | undefined
export function ensureDemoImage(): Promise<unknown> {
  demo ??= buildDemoImage(engine)
  return demo
}

/** A job context that records its events, for assertions on order and content. */
export function recordingContext(job?: string): { ctx: JobContext; events: JobEvent[] } {
  const events: JobEvent[] = []
  const ctx = createContext({ engine, job, emit: (e) => events.push(e), logDir: null })
  return { ctx, events }
}

/** Every `name → ip` a node's own /etc/hosts gives, read with the node's own `cat`. */
export async function hostsOf(containerId: string): Promise<string> {
  const r = await engine.exec(containerId, ['cat', '/etc/hosts'])
  if (r.exitCode !== 0) throw new Error(`cat /etc/hosts failed: ${r.stderr}`)
  return r.stdout
}

/** name → IP as the node's own C library resolves it (busybox ping prints "PING name (ip)"). */
async function resolveInNode(id: string, names: string[]): Promise<Map<string, string | null>> {
  const r = await engine.exec(id, [
    'sh',
    '-c',
    'for n in "$@"; do printf "%s " "$n"; ping -c1 -W1 "$n" 2>&1 | head -1; done',
    'resolve',
    ...names,
  ])
  const out = new Map<string, string | null>()
  for (const line of r.stdout.trim().split('\n')) {
    const [name] = line.split(' ')
    out.set(name, line.match(/PING \S+ \(([\d.]+)\)/)?.[1] ?? null)
  }
  return out
}

/** Checks every node resolves every peer (FQDN and short name) to the IP Docker reports. */
export async function assertHostsMatchInspect(t: Topology): Promise<Map<string, string>> {
  const containers = await engine.listContainers([`${LABEL.cluster}=${t.name}`])
  assert.is(containers.length, t.nodes.length, 'one container per node')
  const ips = new Map<string, string>()
  const ids = new Map<string, string>()
  for (const c of containers) {
    const info = await engine.inspectContainer(c.Id)
    const node = info.Config.Labels[LABEL.node]
    // The cluster's network: berth.<cluster>, or the one a restore built beside it.
    const nets = Object.entries(info.NetworkSettings.Networks)
    assert.is(nets.length, 1, `${node} is on one network`)
    assert.ok(nets[0][0].startsWith(networkName(t.name)), `${node} is on ${nets[0][0]}`)
    ips.set(node, nets[0][1].IPAddress)
    ids.set(node, c.Id)
  }
  const names = t.nodes.flatMap((n) => [n.hostname, n.name])
  for (const n of t.nodes) {
    const resolved = await resolveInNode(ids.get(n.name) as string, names)
    for (const peer of t.nodes) {
      const want = ips.get(peer.name)
      assert.is(resolved.get(peer.hostname), want, `${n.name} resolves ${peer.hostname}`)
      assert.is(resolved.get(peer.name), want, `${n.name} resolves ${peer.name}`)
    }
  }
  return ids
}

/** Eclipse Che's shape (examples/che.yaml): one standalone node with a workspace volume. */
export function cheLike(name: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    image: 'berth/demo:1',
    domain: 'che.local',
    // The host policy's "restricted" level (every non-admin token's) requires a memory limit.
    defaults: { resources: { memory: '64m' } },
    nodes: [
      {
        name: 'che',
        volumes: ['workspace:/projects'],
        bootstrap: ['/opt/demo/bootstrap.sh', '--standalone'],
        healthcheck: { cmd: ['/opt/demo/health.sh'] },
      },
    ],
    ...extra,
  }
}
