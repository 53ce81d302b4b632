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
})

test('a YAML file sets ssh dispatch; the environment overrides the file', () => {
  const path = file(
    'ssh.yaml',
    ['port: 9000', 'maxClusters: 2', 'dispatch:', '  mode: ssh', '  host: docker1.internal', '  user: berth', '  identityFile: /etc/berth/id_ed25519'].join('\n')
  )
  const c = readConfig({ file: path, env: { PORT: '9100', BERTH_AUTO_REWIRE: 'off' } })
  assert.is(c.port, 9100)
  assert.is(c.maxClusters, 2)
  assert.is(c.autoRewire, false)
  assert.equal(c.dispatch, { mode: 'ssh', host: 'docker1.internal', user: 'berth', port: 22, identityFile: '/etc/berth/id_ed25519', berth: ['berth'] })
})

test('BERTH_CONFIG names the file', () => {
  const path = file('env.json', JSON.stringify({ drainSeconds: 5 }))
  assert.is(readConfig({ env: { BERTH_CONFIG: path } }).drainSeconds, 5)
})

test('every problem is named by its key (file) or its variable (environment)', () => {
  const path = file('bad.yaml', ['porte: 1', 'dispatch:', '  mode: ssh', '  host: "-oProxyCommand=x"', '  user: root', '  identityFile: id'].join('\n'))
  throws(() => readConfig({ file: path, env: {} }), /bad\.yaml: dispatch\.host: is not a host name or address/)
  throws(() => readConfig({ file: path, env: {} }), /dispatch\.identityFile: must be an absolute path/)
  throws(() => readConfig({ file: path, env: {} }), /Unrecognized key: "porte"/)
  throws(() => readConfig({ env: { PORT: 'eighty' } }), /^PORT \(port\): /)
  throws(() => readConfig({ file: join(dir, 'missing.yaml'), env: {} }), /missing\.yaml: ENOENT/)
  throws(() => readConfig({ file: file('list.yaml', '- a\n- b\n'), env: {} }), /expected a mapping/)
})

test.run()
