/**
 * Checks of the host against what is asked, shared by `berth doctor` (which reports every check)
 * and install (which stops at the first failure, before creating anything).
 */
import { statfs } from 'node:fs/promises'
import type { JobContext } from './context.ts'
import type { Engine } from './docker.ts'
import { BerthError } from './errors.ts'
import { LABEL, containerName, networkName } from './labels.ts'
import { chooseSubnet, usedSubnets } from './network.ts'
import { bindProblem, engineInThisNetns } from './host-ports.ts'
import { portsClash, showPort, type PortMapping } from './runtime-keys.ts'
import type { Topology } from './topology.ts'

export interface Check {
  name: string
  status: 'ok' | 'warn' | 'fail' | 'skip'
  message: string
  /** What to do about it, for warn and fail. */
  hint?: string
}

const MIN_API = '1.41'
const MIN_FREE_BYTES = 2 * 1024 ** 3

export const DEMO_IMAGE_HINT = 'build it with: berth image build-demo'

/** Recognises the runtime's refusal of a privileged container and says what to do instead. */
export function privilegedRefusal(err: unknown): string | null {
  const text = err instanceof Error ? err.message : String(err)
  if (!/operation not permitted|unable to apply caps|permission denied/i.test(text)) return null
  return (
    'this Docker host refuses privileged containers (the runtime said: ' +
    `${text.replace(/^.*?: /, '').slice(0, 160)}). ` +
    'Give the node only the capabilities it needs with capAdd (for example capAdd: [SYS_ADMIN]) ' +
    'instead of privileged: true, or use a host whose Docker allows --privileged.'
  )
}

const probes = new WeakMap<Engine, Map<string, Promise<string | null>>>()

/**
 * Starts a throw-away container with the given HostConfig and reports the refusal, if any.
 * Cached per engine and setting: the answer does not change while the process lives.
 */
export function probeHostConfig(
  engine: Engine,
  image: string,
  kind: 'privileged' | 'capadd'
): Promise<string | null> {
  let cache = probes.get(engine)
  if (!cache) probes.set(engine, (cache = new Map<string, Promise<string | null>>()))
  const key = `${kind}:${image}`
  const hit = cache.get(key)
  if (hit) return hit
  const run = (async () => {
    const name = `berth-probe-${kind}-${process.pid}-${Date.now()}`
    const id = await engine.createContainer({
      name,
      Image: image,
      Labels: { [LABEL.cluster]: 'berth-probe' },
      HostConfig:
        kind === 'privileged'
          ? { Privileged: true, NetworkMode: 'none' }
          : { CapAdd: ['SYS_ADMIN', 'NET_ADMIN'], NetworkMode: 'none' },
    })
    try {
      await engine.startContainer(id, name)
      return null
    } catch (err) {
      return privilegedRefusal(err) ?? (err instanceof Error ? err.message : String(err))
    } finally {
      await engine.removeContainer(id, name)
    }
  })()
  cache.set(key, run)
  return run
}

function apiAtLeast(version: string, min: string): boolean {
  const [a, b] = version.split('.').map(Number)
  const [c, d] = min.split('.').map(Number)
  return a > c || (a === c && b >= d)
}

/** Engine-level checks (no topology): reachability, API, storage, disk, privileged. */
export async function hostChecks(engine: Engine, probeImage: string | null): Promise<Check[]> {
  const checks: Check[] = []
  let version
  try {
    version = await engine.version()
  } catch (err) {
    checks.push({
      name: 'engine',
      status: 'fail',
      message: err instanceof Error ? err.message : String(err),
      hint: 'start the Docker engine (dockerd) or set DOCKER_HOST; on Debian: apt-get install docker.io',
    })
    return checks
  }
  checks.push({
    name: 'engine',
    status: apiAtLeast(version.ApiVersion, MIN_API) ? 'ok' : 'fail',
    message: `Docker ${version.Version}, API ${version.ApiVersion}`,
    hint: apiAtLeast(version.ApiVersion, MIN_API)
      ? undefined
      : `berth needs API ${MIN_API} or later`,
  })
  const info = await engine.info()
  checks.push({
    name: 'storage',
    status: info.Driver === 'overlay2' ? 'ok' : 'warn',
    message: `storage driver ${info.Driver}`,
    hint: info.Driver === 'overlay2' ? undefined : 'overlay2 is the driver berth is tested with',
  })
  try {
    const fs = await statfs(info.DockerRootDir)
    const free = fs.bavail * fs.bsize
    checks.push({
      name: 'disk',
      status: free >= MIN_FREE_BYTES ? 'ok' : 'warn',
      message: `${(free / 1024 ** 3).toFixed(1)} GiB free in ${info.DockerRootDir}`,
      hint: free >= MIN_FREE_BYTES ? undefined : 'snapshots and images need room: free some space',
    })
  } catch {
    checks.push({
      name: 'disk',
      status: 'skip',
      message: `${info.DockerRootDir} is not on this machine (remote engine)`,
    })
  }
  if (!probeImage) {
    checks.push({
      name: 'privileged',
      status: 'skip',
      message: 'no local image to probe with',
      hint: DEMO_IMAGE_HINT,
    })
    return checks
  }
  const [privileged, capAdd] = await Promise.all([
    probeHostConfig(engine, probeImage, 'privileged'),
    probeHostConfig(engine, probeImage, 'capadd'),
  ])
  checks.push(
    privileged
      ? {
          name: 'privileged',
          status: 'warn',
          message: 'privileged containers are refused by this host',
          hint: privileged,
        }
      : { name: 'privileged', status: 'ok', message: 'privileged containers allowed' }
  )
  checks.push(
    capAdd
      ? { name: 'capAdd', status: 'fail', message: `added capabilities are refused: ${capAdd}` }
      : { name: 'capAdd', status: 'ok', message: 'added capabilities (capAdd) work' }
  )
  return checks
}

