/**
 * The seed's scenario for real (examples/codenvy-puppet): one Debian image with Puppet from
 * Debian's packages, a Puppet server first, then seven agents pulling their configuration from it
 * by name. Checked as a user would: every agent's last Puppet report says it succeeded and the
 * file it manages is there; the site's page, fetched from this host through the published port,
 * lists every node with the address Docker gives it; snapshot → destroy → restore, and Puppet runs
 * again on every restored node against the restored server (certificates kept); a changed
 * manifest re-applied by `berth install`; a copy restored beside it under another domain works
 * too (its postRestore hook re-issues what names changed).
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { runJob } from '../../scripts/engine/job.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { loadTopologyFile } from '../../scripts/engine/topology-sources.ts'
import { ensurePuppetImage, PUPPET_EXAMPLE } from '../../scripts/cli/puppet-demo.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import { engine, removeTestClusters } from '../helpers/docker.ts'

const home = mkdtempSync(join(tmpdir(), 'berth-real-puppet-'))
const C = 't-real-pp'
const PORT = 18880
const AGENTS = ['data', 'api', 'site', 'builder1', 'runner1', 'datasource', 'analytics']
const timings: string[] = []

/** The example, as a test cluster: its own name and host port; `common` replaces Hiera data. */
function topology(common?: string) {
  const data = structuredClone(loadTopologyFile(PUPPET_EXAMPLE).data) as {
    name: string
    nodes: {
      name: string
      ports?: string[]
      files?: { target: string; content: string; encoding?: string }[]
    }[]
  }
  data.name = C
  for (const n of data.nodes) {
    if (n.ports) n.ports = [`${PORT}:80`]
    for (const f of n.files ?? []) {
      if (common && f.target.endsWith('/data/common.yaml'))
        Object.assign(f, { content: common, encoding: 'utf8' })
    }
  }
  return data
}

async function job(spec: object, what: string) {
  const t0 = Date.now()
  const r = await runJob(spec, { engine, emit: () => {} })
  assert.ok(r.result.ok, `${what}: ${r.result.message}`)
  timings.push(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  return r.result
}

const sh = async (cluster: string, node: string, cmd: string) => {
  const r = await engine.exec(`${cluster}.${node}`, ['sh', '-c', cmd], { timeoutMs: 240_000 })
  return { code: r.exitCode, out: (r.stdout + r.stderr).trim() }
}

/** Each agent's last Puppet report: status changed or unchanged, never failed; its role file. */
async function assertPuppetRan(cluster: string, domain: string) {
  for (const node of AGENTS) {
    const status = await sh(
      cluster,
      node,
      "sed -n 's/^status: //p' /var/cache/puppet/state/last_run_report.yaml"
    )
    assert.ok(
      ['changed', 'unchanged'].includes(status.out),
      `${node}: last Puppet run ${status.out || '(no report)'}`
    )
    const role = await sh(cluster, node, 'cat /etc/codenvy/role.conf')
    assert.match(role.out, `role=${node.replace(/\d+$/, '')}`, `${node}: /etc/codenvy/role.conf`)
    assert.match(role.out, `${node}.${domain}`)
  }
}

/** The site's page from this host, every node on it with the address Docker holds. */
async function assertPage(cluster: string, port: number, domain: string) {
  const page = await (
    await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) })
  ).text()
  const containers = await engine.listContainers([`${LABEL.cluster}=${cluster}`])
  assert.is(containers.length, 8)
  for (const c of containers) {
    const node = c.Labels[LABEL.node]
    const ip = Object.values(c.NetworkSettings.Networks)[0].IPAddress
    assert.match(
      page,
      `${node.replace(/\d+$/, '')} ${node}.${domain} ${ip}`,
      `the page lists ${node}`
    )
  }
  return page
}

