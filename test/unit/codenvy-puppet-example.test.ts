/**
 * examples/codenvy-puppet holds together: every file the topology writes into a node exists,
 * every file of the Puppet tree is written somewhere, every node's role has its class and its
 * Hiera settings, and the files are plain ASCII (Ruby tools run by `docker exec` have no locale:
 * `puppetserver ca` refuses a puppet.conf with a non-ASCII byte).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import YAML from 'yaml'
import { loadTopologyFile } from '../../scripts/engine/topology-sources.ts'

const DIR = new URL('../../examples/codenvy-puppet/', import.meta.url).pathname
const topology = YAML.parse(readFileSync(join(DIR, 'codenvy-puppet.yaml'), 'utf8'))
const CODE = '/etc/puppet/code/environments/production/'

interface FileEntry {
  target: string
  source: string
  mode?: string
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p) : [p]
  })
}

const master = topology.nodes.find((n: { name: string }) => n.name === 'master')
/** What the master gets: the defaults' files and its own. */
const masterFiles: FileEntry[] = [...(topology.defaults.files ?? []), ...master.files]
/** As berth expands it: every node's files, the defaults' merged in, sources read in. */
const expanded = loadTopologyFile(join(DIR, 'codenvy-puppet.yaml')).topology

test('every file entry names an existing source, with an octal mode', () => {
  for (const node of [topology.defaults, ...topology.nodes]) {
    for (const f of (node.files ?? []) as FileEntry[]) {
      assert.ok(statSync(join(DIR, f.source)).isFile(), `${node.name ?? 'defaults'}: ${f.source}`)
      assert.match(f.target, /^\//)
      assert.match(f.mode ?? '0644', /^0[0-7]{3}$/)
    }
  }
})

test('every file of the Puppet tree is written into the master, code under the production environment', () => {
  const listed = new Map(masterFiles.map((f) => [join(DIR, f.source), f.target]))
  for (const file of walk(join(DIR, 'puppet'))) {
    const rel = relative(join(DIR, 'puppet'), file)
    assert.ok(listed.has(file), `puppet/${rel} is not in the master's files`)
    if (/^(manifests|modules|data)\/|^hiera\.yaml$/.test(rel))
      assert.is(listed.get(file), CODE + rel)
  }
  assert.is(new Set(masterFiles.map((f) => f.target)).size, masterFiles.length, 'no target twice')
})

test('every node carries the postRestore hook, executable, and the master runs its wrapper', () => {
  const hook = expanded.hooks.postRestore![0]
  for (const node of expanded.nodes) {
    const entry = node.files.find((f) => f.target === hook)
    assert.ok(entry, `${node.name} has ${hook}`)
    assert.is(entry.mode, 0o755)
  }
  const m = expanded.nodes.find((n) => n.name === 'master')!
  assert.equal(m.command, ['/usr/local/sbin/berth-puppetserver'])
  assert.ok(m.files.some((f) => f.target === m.command![0] && f.mode === 0o755))
})

test('every role has its class and its Hiera settings', () => {
  const common = YAML.parse(readFileSync(join(DIR, 'puppet/data/common.yaml'), 'utf8'))
  for (const node of expanded.nodes) {
    const role = node.role
    const klass = readFileSync(join(DIR, `puppet/modules/codenvy/manifests/${role}.pp`), 'utf8')
    assert.match(klass, new RegExp(`^class codenvy::${role} \\(`, 'm'))
    assert.type(common[`codenvy::${role}::port`], 'number', `codenvy::${role}::port`)
  }
})

test('the Puppet files, scripts and topology are plain ASCII', () => {
  for (const file of [...walk(join(DIR, 'puppet')), join(DIR, 'codenvy-puppet.yaml')]) {
    const bad = readFileSync(file).findIndex((b) => b > 0x7f)
    assert.is(bad, -1, `${relative(DIR, file)}: a non-ASCII byte at ${bad}`)
  }
})

test.run()
