/**
 * Every resource berth creates carries these labels, so the state of a cluster is read back from
 * Docker (no state file to drift) and whatever a crash leaves behind can be found and removed.
 */
import pkg from '../../package.json' with { type: 'json' }

export const LABEL = {
  cluster: 'berth.cluster',
  node: 'berth.node',
  role: 'berth.role',
  phase: 'berth.phase',
  hostname: 'berth.hostname',
  job: 'berth.job',
  spec: 'berth.spec',
  mode: 'berth.mode',
  domain: 'berth.domain',
  volume: 'berth.volume',
  snapshot: 'berth.snapshot',
  /** On what a restore stages beside a running cluster: the restore's id. */
  restore: 'berth.restore',
  version: 'berth.version',
  /** Swarm mode: the host (of the engines' configuration) a node or volume lives on. */
  host: 'berth.host',
} as const

/** berth's version: package.json's, read in when the code is loaded or bundled (CLI, Worker). */
export const BERTH_VERSION: string = pkg.version

// The cluster name becomes part of container, network and volume names: keep it short.
export const CLUSTER_NAME = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/
export const SNAPSHOT_ID = /^[a-z0-9][a-z0-9_.-]{0,63}$/

/** `j<UTC yyyymmddhhmmss>-<6 random>`: sortable by time, unique enough per host. */
export function newJobId(): string {
  const t = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)
  return `j${t}-${Math.random().toString(36).slice(2, 8)}`
}

export const clusterFilter = (cluster: string) => [`${LABEL.cluster}=${cluster}`]

/** Docker names: dots never occur in cluster or node names, so `<cluster>.<node>` is unambiguous. */
export const containerName = (cluster: string, node: string) => `${cluster}.${node}`
/** The cluster's network: `berth.<cluster>`; a swarm overlay's name must be a DNS label. */
export const networkName = (cluster: string, mode?: string) =>
  mode === 'swarm' ? `berth-${cluster}` : `berth.${cluster}`
export const volumeName = (cluster: string, node: string, volume: string) =>
  `${cluster}.${node}.${volume}`
/** What a restore builds beside a running cluster is named like it, with `.r<restore id>`. */
export const staged = (name: string, restore: string) => `${name}.r${restore}`
