import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import YAML from 'yaml'
import { $ } from 'zx'
import type { JobEvent, ResultEvent } from '../../scripts/engine/events.ts'
import { runJob } from '../../scripts/engine/job.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import { cheLike, engine, ensureDemoImage, removeTestClusters } from '../helpers/docker.ts'

const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname
const home = mkdtempSync(join(tmpdir(), 'berth-test-'))
const sh = $({ quiet: true, nothrow: true, env: { ...process.env, BERTH_HOME: home } })

function events(stdout: string): JobEvent[] {
  return stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
}

const che = (name: string) => cheLike(name)

async function leftovers(prefix: string): Promise<number> {
  const mine = (l?: Record<string, string>) => !!l?.[LABEL.cluster]?.startsWith(prefix)
  const [c, n, v] = await Promise.all([
    engine.listContainers([LABEL.cluster]),
    engine.listNetworks([LABEL.cluster]),
    engine.listVolumes([LABEL.cluster]),
  ])
  return (
    c.filter((x) => mine(x.Labels)).length +
    n.filter((x) => mine(x.Labels)).length +
    v.filter((x) => mine(x.Labels)).length
  )
}

// ─────────────────────────────────────────────────────────────────────────────
const Job = suite('berth job run (the dispatchers’ contract)')

Job.before(
  hook(async () => {
    await withTimeout(removeTestClusters('t-cli'), 60_000, 'cleanup')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
  })
)
Job.after(hook(() => removeTestClusters('t-cli')))

Job('reads a spec on stdin, prints compact NDJSON events and ends with the result', async () => {
  const spec = {
    id: 'job-stdin-1',
    kind: 'install',
    cluster: 't-cli-che',
    topology: che('t-cli-che'),
  }
  const r = await withTimeout(
    sh`node ${BIN} job run <<< ${JSON.stringify(spec)}`,
    90_000,
    'job run'
  )
  assert.is(r.exitCode, 0, r.stderr)
  const evs = events(r.stdout)
  assert.ok(
    evs.every((e) => e.job === 'job-stdin-1'),
    'every event carries the job id'
  )
  const last = evs[evs.length - 1] as ResultEvent
  assert.is(last.type, 'result')
  assert.is(last.ok, true)
  assert.equal(
    last.nodes?.map((n) => n.hostname),
    ['che.che.local']
  )
  assert.ok(
    evs.some(
      (e) => e.type === 'step' && e.step === 'bootstrap' && e.state === 'done' && e.node === 'che'
    )
  )
  assert.ok(
    r.stdout.split('\n').every((l) => l.length < 600),
    'events stay small'
  )
  assert.match(r.stderr, /bootstrap/, 'logs go to stderr')
})

Job(
  'takes the spec as --spec-b64 (the SSM form) and keeps the workspace volume on destroy',
  async () => {
    const id = (await engine.listContainers([`${LABEL.cluster}=t-cli-che`]))[0].Id
    const w = await engine.exec(id, ['sh', '-c', 'echo "my work" > /projects/notes.txt'])
    assert.is(w.exitCode, 0)
    const spec = Buffer.from(JSON.stringify({ kind: 'destroy', cluster: 't-cli-che' })).toString(
      'base64'
    )
    const r = await sh`node ${BIN} job run --spec-b64 ${spec}`
    assert.is(r.exitCode, 0, r.stderr)
    assert.is((await engine.listContainers([`${LABEL.cluster}=t-cli-che`])).length, 0)
    const vols = await engine.listVolumes([`${LABEL.cluster}=t-cli-che`])
    assert.equal(
      vols.map((v) => v.Name),
      ['t-cli-che.che.workspace'],
      'volumes survive a plain destroy'
    )
    const again =
      await sh`node ${BIN} job run <<< ${JSON.stringify({ kind: 'install', cluster: 't-cli-che', topology: che('t-cli-che') })}`
    assert.is(again.exitCode, 0, again.stderr)
    const id2 = (await engine.listContainers([`${LABEL.cluster}=t-cli-che`]))[0].Id
    assert.is(
      (await engine.readFile(id2, '/projects/notes.txt'))?.toString(),
      'my work\n',
      'workspace files kept'
    )
    const gone = await sh`node ${BIN} destroy t-cli-che --volumes --json`
    assert.is(gone.exitCode, 0)
    assert.is(await leftovers('t-cli-che'), 0, 'destroy --volumes removes volumes too')
  }
)

