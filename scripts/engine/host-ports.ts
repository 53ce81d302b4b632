/**
 * Whether a host port can be published, asked of this machine itself: bind it for a moment (and
 * let go). Meaningful only when the Docker engine shares this process's network namespace, which
 * is told by its default bridge's gateway being one of this machine's addresses.
 */
import { createSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { networkInterfaces } from 'node:os'
import type { Engine } from './docker.ts'
import type { PortMapping } from './runtime-keys.ts'

/**
 * This network namespace's own IPv4 addresses: the kernel's local routes (/proc/net/fib_trie
 * lists them for every interface, also one without carrier, such as a bridge with no container
 * yet, which Node's networkInterfaces() leaves out), and Node's list besides.
 */
function localAddresses(): Set<string> {
  const out = new Set(
    Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address))
  )
  let trie = ''
  try {
    trie = readFileSync('/proc/net/fib_trie', 'utf8')
  } catch {
    return out
  }
  const lines = trie.split('\n')
  lines.forEach((line, i) => {
    if (/\/32 host LOCAL/.test(line)) {
      const addr = /([0-9.]+)\s*$/.exec(lines[i - 1] ?? '')?.[1]
      if (addr) out.add(addr)
    }
  })
  return out
}

/** Whether the address is one of this machine's (in this network namespace). */
export const isLocalAddress = (ip: string | null | undefined) => !!ip && localAddresses().has(ip)

const sameNetns = new WeakMap<Engine, Promise<boolean>>()

/** Whether the engine runs in this machine's network namespace (its ports are this host's). */
export function engineInThisNetns(engine: Engine): Promise<boolean> {
  let known = sameNetns.get(engine)
  if (!known) {
    known = (async () => {
      if (!engine.local) return false
      const bridge = await engine.inspectNetwork('bridge').catch(() => null)
      return isLocalAddress(bridge?.IPAM?.Config?.[0]?.Gateway)
    })()
    sameNetns.set(engine, known)
  }
  return known
}

/** Why this machine cannot bind the port, or null when it can. */
export function bindProblem(p: PortMapping): Promise<string | null> {
  const why = (err: NodeJS.ErrnoException) =>
    err.code === 'EADDRINUSE'
      ? 'is taken by a process on the host'
      : err.code === 'EADDRNOTAVAIL'
        ? `cannot be had: ${p.hostIp} is not an address of this host`
        : err.code === 'EACCES'
          ? 'cannot be bound (permission denied)'
          : `cannot be bound: ${err.code ?? err.message}`
  return new Promise((resolve) => {
    if (p.protocol === 'udp') {
      const socket = createSocket('udp4')
      socket.once('error', (err) => (socket.close(), resolve(why(err))))
      socket.bind(p.hostPort, p.hostIp, () => socket.close(() => resolve(null)))
      return
    }
    const server = createServer()
    server.once('error', (err) => resolve(why(err)))
    server.listen({ port: p.hostPort, host: p.hostIp, exclusive: true }, () =>
      server.close(() => resolve(null))
    )
  })
}
