/**
 * One Engine over the Docker engines of a swarm's hosts (a cluster in `network.mode: swarm`): the
 * engine layer keeps asking one engine, and each call goes where its object lives.
 *
 * - A container is made on the host its create options name (the `berth.host` label the planner
 *   sets from the node's placement); every other container call goes to the host that holds it
 *   (learned from listings and creates, else asked of each host in turn).
 * - A volume is made on the host its labels name (a node's volume lives with the node).
 * - Networks are made on the manager (a swarm cluster's is an attachable overlay); listings of
 *   networks, volumes, containers and images are the union of every host's, so a subnet or a name
 *   taken on any host counts.
 * - An image is read, saved and removed on every host that has it; a commit stays on the
 *   container's host. There is no registry: a container made on a host that lacks its image gets
 *   it from a host that has it, streamed through the engines (`docker save` → `docker load`), and
 *   a snapshot's images are gathered on the manager (gather), so that a lost host loses none.
 * - Events are the manager's (what restart-watch follows is single-host for now).
 */
import type { Readable } from 'node:stream'
import { BerthError } from './errors.ts'
import { LABEL } from './labels.ts'
import { waitFor } from './retry.ts'
import type { ContainerInfo, DockerEngine, Engine } from './docker.ts'
import type { Logger } from './logger.ts'
import type { HostFacts } from './placement.ts'
import type { Check } from './preflight.ts'

export interface SwarmHost {
  name: string
  engine: DockerEngine
}

type Labels = Record<string, string>
type CreateOptions = Parameters<Engine['createContainer']>[0]

export class SwarmEngine implements Engine {
  readonly log: Logger
  readonly #hosts: SwarmHost[]
  readonly #manager: SwarmHost
  /** Container id or name → its host. */
  readonly #where = new Map<string, SwarmHost>()
  /** Image copies under way, by host and image. */
  readonly #copying = new Map<string, Promise<void>>()

  constructor(hosts: SwarmHost[], manager: string) {
    const m = hosts.find((h) => h.name === manager)
    if (!m)
      throw new BerthError(
        'invalid_job',
        `engines: the manager "${manager}" is not one of the hosts`
      )
    this.#hosts = hosts
    this.#manager = m
    this.log = m.engine.log
  }

  get hosts(): readonly SwarmHost[] {
    return this.#hosts
  }

  /** The engine of a host by name (preflight's per-host checks). */
  host(name: string): SwarmHost | undefined {
    return this.#hosts.find((h) => h.name === name)
  }

