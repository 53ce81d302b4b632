/**
 * POST /hooks/<name>: signed deliveries to named hooks — berth's timestamped signature (the
 * default) and GitHub's — each with its own secret and its own fixed job, through the real app, a
 * real SQLite store and the real zx dispatcher.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createApp } from '../../functions/app.ts'
import { ZxDispatcher } from '../../functions/dispatch/zx.ts'
import { HooksConfig } from '../../functions/hooks/config.ts'
import { JobQueue } from '../../functions/queue.ts'
import { openSqliteStore, type SqliteStore } from '../../functions/store/sqlite.ts'
import { caller } from '../helpers/app-request.ts'
import { hook } from '../helpers/async.ts'

/** GitHub's published example (docs.github.com, "Validating webhook deliveries"). */
const GITHUB_SECRET = "It's a Secret to Everybody"
const GITHUB_BODY = 'Hello, World!'
const GITHUB_SIGNATURE = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'
const OTHER_SECRET = `other-${randomUUID()}`
const TIMED_SECRET = `timed-${randomUUID()}`
const bin = fileURLToPath(new URL('../../bin/berth.mjs', import.meta.url))

const sign = (body: string, secret: string) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
const sha256 = (body: string) => createHash('sha256').update(body).digest('hex')
/** berth's own signature: v1 over "v1:<timestamp>:<body>". */
const signTimed = (body: string, ts: number, secret = TIMED_SECRET) => ({
  'x-berth-timestamp': String(ts),
  'x-berth-signature': `v1=${createHmac('sha256', secret).update(`v1:${ts}:${body}`).digest('hex')}`,
})
/** The hooks' clock (seconds); tests move it past the five-minute window. */
let skew = 0
const nowSeconds = () => Math.floor(Date.now() / 1000) + skew
/** A body no earlier test sent (a body seen within five minutes is the same delivery). */
const fresh = (what: string) => JSON.stringify({ what, n: randomUUID() })

let store: SqliteStore
let queue: JobQueue
let app: ReturnType<typeof createApp>

const call = caller(() => app)
const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  call('POST', path, { body, headers })

const jobCount = () => (store.db.prepare('SELECT COUNT(*) AS n FROM jobs').get() as { n: number }).n

const Hooks = suite(
  "POST /hooks/:name (berth's and GitHub's signatures, fixed jobs, real store and dispatcher)"
)

Hooks.before(
  hook(async () => {
    const home = mkdtempSync(join(tmpdir(), 'berth-ghook-'))
    process.env.BERTH_HOME = home
    store = await openSqliteStore(join(home, 'berth.db'))
    const dispatcher = new ZxDispatcher({
      mode: 'local',
      berth: [process.execPath, bin],
      graceMs: 10_000,
    })
    queue = new JobQueue({ store, dispatcher, maxClusters: 2 })
    const hooks = HooksConfig.parse({
      generic: {
        nightly: {
          secret: GITHUB_SECRET,
          signature: 'github',
          job: { kind: 'snapshot', cluster: 't-ghook-none', options: { keep: 3 } },
        },
        rebuild: {
          secret: OTHER_SECRET,
          signature: 'github',
          job: { kind: 'install', cluster: 't-ghook-rebuild' },
        },
        timed: {
          secret: TIMED_SECRET,
          job: { kind: 'snapshot', cluster: 't-ghook-timed', options: { keep: 3 } },
        },
      },
    })
    app = createApp({
      store,
      queue,
      hooks,
      now: nowSeconds,
      authFailures: { max: 10_000, windowMs: 60_000 },
    })
  })
)

Hooks.after(
  hook(async () => {
    await queue?.drain(30_000)
    await store?.close()
  })
)

Hooks(
  "GitHub's published test vector through the endpoint: 202 and the hook's own job",
  async () => {
    const delivery = randomUUID()
    assert.is(
      sign(GITHUB_BODY, GITHUB_SECRET),
      GITHUB_SIGNATURE,
      'node:crypto agrees with the published vector'
    )
    const res = await post('/hooks/nightly', GITHUB_BODY, {
      'x-hub-signature-256': GITHUB_SIGNATURE,
      'x-github-delivery': delivery,
      'x-github-event': 'push',
    })
    assert.is(res.status, 202)
    const { ok, job } = await res.json()
    assert.is(ok, true)
    const admission = { owner: 'hook:nightly', level: 'restricted', remove: false }
    assert.equal(
      [job.kind, job.cluster, job.requestedBy, job.spec],
      [
        'snapshot',
        't-ghook-none',
        'hook:nightly',
        { kind: 'snapshot', cluster: 't-ghook-none', options: { keep: 3 }, admission },
      ]
    )
    const stored = await store.getJob(job.id)
    assert.equal(
      [stored?.source, stored?.idempotencyKey, stored?.bodyHash],
      [delivery, `hook:nightly:${delivery}`, sha256(GITHUB_BODY)]
    )
    const [audit] = await store.listAudit({ limit: 1 })
    assert.equal(
      [audit.actor, audit.action, audit.target, audit.outcome],
      ['hook:nightly', 'job.snapshot', 't-ghook-none', 'accepted']
    )
  }
)

