import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ConfigError, readConfig } from '../../functions/config.ts'

const dir = mkdtempSync(join(tmpdir(), 'berth-config-'))
function file(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

function throws(fn: () => unknown, pattern: RegExp) {
  try {
    fn()
  } catch (err) {
    assert.instance(err, ConfigError)
    assert.match((err as Error).message, pattern)
    return
  }
  assert.unreachable('no error')
}

test('defaults: local dispatch, loopback, port 8470, auto-rewire on, home from BERTH_HOME', () => {
  const c = readConfig({ env: { BERTH_HOME: '/srv/berth' } })
  assert.is(c.home, '/srv/berth')
  assert.is(c.port, 8470)
  assert.is(c.host, '127.0.0.1')
  assert.is(c.autoRewire, true)
  assert.equal(c.dispatch, { mode: 'local' })
  assert.is(c.policy.default, 'restricted')
  assert.equal(c.policy.restricted.capabilities, ['NET_BIND_SERVICE'])
  assert.equal(c.trustedProxies, [])
  assert.equal(c.limits, {
    authFailures: 30,
    authWindowSeconds: 60,
    maxQueuedPerActor: 20,
    readCacheMs: 2000,
    hostReads: 4,
    jobLogBytes: 20 * 1024 * 1024,
  })
})

test('the policy, proxies and limits are read from the file and checked, naming the key', () => {
  const path = file(
    'policy.yaml',
    [
      'policy:',
      '  default: baseline',
      '  baseline:',
      '    images: [registry.local/*]',
      '  clusters:',
      '    prod-*: restricted',
      'trustedProxies: [10.0.0.2]',
      'limits:',
      '  maxQueuedPerActor: 5',
    ].join('\n')
  )
  const c = readConfig({ file: path, env: {} })
  assert.equal(
    [
      c.policy.default,
      c.policy.baseline.images,
      c.policy.clusters,
      c.trustedProxies,
      c.limits.maxQueuedPerActor,
    ],
    ['baseline', ['registry.local/*'], { 'prod-*': 'restricted' }, ['10.0.0.2'], 5]
  )
  throws(
    () =>
      readConfig({
        file: file('bad-policy.yaml', 'policy:\n  restricted:\n    capabilities: [SYS_ADMIN]\n'),
        env: {},
      }),
    /policy\.restricted\.capabilities\[0\]: SYS_ADMIN can never be allowed below privileged/
  )
  throws(
    () =>
      readConfig({ file: file('bad-default.yaml', 'policy:\n  default: privileged\n'), env: {} }),
    /policy\.default: /
  )
  throws(
    () =>
      readConfig({
        file: file(
          'bad-slack.yaml',
          'hooks:\n  slack:\n    signingSecret: 0123456789\n    allow: [{ kinds: [install], clusters: ["*"], level: privileged }]\n'
        ),
        env: {},
      }),
    /hooks\.slack\.allow\[0\]\.level: must be restricted or baseline \(privileged is for admin tokens only\)/
  )
})

test('a YAML file sets ssh dispatch; the environment overrides the file', () => {
  const path = file(
    'ssh.yaml',
    [
      'port: 9000',
      'maxClusters: 2',
      'dispatch:',
      '  mode: ssh',
      '  host: docker1.internal',
      '  user: berth',
      '  identityFile: /etc/berth/id_ed25519',
    ].join('\n')
  )
  const c = readConfig({ file: path, env: { PORT: '9100', BERTH_AUTO_REWIRE: 'off' } })
  assert.is(c.port, 9100)
  assert.is(c.maxClusters, 2)
  assert.is(c.autoRewire, false)
  assert.equal(c.dispatch, {
    mode: 'ssh',
    host: 'docker1.internal',
    user: 'berth',
    port: 22,
    identityFile: '/etc/berth/id_ed25519',
    berth: ['berth'],
  })
})

test('BERTH_CONFIG names the file', () => {
  const path = file('env.json', JSON.stringify({ drainSeconds: 5 }))
  assert.is(readConfig({ env: { BERTH_CONFIG: path } }).drainSeconds, 5)
})

test('every problem is named by its key (file) or its variable (environment)', () => {
  const path = file(
    'bad.yaml',
    [
      'porte: 1',
      'dispatch:',
      '  mode: ssh',
      '  host: "-oProxyCommand=x"',
      '  user: root',
      '  identityFile: id',
    ].join('\n')
  )
  throws(
    () => readConfig({ file: path, env: {} }),
    /bad\.yaml: dispatch\.host: is not a host name or address/
  )
  throws(
    () => readConfig({ file: path, env: {} }),
    /dispatch\.identityFile: must be an absolute path/
  )
  throws(
    () => readConfig({ file: path, env: {} }),
    /bad\.yaml: porte: unknown key \(did you mean "port"\?\)/
  )
  throws(() => readConfig({ env: { PORT: 'eighty' } }), /^PORT \(port\): /)
  throws(() => readConfig({ file: join(dir, 'missing.yaml'), env: {} }), /missing\.yaml: ENOENT/)
  throws(() => readConfig({ file: file('list.yaml', '- a\n- b\n'), env: {} }), /expected a mapping/)
})

test('dispatch: ssm takes a region and instance ids or tags, with the SSM defaults; a wrong one is named', () => {
  const ok = readConfig({
    file: file(
      'ssm.yaml',
      [
        'dispatch:',
        '  mode: ssm',
        '  region: eu-west-1',
        '  target: { tags: { berth: host } }',
      ].join('\n')
    ),
    env: {},
  })
  assert.equal(ok.dispatch, {
    mode: 'ssm',
    region: 'eu-west-1',
    target: { tags: { berth: 'host' } },
    documentName: 'berth-job-run',
    timeoutSeconds: 600,
    executionTimeoutSeconds: 3600,
    pollMs: 2000,
  })
  const bad = file(
    'ssm-bad.yaml',
    [
      'dispatch:',
      '  mode: ssm',
      '  region: "eu-west-1; rm -rf /"',
      '  target: { instanceIds: [i-nope] }',
    ].join('\n')
  )
  throws(() => readConfig({ file: bad, env: {} }), /dispatch\.region: is not an AWS region/)
  throws(() => readConfig({ file: bad, env: {} }), /dispatch\.target/)
})

test('hooks: secrets written env:NAME come from the environment; a missing one is named', () => {
  const path = file(
    'hooks.yaml',
    [
      'hooks:',
      '  generic:',
      '    nightly:',
      '      secret: env:NIGHTLY_SECRET',
      '      job: { kind: snapshot, cluster: codenvy }',
    ].join('\n')
  )
  assert.is(
    readConfig({ file: path, env: { NIGHTLY_SECRET: 'a-long-enough-secret' } }).hooks.generic
      .nightly.secret,
    'a-long-enough-secret'
  )
  throws(
    () => readConfig({ file: path, env: {} }),
    /hooks\.generic\.nightly\.secret: the environment variable NIGHTLY_SECRET is not set/
  )
})

test.run()
