/**
 * IPv4 CIDR arithmetic on unsigned 32-bit integers. JavaScript's bitwise operators work on
 * signed 32-bit values, so every result that may reach bit 31 goes through `>>> 0`.
 */

export interface Cidr {
  /** The network address (the input's address with the host bits cleared). */
  base: number
  prefix: number
  /** Number of addresses in the block, network and broadcast included. */
  size: number
}

// One octet, 0..255, without leading zeros: "010" is octal to inet_aton and decimal to Docker.
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`)
const PREFIX = /^(?:3[0-2]|[12]?\d)$/

/** The address as an unsigned integer, or null when `s` is not a dotted-quad IPv4 address. */
export function parseIp(s: string): number | null {
  if (!IPV4.test(s)) return null
  return s.split('.').reduce((n, octet) => ((n << 8) | Number(octet)) >>> 0, 0)
}

export function ipToInt(s: string): number {
  const n = parseIp(s)
  if (n === null) throw new Error(`not an IPv4 address: ${JSON.stringify(s)}`)
  return n
}

export function intToIp(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new Error(`not a 32-bit unsigned integer: ${n}`)
  }
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.')
}

export function maskOf(prefix: number): number {
  // A shift by 32 is a shift by 0 in JavaScript, hence the special case.
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

/** Parses `a.b.c.d/p`; host bits are cleared in `base` (see isNetworkAddress to refuse them). */
export function parseCidr(s: string): Cidr | null {
  const slash = s.indexOf('/')
  if (slash < 0) return null
  const ip = parseIp(s.slice(0, slash))
  const prefixText = s.slice(slash + 1)
  if (ip === null || !PREFIX.test(prefixText)) return null
  const prefix = Number(prefixText)
  return { base: (ip & maskOf(prefix)) >>> 0, prefix, size: 2 ** (32 - prefix) }
}

export function formatCidr(c: Pick<Cidr, 'base' | 'prefix'>): string {
  return `${intToIp(c.base)}/${c.prefix}`
}

/** True when `s` is a CIDR whose address has no host bits set (10.0.0.0/24, not 10.0.0.5/24). */
export function isNetworkAddress(s: string): boolean {
  const c = parseCidr(s)
  return c !== null && ipToInt(s.slice(0, s.indexOf('/'))) === c.base
}

function mustParse(s: string): Cidr {
  const c = parseCidr(s)
  if (c === null) throw new Error(`not an IPv4 CIDR: ${JSON.stringify(s)}`)
  return c
}

function lastOf(c: Cidr): number {
  return c.base + c.size - 1
}

/** True when the two blocks share at least one address (containment either way included). */
export function overlaps(a: string, b: string): boolean {
  const x = mustParse(a)
  const y = mustParse(b)
  return x.base <= lastOf(y) && y.base <= lastOf(x)
}

export function contains(cidr: string, ip: string): boolean {
  const c = mustParse(cidr)
  const n = ipToInt(ip)
  return n >= c.base && n <= lastOf(c)
}
