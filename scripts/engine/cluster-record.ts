/**
 * The last topology each cluster was installed from, and who made it, kept on the Docker host
 * beside its snapshots. Docker holds what runs; only berth knows the bootstrap commands, phases and hooks
 * behind it, and a snapshot must carry them to be self-describing.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { berthHome } from './context.ts'
import { BerthError } from './errors.ts'
import type { Topology } from './topology.ts'
import { ExpandedTopology } from './topology-record.ts'

const file = (cluster: string) => join(berthHome(), 'clusters', cluster, 'topology.json')
const ownerFile = (cluster: string) => join(berthHome(), 'clusters', cluster, 'owner.json')
const networkFile = (cluster: string) => join(berthHome(), 'clusters', cluster, 'network.json')

/**
 * The network berth made for the cluster last, as it made it: a network removed behind berth's back
 * is made again with this name and subnet, which is what the nodes' own settings still name.
 */
export async function saveNetworkRecord(
  cluster: string,
  network: { name: string; subnet: string | null }
): Promise<void> {
  const path = networkFile(cluster)
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 })
  await writeFile(`${path}.tmp`, JSON.stringify(network) + '\n', { mode: 0o600 })
  await rename(`${path}.tmp`, path)
}

export async function loadNetworkRecord(
  cluster: string
): Promise<{ name: string; subnet: string | null } | null> {
  try {
    const n = JSON.parse(await readFile(networkFile(cluster), 'utf8')) as {
      name?: unknown
      subnet?: unknown
    }
    return typeof n.name === 'string'
      ? { name: n.name, subnet: typeof n.subnet === 'string' ? n.subnet : null }
      : null
  } catch {
    return null
  }
}

/** Who made a cluster: `token:<name>`, `slack:<channel>`, `jira:<project>`, `hook:<name>`, `host`. */
export interface ClusterOwner {
  owner: string
  since: string
  job: string
}

export async function readOwner(cluster: string): Promise<ClusterOwner | null> {
  try {
    const o = JSON.parse(await readFile(ownerFile(cluster), 'utf8')) as ClusterOwner
    return typeof o?.owner === 'string' ? o : null
  } catch {
    return null
  }
}

/** Records the owner of a cluster about to be made (before anything of it is created). */
export async function claimOwner(cluster: string, owner: string, job: string): Promise<void> {
  const path = ownerFile(cluster)
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 })
  const o: ClusterOwner = { owner, since: new Date().toISOString(), job }
  await writeFile(`${path}.tmp`, JSON.stringify(o) + '\n', { mode: 0o600 })
  await rename(`${path}.tmp`, path)
}

/** The cluster is gone, volumes and all: whoever makes one of that name next owns it. */
export async function releaseOwner(cluster: string): Promise<void> {
  await rm(ownerFile(cluster), { force: true })
}

export async function saveTopology(topology: Topology): Promise<void> {
  const path = file(topology.name)
  await mkdir(join(path, '..'), { recursive: true })
  // Written beside and renamed over: a crash never leaves half a file.
  await writeFile(`${path}.tmp`, JSON.stringify(topology, null, 2) + '\n')
  await rename(`${path}.tmp`, path)
}

export async function loadTopology(cluster: string): Promise<Topology> {
  try {
    return ExpandedTopology.parse(JSON.parse(await readFile(file(cluster), 'utf8')))
  } catch {
    throw new BerthError(
      'not_found',
      `no topology recorded for cluster "${cluster}" on this host (${file(cluster)}); install it with berth once, or pass the topology with the job`
    )
  }
}
