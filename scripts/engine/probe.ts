/**
 * Health probes that need nothing inside the image: a TCP port accepting connections, an HTTP GET
 * answered with the expected status. berth probes the node's address on the cluster network from
 * where it runs when the engine shares this process's network namespace (host-ports.ts: its
 * default bridge's gateway is one of this machine's addresses); otherwise — a remote engine, or a
 * daemon in a namespace of its own — from a short-lived helper container on the cluster's
 * network, made from berth's demo image (busybox: nc, wget), imported there if missing.
 */
import { request } from 'node:http'
import { connect } from 'node:net'
import { buildDemoImage, DEMO_IMAGE } from '../image/demo-image.ts'
import type { JobContext } from './context.ts'
import type { Engine } from './docker.ts'
import { engineInThisNetns } from './host-ports.ts'
import { LABEL } from './labels.ts'
import type { Healthcheck } from './topology.ts'

export interface ProbeResult {
  ok: boolean
  output: string
}

/** Where a node is probed: its address and network, and the cluster it belongs to. */
export interface ProbeTarget {
  cluster: string
  ip: string
  network: string
}

/** The node's address and network as Docker holds them now (null when it has none). */
export async function probeTarget(ctx: JobContext, id: string): Promise<ProbeTarget | null> {
  const info = await ctx.engine.inspectContainer(id)
  const cluster = info.Config.Labels?.[LABEL.cluster] ?? ''
  for (const [network, settings] of Object.entries(info.NetworkSettings.Networks ?? {})) {
    if (!settings.IPAddress) continue
    return { cluster, ip: settings.IPAddress, network }
  }
  return null
}

export async function probeNetwork(
  ctx: JobContext,
  hc: Healthcheck,
  id: string
): Promise<ProbeResult> {
  const target = await probeTarget(ctx, id)
  if (!target) return { ok: false, output: 'the node has no address on its network' }
  const timeoutMs = hc.timeoutSeconds * 1000
  const port = hc.tcp ?? hc.http!.port
  if (await engineInThisNetns(ctx.engine)) {
    return hc.tcp ? tcpProbe(target.ip, port, timeoutMs) : httpProbe(target.ip, hc.http!, timeoutMs)
  }
  return helperProbe(ctx, target, hc)
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs })
    const done = (r: ProbeResult) => {
      socket.destroy()
      resolve(r)
    }
    socket.once('connect', () => done({ ok: true, output: `${host}:${port} accepts connections` }))
    socket.once('timeout', () =>
      done({ ok: false, output: `${host}:${port}: no answer within ${timeoutMs} ms` })
    )
    socket.once('error', (err) =>
      done({
        ok: false,
        output: `${host}:${port}: ${(err as NodeJS.ErrnoException).code ?? err.message}`,
      })
    )
  })
}

function httpProbe(
  host: string,
  http: NonNullable<Healthcheck['http']>,
  timeoutMs: number
): Promise<ProbeResult> {
  const url = `http://${host}:${http.port}${http.path}`
  return new Promise((resolve) => {
    const req = request(
      url,
      { method: 'GET', timeout: timeoutMs, headers: { 'user-agent': 'berth-probe' } },
      (res) => {
        res.resume()
        const ok = res.statusCode === http.expect
        resolve({
          ok,
          output: `GET ${url}: ${res.statusCode}${ok ? '' : ` (expected ${http.expect})`}`,
        })
      }
    )
    req.once('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.once('error', (err) =>
      resolve({
        ok: false,
        output: `GET ${url}: ${(err as NodeJS.ErrnoException).code ?? err.message}`,
      })
    )
    req.end()
  })
}

const imageReady = new WeakMap<Engine, Promise<unknown>>()

/** The probe run from a container on the cluster's network: nc for tcp, wget -S for http. */
async function helperProbe(
  ctx: JobContext,
  target: ProbeTarget,
  hc: Healthcheck
): Promise<ProbeResult> {
  let ready = imageReady.get(ctx.engine)
  if (!ready) {
    ready = buildDemoImage(ctx.engine).catch((e: unknown) => {
      imageReady.delete(ctx.engine)
      throw e
    })
    imageReady.set(ctx.engine, ready)
  }
  await ready
  const seconds = String(hc.timeoutSeconds)
  const cmd = hc.tcp
    ? ['nc', '-w', seconds, target.ip, String(hc.tcp), '-e', 'true']
    : // busybox 1.35's own `wget -T` dies with a segfault: `timeout` bounds it instead.
      [
        'timeout',
        seconds,
        'wget',
        '-S',
        '-q',
        '-O',
        '/dev/null',
        `http://${target.ip}:${hc.http!.port}${hc.http!.path}`,
      ]
  const id = await ctx.engine.createContainer({
    name: `berth-probe-${ctx.job}-${Math.random().toString(36).slice(2, 8)}`,
    Image: DEMO_IMAGE,
    Cmd: cmd,
    Labels: { [LABEL.cluster]: target.cluster, [LABEL.job]: ctx.job },
    HostConfig: { NetworkMode: target.network },
  })
  try {
    const r = await ctx.engine.runToEnd(id, (hc.timeoutSeconds + 5) * 1000)
    const where = hc.tcp
      ? `${target.ip}:${hc.tcp}`
      : `GET http://${target.ip}:${hc.http!.port}${hc.http!.path}`
    if (hc.tcp)
      return {
        ok: r.exitCode === 0,
        output: `${where} (from the cluster network): ${r.exitCode === 0 ? 'accepts connections' : r.output.trim() || 'refused'}`,
      }
    // wget exits non-zero for any status of 400 or more: the status line says what came back.
    const status = Number(/HTTP\/[\d.]+ (\d{3})/.exec(r.output)?.[1] ?? 0)
    const ok = status === hc.http!.expect
    return {
      ok,
      output: `${where} (from the cluster network): ${status || r.output.trim().split('\n').pop() || 'no answer'}${ok || !status ? '' : ` (expected ${hc.http!.expect})`}`,
    }
  } finally {
    await ctx.engine.removeContainer(id).catch(() => {})
  }
}
