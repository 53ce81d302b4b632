/**
 * The last topology each cluster was installed from, kept on the Docker host beside its
 * snapshots. Docker holds what runs; only berth knows the bootstrap commands, phases and hooks
 * behind it, and a snapshot must carry them to be self-describing.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { berthHome } from './context.ts'
import { BerthError } from './errors.ts'
import type { Topology } from './topology.ts'

const file = (cluster: string) => join(berthHome(), 'clusters', cluster, 'topology.json')

export async function saveTopology(topology: Topology): Promise<void> {
  const path = file(topology.name)
  await mkdir(join(path, '..'), { recursive: true })
  // Written beside and renamed over: a crash never leaves half a file.
  await writeFile(`${path}.tmp`, JSON.stringify(topology, null, 2) + '\n')
  await rename(`${path}.tmp`, path)
}

export async function loadTopology(cluster: string): Promise<Topology> {
  try {
    return JSON.parse(await readFile(file(cluster), 'utf8')) as Topology
  } catch {
    throw new BerthError(
      'not_found',
      `no topology recorded for cluster "${cluster}" on this host (${file(cluster)}); install it with berth once, or pass the topology with the job`
    )
  }
}