Job(
  'a spec that is not valid JSON or not a valid job gets a result line and exit code 2',
  async () => {
    const bad = await sh`node ${BIN} job run <<< ${'{"kind": "install", '}`
    assert.is(bad.exitCode, 2)
    const last = events(bad.stdout).pop() as ResultEvent
    assert.is(last.ok, false)
    assert.is(last.code, 'invalid_job')
    const wrongKind =
      await sh`node ${BIN} job run <<< ${JSON.stringify({ kind: 'explode', cluster: 'x' })}`
    assert.is(wrongKind.exitCode, 2)
    assert.match((events(wrongKind.stdout).pop() as ResultEvent).message ?? '', /kind/)
    const mismatch =
      await sh`node ${BIN} job run <<< ${JSON.stringify({ kind: 'install', cluster: 't-cli-x', topology: che('t-cli-y') })}`
    assert.is(mismatch.exitCode, 2)
    assert.match(
      (events(mismatch.stdout).pop() as ResultEvent).message ?? '',
      /cluster: "t-cli-x" does not match the topology's name "t-cli-y"/
    )
  }
)

Job(
  'SIGTERM during a bootstrap stops the job promptly, removes what it made and exits 130',
  async () => {
    const topo = {
      ...che('t-cli-cancel'),
      nodes: [{ name: 'slow', bootstrap: 'echo starting; sleep 30' }],
    }
    const child = spawn('node', [BIN, 'job', 'run'], { env: { ...process.env, BERTH_HOME: home } })
    child.stdin.end(JSON.stringify({ kind: 'install', cluster: 't-cli-cancel', topology: topo }))
    let out = ''
    const started = new Promise<void>((resolve) => {
      child.stdout.on('data', (d) => {
        out += d
        if (/"step":"bootstrap","state":"start"/.test(out)) resolve()
      })
    })
    await withTimeout(started, 60_000, 'bootstrap start')
    const t0 = Date.now()
    child.kill('SIGTERM')
    const code = await withTimeout(
      new Promise<number | null>((r) => child.on('exit', r)),
      20_000,
      'exit'
    )
    assert.is(code, 130)
    assert.ok(
      Date.now() - t0 < 10_000,
      `stopped in ${Date.now() - t0} ms, not after the 30 s bootstrap`
    )
    const last = events(out).pop() as ResultEvent
    assert.is(last.code, 'cancelled')
    assert.is(await leftovers('t-cli-cancel'), 0, 'nothing left behind')
  }
)

Job.run()

// ─────────────────────────────────────────────────────────────────────────────
const Invalid = suite('invalid topologies')

