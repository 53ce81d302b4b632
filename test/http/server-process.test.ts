/**
 * `berth serve` as a real process over real HTTP: killed with SIGKILL in the middle of an install,
 * stopped with SIGTERM while a job runs, following Docker's events to rewire a restarted node,
 * and dispatching over ssh from its config file.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { $ } from 'zx'
import { openSqliteStore } from '../../functions/store/sqlite.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { parseTopology } from '../../scripts/engine/topology.ts'
import { hook, withTimeout, until as waitUntil } from '../helpers/async.ts'
import {
  assertHostsMatchInspect,
  cheLike,
  engine,
  ensureDemoImage,
  removeTestClusters,
} from '../helpers/docker.ts'
import { BIN, serve, type Server } from '../helpers/serve.ts'
import { startSshd, type Sshd } from '../helpers/sshd.ts'
import { berthJobRun } from '../support/berth-document.ts'
import { startSsmEndpoint } from '../support/ssm-endpoint.ts'

const tokens = new Map<string, string>()
/** The admin token a data directory's first start wrote to $BERTH_HOME/admin-token. */
function adminOf(home: string, _server?: Server): string {
  if (!tokens.has(home)) tokens.set(home, readFileSync(join(home, 'admin-token'), 'utf8').trim())
  return tokens.get(home) as string
}

async function api(s: Server, token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(s.base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).catch((err) => {
    throw new Error(`${method} ${path}: ${err.cause ?? err}\n--- berth serve said:\n${s.out()}`)
  })
  return { status: res.status, body: (await res.json()) as any } // eslint-disable-line @typescript-eslint/no-explicit-any
}

const until = <T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000) =>
  waitUntil(what, fn, ms, 200)

async function jobState(s: Server, token: string, id: string, states: string[]) {
  return until(
    `job ${id} in ${states.join('/')}`,
    async () => {
      const { body } = await api(s, token, 'GET', `/v1/jobs/${id}`)
      return states.includes(body.job?.state) ? body.job : undefined
    },
    120_000
  )
}

const jobProcesses = async () =>
  (await $({ quiet: true, nothrow: true })`pgrep -f ${`${BIN} job run`}`).stdout.trim()

const slow = (name: string, seconds: number) => ({
  ...cheLike(name),
  nodes: [
    { name: 'master', bootstrap: `sleep ${seconds}` },
    { name: 'node', phase: 1, bootstrap: 'true' },
  ],
})

const Srv = suite('berth serve as a process')
Srv.before(
  hook(async () => {
    await removeTestClusters('t-srv')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
  })
)
Srv.after(hook(() => removeTestClusters('t-srv')))

Srv(
  'kill -9 in the middle of an install: on restart the job runs again to success, exactly once, no orphan',
  async () => {
    const home = mkdtempSync(join(tmpdir(), 'berth-srv-'))
    let s = await serve(home)
    const admin = adminOf(home, s)
    const { body } = await api(s, admin, 'POST', '/v1/jobs', {
      kind: 'install',
      cluster: 't-srv-kill',
      topology: slow('t-srv-kill', 5),
    })
    const id = body.job.id as string
    await until('bootstrap under way', async () =>
      (await engine.listContainers([`${LABEL.cluster}=t-srv-kill`])).length ? true : undefined
    )
    await new Promise((r) => setTimeout(r, 1000))
    s.proc.kill('SIGKILL')
    await s.exited

    s = await serve(home)
    assert.match(s.out(), /resuming 1 job/)
    const done = await jobState(s, admin, id, ['succeeded', 'failed', 'cancelled'])
    assert.is(done.state, 'succeeded', JSON.stringify(done.result))
    assert.is(done.attempts, 2, 'started once more, not twice more')
    const { body: jobs } = await api(s, admin, 'GET', '/v1/jobs?cluster=t-srv-kill')
    assert.is(jobs.jobs.length, 1, 'one job, not a duplicate')
    const containers = await engine.listContainers([`${LABEL.cluster}=t-srv-kill`])
    assert.equal(
      containers.map((c) => c.Names[0]).sort(),
      ['/t-srv-kill.master', '/t-srv-kill.node'],
      'the nodes, and nothing else'
    )
    assert.ok(containers.every((c) => c.State === 'running'))
    s.proc.kill('SIGTERM')
    assert.is(await s.exited, 0)
    assert.is(await jobProcesses(), '', 'no job process left running')
  }
)