/**
 * Checks of one topology against the host: images, volumes, subnet, names, privileged, memory,
 * CPUs, and published ports (unless `publish` is false: a restore's rehearsal publishes none).
 */
export async function topologyChecks(
  engine: Engine,
  topology: Topology,
  opts: { publish?: boolean } = {}
): Promise<Check[]> {
  const checks: Check[] = [...(await resourceChecks(engine, topology))]
  if (opts.publish !== false) checks.push(...(await portChecks(engine, topology)))
  const images = [...new Set(topology.nodes.map((n) => n.image))]
  const present = await Promise.all(images.map((i) => engine.inspectImage(i)))
  images.forEach((image, i) => {
    const users = topology.nodes.filter((n) => n.image === image).map((n) => n.name)
    checks.push(
      present[i]
        ? { name: `image ${image}`, status: 'ok', message: 'present' }
        : {
            name: `image ${image}`,
            status: 'fail',
            message: `image "${image}" (nodes ${users.join(', ')}) is not on this Docker host and no registry is reachable`,
            hint: image.startsWith('berth/demo')
              ? DEMO_IMAGE_HINT
              : 'load it with docker load or docker import',
          }
    )
  })
  for (const node of topology.nodes) {
    for (const v of node.volumes.filter((v) => v.external)) {
      if (!(await engine.inspectVolume(v.name))) {
        checks.push({
          name: `volume ${v.name}`,
          status: 'fail',
          message: `node "${node.name}": external volume "${v.name}" does not exist`,
          hint: `create it first: docker volume create ${v.name}`,
        })
      }
    }
  }
  const nets = await engine.listNetworks()
  const own = nets.find((n) => n.Name === networkName(topology.name, topology.network.mode))
  if (own && own.Labels?.[LABEL.cluster] !== topology.name) {
    checks.push({
      name: 'network name',
      status: 'fail',
      message: `a network named "${own.Name}" exists and was not made by berth for cluster "${topology.name}"`,
      hint: 'remove it or rename the cluster',
    })
  }
  if (topology.network.subnet) {
    try {
      chooseSubnet(topology, await usedSubnets(engine), own?.Id)
      checks.push({ name: 'subnet', status: 'ok', message: `${topology.network.subnet} is free` })
    } catch (err) {
      checks.push({ name: 'subnet', status: 'fail', message: (err as Error).message })
    }
  }
  const names = new Set(topology.nodes.map((n) => containerName(topology.name, n.name)))
  const taken = await engine.findContainers({ name: [`${topology.name}.`] })
  for (const c of taken) {
    const name = c.Names.map((n) => n.replace(/^\//, '')).find((n) => names.has(n))
    if (name && c.Labels?.[LABEL.cluster] !== topology.name) {
      checks.push({
        name: 'container name',
        status: 'fail',
        message: `a container named "${name}" exists and does not belong to cluster "${topology.name}"`,
        hint: `remove it (docker rm -f ${name}) or rename the cluster`,
      })
    }
  }
  const privileged = topology.nodes.filter((n) => n.privileged)
  if (privileged.length) {
    const refusal = await probeHostConfig(engine, privileged[0].image, 'privileged').catch(
      () => null
    )
    if (refusal) {
      checks.push({
        name: 'privileged',
        status: 'fail',
        message: `nodes ${privileged.map((n) => `"${n.name}"`).join(', ')} ask for privileged: true, and ${refusal}`,
      })
    }
  }
  return checks
}

/**
 * An external volume berth made for another cluster is that cluster's data: below privileged, a
 * job may not mount it, whatever the allowlist says (only the host knows whose a volume is).
 */
async function foreignVolumes(engine: Engine, topology: Topology, level: string): Promise<Check[]> {
  const checks: Check[] = []
  for (const node of topology.nodes) {
    for (const v of node.volumes.filter((v) => v.external)) {
      const owner = (await engine.inspectVolume(v.name))?.Labels?.[LABEL.cluster]
      if (owner && owner !== topology.name) {
        checks.push({
          name: `volume ${v.name}`,
          status: 'fail',
          message: `node "${node.name}": external volume "${v.name}" belongs to cluster "${owner}"; policy "${level}" never mounts another cluster's volume`,
        })
      }
    }
  }
  return checks
}

/** Memory limits that add up to more than the host has; a node asking for more CPUs than it has. */
async function resourceChecks(engine: Engine, topology: Topology): Promise<Check[]> {
  const limited = topology.nodes.filter((n) => n.resources.memory || n.resources.cpus)
  if (!limited.length) return []
  const info = await engine.info()
  const checks: Check[] = []
  const sum = limited.reduce((a, n) => a + (n.resources.memory ?? 0), 0)
  if (sum > info.MemTotal) {
    checks.push({
      name: 'memory',
      status: 'fail',
      message: `the nodes' memory limits add up to ${gib(sum)}; the Docker host has ${gib(info.MemTotal)} in all`,
      hint: 'lower resources.memory, or use a larger host',
    })
  }
  for (const n of limited) {
    if (n.resources.cpus && n.resources.cpus > info.NCPU) {
      checks.push({
        name: 'cpus',
        status: 'fail',
        message: `node "${n.name}": resources.cpus is ${n.resources.cpus}; the Docker host has ${info.NCPU} CPUs`,
      })
    }
  }
  return checks
}

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`

/**
 * Published ports that cannot be had: taken by a running container of another cluster (named),
 * or — when the engine's network namespace is this process's — bound by a process on the host,
 * or on an address the host does not have. A remote engine's own processes cannot be seen from
 * here: Docker's refusal at start names the port then.
 */
async function portChecks(engine: Engine, topology: Topology): Promise<Check[]> {
  const wanted = topology.nodes.flatMap((n) => n.ports.map((p) => ({ node: n.name, port: p })))
  if (!wanted.length) return []
  const checks: Check[] = []
  const running = await engine.findContainers(
    { status: ['running', 'paused', 'restarting'] },
    false
  )
  const ownPorts: PortMapping[] = []
  for (const { node, port } of wanted) {
    for (const c of running) {
      const held = (c.Ports ?? [])
        .filter((p) => p.PublicPort)
        .map((p): PortMapping => ({
          hostIp: p.IP && p.IP !== '::' ? p.IP : '0.0.0.0',
          hostPort: p.PublicPort,
          containerPort: p.PrivatePort,
          protocol: p.Type as 'tcp' | 'udp',
        }))
      const clash = held.find((h) => portsClash(h, port))
      if (!clash) continue
      if (c.Labels?.[LABEL.cluster] === topology.name) {
        ownPorts.push(clash)
        continue
      }
      const name = (c.Names?.[0] ?? c.Id.slice(0, 12)).replace(/^\//, '')
      checks.push({
        name: 'port',
        status: 'fail',
        message: `node "${node}": host port ${showPort(port)} is taken by container "${name}"`,
        hint: 'publish another host port, or stop that container',
      })
    }
  }
  if (await engineInThisNetns(engine)) {
    for (const { node, port } of wanted) {
      if (
        ownPorts.some((o) => portsClash(o, port)) ||
        checks.some((c) => c.message.startsWith(`node "${node}": host port ${showPort(port)}`))
      )
        continue
      const problem = await bindProblem(port)
      if (problem)
        checks.push({
          name: 'port',
          status: 'fail',
          message: `node "${node}": host port ${showPort(port)} ${problem}`,
        })
    }
  }
  return checks
}

/** Install's preflight: the same checks as doctor, stopping with every failure named. */
export async function preflight(
  ctx: JobContext,
  topology: Topology,
  opts: { publish?: boolean } = {}
): Promise<void> {
  try {
    await ctx.engine.version()
  } catch (err) {
    throw new BerthError('preflight', (err as Error).message, { step: 'preflight', cause: err })
  }
  const failed = (await topologyChecks(ctx.engine, topology, opts)).filter(
    (c) => c.status === 'fail'
  )
  if (ctx.admission && ctx.admission.level !== 'privileged')
    failed.push(...(await foreignVolumes(ctx.engine, topology, ctx.admission.level)))
  if (failed.length) {
    const lines = failed.map((c) => `${c.message}${c.hint ? ` — ${c.hint}` : ''}`)
    const node = topology.nodes.find((n) =>
      failed.some((c) => c.message.includes(`"${n.name}"`))
    )?.name
    const code = failed.some((c) => c.message.includes('never mounts another cluster'))
      ? 'forbidden'
      : 'preflight'
    throw new BerthError(code, `preflight failed:\n${lines.join('\n')}`, {
      step: 'preflight',
      node,
    })
  }
}
