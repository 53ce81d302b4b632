/**
 * What the host keeps to itself, on the real engine through `runJob` (what `berth job run` runs):
 * secrets named in a topology, read on the host and never written out as they are; a job's log
 * kept under its cap; an export that never replaces a file; an owner-less leftover destroyed.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { JobEvent, ResultEvent } from '../../scripts/engine/events.ts'
import { runJob } from '../../scripts/engine/job.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import { engine, ensureDemoImage, removeTestClusters } from '../helpers/docker.ts'

const home = mkdtempSync(join(tmpdir(), 'berth-secrets-'))
const SECRET = `AKIA-${Math.random().toString(36).slice(2)}-wJalrXUtnFEMI`

async function run(
  spec: Record<string, unknown>,
  env: Record<string, string> = {}
): Promise<{ result: ResultEvent; events: JobEvent[]; log: string }> {
  const saved = { ...process.env }
  Object.assign(process.env, { BERTH_HOME: home, ...env })
  try {
    const events: JobEvent[] = []
    const id = `j-sec-${Math.random().toString(36).slice(2, 8)}`
    const { result } = await runJob({ id, ...spec }, { engine, emit: (e) => events.push(e) })
    const file = join(home, 'jobs', `${id}.log`)
    return { result, events, log: existsSync(file) ? readFileSync(file, 'utf8') : '' }
  } finally {
    process.env = saved
  }
}

const topology = (name: string, bootstrap: string, extra: Record<string, unknown> = {}) => ({
  name,
  image: 'berth/demo:1',
  domain: 'sec.local',
  nodes: [
    {
      name: 'app',
      bootstrap,
      env: { API_KEY: { secret: 'file:t-sec-api-key' }, PLAIN: 'visible' },
      ...extra,
    },
  ],
})

const Host = suite('secrets, log caps, exports that never overwrite (real engine, runJob)')

Host.before(
  hook(async () => {
    await removeTestClusters('t-hsec')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
    mkdirSync(join(home, 'secrets'), { recursive: true })
    writeFileSync(join(home, 'secrets', 't-sec-api-key'), `${SECRET}\n`, { mode: 0o600 })
  })
)
Host.after(hook(() => removeTestClusters('t-hsec')))

Host(
  "a secret reaches the node's environment and nothing else: not the log, the events, the result, the spec or a snapshot image",
  async () => {
    // The bootstrap prints the secret, and fails with it in its last line.
    const leak = 'echo "the key is $API_KEY"; env | grep API_KEY; echo "PLAIN=$PLAIN"'
    const t = topology('t-hsec-a', leak)
    const { result, events, log } = await run({ kind: 'install', cluster: 't-hsec-a', topology: t })
    assert.is(result.ok, true, JSON.stringify(result))
    const [c] = await engine.listContainers([`${LABEL.cluster}=t-hsec-a`])
    const env = (await engine.inspectContainer(c.Id)).Config.Env
    assert.ok(env.includes(`API_KEY=${SECRET}`), 'the node has it')
    assert.match(log, /the key is \[secret\]/, 'the log shows where it was')
    assert.match(log, /API_KEY=\[secret\]/)
    assert.match(log, /PLAIN=visible/, 'plain values are not touched')
    assert.not.ok(log.includes(SECRET), 'not in the log')
    assert.not.ok(JSON.stringify(events).includes(SECRET), 'not in any event')
    assert.not.ok(
      JSON.stringify(c.Labels).includes(SECRET),
      'not in a label (the definition hash holds its sha256 only)'
    )

    const failing = topology('t-hsec-b', 'echo "cannot log in with $API_KEY" >&2; exit 3')
    const bad = await run({ kind: 'install', cluster: 't-hsec-b', topology: failing })
    assert.is(bad.result.ok, false)
    assert.match(
      bad.result.message ?? '',
      /cannot log in with \[secret\]/,
      'the failure says what happened'
    )
    assert.not.ok(JSON.stringify(bad.result).includes(SECRET), 'without the secret')

    const snap = await run({ kind: 'snapshot', cluster: 't-hsec-a', options: { tag: 's1' } })
    assert.is(snap.result.ok, true, JSON.stringify(snap.result))
    const image = await engine.inspectImage('berth-snap/t-hsec-a.app:s1')
    assert.ok(
      image?.Config.Env.includes('API_KEY='),
      `the image carries it blank: ${image?.Config.Env.join(',')}`
    )
    assert.not.ok(JSON.stringify(image).includes(SECRET))
    // A restore reads it again on the host.
    await run({ kind: 'destroy', cluster: 't-hsec-a', options: { volumes: true } })
    const back = await run({ kind: 'restore', cluster: 't-hsec-a', snapshot: 's1' })
    assert.is(back.result.ok, true, JSON.stringify(back.result))
    const [restored] = await engine.listContainers([`${LABEL.cluster}=t-hsec-a`])
    assert.ok((await engine.inspectContainer(restored.Id)).Config.Env.includes(`API_KEY=${SECRET}`))
  }
)

Host(
  'a secret the host does not have is refused before anything is made, naming the node and the key; env refs must be BERTH_SECRET_*',
  async () => {
    const t = {
      ...topology('t-hsec-c', 'true'),
      nodes: [{ name: 'db', env: { PASSWORD: { secret: 'file:t-sec-absent' } } }],
    }
    const { result } = await run({ kind: 'install', cluster: 't-hsec-c', topology: t })
    assert.equal([result.ok, result.code], [false, 'preflight'])
    assert.is(
      result.message,
      `node "db": env.PASSWORD: secret "file:t-sec-absent" is not on this host (no file ${join(home, 'secrets', 't-sec-absent')})`
    )
    assert.is((await engine.listContainers([`${LABEL.cluster}=t-hsec-c`])).length, 0)
    const hostCreds = {
      ...t,
      nodes: [{ name: 'db', env: { K: { secret: 'env:AWS_SECRET_ACCESS_KEY' } } }],
    }
    const refused = await run({ kind: 'install', cluster: 't-hsec-c', topology: hostCreds })
    assert.is(refused.result.code, 'invalid_topology')
    assert.match(
      refused.result.message ?? '',
      /nodes\[0\]\.env\.K\.secret: "env:AWS_SECRET_ACCESS_KEY" is not a secret reference/
    )
    const fromEnv = {
      ...t,
      nodes: [
        {
          name: 'db',
          bootstrap: 'test "$K" = from-env',
          env: { K: { secret: 'env:BERTH_SECRET_T_K' } },
        },
      ],
    }
    const ok = await run(
      { kind: 'install', cluster: 't-hsec-c', topology: fromEnv },
      { BERTH_SECRET_T_K: 'from-env' }
    )
    assert.is(ok.result.ok, true, JSON.stringify(ok.result))
  }
)

Host("a job's log is kept under its cap: the end is kept and the cut is said", async () => {
  // 3 MB of output against a 1 MB cap.
  const t = {
    name: 't-hsec-log',
    image: 'berth/demo:1',
    domain: 'sec.local',
    nodes: [
      {
        name: 'chatty',
        bootstrap:
          'i=0; while [ $i -lt 30000 ]; do echo "line $i of a bootstrap that never stops talking ....................................."; i=$((i+1)); done; echo THE-END',
      },
    ],
  }
  const { result, log } = await run(
    { kind: 'install', cluster: 't-hsec-log', topology: t },
    { BERTH_JOB_LOG_MAX_BYTES: String(1024 * 1024) }
  )
  assert.is(result.ok, true, JSON.stringify(result))
  const size = Buffer.byteLength(log)
  assert.ok(size <= 1024 * 1024, `the log is ${size} bytes`)
  assert.match(
    log,
    /bytes of this log were cut here: a job's log is kept under 1048576 bytes \(BERTH_JOB_LOG_MAX_BYTES\), its end is kept/
  )
  assert.match(log, /THE-END/, 'the end is there')
  assert.match(log, /result \{"type":"result"/, 'with the result')
  assert.is((statSync(join(home, 'jobs')).mode & 0o777).toString(8), '700')
})

Host(
  'an export never replaces a file: a second export of the same name is a conflict, the first file intact',
  async () => {
    const file = join(home, 'exports-t-hsec.tar')
    const first = await run({
      kind: 'export',
      cluster: 't-hsec-a',
      snapshot: 's1',
      options: { file },
    })
    assert.is(first.result.ok, true, JSON.stringify(first.result))
    const bytes = readFileSync(file)
    assert.not.ok(bytes.includes(SECRET), 'the export holds no secret (images, manifest, volumes)')
    const second = await run({
      kind: 'export',
      cluster: 't-hsec-a',
      snapshot: 's1',
      options: { file },
    })
    assert.equal([second.result.ok, second.result.code], [false, 'conflict'])
    assert.is(
      second.result.message,
      `${file} exists: an export never replaces a file (remove it, or export under another name)`
    )
    assert.ok(readFileSync(file).equals(bytes))
  }
)

Host('destroy --volumes removes what a destroy without it left', async () => {
  const t = {
    name: 't-hsec-vol',
    image: 'berth/demo:1',
    domain: 'sec.local',
    nodes: [{ name: 'db', volumes: ['data:/data'] }],
  }
  assert.is((await run({ kind: 'install', cluster: 't-hsec-vol', topology: t })).result.ok, true)
  assert.is((await run({ kind: 'destroy', cluster: 't-hsec-vol' })).result.ok, true)
  assert.is(
    (await engine.listVolumes([`${LABEL.cluster}=t-hsec-vol`])).length,
    1,
    'the volume is kept'
  )
  const plain = await run({ kind: 'destroy', cluster: 't-hsec-vol' })
  assert.is(
    plain.result.message,
    'no cluster named "t-hsec-vol" on this Docker host (only its volumes are left: berth destroy t-hsec-vol --volumes)'
  )
  const all = await run({ kind: 'destroy', cluster: 't-hsec-vol', options: { volumes: true } })
  assert.is(all.result.ok, true, JSON.stringify(all.result))
  assert.is((await engine.listVolumes([`${LABEL.cluster}=t-hsec-vol`])).length, 0)
})

Host.run()
