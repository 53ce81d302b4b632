import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  contains,
  formatCidr,
  intToIp,
  ipToInt,
  isNetworkAddress,
  overlaps,
  parseCidr,
  parseIp,
} from '../../scripts/engine/cidr.ts'

test('parseCidr gives the network base, prefix and size', () => {
  assert.equal(parseCidr('10.211.0.0/24'), { base: ipToInt('10.211.0.0'), prefix: 24, size: 256 })
  assert.equal(parseCidr('192.168.1.77/16'), {
    base: ipToInt('192.168.0.0'),
    prefix: 16,
    size: 65536,
  })
  assert.equal(parseCidr('0.0.0.0/0'), { base: 0, prefix: 0, size: 2 ** 32 })
  assert.equal(parseCidr('255.255.255.255/32'), { base: 0xffffffff, prefix: 32, size: 1 })
})

test('parseCidr refuses what is not a dotted quad with a prefix', () => {
  for (const s of [
    '',
    '10.211.0/24',
    '10.211.0.0',
    '10.211.0.0/',
    '10.211.0.0/33',
    '10.211.0.256/24',
    '10.211.00.0/24',
    '10.211.0.0/024',
    ' 10.211.0.0/24',
    '10.211.0.0/24 ',
    'a.b.c.d/8',
  ]) {
    assert.is(parseCidr(s), null, s)
  }
})

test('formatCidr prints the network address, so host bits disappear', () => {
  assert.is(formatCidr(parseCidr('10.211.0.5/24')!), '10.211.0.0/24')
  assert.is(formatCidr(parseCidr('172.31.255.255/12')!), '172.16.0.0/12')
})

test('isNetworkAddress refuses an address with host bits set', () => {
  assert.ok(isNetworkAddress('10.211.0.0/24'))
  assert.ok(isNetworkAddress('10.211.0.16/28'))
  assert.not.ok(isNetworkAddress('10.211.0.5/24'))
  assert.not.ok(isNetworkAddress('10.211.0.8/28'))
  assert.not.ok(isNetworkAddress('nonsense'))
})

test('ipToInt and intToIp round-trip across the whole unsigned range', () => {
  for (const ip of [
    '0.0.0.0',
    '10.211.0.1',
    '127.0.0.1',
    '128.0.0.0',
    '192.168.255.254',
    '255.255.255.255',
  ]) {
    assert.is(intToIp(ipToInt(ip)), ip)
  }
  for (const n of [0, 1, 0x7fffffff, 0x80000000, 0xc0a80001, 0xffffffff]) {
    assert.is(ipToInt(intToIp(n)), n)
  }
  assert.is(ipToInt('255.255.255.255'), 4294967295, 'unsigned, not -1')
  assert.is(ipToInt('192.168.0.1'), 3232235521)
})

test('ipToInt and intToIp throw on what is not an address', () => {
  assert.is(parseIp('10.0.0'), null)
  assert.throws(() => ipToInt('10.0.0.1.2'), /not an IPv4 address/)
  assert.throws(() => intToIp(-1), /not a 32-bit/)
  assert.throws(() => intToIp(2 ** 32), /not a 32-bit/)
})

test('overlaps is true when one block contains the other, either way round', () => {
  assert.ok(overlaps('10.0.0.0/8', '10.211.0.0/24'))
  assert.ok(overlaps('10.211.0.0/24', '10.0.0.0/8'))
  assert.ok(overlaps('10.211.0.0/24', '10.211.0.0/24'))
  assert.ok(overlaps('10.211.0.128/25', '10.211.0.0/24'))
})

test('overlaps is false for disjoint and for adjacent blocks', () => {
  assert.not.ok(overlaps('10.211.0.0/24', '10.212.0.0/24'))
  assert.not.ok(overlaps('10.211.0.0/24', '10.211.1.0/24'), 'adjacent above')
  assert.not.ok(overlaps('10.211.1.0/24', '10.211.0.0/24'), 'adjacent below')
  assert.not.ok(overlaps('10.211.0.0/25', '10.211.0.128/25'))
  assert.not.ok(overlaps('255.255.255.0/24', '0.0.0.0/24'), 'the ends of the range')
})

test('overlaps reads 10.211.0.5/24 as its network 10.211.0.0/24', () => {
  assert.ok(overlaps('10.211.0.5/24', '10.211.0.200/32'))
})

test('overlaps throws on a string that is not a CIDR', () => {
  assert.throws(() => overlaps('10.211.0/24', '10.0.0.0/8'), /not an IPv4 CIDR/)
})

test('contains includes the network and broadcast addresses and nothing beyond', () => {
  assert.ok(contains('10.211.0.0/24', '10.211.0.0'))
  assert.ok(contains('10.211.0.0/24', '10.211.0.255'))
  assert.not.ok(contains('10.211.0.0/24', '10.211.1.0'))
  assert.not.ok(contains('10.211.0.0/24', '10.210.255.255'))
  assert.ok(contains('0.0.0.0/0', '255.255.255.255'))
})

test.run()
