/**
 * The one file that imports dockerode. Everything else sees `DockerEngine` and `BerthError`:
 * modem errors are translated once here, by status code, with the original kept as `cause`.
 */
import Docker from 'dockerode'
import { PassThrough, type Readable } from 'node:stream'
import tar from 'tar-stream'
import { BerthError } from './errors.ts'
import { processLogger, type Logger } from './logger.ts'
import { retry, sleep } from './retry.ts'

export interface ExecResult {
  exitCode: number
  stdout: string
  stderr: string
  ms: number
  timedOut: boolean
  cancelled: boolean
}

export interface ExecOptions {
  env?: string[]
  timeoutMs?: number
  /** Called with each chunk of output as it arrives (stdout and stderr alike). */
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void
  /** Keep at most this many characters of each stream (the tail). */
  maxOutput?: number
  /** Stop waiting when aborted (the result then says `cancelled`). */
  signal?: AbortSignal
  /** Told the exec's id once it exists, before it starts (a journal records it). */
  onCreate?: (execId: string) => void
}

export type Labels = Record<string, string>
export type ContainerInfo = Docker.ContainerInfo
export type ContainerInspect = Docker.ContainerInspectInfo
export type NetworkInspect = Docker.NetworkInspectInfo
export type ContainerCreateOptions = Docker.ContainerCreateOptions
/** An endpoint's IPAM settings (dockerode types the field as any where a container reports it). */
export type IPAMConfig = Docker.IPAMConfig
/** What berth reads of the engine's info (GET /info; dockerode types it as any). */
export interface EngineInfo {
  Driver: string
  DockerRootDir: string
  MemTotal: number
  NCPU: number
}

interface ModemError extends Error {
  statusCode?: number
  json?: { message?: string }
}

function engineMessage(err: unknown): string {
  const e = err as ModemError
  return e?.json?.message ?? e?.message ?? String(err)
}

function translate(what: string, err: unknown): BerthError {
  if (err instanceof BerthError) return err
  const status = (err as ModemError)?.statusCode
  const message = `${what}: ${engineMessage(err)}`
  if (status === 404) return new BerthError('not_found', message, { cause: err })
  if (status === 409) return new BerthError('conflict', message, { cause: err })
  const code = (err as NodeJS.ErrnoException)?.code
  if (code === 'EACCES') {
    return new BerthError('preflight', `${what}: the Docker engine is not reachable (${code})`, {
      cause: err,
    })
  }
  if (engineGone(err)) {
    return new BerthError(
      'engine_gone',
      `${what}: the Docker engine is not reachable (${code ?? engineMessage(err)})`,
      { cause: err }
    )
  }
  return new BerthError('engine', message, { cause: err })
}

/**
 * The engine itself went away (stopped, restarting, its socket gone), as opposed to refusing one
 * call: the job stops issuing changes, and the next command finishes what it left.
 */
export function engineGone(err: unknown): boolean {
  if (err instanceof BerthError) return err.code === 'engine_gone'
  const code = (err as NodeJS.ErrnoException)?.code
  if (code && ['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ECONNABORTED'].includes(code))
    return true
  return /socket hang up|daemon is shutting down|Cannot connect to the Docker daemon/i.test(
    engineMessage(err)
  )
}

/** Runs one engine call, traced at debug as "x…" / "x: done" / "x: failed: …". */
async function traced<T>(
  log: Logger,
  what: string,
  fn: () => Promise<T>,
  quiet = false
): Promise<T> {
  if (!quiet) log.debug(`${what}…`)
  try {
    const out = await fn()
    if (!quiet) log.debug(`${what}: done`)
    return out
  } catch (err) {
    log.debug(`${what}: failed: ${engineMessage(err)}`)
    throw translate(what, err)
  }
}

function isStatus(err: unknown, status: number): boolean {
  const e = err as BerthError & ModemError
  return e?.statusCode === status || (e?.info?.cause as ModemError)?.statusCode === status
}

/** Keeps the last `max` characters of a growing text. */
class Tail {
  private text = ''
  constructor(private readonly max: number) {}
  push(s: string) {
    this.text += s
    if (this.text.length > this.max * 2) this.text = this.text.slice(-this.max)
  }
  toString() {
    return this.text.length > this.max ? this.text.slice(-this.max) : this.text
  }
}

