/**
 * /etc/hosts as berth writes and checks it. Docker rebuilds the file on every container start and
 * bind-mounts it (so `rename()` fails: no `sed -i`); berth writes one managed block in place, or,
 * in static mode, hands the same entries to Docker as ExtraHosts so they survive restarts.
 */
export interface HostEntry {
  ip: string
  hostname: string // FQDN
  short: string
}

const BEGIN = '# berth:begin'
const END = '# berth:end'

export function entriesOf(nodes: { name: string; hostname: string; ip: string }[]): HostEntry[] {
  return nodes.map((n) => ({ ip: n.ip, hostname: n.hostname, short: n.name }))
}

/** Docker's `HostConfig.ExtraHosts`: one `name:ip` per name. */
export function extraHosts(entries: HostEntry[]): string[] {
  return entries.flatMap((e) => [`${e.hostname}:${e.ip}`, `${e.short}:${e.ip}`])
}

export function managedBlock(cluster: string, entries: HostEntry[]): string {
  const lines = entries.map((e) => `${e.ip}\t${e.hostname} ${e.short}`)
  return [`${BEGIN} ${cluster} (written by berth; rewritten after restarts)`, ...lines, END].join(
    '\n'
  )
}

/** Replaces berth's block (or appends one) and leaves every other line as Docker wrote it. */
export function withManagedBlock(hostsText: string, block: string): string {
  const lines = hostsText.split('\n')
  const out: string[] = []
  let inside = false
  for (const line of lines) {
    if (line.startsWith(BEGIN)) inside = true
    else if (inside && line.startsWith(END)) inside = false
    else if (!inside) out.push(line)
  }
  while (out.length && out[out.length - 1].trim() === '') out.pop()
  return `${out.join('\n')}\n${block}\n`
}

/** The address the C library's `files` source gives for `name`: the first line that names it. */
export function resolve(hostsText: string, name: string): string | null {
  const wanted = name.toLowerCase()
  for (const raw of hostsText.split('\n')) {
    const line = raw.replace(/#.*/, '').trim()
    if (!line) continue
    const [ip, ...names] = line.split(/\s+/)
    if (ip.includes(':')) continue // IPv6 lines do not answer an IPv4 lookup here
    if (names.some((n) => n.toLowerCase() === wanted)) return ip
  }
  return null
}

/** Every way a node's /etc/hosts disagrees with the cluster: one message per wrong name. */
export function hostsProblems(hostsText: string, entries: HostEntry[]): string[] {
  const problems: string[] = []
  for (const e of entries) {
    for (const name of [e.hostname, e.short]) {
      const got = resolve(hostsText, name)
      if (got !== e.ip) problems.push(`${name} resolves to ${got ?? 'nothing'}, expected ${e.ip}`)
    }
  }
  return problems
}