  /**
   * Each host as a node of the swarm (`berth doctor`): it answers, it is in swarm mode, in the
   * manager's swarm, and the manager manages it. A failure says what to do.
   */
  async swarmChecks(): Promise<Check[]> {
    type SwarmInfo = {
      LocalNodeState?: string
      ControlAvailable?: boolean
      NodeID?: string
      Cluster?: { ID?: string }
    }
    const infos = await this.#each(async (h) => {
      try {
        return { host: h, swarm: ((await h.engine.info()) as { Swarm?: SwarmInfo }).Swarm }
      } catch (err) {
        return { host: h, error: (err as Error).message }
      }
    })
    const cluster = infos.find((i) => i.host === this.#manager)?.swarm?.Cluster?.ID
    return infos.map(({ host, swarm, error }): Check => {
      const name = `${host.name}: swarm`
      const isManager = host === this.#manager
      if (error) return { name, status: 'fail', message: `its engine does not answer (${error})` }
      if (swarm?.LocalNodeState !== 'active')
        return {
          name,
          status: 'fail',
          message: `its Docker engine is not in swarm mode (${swarm?.LocalNodeState || 'inactive'})`,
          hint: isManager
            ? 'run `docker swarm init` on it'
            : `run \`docker swarm join --token <token> <manager>:2377\` on it (the token: \`docker swarm join-token worker\` on ${this.#manager.name})`,
        }
      if (isManager && !swarm.ControlAvailable)
        return {
          name,
          status: 'fail',
          message: 'named the manager, but it is not a swarm manager',
          hint: '`docker node promote` it, or name a manager in the engines file',
        }
      if (cluster && swarm.Cluster?.ID && swarm.Cluster.ID !== cluster)
        return {
          name,
          status: 'fail',
          message: `it belongs to another swarm than ${this.#manager.name}'s`,
        }
      return {
        name,
        status: 'ok',
        message: `${isManager ? 'manager' : 'node'} ${swarm.NodeID?.slice(0, 12) ?? '?'} of swarm ${cluster?.slice(0, 12) ?? '?'}`,
      }
    })
  }

  /** Each host's Swarm node (what placement constraints are about), matched by node id. */
  async hostFacts(): Promise<Map<string, HostFacts>> {
    const nodes = new Map(
      (await this.#manager.engine.listSwarmNodes()).map((n) => [n.id, n] as const)
    )
    const ids = await this.#each(
      async (h) => ((await h.engine.info()) as { Swarm?: { NodeID?: string } }).Swarm?.NodeID
    )
    const out = new Map<string, HostFacts>()
    this.#hosts.forEach((h, i) => {
      const node = nodes.get(ids[i] ?? '')
      if (node) out.set(h.name, node)
    })
    return out
  }

  /** Before a swarm cluster is made: every swarm check passes; the first that does not, refuses. */
  async checkSwarm(): Promise<void> {
    const failed = (await this.swarmChecks()).find((c) => c.status === 'fail')
    if (failed)
      throw new BerthError(
        'preflight',
        `host ${failed.name.replace(/: swarm$/, '')}: ${failed.message}${failed.hint ? `: ${failed.hint}` : ''}`
      )
  }

  /**
   * The swarm without the hosts whose engines do not answer within `timeoutMs` (a restore planned
   * around a lost host). The manager must answer: the cluster's overlay is made there.
   */
  async reachable(timeoutMs = 5000): Promise<{ engine: SwarmEngine; lost: string[] }> {
    const answers = await this.#each(async (h) => {
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<false>(
        (resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))
      )
      const ok = await Promise.race([
        h.engine.version().then(
          () => true,
          () => false
        ),
        late,
      ])
      clearTimeout(timer)
      return ok
    })
    const lost = this.#hosts.filter((_, i) => !answers[i]).map((h) => h.name)
    if (lost.includes(this.#manager.name))
      throw new BerthError(
        'preflight',
        `host ${this.#manager.name}: the swarm's manager does not answer; nothing can be placed without it`
      )
    const kept = this.#hosts.filter((h) => !lost.includes(h.name))
    return { engine: lost.length ? new SwarmEngine(kept, this.#manager.name) : this, lost }
  }

  /**
   * Makes the manager the one holder of image `ref` (as `id`): copied there from the host that
   * has it when it is not, then removed from every other host. A snapshot's images live on the
   * manager, whichever host each node ran on.
   */
  async gather(ref: string, id: string): Promise<void> {
    const has = async (h: SwarmHost) => (await h.engine.inspectImage(ref))?.Id === id
    if (!(await has(this.#manager))) {
      const from = await this.#first(async (h) => ((await has(h)) ? h : null))
      if (!from)
        throw new BerthError(
          'not_found',
          `image ${ref} (${id.slice(7, 19)}) is on no host of the swarm`
        )
      await this.#copy(ref, from.host, this.#manager)
    }
    await Promise.all(
      this.#hosts.filter((h) => h !== this.#manager).map((h) => h.engine.removeImage(ref))
    )
  }

  /** `docker save` on one host streamed into `docker load` on another. */
  async #copy(ref: string, from: SwarmHost, to: SwarmHost): Promise<void> {
    const t0 = Date.now()
    await to.engine.loadImage((await from.engine.saveImage(ref)) as Readable, ref)
    this.log.info(`image ${ref} copied from host ${from.name} to host ${to.name}`, {
      ms: Date.now() - t0,
    })
  }

  /**
   * The image `ref` on host `to`, copied from the first host that has it when `to` lacks it; once
   * per host and image, however many nodes are made there at once.
   */
  #imageOn(to: SwarmHost, ref: string): Promise<void> {
    const key = `${to.name}\0${ref}`
    let copying = this.#copying.get(key)
    if (!copying) {
      copying = (async () => {
        if (await to.engine.inspectImage(ref)) return
        const from = await this.#first(async (h) =>
          h !== to && (await h.engine.inspectImage(ref)) ? h : null
        )
        // Docker's own "No such image" follows, naming the host.
        if (from) await this.#copy(ref, from.host, to)
      })().finally(() => this.#copying.delete(key))
      this.#copying.set(key, copying)
    }
    return copying
  }

  get local(): boolean {
    return this.#hosts.every((h) => h.engine.local)
  }

  #learn(host: SwarmHost, c: { Id: string; Names?: string[] }): void {
    this.#where.set(c.Id, host)
    for (const n of c.Names ?? []) this.#where.set(n.replace(/^\//, ''), host)
  }

  /** The host that holds a container (by id, short id or name). */
  async #holder(id: string): Promise<SwarmHost> {
    const known = this.#where.get(id) ?? [...this.#where].find(([k]) => k.startsWith(id))?.[1]
    if (known) return known
    for (const h of this.#hosts) {
      const found = await h.engine.inspectContainer(id).catch((err: unknown) => {
        if (err instanceof BerthError && err.code === 'not_found') return null
        throw err
      })
      if (found) {
        this.#learn(h, { Id: found.Id, Names: [found.Name] })
        return h
      }
    }
    throw new BerthError(
      'not_found',
      `no container "${id}" on any host of the swarm (${this.#hosts.map((h) => h.name).join(', ')})`
    )
  }

  #onHost(labels: Labels | undefined, what: string): SwarmHost {
    const name = labels?.[LABEL.host]
    if (!name) return this.#manager
    const h = this.host(name)
    if (!h)
      throw new BerthError(
        'preflight',
        `${what}: host "${name}" is not one of the swarm's (${this.#hosts.map((x) => x.name).join(', ')})`
      )
    return h
  }

  async #each<T>(fn: (h: SwarmHost) => Promise<T>): Promise<T[]> {
    return Promise.all(this.#hosts.map(fn))
  }

  /** The first host, in order, where `fn` finds something, with what it found. */
  async #first<T>(
    fn: (h: SwarmHost) => Promise<T | null>
  ): Promise<{ host: SwarmHost; value: T } | null> {
    for (const host of this.#hosts) {
      const value = await fn(host)
      if (value) return { host, value }
    }
    return null
  }

  /** Every host's map, in one. */
  async #merged<K, V>(fn: (h: SwarmHost) => Promise<Map<K, V>>): Promise<Map<K, V>> {
    return new Map((await this.#each(fn)).flatMap((m) => [...m]))
  }

  /** Every host's containers, each host remembered as the holder of its own. */
  async #containers(fn: (h: SwarmHost) => Promise<ContainerInfo[]>): Promise<ContainerInfo[]> {
    const found = await this.#each(async (h) => {
      const cs = await fn(h)
      for (const c of cs) this.#learn(h, c)
      return cs
    })
    return found.flat()
  }

  // ── engine ────────────────────────────────────────────────────────────────
  version() {
    return this.#manager.engine.version()
  }
  info() {
    return this.#manager.engine.info()
  }
  listSwarmNodes() {
    return this.#manager.engine.listSwarmNodes()
  }

  // ── images: wherever they are ──────────────────────────────────────────────
  async inspectImage(ref: string) {
    return (await this.#first((h) => h.engine.inspectImage(ref)))?.value ?? null
  }
  async imageLabels(ref: string) {
    return (await this.#first((h) => h.engine.imageLabels(ref)))?.value ?? null
  }
  async importImage(rootfs: Readable, opts: { repo: string; tag: string; changes: string[] }) {
    await this.#manager.engine.importImage(rootfs, opts)
  }
  async saveImage(ref: string) {
    const found = await this.#first((h) => h.engine.inspectImage(ref))
    if (!found) throw new BerthError('not_found', `no image "${ref}" on any host of the swarm`)
    return found.host.engine.saveImage(ref)
  }
  async loadImage(tar: Readable, what: string) {
    await this.#manager.engine.loadImage(tar, what)
  }
  async listImages(labels: string[]) {
    return [...new Set((await this.#each((h) => h.engine.listImages(labels))).flat())]
  }
  async removeImage(ref: string, opts: { force?: boolean } = {}) {
    await this.#each((h) => h.engine.removeImage(ref, opts))
  }
  async removeImageIfUnused(ref: string) {
    return (await this.#each((h) => h.engine.removeImageIfUnused(ref))).every(Boolean)
  }

  // ── networks: the overlay on the manager; listings from every host ─────────
  async listNetworks(labels: string[] = []) {
    const seen = new Set<string>()
    return (await this.#each((h) => h.engine.listNetworks(labels)))
      .flat()
      .filter((n) => !seen.has(n.Id) && !!seen.add(n.Id))
  }
  createNetwork(opts: Parameters<Engine['createNetwork']>[0]) {
    return this.#manager.engine.createNetwork(opts)
  }
  inspectNetwork(id: string) {
    return this.#manager.engine.inspectNetwork(id)
  }
  /** A swarm removes an overlay a moment after it says so: this returns once it is gone. */
  async removeNetwork(id: string) {
    const said = await this.#manager.engine.removeNetwork(id)
    if (said !== 'removed') return said
    const gone = await waitFor(
      async () => {
        try {
          await this.#manager.engine.inspectNetwork(id)
          return false
        } catch (err) {
          if (err instanceof BerthError && err.code === 'not_found') return true
          throw err
        }
      },
      { deadline: Date.now() + 30_000, every: 100 }
    )
    if (!gone)
      throw new BerthError(
        'engine',
        `network ${id}: the swarm still holds it 30 s after its removal`
      )
    return said
  }
  async connectNetwork(network: string, container: string, ip?: string) {
    await (await this.#holder(container)).engine.connectNetwork(network, container, ip)
  }
  async disconnectNetwork(network: string, container: string) {
    await (await this.#holder(container)).engine.disconnectNetwork(network, container)
  }

  // ── volumes: with their node ───────────────────────────────────────────────
  async listVolumes(labels: string[] = []) {
    return (await this.#each((h) => h.engine.listVolumes(labels))).flat()
  }
  async inspectVolume(name: string) {
    return (await this.#first((h) => h.engine.inspectVolume(name)))?.value ?? null
  }
  volumeSizes() {
    return this.#merged((h) => h.engine.volumeSizes())
  }
  async createVolume(name: string, labels: Labels) {
    await this.#onHost(labels, `volume "${name}"`).engine.createVolume(name, labels)
  }
  /** On the host that has it (a host that does not answer is an error only when reached). */
  async removeVolume(name: string) {
    const found = await this.#first(async (h) => ((await h.engine.inspectVolume(name)) ? h : null))
    if (found) await found.host.engine.removeVolume(name)
  }

  // ── containers: on their host ──────────────────────────────────────────────
  findContainers(filters: { name?: string[]; status?: string[] }, all = true) {
    return this.#containers((h) => h.engine.findContainers(filters, all))
  }
  listContainers(labels: string[], all = true) {
    return this.#containers((h) => h.engine.listContainers(labels, all))
  }
  writableLayerSizes(labels: string[]) {
    return this.#merged((h) => h.engine.writableLayerSizes(labels))
  }
  async createContainer(opts: CreateOptions) {
    const host = this.#onHost(opts.Labels, `container "${opts.name ?? '?'}"`)
    if (opts.Image) await this.#imageOn(host, opts.Image)
    const id = await host.engine.createContainer(opts)
    this.#learn(host, { Id: id, Names: opts.name ? [opts.name] : [] })
    return id
  }
  async startContainer(id: string, name = id) {
    await (await this.#holder(id)).engine.startContainer(id, name)
  }
  async runToEnd(id: string, timeoutMs: number) {
    return (await this.#holder(id)).engine.runToEnd(id, timeoutMs)
  }
  async logTail(id: string, lines: number) {
    return (await this.#holder(id)).engine.logTail(id, lines)
  }
  async stopContainer(id: string, name = id, timeoutSeconds = 10) {
    await (await this.#holder(id)).engine.stopContainer(id, name, timeoutSeconds)
  }
  async restartContainer(id: string, name = id, timeoutSeconds = 10) {
    await (await this.#holder(id)).engine.restartContainer(id, name, timeoutSeconds)
  }
  async removeContainer(id: string, name = id) {
    const host = await this.#holder(id).catch((err: unknown) => {
      if (err instanceof BerthError && err.code === 'not_found') return null
      throw err
    })
    if (host) await host.engine.removeContainer(id, name)
  }
  async renameContainer(id: string, name: string) {
    const host = await this.#holder(id)
    await host.engine.renameContainer(id, name)
    this.#where.set(name, host)
  }
  async pauseContainer(id: string, name = id) {
    await (await this.#holder(id)).engine.pauseContainer(id, name)
  }
  async unpauseContainer(id: string, name = id) {
    await (await this.#holder(id)).engine.unpauseContainer(id, name)
  }
  async commitContainer(id: string, opts: Parameters<Engine['commitContainer']>[1]) {
    return (await this.#holder(id)).engine.commitContainer(id, opts)
  }
  async archiveStream(id: string, path: string) {
    return (await this.#holder(id)).engine.archiveStream(id, path)
  }
  async extractStream(id: string, dir: string, tarStream: NodeJS.ReadableStream) {
    await (await this.#holder(id)).engine.extractStream(id, dir, tarStream)
  }
  async inspectContainer(id: string) {
    return (await this.#holder(id)).engine.inspectContainer(id)
  }
  async exec(id: string, cmd: string[], opts: Parameters<Engine['exec']>[2] = {}) {
    return (await this.#holder(id)).engine.exec(id, cmd, opts)
  }
  async readFile(id: string, path: string) {
    return (await this.#holder(id)).engine.readFile(id, path)
  }
  async writeFiles(
    id: string,
    ...rest: Parameters<Engine['writeFiles']> extends [string, ...infer R] ? R : never
  ) {
    return (await this.#holder(id)).engine.writeFiles(id, ...rest)
  }

  // ── execs: whichever host knows the id ─────────────────────────────────────
  /** The host that ran an exec, and what it says of it (an unknown id is an error elsewhere). */
  #exec(execId: string) {
    return this.#first((h) => h.engine.inspectExec(execId).catch(() => null))
  }
  async inspectExec(execId: string) {
    return (await this.#exec(execId))?.value ?? this.#manager.engine.inspectExec(execId)
  }
  async stopExec(execId: string, graceMs = 5000, waitMs = 5000) {
    const host = (await this.#exec(execId))?.host ?? this.#manager
    return host.engine.stopExec(execId, graceMs, waitMs)
  }

  // ── events ─────────────────────────────────────────────────────────────────
  async pastEvents(filters: Record<string, string[]>, since: number, until: number) {
    return (await this.#each((h) => h.engine.pastEvents(filters, since, until))).flat()
  }
  events(filters: Record<string, string[]>, since?: number) {
    return this.#manager.engine.events(filters, since)
  }
}