const base = () => structuredClone(che('t-bad'))
const INVALID: [string, (t: ReturnType<typeof base>) => unknown, RegExp][] = [
  [
    'unknown key',
    (t) => ({ ...t, nodes: [{ ...t.nodes[0], privilegd: true }] }),
    /nodes\[0\]\.privilegd: unknown key \(did you mean "privileged"\?\)/,
  ],
  [
    'bad hostname label',
    (t) => ({ ...t, nodes: [{ name: 'Data_1' }] }),
    /nodes\[0\]\.name: "Data_1" is not a valid hostname label/,
  ],
  [
    'duplicate after expansion',
    (t) => ({ ...t, nodes: [{ name: 'runner', count: 2 }, { name: 'runner1' }] }),
    /nodes\[1\]\.name: .*"runner1"/,
  ],
  [
    'over-long hostname',
    (t) => ({ ...t, domain: 'a'.repeat(50) + '.example', nodes: [{ name: 'runner', count: 12 }] }),
    /nodes\[0\]\.name: hostname "runner12\.a+\.example" is \d+ characters; the limit is 63/,
  ],
  [
    'volume mounted twice',
    (t) => ({ ...t, nodes: [{ name: 'data', volumes: ['data:/a', 'data:/b'] }] }),
    /nodes\[0\]\.volumes\[1\]: volume "data" is mounted twice in node "data"/,
  ],
  [
    'same target twice',
    (t) => ({ ...t, nodes: [{ name: 'data', volumes: ['a:/srv', 'b:/srv'] }] }),
    /nodes\[0\]\.volumes\[1\]: target "\/srv" is used twice in node "data"/,
  ],
  [
    'bad subnet',
    (t) => ({ ...t, network: { mode: 'static', subnet: '10.0.0.300/24' } }),
    /network\.subnet:/,
  ],
  [
    'reserved env',
    (t) => ({ ...t, nodes: [{ name: 'api', env: { BERTH_NODE: 'x' } }] }),
    /nodes\[0\]\.env\.BERTH_NODE: .*reserved/,
  ],
  [
    'unknown capability',
    (t) => ({ ...t, nodes: [{ name: 'api', capAdd: ['SYS_MAGIC'] }] }),
    /nodes\[0\]\.capAdd\[0\]:/,
  ],
  [
    'no image',
    (t) => ({ ...t, image: undefined, nodes: [{ name: 'api' }] }),
    /nodes\[0\]\.image: no image/,
  ],
  [
    '/etc/hosts as a volume target',
    (t) => ({ ...t, nodes: [{ name: 'api', volumes: ['h:/etc/hosts'] }] }),
    /nodes\[0\]\.volumes\[0\]:.*\/etc\/hosts/,
  ],
  ['negative phase', (t) => ({ ...t, nodes: [{ name: 'api', phase: -1 }] }), /nodes\[0\]\.phase:/],
]

Invalid.before(hook(() => removeTestClusters('t-bad')))
Invalid.after(hook(() => removeTestClusters('t-bad')))

for (const [what, mutate, message] of INVALID) {
  Invalid(`refuses ${what}, naming the path, and creates nothing`, async () => {
    const topology = mutate(base())
    const out: JobEvent[] = []
    const { result, exitCode } = await runJob(
      { kind: 'install', cluster: 't-bad', topology },
      { engine, emit: (e) => out.push(e), logDir: null }
    )
    assert.is(exitCode, 2)
    assert.is(result.code, 'invalid_topology')
    assert.match(result.message ?? '', message)
    assert.not.ok(
      out.some((e) => e.type === 'step' && e.step === 'create'),
      'no create step'
    )
  })
}

Invalid('the CLI shows the file, the path and the reason, and exits 2', async () => {
  const file = join(home, 'bad.yaml')
  writeFileSync(file, YAML.stringify(INVALID[1][1](base())))
  const r = await sh`node ${BIN} install ${file}`
  assert.is(r.exitCode, 2)
  assert.match(r.stderr, /nodes\[0\]\.name: "Data_1" is not a valid hostname label/)
  assert.is(await leftovers('t-bad'), 0, 'nothing was created by any refused topology')
})

Invalid.run()

// ─────────────────────────────────────────────────────────────────────────────
const Doctor = suite('berth doctor')

Doctor(
  'reports the engine, storage, disk and, plainly, that this host refuses privileged',
  async () => {
    const r = await sh`node ${BIN} doctor --json`
    const report = JSON.parse(r.stdout) as {
      ok: boolean
      checks: { name: string; status: string; message: string; hint?: string }[]
    }
    const byName = new Map(report.checks.map((c) => [c.name, c]))
    assert.is(byName.get('engine')?.status, 'ok')
    assert.match(byName.get('engine')?.message ?? '', /API 1\.\d+/)
    assert.ok(byName.has('storage') && byName.has('disk'))
    const priv = byName.get('privileged')
    assert.ok(priv, 'privileged checked')
    if (priv.status === 'warn') assert.match(priv.hint ?? '', /capAdd/)
    assert.is(byName.get('capAdd')?.status, 'ok')
    assert.is(await leftovers('berth-probe'), 0, 'probe containers removed')
  }
)

Doctor('with a topology, names a missing image and how to get it, and exits 3', async () => {
  const file = join(home, 'missing-image.yaml')
  writeFileSync(file, YAML.stringify({ ...base(), image: 'berth/absent:9' }))
  const r = await sh`node ${BIN} doctor ${file}`
  assert.is(r.exitCode, 3)
  assert.match(r.stdout, /image "berth\/absent:9" \(nodes che\) is not on this Docker host/)
})

Doctor.run()
