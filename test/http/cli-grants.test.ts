/**
 * The host's own tools for the policy and grants, run as a user runs them: `berth policy check`,
 * `berth token create --clusters --level`, `berth secret set`.
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { $ } from 'zx'

const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname
const EXAMPLES = new URL('../../examples/', import.meta.url).pathname
const home = mkdtempSync(join(tmpdir(), 'berth-cli-grants-'))
const sh = $({ quiet: true, nothrow: true, env: { ...process.env, BERTH_HOME: home } })
const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').trim() // eslint-disable-line no-control-regex -- ESC starts the colour codes it strips

test('berth policy check says what the policy refuses, path by path, and exits 7; allowed is 0', async () => {
  const refused = await sh`node ${BIN} policy check ${join(EXAMPLES, 'codenvy.yaml')}`
  assert.is(refused.exitCode, 7, refused.stderr)
  assert.is(
    refused.stdout,
    `${join(EXAMPLES, 'codenvy.yaml')}: refused by policy "restricted":\n  nodes[5].capAdd[0]: SYS_ADMIN is not allowed by policy "restricted" (allowed: NET_BIND_SERVICE)\n`
  )
  const privileged =
    await sh`node ${BIN} policy check ${join(EXAMPLES, 'codenvy.yaml')} --level privileged`
  assert.equal(
    [privileged.exitCode, privileged.stdout.trim()],
    [0, `${join(EXAMPLES, 'codenvy.yaml')}: allowed by policy "privileged"`]
  )
  const che = await sh`node ${BIN} policy check ${join(EXAMPLES, 'che.yaml')} --json`
  assert.equal(
    [che.exitCode, JSON.parse(che.stdout)],
    [0, { ok: true, level: 'restricted', issues: [] }]
  )
  // The server's own policy file widens what it allows.
  const config = join(home, 'serve.yaml')
  writeFileSync(
    config,
    'policy:\n  restricted:\n    capabilities: [NET_BIND_SERVICE, CHOWN]\n  clusters:\n    lab-*: baseline\n'
  )
  const t = join(home, 'chown.yaml')
  writeFileSync(
    t,
    'name: x\nimage: berth/demo:1\ndomain: x.local\ndefaults: { resources: { memory: 64m } }\nnodes:\n  - { name: a, capAdd: [CHOWN] }\n'
  )
  assert.is((await sh`node ${BIN} policy check ${t}`).exitCode, 7)
  assert.is((await sh`node ${BIN} policy check ${t} --config ${config}`).exitCode, 0)
  const badLevel = await sh`node ${BIN} policy check ${t} --level root`
  assert.equal(
    [badLevel.exitCode, plain(badLevel.stderr)],
    [2, 'error: --level: "root" is not one of restricted, baseline, privileged']
  )
})

test('berth token create takes cluster grants and a level; privileged only with admin', async () => {
  const made =
    await sh`node ${BIN} token create --name team-a --scopes install,read --clusters ${'team-a-*,shared'} --level baseline --json`
  assert.is(made.exitCode, 0, made.stderr)
  const token = JSON.parse(made.stdout)
  assert.equal([token.clusters, token.level], [['team-a-*', 'shared'], 'baseline'])
  const bad = await sh`node ${BIN} token create --name ci --scopes install --level privileged`
  assert.equal(
    [bad.exitCode, plain(bad.stderr)],
    [
      2,
      'error: --level privileged: only an admin token may hold it (a privileged node can take the host)',
    ]
  )
  const glob = await sh`node ${BIN} token create --name ci --scopes install --clusters ${'Team_A'}`
  assert.is(glob.exitCode, 2)
  const list = await sh`node ${BIN} token list`
  assert.match(list.stdout, /team-a\s+install,read\s+team-a-\*,shared\s+baseline/)
})

test('berth secret set keeps the value in a 0600 file under $BERTH_HOME/secrets', async () => {
  const r = await sh({ input: 's3cr3t-value\n' })`node ${BIN} secret set app-db`
  assert.is(r.exitCode, 0, r.stderr)
  const file = join(home, 'secrets', 'app-db')
  assert.is(readFileSync(file, 'utf8'), 's3cr3t-value\n')
  assert.is((statSync(file).mode & 0o777).toString(8), '600')
  assert.is((statSync(join(home, 'secrets')).mode & 0o777).toString(8), '700')
  assert.is((await sh`node ${BIN} secret set ${'../etc/passwd'} < /dev/null`).exitCode, 2)
})

test.run()