/** The text of a non-TTY container's log stream (8-byte frame headers dropped). */
function demuxed(buf: Buffer): string {
  const parts: Buffer[] = []
  for (let i = 0; i + 8 <= buf.length;) {
    const size = buf.readUInt32BE(i + 4)
    parts.push(buf.subarray(i + 8, i + 8 + size))
    i += 8 + size
  }
  return Buffer.concat(parts).toString('utf8')
}

export class DockerEngine {
  /** dockerode: private to this file — the rest of berth sees the methods below (`Engine`). */
  private readonly docker: Docker

  /** Where each engine call is traced (at debug: BERTH_LOG_LEVEL=debug). */
  readonly log: Logger

  /** The host's name when it is one of a swarm's: every error of this engine then names it. */
  private readonly hostName: string | undefined

  constructor(
    opts: Docker.DockerOptions = {},
    log: Logger = processLogger(process.stderr, process.env),
    host?: string
  ) {
    // DOCKER_HOST is honoured by docker-modem itself when no socketPath/host is given.
    this.docker = new Docker(opts)
    this.log = log
    this.hostName = host
  }

  private call<T>(what: string, fn: () => Promise<T>, quiet = false): Promise<T> {
    return traced(this.log, this.hostName ? `host ${this.hostName}: ${what}` : what, fn, quiet)
  }

  // ── engine ────────────────────────────────────────────────────────────────
  version() {
    return this.call('Reading the engine version', () => this.docker.version(), true)
  }

  info() {
    return this.call(
      'Reading the engine info',
      () => this.docker.info() as Promise<EngineInfo>,
      true
    )
  }

  /** A swarm manager's nodes: id, hostname, role and labels of each. */
  async listSwarmNodes(): Promise<
    { id: string; hostname: string; role: string; labels: Record<string, string> }[]
  > {
    type SwarmNode = {
      ID: string
      Description?: { Hostname?: string }
      Spec?: { Role?: string; Labels?: Record<string, string> }
    }
    const nodes = (await this.call('Listing the swarm nodes', () =>
      this.docker.listNodes()
    )) as SwarmNode[]
    return nodes.map((n) => ({
      id: n.ID,
      hostname: n.Description?.Hostname ?? '',
      role: n.Spec?.Role ?? '',
      labels: n.Spec?.Labels ?? {},
    }))
  }

  // ── images ────────────────────────────────────────────────────────────────
  /** The image's inspect data, or null when the engine has no such image. */
  async inspectImage(ref: string): Promise<Docker.ImageInspectInfo | null> {
    try {
      return await this.call(
        `Inspecting image "${ref}"`,
        () => this.docker.getImage(ref).inspect(),
        true
      )
    } catch (err) {
      if (err instanceof BerthError && err.code === 'not_found') return null
      throw err
    }
  }

  async imageLabels(ref: string): Promise<Labels | null> {
    const info = await this.inspectImage(ref)
    return info ? (info.Config?.Labels ?? {}) : null
  }

