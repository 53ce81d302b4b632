import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  entriesOf,
  extraHosts,
  hostsProblems,
  managedBlock,
  resolve,
  withManagedBlock,
} from '../../scripts/engine/hosts.ts'

const DOCKER_HOSTS = `127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
10.0.0.5\tapi.codenvy.local api
`
const entries = entriesOf([
  { name: 'master', hostname: 'master.codenvy.local', ip: '10.0.0.4' },
  { name: 'api', hostname: 'api.codenvy.local', ip: '10.0.0.5' },
])

test('ExtraHosts name every node by FQDN and by short name', () => {
  assert.equal(extraHosts(entries), [
    'master.codenvy.local:10.0.0.4',
    'master:10.0.0.4',
    'api.codenvy.local:10.0.0.5',
    'api:10.0.0.5',
  ])
})

test('the managed block is appended once and replaced on the next write, keeping Docker lines', () => {
  const once = withManagedBlock(DOCKER_HOSTS, managedBlock('codenvy', entries))
  assert.ok(once.startsWith(DOCKER_HOSTS.trimEnd()))
  assert.match(once, /# berth:begin codenvy/)
  const moved = entriesOf([{ name: 'master', hostname: 'master.codenvy.local', ip: '10.0.0.9' }])
  const twice = withManagedBlock(once, managedBlock('codenvy', moved))
  assert.is(twice.split('# berth:begin').length, 2, 'exactly one block')
  assert.is(resolve(twice, 'master.codenvy.local'), '10.0.0.9')
  assert.not.match(twice, /10\.0\.0\.4/)
  assert.match(twice, /::1\tlocalhost/)
})

test('resolution takes the first line naming the host, ignores comments and IPv6', () => {
  const text = '# 10.9.9.9 master\n::1 master\n10.0.0.1 master.x master # old\n10.0.0.2 master\n'
  assert.is(resolve(text, 'master'), '10.0.0.1')
  assert.is(resolve(text, 'MASTER.x'), '10.0.0.1')
  assert.is(resolve(text, 'nobody'), null)
})

test('problems name each wrong or missing name with the expected address', () => {
  const problems = hostsProblems(DOCKER_HOSTS, entries)
  assert.equal(problems, [
    'master.codenvy.local resolves to nothing, expected 10.0.0.4',
    'master resolves to nothing, expected 10.0.0.4',
  ])
  const wired = withManagedBlock(DOCKER_HOSTS, managedBlock('c', entries))
  assert.equal(hostsProblems(wired, entries), [])
})

test.run()