Hooks(
  'a tampered body, a wrong secret, another hook’s secret or a missing header: 401 with the envelope, no job',
  async () => {
    const before = jobCount()
    const cases: [string, string, Record<string, string>][] = [
      ['tampered body', 'Hello, World?', { 'x-hub-signature-256': GITHUB_SIGNATURE }],
      [
        'wrong secret',
        GITHUB_BODY,
        { 'x-hub-signature-256': sign(GITHUB_BODY, 'not the secret at all') },
      ],
      [
        'another hook’s secret',
        GITHUB_BODY,
        { 'x-hub-signature-256': sign(GITHUB_BODY, OTHER_SECRET) },
      ],
      ['missing header', GITHUB_BODY, {}],
      [
        'only the old SHA-1 header',
        GITHUB_BODY,
        {
          'x-hub-signature': `sha1=${createHmac('sha1', GITHUB_SECRET).update(GITHUB_BODY).digest('hex')}`,
        },
      ],
      [
        'the signature without sha256=',
        GITHUB_BODY,
        { 'x-hub-signature-256': GITHUB_SIGNATURE.slice(7) },
      ],
      [
        'upper-case hex',
        GITHUB_BODY,
        { 'x-hub-signature-256': `sha256=${GITHUB_SIGNATURE.slice(7).toUpperCase()}` },
      ],
    ]
    for (const [what, body, headers] of cases) {
      const res = await post('/hooks/nightly', body, {
        'x-github-delivery': randomUUID(),
        ...headers,
      })
      assert.is(res.status, 401, what)
      const json = await res.json()
      assert.equal(Object.keys(json), ['ok', 'error'], what)
      assert.is(json.error.code, 'unauthorized', what)
      assert.match(json.error.message, /^X-Hub-Signature-256: /, what)
    }
    assert.is(jobCount(), before, 'no job')
  }
)

Hooks(
  'github: the same X-GitHub-Delivery twice is one job; so is the same Idempotency-Key, and the same body within five minutes',
  async () => {
    const before = jobCount()
    const body = fresh('redelivered')
    const delivery = randomUUID()
    const headers = {
      'x-hub-signature-256': sign(body, GITHUB_SECRET),
      'x-github-delivery': delivery,
    }
    const first = await post('/hooks/nightly', body, headers)
    assert.is(first.status, 202)
    const { job } = await first.json()
    // GitHub's "Redeliver" sends the same delivery id again.
    const again = await post('/hooks/nightly', body, headers)
    assert.is(again.status, 200)
    const dup = await again.json()
    assert.equal([dup.duplicate, dup.job.id], [true, job.id])
    assert.is(jobCount(), before + 1)

    const keyed = fresh('keyed')
    const key = {
      'x-hub-signature-256': sign(keyed, GITHUB_SECRET),
      'idempotency-key': `nightly-${randomUUID()}`,
    }
    const a = await (await post('/hooks/nightly', keyed, key)).json()
    const b = await post('/hooks/nightly', keyed, key)
    assert.is(b.status, 200)
    assert.is((await b.json()).job.id, a.job.id)
    assert.is(
      (await store.getJob(a.job.id))?.idempotencyKey,
      `hook:nightly:${key['idempotency-key']}`
    )
    assert.is(jobCount(), before + 2)

    // A captured delivery sent again under new delivery ids: one job, not four (each would prune).
    const captured = fresh('captured')
    const replays = []
    for (let i = 0; i < 4; i++)
      replays.push(
        await post('/hooks/nightly', captured, {
          'x-hub-signature-256': sign(captured, GITHUB_SECRET),
          'x-github-delivery': randomUUID(),
        })
      )
    assert.equal(
      replays.map((r) => r.status),
      [202, 200, 200, 200]
    )
    assert.is(jobCount(), before + 3)
    // Nothing time-bound is signed in GitHub's scheme: past five minutes the same body is a new job
    // (why `timestamped` is the default).
    skew = 6 * 60
    try {
      assert.is(
        (
          await post('/hooks/nightly', captured, {
            'x-hub-signature-256': sign(captured, GITHUB_SECRET),
          })
        ).status,
        202
      )
    } finally {
      skew = 0
    }
    assert.is(jobCount(), before + 4)
  }
)