  /** `docker import`: one layer from a root filesystem tar, with Dockerfile-style changes. */
  async importImage(
    rootfs: Readable,
    opts: { repo: string; tag: string; changes: string[] }
  ): Promise<void> {
    await this.call(`Importing image "${opts.repo}:${opts.tag}"`, async () => {
      const stream = await this.docker.importImage(rootfs, {
        repo: opts.repo,
        tag: opts.tag,
        changes: opts.changes,
      } as unknown as object)
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(stream, (err: Error | null, out: unknown[]) => {
          if (err) return reject(err)
          const failed = (out as { error?: string }[]).find((o) => o.error)
          if (failed) return reject(new Error(failed.error))
          resolve()
        })
      })
    })
  }

  /** `docker save` of one image: its tar as a stream. */
  saveImage(ref: string): Promise<NodeJS.ReadableStream> {
    return this.call(`Saving image "${ref}"`, () => this.docker.getImage(ref).get())
  }

  /** `docker load` of one image tar; a bad tar is reported in the stream, not by status. */
  async loadImage(tar: Readable, what: string): Promise<void> {
    await this.call(`Loading image "${what}"`, async () => {
      const res = await this.docker.loadImage(tar, { quiet: true })
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(res, (err: Error | null, out: { error?: string }[]) => {
          if (err) return reject(err)
          const failed = out.find((o) => o.error)
          if (failed) return reject(new Error(failed.error))
          resolve()
        })
      })
    })
  }

  /** The images with these labels: their tags (or their ids, when untagged). */
  async listImages(labels: string[]): Promise<string[]> {
    const images = await this.call(
      'Listing images',
      () => this.docker.listImages({ filters: { label: labels } }),
      true
    )
    return images.flatMap((i) =>
      i.RepoTags?.length && i.RepoTags[0] !== '<none>:<none>' ? i.RepoTags : [i.Id]
    )
  }

  /** Removes an image; `force: false` leaves one a container still uses (Docker refuses). */
  async removeImage(ref: string, opts: { force?: boolean } = {}): Promise<void> {
    try {
      await this.call(`Removing image "${ref}"`, () =>
        this.docker.getImage(ref).remove({ force: opts.force ?? true })
      )
    } catch (err) {
      if (!(err instanceof BerthError && err.code === 'not_found')) throw err
    }
  }

  /**
   * Removes an image nothing uses (not forced: the engine refuses while a container runs on it,
   * which is the point). True when it is gone.
   */
  async removeImageIfUnused(ref: string): Promise<boolean> {
    try {
      await this.call(`Removing image "${ref}" if unused`, () => this.docker.getImage(ref).remove())
      return true
    } catch (err) {
      if (err instanceof BerthError && err.code === 'not_found') return true
      return false
    }
  }

  // ── networks ──────────────────────────────────────────────────────────────
  listNetworks(labels: string[] = []) {
    const filters: Record<string, string[]> = labels.length ? { label: labels } : {}
    return this.call('Listing networks', () => this.docker.listNetworks({ filters }), true)
  }

  async createNetwork(opts: Docker.NetworkCreateOptions): Promise<string> {
    const net = await this.call(`Creating network "${opts.Name}"`, () =>
      this.docker.createNetwork(opts)
    )
    return net.id
  }

  inspectNetwork(id: string): Promise<NetworkInspect> {
    return this.call(`Inspecting network "${id}"`, () => this.docker.getNetwork(id).inspect(), true)
  }

  /**
   * Removes a network. Returns 'stuck' for a network Docker refuses to remove although nothing is
   * attached to it: Docker 20.10 can leave a network's endpoint count above its endpoints when
   * endpoints on it are removed at once (moby/moby#42119; the daemon mends the count at its next
   * start). Such a network holds no container and no address: it is left in place — the next
   * install of the cluster uses it as it is — rather than failing the job that removes it.
   */
  async removeNetwork(id: string): Promise<'removed' | 'stuck'> {
    // Right after its containers are removed, a busy daemon may still be releasing their
    // endpoints ("has active endpoints"): give it a few seconds before calling it a failure.
    const gone = (err: unknown) => err instanceof BerthError && err.code === 'not_found'
    const busy = (err: unknown) => /active endpoints/.test((err as Error).message)
    try {
      await retry(
        () => this.call(`Removing network "${id}"`, () => this.docker.getNetwork(id).remove()),
        {
          delays: [100, 200, 400, 800, 1600, 3200],
          retryIf: (err) => !gone(err) && busy(err),
        }
      )
      return 'removed'
    } catch (err) {
      if (gone(err)) return 'removed'
      if (!busy(err)) throw err
      const attached = Object.keys((await this.inspectNetwork(id)).Containers ?? {})
      if (attached.length) throw err
      this.log.warn(
        `network ${id}: Docker counts endpoints it no longer has (moby#42119); left in place`
      )
      return 'stuck'
    }
  }

  // ── volumes ───────────────────────────────────────────────────────────────
  async listVolumes(labels: string[] = []) {
    const out = await this.call(
      'Listing volumes',
      () => this.docker.listVolumes({ filters: labels.length ? { label: labels } : {} }),
      true
    )
    return out.Volumes ?? []
  }

  async inspectVolume(name: string): Promise<Docker.VolumeInspectInfo | null> {
    try {
      return await this.call(
        `Inspecting volume "${name}"`,
        () => this.docker.getVolume(name).inspect(),
        true
      )
    } catch (err) {
      if (err instanceof BerthError && err.code === 'not_found') return null
      throw err
    }
  }

  /**
   * Bytes each volume holds as the daemon counts them (local driver; -1 when it does not know).
   * Slow on a busy host: the daemon walks every volume, container and image to answer.
   */
  async volumeSizes(): Promise<Map<string, number>> {
    type DiskUsage = { Volumes?: { Name: string; UsageData?: { Size?: number } }[] | null } | null
    const df = await this.call(
      'Reading disk usage',
      () => this.docker.df() as Promise<DiskUsage>,
      true
    )
    const volumes = df?.Volumes ?? []
    return new Map(volumes.map((v) => [v.Name, v.UsageData?.Size ?? -1]))
  }

  async createVolume(name: string, labels: Labels): Promise<void> {
    await this.call(`Creating volume "${name}"`, () =>
      this.docker.createVolume({ Name: name, Labels: labels })
    )
  }

  async removeVolume(name: string): Promise<void> {
    try {
      await this.call(`Removing volume "${name}"`, () =>
        this.docker.getVolume(name).remove({ force: true })
      )
    } catch (err) {
      if (!(err instanceof BerthError && err.code === 'not_found')) throw err
    }
  }

  // ── containers ────────────────────────────────────────────────────────────
  /** Containers by name prefix or state, whoever made them (preflight: names and ports taken). */
  findContainers(
    filters: { name?: string[]; status?: string[] },
    all = true
  ): Promise<ContainerInfo[]> {
    return this.call('Listing containers', () => this.docker.listContainers({ all, filters }), true)
  }

  listContainers(labels: string[], all = true): Promise<ContainerInfo[]> {
    return this.call(
      'Listing containers',
      () => this.docker.listContainers({ all, filters: { label: labels } }),
      true
    )
  }

  /** Each container's writable layer in bytes (what `docker commit` copies), by container id. */
  async writableLayerSizes(labels: string[]): Promise<Map<string, number>> {
    const list = await this.call(
      'Listing container sizes',
      () => this.docker.listContainers({ all: true, size: true, filters: { label: labels } }),
      true
    )
    return new Map(list.map((c) => [c.Id, (c as ContainerInfo & { SizeRw?: number }).SizeRw ?? 0]))
  }

  async createContainer(opts: ContainerCreateOptions): Promise<string> {
    const c = await this.call(`Creating container "${opts.name}"`, () =>
      this.docker.createContainer(opts)
    )
    return c.id
  }

  async startContainer(id: string, name = id): Promise<void> {
    try {
      await this.call(`Starting container "${name}"`, () => this.docker.getContainer(id).start())
    } catch (err) {
      if (isStatus(err, 304)) return // already started
      throw err
    }
  }

  /**
   * Starts a container that runs a command and ends, waits for it (killed after `timeoutMs`), and
   * returns its exit code and its output (stdout and stderr, the last 8 KiB).
   */
  async runToEnd(id: string, timeoutMs: number): Promise<{ exitCode: number; output: string }> {
    const c = this.docker.getContainer(id)
    await this.startContainer(id)
    const timer = setTimeout(() => void c.kill().catch(() => {}), timeoutMs)
    try {
      const r = (await this.call(
        `Waiting for container "${id.slice(0, 12)}"`,
        () => c.wait(),
        true
      )) as { StatusCode: number }
      const logs = await this.call(
        'Reading its output',
        () => c.logs({ stdout: true, stderr: true, follow: false }),
        true
      )
      return { exitCode: r.StatusCode, output: demuxed(logs).slice(-8192) }
    } finally {
      clearTimeout(timer)
    }
  }

  /** The last lines a container's process wrote (stdout and stderr). */
  async logTail(id: string, lines: number): Promise<string> {
    const logs = await this.call(
      `Reading the output of "${id.slice(0, 12)}"`,
      () =>
        this.docker
          .getContainer(id)
          .logs({ stdout: true, stderr: true, follow: false, tail: lines }),
      true
    )
    return demuxed(logs)
  }

  async stopContainer(id: string, name = id, timeoutSeconds = 10): Promise<void> {
    try {
      await this.call(`Stopping container "${name}"`, () =>
        this.docker.getContainer(id).stop({ t: timeoutSeconds })
      )
    } catch (err) {
      if (isStatus(err, 304)) return // already stopped
      throw err
    }
  }

  async restartContainer(id: string, name = id, timeoutSeconds = 10): Promise<void> {
    await this.call(`Restarting container "${name}"`, () =>
      this.docker.getContainer(id).restart({ t: timeoutSeconds })
    )
  }

  async removeContainer(id: string, name = id): Promise<void> {
    try {
      await this.call(`Removing container "${name}"`, () =>
        this.docker.getContainer(id).remove({ force: true, v: false })
      )
    } catch (err) {
      if (err instanceof BerthError && err.code === 'not_found') return
      // 409 "removal already in progress" means someone else is removing it: fine.
      if (isStatus(err, 409) && /already in progress/.test((err as Error).message)) return
      throw err
    }
  }

  async renameContainer(id: string, name: string): Promise<void> {
    await this.call(`Renaming container "${id.slice(0, 12)}" to "${name}"`, () =>
      this.docker.getContainer(id).rename({ name })
    )
  }

  async pauseContainer(id: string, name = id): Promise<void> {
    await this.call(`Pausing container "${name}"`, () => this.docker.getContainer(id).pause())
  }

  async unpauseContainer(id: string, name = id): Promise<void> {
    await this.call(`Unpausing container "${name}"`, () => this.docker.getContainer(id).unpause())
  }

  /**
   * `docker commit` of the container's writable layer (never volumes, never /etc/hosts).
   * `pause: false` because berth pauses the whole cluster itself, once, around every commit.
   */
  async commitContainer(
    id: string,
    /** Without repo and tag, the image is left untagged (known by the id this returns). */
    opts: { repo?: string; tag?: string; labels: Labels; name?: string; blankEnv?: string[] }
  ): Promise<string> {
    const changes = [
      ...Object.entries(opts.labels).map(([k, v]) => `LABEL ${k}=${JSON.stringify(v)}`),
      // The image keeps the container's config: these variables' values must not go with it.
      ...(opts.blankEnv ?? []).map((k) => `ENV ${k}=`),
    ]
    const as = opts.repo ? ` as ${opts.repo}:${opts.tag}` : ''
    const out = await this.call(
      `Committing container "${opts.name ?? id}"${as}`,
      () =>
        this.docker.getContainer(id).commit({
          ...(opts.repo ? { repo: opts.repo, tag: opts.tag } : {}),
          pause: false,
          changes,
        }) as Promise<{ Id: string }>
    )
    return out.Id
  }

  /** A path of a container as a tar stream (the archive API: works with any image, on stopped containers). */
  archiveStream(id: string, path: string): Promise<NodeJS.ReadableStream> {
    return this.call(
      `Archiving "${path}" of "${id.slice(0, 12)}"`,
      () => this.docker.getContainer(id).getArchive({ path }),
      true
    )
  }

  /** Extracts a tar stream into a directory of a container. */
  async extractStream(id: string, dir: string, tarStream: NodeJS.ReadableStream): Promise<void> {
    await this.call(`Extracting into "${id.slice(0, 12)}:${dir}"`, () =>
      this.docker.getContainer(id).putArchive(tarStream as unknown as Buffer, { path: dir })
    )
  }

  inspectContainer(id: string): Promise<ContainerInspect> {
    return this.call(
      `Inspecting container "${id}"`,
      () => this.docker.getContainer(id).inspect(),
      true
    )
  }

  /**
   * Runs a command in a running container. The exit code is read only after the output stream
   * has ended: before that, inspect may still report a running exec (or null).
   * A failing command is a result, not an exception; a broken transport throws.
   */
  async exec(id: string, cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const started = Date.now()
    const max = opts.maxOutput ?? 64 * 1024
    const out = new Tail(max)
    const err = new Tail(max)
    const container = this.docker.getContainer(id)
    const what = `Exec ${JSON.stringify(cmd[0])} in "${id.slice(0, 12)}"`
    const exec = await this.call(
      what,
      () =>
        container.exec({
          Cmd: cmd,
          Env: opts.env,
          AttachStdout: true,
          AttachStderr: true,
          AttachStdin: false,
          Tty: false,
        }),
      true
    )
    opts.onCreate?.(exec.id)
    const stream = await this.call(what, () => exec.start({ hijack: true, stdin: false }), true)
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    stdout.setEncoding('utf8')
    stderr.setEncoding('utf8')
    stdout.on('data', (s: string) => {
      out.push(s)
      opts.onOutput?.(s, 'stdout')
    })
    stderr.on('data', (s: string) => {
      err.push(s)
      opts.onOutput?.(s, 'stderr')
    })
    this.docker.modem.demuxStream(stream, stdout, stderr)
    let timedOut = false
    let cancelled = false
    await new Promise<void>((resolve, reject) => {
      // Docker has no call to kill an exec: on timeout or cancel berth stops waiting, drops the
      // stream, and ends the process itself (stopExec), so that it never runs on beside the next
      // bootstrap of the node.
      const giveUp = (why: 'timeout' | 'cancel') => {
        if (why === 'timeout') timedOut = true
        else cancelled = true
        stream.destroy()
        finish()
      }
      const timer =
        opts.timeoutMs === undefined
          ? undefined
          : setTimeout(() => giveUp('timeout'), opts.timeoutMs)
      const onAbort = () => giveUp('cancel')
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      if (opts.signal?.aborted) onAbort()
      function finish() {
        clearTimeout(timer)
        opts.signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      stream.once('end', finish)
      stream.once('close', finish)
      stream.once('error', (e: Error) => {
        if (timedOut || cancelled) return finish()
        clearTimeout(timer)
        reject(translate(what, e))
      })
    })
    stdout.end()
    stderr.end()
    if (timedOut || cancelled) {
      await this.stopExec(exec.id, 2000, 2000).catch(() => false)
      const ms = Date.now() - started
      return {
        exitCode: -1,
        stdout: out.toString(),
        stderr: err.toString(),
        ms,
        timedOut,
        cancelled,
      }
    }
    // The stream has ended; the daemon may still be recording the exit: poll briefly.
    let info = await this.call(what, () => exec.inspect(), true)
    for (let i = 0; info.Running && i < 50; i++) {
      await sleep(20)
      info = await this.call(what, () => exec.inspect(), true)
    }
    return {
      exitCode: info.ExitCode ?? -1,
      stdout: out.toString(),
      stderr: err.toString(),
      ms: Date.now() - started,
      timedOut,
      cancelled,
    }
  }

  /** An exec's state: running or not, its process on the host, its exit code. Null when gone. */
  async inspectExec(
    id: string
  ): Promise<{ Running: boolean; Pid: number; ExitCode: number | null } | null> {
    try {
      return await this.call(
        `Inspecting exec "${id.slice(0, 12)}"`,
        () => this.docker.getExec(id).inspect(),
        true
      )
    } catch (err) {
      if (err instanceof BerthError && err.code === 'not_found') return null
      throw err
    }
  }

  /**
   * Whether the engine runs on this machine (its unix socket): then an exec's process, whose host
   * pid Docker reports, can be signalled from here. Docker has no call to kill an exec.
   */
  get local(): boolean {
    return !!(this.docker.modem as { socketPath?: string }).socketPath
  }

  /**
   * Ends an exec's process: SIGTERM, then SIGKILL after `graceMs`, waiting until Docker says it is
   * over. With a remote engine nothing can be signalled: it waits up to `graceMs + waitMs` for the
   * process to end by itself. Resolves with whether it has ended.
   */
  async stopExec(execId: string, graceMs = 5000, waitMs = 5000): Promise<boolean> {
    let info = await this.inspectExec(execId).catch(() => null)
    const signal = (s: NodeJS.Signals) => {
      if (!this.local || !info?.Pid) return
      try {
        process.kill(info.Pid, s)
      } catch {
        // gone meanwhile
      }
    }
    const waitUntil = async (deadline: number) => {
      while (info?.Running && Date.now() < deadline) {
        await sleep(100)
        info = await this.inspectExec(execId).catch(() => null)
      }
    }
    if (!info?.Running) return true
    signal('SIGTERM')
    await waitUntil(Date.now() + graceMs)
    signal('SIGKILL')
    await waitUntil(Date.now() + waitMs)
    return !info?.Running
  }

  /** Attaches a container to a network (stopped or running), with its pinned address if any. */
  async connectNetwork(network: string, container: string, ip?: string): Promise<void> {
    await this.call(`Connecting "${container.slice(0, 12)}" to network "${network}"`, () =>
      this.docker.getNetwork(network).connect({
        Container: container,
        EndpointConfig: ip ? { IPAMConfig: { IPv4Address: ip } } : {},
      })
    )
  }

  /** Detaches a container from a network, even one that no longer exists. */
  async disconnectNetwork(network: string, container: string): Promise<void> {
    try {
      await this.call(`Disconnecting "${container.slice(0, 12)}" from network "${network}"`, () =>
        this.docker.getNetwork(network).disconnect({ Container: container, Force: true })
      )
    } catch (err) {
      if (!(err instanceof BerthError && err.code === 'not_found')) throw err
    }
  }

  /**
   * Reads one file from a container through the archive API: works with any image (no shell,
   * no cat) and on stopped containers. Null when the path does not exist.
   */
  async readFile(id: string, path: string): Promise<Buffer | null> {
    let stream: NodeJS.ReadableStream
    try {
      stream = await this.call(
        `Reading "${path}" from "${id.slice(0, 12)}"`,
        () => this.docker.getContainer(id).getArchive({ path }),
        true
      )
    } catch (err) {
      if (err instanceof BerthError && err.code === 'not_found') return null
      throw err
    }
    const extract = tar.extract()
    let content: Buffer | null = null
    extract.on('entry', (header, entry, next) => {
      const chunks: Buffer[] = []
      entry.on('data', (c: unknown) => chunks.push(c as Buffer))
      entry.on('end', () => {
        if (content === null && header.type === 'file') content = Buffer.concat(chunks)
        next()
      })
      entry.resume()
    })
    await new Promise<void>((resolve, reject) => {
      extract.on('finish', resolve)
      extract.on('error', reject)
      stream.on('error', reject)
      stream.pipe(extract)
    })
    return content
  }

  /** Writes files into a container (through a tar upload), creating directories as needed. */
  async writeFiles(
    id: string,
    dir: string,
    files: { name: string; content: string | Buffer; mode?: number; uid?: number; gid?: number }[]
  ): Promise<void> {
    const pack = tar.pack()
    // Docker keeps the owner the tar header names (uid 0 unless given).
    for (const f of files)
      pack.entry(
        { name: f.name, mode: f.mode ?? 0o644, uid: f.uid ?? 0, gid: f.gid ?? 0 },
        f.content
      )
    pack.finalize()
    const chunks: Buffer[] = []
    for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c)
    await this.call(
      `Writing ${files.map((f) => f.name).join(', ')} into "${id.slice(0, 12)}:${dir}"`,
      () => this.docker.getContainer(id).putArchive(Buffer.concat(chunks), { path: dir }),
      true
    )
  }

  /** The events of a past window (ms since the epoch), filtered: a finite list. */
  async pastEvents(
    filters: Record<string, string[]>,
    since: number,
    until: number
  ): Promise<{ Action: string; id?: string }[]> {
    const stream = await this.call(
      'Reading engine events',
      () =>
        this.docker.getEvents({
          filters,
          since: (since / 1000).toFixed(3),
          until: (until / 1000).toFixed(3),
        } as never) as unknown as Promise<NodeJS.ReadableStream>,
      true
    )
    let text = ''
    for await (const chunk of stream as AsyncIterable<Buffer>) text += chunk.toString('utf8')
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { Action: string; id?: string })
  }

  /** Docker's event stream, filtered. The caller destroys the stream when done. */
  events(filters: Record<string, string[]>, since?: number) {
    return this.call(
      'Following engine events',
      () => this.docker.getEvents({ filters, since }) as Promise<NodeJS.ReadableStream & Readable>,
      true
    )
  }
}

/**
 * What the engine layer asks of a container engine: containers, networks, volumes, images, exec,
 * archives, events — DockerEngine's public methods, the seam a second engine implements. Nothing
 * outside this file imports dockerode.
 */
export type Engine = Pick<DockerEngine, keyof DockerEngine>

export function createEngine(log?: Logger): DockerEngine {
  return new DockerEngine({}, log)
}