const Real = suite('codenvy-puppet: real Puppet from Debian, a server first, seven agents by name')
Real.before(
  hook(async () => {
    process.env.BERTH_HOME = home
    await removeTestClusters('t-real-pp')
    const t0 = Date.now()
    const image = await withTimeout(
      ensurePuppetImage(engine, () => {}),
      900_000,
      'the Puppet image'
    )
    timings.push(
      `image (${image.built ? 'built' : 'up to date'}): ${((Date.now() - t0) / 1000).toFixed(1)} s`
    )
  })
)
Real.after(
  hook(async () => {
    console.log(`    ${timings.join('\n    ')}`)
    await removeTestClusters('t-real-pp')
  })
)

Real(
  "install: every agent's Puppet run succeeded, and the site's page lists every node through the published port",
  async () => {
    const r = await job({ kind: 'install', cluster: C, topology: topology() }, 'install')
    assert.equal(r.nodes?.find((n) => n.name === 'site')?.published, [`http://127.0.0.1:${PORT}`])
    await assertPuppetRan(C, 'codenvy.local')
    await assertPage(C, PORT, 'codenvy.local')
    // Puppet converged: a second run changes nothing.
    assert.is(
      (
        await sh(
          C,
          'api',
          'puppet agent --test --server master.codenvy.local --detailed-exitcodes >/dev/null 2>&1; echo $?'
        )
      ).out,
      '0'
    )
  }
)

Real(
  'snapshot, destroy, restore: Puppet runs again on every restored node against the restored server',
  async () => {
    await job({ kind: 'snapshot', cluster: C, options: { tag: 'base' } }, 'snapshot')
    await job({ kind: 'destroy', cluster: C, options: { volumes: true } }, 'destroy')
    await job({ kind: 'restore', cluster: C, snapshot: 'base' }, 'restore')
    for (const node of AGENTS) {
      const r = await sh(
        C,
        node,
        'puppet agent --test --server master.codenvy.local --detailed-exitcodes >/tmp/run.log 2>&1; echo $?'
      )
      assert.ok(
        ['0', '2'].includes(r.out),
        `${node}: puppet agent --test exit ${r.out}: ${(await sh(C, node, 'tail -5 /tmp/run.log')).out}`
      )
    }
    await assertPage(C, PORT, 'codenvy.local')
  }
)

Real(
  'a changed manifest (Hiera data) is re-applied by berth install: the server rebuilt, every agent runs again',
  async () => {
    const common = readFileSync(
      join(dirname(PUPPET_EXAMPLE), 'puppet', 'data', 'common.yaml'),
      'utf8'
    )
    const changed = common.replace(/^codenvy::release: .*$/m, 'codenvy::release: "2026.12-test"')
    assert.is.not(changed, common)
    await job({ kind: 'install', cluster: C, topology: topology(changed) }, 'converge')
    for (const node of AGENTS)
      assert.match(
        (await sh(C, node, 'cat /etc/codenvy/role.conf')).out,
        'release=2026.12-test',
        node
      )
    await assertPuppetRan(C, 'codenvy.local')
  }
)

Real(
  'a copy restored beside it under another domain: its hook re-issues the certificates, Puppet runs there too',
  async () => {
    await job(
      {
        kind: 'restore',
        cluster: C,
        snapshot: 'base',
        options: { as: 't-real-pp2', domain: 'copy.local', ports: 'offset:10' },
      },
      'restore --as --domain'
    )
    await assertPuppetRan('t-real-pp2', 'copy.local')
    const page = await assertPage('t-real-pp2', PORT + 10, 'copy.local')
    assert.not.match(page, 'codenvy.local', "the copy's page names only the copy's nodes")
    for (const node of ['api', 'site']) {
      const r = await sh(
        't-real-pp2',
        node,
        'puppet agent --test --server master.copy.local --detailed-exitcodes >/dev/null 2>&1; echo $?'
      )
      assert.is(r.out, '0', `${node} in the copy converges with the copy's server`)
    }
    // The original is untouched: its agents still talk to their own server.
    assert.is(
      (
        await sh(
          C,
          'data',
          'puppet agent --test --server master.codenvy.local --detailed-exitcodes >/dev/null 2>&1; echo $?'
        )
      ).out,
      '0'
    )
  }
)

Real.run()
