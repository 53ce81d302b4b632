/**
 * One changing job per cluster on a host, whoever starts it: two `berth job run` processes on one
 * cluster run one after the other; a lock left by a dead process is taken over.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { $ } from 'zx'
import { lockPath } from '../../scripts/engine/cluster-lock.ts'
import { runJob } from '../../scripts/engine/job.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import { cheLike, engine, ensureDemoImage, removeTestClusters } from '../helpers/docker.ts'

const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname
process.env.BERTH_HOME = mkdtempSync(join(tmpdir(), 'berth-lock-'))

interface Ev {
  type: string
  step?: string
  state?: string
  msg?: string
  t: number
  ok?: boolean
  job: string
}

/** `berth job run` as its own process; resolves with its events. */
async function jobRun(spec: object): Promise<Ev[]> {
  const p = await $({
    input: JSON.stringify(spec),
    quiet: true,
    nothrow: true,
  })`node ${BIN} job run`
  return p.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Ev)
}

const Lock = suite('cluster lock')
Lock.before(
  hook(async () => {
    await removeTestClusters('t-lock')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
  })
)
Lock.after(hook(() => removeTestClusters('t-lock')))

Lock(
  'a second job on the cluster waits for the first, says whom it waits for, then runs',
  async () => {
    const topology = { ...cheLike('t-lock'), nodes: [{ name: 'slow', bootstrap: 'sleep 3' }] }
    const install = jobRun({ id: 'j-lock-install', kind: 'install', cluster: 't-lock', topology })
    // The install holds the lock from its start; the stop comes in while it bootstraps.
    await withTimeout(
      (async () => {
        while (!(await engine.listContainers(['berth.cluster=t-lock'])).length)
          await new Promise((r) => setTimeout(r, 100))
      })(),
      30_000,
      'install started'
    )
    const stop = await jobRun({ id: 'j-lock-stop', kind: 'stop', cluster: 't-lock' })
    const installed = await install
    const installEnd = installed[installed.length - 1]
    const stopEnd = stop[stop.length - 1]
    assert.ok(installEnd.ok, 'install succeeded')
    assert.ok(stopEnd.ok, 'stop succeeded')
    const waiting = stop.find((e) => e.step === 'lock' && e.state === 'start')
    assert.ok(waiting, 'the stop reported that it waited')
    assert.match(waiting.msg ?? '', /job j-lock-install \(install, pid \d+/)
    const stopWork = stop.find((e) => e.step === 'stop' && e.state === 'start')
    assert.ok(
      stopWork && stopWork.t >= installEnd.t,
      'nothing of the stop ran before the install ended'
    )
    const [node] = await engine.listContainers(['berth.cluster=t-lock'])
    assert.is(node.State, 'exited', 'and then the stop ran')
  }
)

Lock(
  'a lock whose holder died (or whose pid now belongs to another process) is taken over',
  async () => {
    mkdirSync(join(process.env.BERTH_HOME!, 'locks'), { recursive: true })
    const dead = (await $({ quiet: true })`sh -c 'echo $$'`).stdout.trim()
    for (const holder of [
      {
        pid: Number(dead),
        started: null,
        job: 'j-dead',
        kind: 'install',
        at: new Date().toISOString(),
      },
      // A live pid with another start time: the pid was reused by an unrelated process.
      {
        pid: process.pid,
        started: '1',
        job: 'j-reused',
        kind: 'install',
        at: new Date().toISOString(),
      },
    ]) {
      writeFileSync(lockPath('t-lock'), JSON.stringify(holder))
      const events: { type: string; step?: string }[] = []
      const t0 = Date.now()
      const { result } = await runJob(
        { kind: 'rewire', cluster: 't-lock-none' },
        { engine, emit: () => {} }
      )
      assert.is(result.code, 'not_found', 'another cluster: not affected by the lock')
      const r = await runJob(
        { kind: 'start', cluster: 't-lock' },
        { engine, emit: (e) => events.push(e) }
      )
      assert.ok(r.result.ok, r.result.message)
      assert.ok(Date.now() - t0 < 20_000)
      assert.not.ok(
        events.some((e) => e.type === 'step' && e.step === 'lock'),
        `${holder.job}: no waiting for a dead holder`
      )
      assert.not.ok(existsSync(lockPath('t-lock')), 'released when the job ended')
    }
  }
)

Lock.run()