Hooks(
  'timestamped (the default): a replay within five minutes is the same job, past them a 401; the timestamp is signed',
  async () => {
    const before = jobCount()
    const body = fresh('timed')
    const ts = nowSeconds()
    const headers = signTimed(body, ts)
    const res = await post('/hooks/timed', body, headers)
    assert.is(res.status, 202)
    const { job } = await res.json()
    assert.is((await store.getJob(job.id))?.source, `t=${ts}`)
    // The keep: 3 hook replayed four times is one snapshot job: nothing is pruned three more times.
    for (let i = 0; i < 4; i++) {
      const again = await post('/hooks/timed', body, headers)
      assert.is(again.status, 200)
      assert.is((await again.json()).job.id, job.id)
    }
    skew = 6 * 60
    try {
      const late = await post('/hooks/timed', body, headers)
      assert.is(late.status, 401)
      assert.is(
        (await late.json()).error.message,
        'X-Berth-Signature: X-Berth-Timestamp is more than 5 minutes from now'
      )
    } finally {
      skew = 0
    }
    const moved = await post('/hooks/timed', body, {
      ...headers,
      'x-berth-timestamp': String(ts + 1),
    })
    assert.is(moved.status, 401, 'a timestamp other than the signed one')
    const github = await post('/hooks/timed', body, {
      'x-hub-signature-256': sign(body, TIMED_SECRET),
    })
    assert.is(github.status, 401)
    assert.is(
      (await github.json()).error.message,
      'X-Berth-Signature: missing X-Berth-Signature or X-Berth-Timestamp'
    )
    assert.is(jobCount(), before + 1)
  }
)

Hooks(
  'nothing in the payload reaches the job: a signed body asking for something else still runs the template',
  async () => {
    const body = JSON.stringify({
      kind: 'destroy',
      cluster: 'prod',
      topology: { name: 'prod' },
      options: { file: '/etc/passwd' },
    })
    const res = await post('/hooks/nightly', body, {
      'x-hub-signature-256': sign(body, GITHUB_SECRET),
    })
    assert.is(res.status, 202)
    const { job } = await res.json()
    const admission = { owner: 'hook:nightly', level: 'restricted', remove: false }
    assert.equal((await store.getJob(job.id))?.spec, {
      kind: 'snapshot',
      cluster: 't-ghook-none',
      options: { keep: 3 },
      admission,
    })
  }
)

Hooks(
  'an install hook installs the stored topology of its cluster; none stored: 404 naming it, no job',
  async () => {
    const before = jobCount()
    const body = '{}'
    const res = await post('/hooks/rebuild', body, {
      'x-hub-signature-256': sign(body, OTHER_SECRET),
      'x-github-delivery': randomUUID(),
    })
    assert.is(res.status, 404)
    assert.equal(await res.json(), {
      ok: false,
      error: { code: 'not_found', message: 'no stored topology named "t-ghook-rebuild"' },
    })
    assert.is(jobCount(), before)
  }
)

Hooks(
  'an unknown hook is a 404 with the envelope, Object’s own property names included; a bad delivery id is a 422 naming it',
  async () => {
    for (const name of ['not-there', 'constructor', '__proto__', 'toString', 'jira']) {
      const res = await post(`/hooks/${name}`, GITHUB_BODY, {
        'x-hub-signature-256': GITHUB_SIGNATURE,
      })
      assert.is(res.status, 404, name)
      const json = await res.json()
      assert.is(json.ok, false, name)
      assert.is(json.error.code, 'not_found', name)
    }
    const res = await post('/hooks/not-there', GITHUB_BODY, {
      'x-hub-signature-256': GITHUB_SIGNATURE,
    })
    assert.is((await res.json()).error.message, 'no hook named "not-there"')
    const before = jobCount()
    const long = await post('/hooks/nightly', GITHUB_BODY, {
      'x-hub-signature-256': GITHUB_SIGNATURE,
      'x-github-delivery': 'x'.repeat(201),
    })
    assert.is(long.status, 422)
    assert.is(
      (await long.json()).error.message,
      'X-GitHub-Delivery: must be 1 to 200 printable characters without spaces'
    )
    assert.is(jobCount(), before)
  }
)

Hooks.run()