Srv(
  'SIGTERM drains: a job still running after the grace period is interrupted, then resumed by the next start',
  async () => {
    const home = mkdtempSync(join(tmpdir(), 'berth-srv-'))
    let s = await serve(home, { BERTH_DRAIN_SECONDS: '1' })
    const admin = adminOf(home, s)
    const { body } = await api(s, admin, 'POST', '/v1/jobs', {
      kind: 'install',
      cluster: 't-srv-drain',
      topology: slow('t-srv-drain', 8),
    })
    const id = body.job.id as string
    await until('bootstrap under way', async () =>
      (await engine.listContainers([`${LABEL.cluster}=t-srv-drain`])).length ? true : undefined
    )
    s.proc.kill('SIGTERM')
    assert.is(await withTimeout(s.exited, 30_000, 'drain'), 0)
    const store = await openSqliteStore(join(home, 'berth.db'))
    assert.is((await store.getJob(id))?.state, 'interrupted')
    await store.close()

    s = await serve(home, { BERTH_DRAIN_SECONDS: '1' })
    const done = await jobState(s, admin, id, ['succeeded', 'failed', 'cancelled'])
    assert.is(done.state, 'succeeded', JSON.stringify(done.result))
    assert.is((await engine.listContainers([`${LABEL.cluster}=t-srv-drain`])).length, 2)
    s.proc.kill('SIGTERM')
    assert.is(await s.exited, 0)
  }
)

Srv(
  'a dynamic-mode node restarted outside berth with a new IP is rewired automatically, recorded as a job',
  async () => {
    const home = mkdtempSync(join(tmpdir(), 'berth-srv-'))
    const s = await serve(home)
    const admin = adminOf(home, s)
    const yaml = JSON.stringify({
      ...cheLike('t-srv-dyn'),
      network: { mode: 'dynamic' },
      nodes: [{ name: 'master' }, { name: 'node' }],
    })
    const topology = parseTopology(yaml)
    // Installed from the CLI: its own starts are not taken for restarts (it holds the lock).
    const file = join(home, 'dyn.yaml')
    writeFileSync(file, yaml)
    await $({
      quiet: true,
      env: { ...process.env, BERTH_HOME: home },
    })`node ${BIN} install ${file} --json`
    await assertHostsMatchInspect(topology)
    await new Promise((r) => setTimeout(r, 2000))
    assert.equal(
      (await api(s, admin, 'GET', '/v1/jobs?cluster=t-srv-dyn')).body.jobs,
      [],
      "no rewire for berth's own install"
    )

    // Restart `master` with another address: a filler takes the one it frees while it is stopped.
    const network = `berth.t-srv-dyn`
    const before = (await engine.inspectContainer('t-srv-dyn.master')).NetworkSettings.Networks[
      network
    ].IPAddress
    await $({ quiet: true })`docker stop -t 1 t-srv-dyn.master`
    await $({
      quiet: true,
    })`docker run -d --name t-srv-dyn-filler --label berth.cluster=t-srv-dyn-filler --network ${network} berth/demo:1 sleep 600`
    await $({ quiet: true })`docker start t-srv-dyn.master`
    const after = (await engine.inspectContainer('t-srv-dyn.master')).NetworkSettings.Networks[
      network
    ].IPAddress
    assert.is.not(after, before, 'the node came back with a new IP')

    const t0 = Date.now()
    const job = await until(
      'an auto-rewire job',
      async () => (await api(s, admin, 'GET', '/v1/jobs?cluster=t-srv-dyn')).body.jobs[0],
      20_000
    )
    assert.equal([job.kind, job.requestedBy], ['rewire', 'auto-rewire'])
    const done = await jobState(s, admin, job.id, ['succeeded', 'failed'])
    assert.is(done.state, 'succeeded', JSON.stringify(done.result))
    assert.ok(Date.now() - t0 < 15_000, `rewired within seconds (${Date.now() - t0} ms)`)
    await assertHostsMatchInspect(topology)
    const { body: audit } = await api(s, admin, 'GET', '/v1/audit')
    assert.ok(
      audit.audit.some(
        (a: { actor: string; action: string }) =>
          a.actor === 'auto-rewire' && a.action === 'job.rewire'
      )
    )
    await $({ quiet: true, nothrow: true })`docker rm -f t-srv-dyn-filler`
    s.proc.kill('SIGTERM')
    assert.is(await s.exited, 0)
  }
)

