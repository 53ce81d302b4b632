import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { BerthError } from '../../scripts/engine/errors.ts'
import { assignAddresses, chooseSubnet } from '../../scripts/engine/network.ts'
import { validateTopology } from '../../scripts/engine/topology.ts'

const topo = (nodes: unknown[], subnet?: string) =>
  validateTopology({
    name: 'c',
    image: 'i:1',
    domain: 'c.local',
    network: { mode: 'static', ...(subnet ? { subnet } : {}) },
    nodes,
  })

test('static addresses start at .10 of the subnet, in node order', () => {
  const a = assignAddresses(
    topo([{ name: 'a' }, { name: 'b', count: 2 }]),
    '10.211.0.0/24',
    new Map()
  )
  assert.equal(
    [...a],
    [
      ['a', '10.211.0.10'],
      ['b1', '10.211.0.11'],
      ['b2', '10.211.0.12'],
    ]
  )
})

test('existing nodes keep their address; a new node takes the lowest free one', () => {
  const existing = new Map([
    ['a', '10.211.0.10'],
    ['c', '10.211.0.12'],
  ])
  const a = assignAddresses(
    topo([{ name: 'a' }, { name: 'b' }, { name: 'c' }]),
    '10.211.0.0/24',
    existing
  )
  assert.equal(Object.fromEntries(a), { a: '10.211.0.10', b: '10.211.0.11', c: '10.211.0.12' })
  const moved = assignAddresses(topo([{ name: 'x' }, { name: 'c' }]), '10.211.0.0/24', existing)
  assert.is(moved.get('c'), '10.211.0.12', 'c keeps its address when a node before it changes')
  assert.is(moved.get('x'), '10.211.0.10')
})

test('an address outside the pinned half is not kept', () => {
  const a = assignAddresses(
    topo([{ name: 'a' }]),
    '10.211.0.0/24',
    new Map([['a', '10.211.0.200']])
  )
  assert.is(a.get('a'), '10.211.0.10')
})

test('a subnet that overlaps a Docker network is refused, naming both', () => {
  const used = [{ subnet: '10.211.0.0/16', network: 'other', id: 'x' }]
  try {
    chooseSubnet(topo([{ name: 'a' }], '10.211.5.0/24'), used)
    assert.unreachable()
  } catch (err) {
    assert.instance(err, BerthError)
    assert.match(
      (err as Error).message,
      /network\.subnet: 10\.211\.5\.0\/24 overlaps the Docker network "other" \(10\.211\.0\.0\/16\)/
    )
  }
  assert.is(
    chooseSubnet(topo([{ name: 'a' }], '10.211.5.0/24'), used, 'x'),
    '10.211.5.0/24',
    'its own network does not clash'
  )
})

test('a free subnet is picked past the used ones, sized for the nodes', () => {
  const used = [
    { subnet: '10.211.0.0/24', network: 'a', id: 'a' },
    { subnet: '10.211.1.0/25', network: 'b', id: 'b' },
  ]
  assert.is(chooseSubnet(topo([{ name: 'n' }]), used), '10.211.2.0/24')
  assert.is(
    chooseSubnet(
      topo([
        { name: 'n', count: 64 },
        { name: 'm', count: 64 },
      ]),
      used
    ),
    '10.211.2.0/23'
  )
})

test.run()