Srv(
  "with `dispatch: ssm` in its config file, jobs go through SSM Run Command (the AWS SDK, berth's document) to the host",
  async () => {
    const ssm = await startSsmEndpoint({
      fleet: [{ instanceId: 'i-0aaaaaaaaaaaaaaaa', tags: { berth: 'host', team: 'srv' } }],
      documents: { 'berth-job-run': berthJobRun },
    })
    try {
      const home = mkdtempSync(join(tmpdir(), 'berth-srv-'))
      const config = join(home, 'berth.yaml')
      writeFileSync(
        config,
        [
          'dispatch:',
          '  mode: ssm',
          `  region: ${ssm.region}`,
          '  target: { tags: { team: srv } }',
          `  endpoint: ${ssm.url}`,
          '  pollMs: 300',
          'autoRewire: true',
          '',
        ].join('\n')
      )
      // Credentials the way the AWS SDK finds them on a server: the environment.
      const s = await serve(
        home,
        {
          AWS_ACCESS_KEY_ID: ssm.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: ssm.credentials.secretAccessKey,
        },
        ['--config', config]
      )
      assert.match(s.out(), /jobs ssm us-east-1/)
      assert.not.match(s.out(), /auto-rewire on/, 'no Docker event stream over SSM')
      const admin = adminOf(home, s)
      const { body } = await api(s, admin, 'POST', '/v1/jobs', {
        kind: 'install',
        cluster: 't-srv-ssm',
        topology: cheLike('t-srv-ssm'),
      })
      const done = await jobState(s, admin, body.job.id, ['succeeded', 'failed'])
      assert.is(done.state, 'succeeded', JSON.stringify(done.result))
      const [command] = [...ssm.commands.values()]
      assert.is(command.documentName, 'berth-job-run')
      assert.equal([...command.invocations.keys()], ['i-0aaaaaaaaaaaaaaaa'])
      assert.is((await engine.listContainers([`${LABEL.cluster}=t-srv-ssm`])).length, 1)
      s.proc.kill('SIGTERM')
      assert.is(await s.exited, 0)
    } finally {
      await ssm.close()
      await removeTestClusters('t-srv-ssm')
    }
  }
)

Srv('with `dispatch: ssh` in its config file, jobs run on the Docker host over ssh', async () => {
  let sshd: Sshd | undefined
  try {
    sshd = await startSshd()
    const home = mkdtempSync(join(tmpdir(), 'berth-srv-'))
    const config = join(home, 'berth.yaml')
    writeFileSync(
      config,
      [
        'dispatch:',
        '  mode: ssh',
        `  host: ${sshd.host}`,
        `  port: ${sshd.port}`,
        `  user: ${sshd.user}`,
        `  identityFile: ${sshd.identityFile}`,
        `  knownHostsFile: ${sshd.knownHostsFile}`,
        `  berth: [${JSON.stringify(process.execPath)}, ${JSON.stringify(BIN)}]`,
        'autoRewire: false',
        '',
      ].join('\n')
    )
    const s = await serve(home, {}, ['--config', config])
    assert.match(s.out(), /jobs ssh root@127\.0\.0\.1/)
    const admin = adminOf(home, s)
    const { body } = await api(s, admin, 'POST', '/v1/jobs', {
      kind: 'install',
      cluster: 't-srv-ssh',
      topology: cheLike('t-srv-ssh'),
    })
    const done = await jobState(s, admin, body.job.id, ['succeeded', 'failed'])
    assert.is(done.state, 'succeeded', JSON.stringify(done.result))
    const status = await api(s, admin, 'GET', '/v1/clusters/t-srv-ssh')
    assert.is(status.status, 200)
    assert.is(status.body.cluster.nodes[0].health, 'healthy')
    s.proc.kill('SIGTERM')
    assert.is(await s.exited, 0)
  } finally {
    await sshd?.stop()
  }
})

Srv.run()
