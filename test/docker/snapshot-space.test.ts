import { execFileSync } from 'node:child_process'
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmdirSync,
  rmSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { JobEvent, StepEvent } from '../../scripts/engine/events.ts'
import { installCluster } from '../../scripts/engine/install.ts'
import { runJob } from '../../scripts/engine/job.ts'
import { LABEL } from '../../scripts/engine/labels.ts'
import { snapshotsRoot } from '../../scripts/engine/snapshot.ts'
import { validateTopology } from '../../scripts/engine/topology.ts'
import { hook, withTimeout } from '../helpers/async.ts'
import {
  cheLike,
  engine,
  ensureDemoImage,
  recordingContext,
  removeTestClusters,
} from '../helpers/docker.ts'

// BERTH_HOME on a 30 MB disk of its own, so that a snapshot can outgrow it for real.
const home = mkdtempSync(join(tmpdir(), 't-dmg-space-'))
const C = 't-dmg-space'
let mounted = false

async function snapshotJob(tag: string, onEvent: (e: JobEvent) => void = () => {}) {
  const events: JobEvent[] = []
  const emit = (e: JobEvent) => {
    events.push(e)
    onEvent(e)
  }
  const { result, exitCode } = await withTimeout(
    runJob({ kind: 'snapshot', cluster: C, options: { tag } }, { engine, emit, logDir: null }),
    120_000,
    `snapshot ${tag}`
  )
  const steps = (step: string) =>
    events.filter((e): e is StepEvent => e.type === 'step' && e.step === step)
  return { result, exitCode, steps }
}

async function node(): Promise<{ id: string; paused: boolean; running: boolean }> {
  const [c] = await engine.listContainers([`${LABEL.cluster}=${C}`])
  const info = await engine.inspectContainer(c.Id)
  return { id: c.Id, paused: info.State.Paused, running: info.State.Running }
}

async function writeData(mb: number): Promise<void> {
  const { id } = await node()
  const r = await engine.exec(id, [
    'sh',
    '-c',
    `rm -f /projects/data.bin && dd if=/dev/urandom of=/projects/data.bin bs=1M count=${mb} 2>&1`,
  ])
  assert.is(r.exitCode, 0, r.stdout)
}

/** Nothing of snapshot `tag` is left: no directory (partial or whole), no image. */
async function assertNothingLeft(tag: string): Promise<void> {
  const root = snapshotsRoot(C)
  assert.equal(existsSync(root) ? readdirSync(root) : [], [], 'nothing in the snapshots directory')
  assert.equal(
    await engine.listImages([`${LABEL.snapshot}=${tag}`, `${LABEL.cluster}=${C}`]),
    [],
    'no snapshot image'
  )
}

const SIZES = /\(needs ~(\d+) MB, has (\d+) MB\)/

// ─────────────────────────────────────────────────────────────────────────────
const Space = suite('snapshot on a disk too small')

Space.before(
  hook(async () => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=30m', 'tmpfs', home])
    mounted = true
    process.env.BERTH_HOME = home
    await withTimeout(removeTestClusters(C), 60_000, 'cleanup')
    await withTimeout(ensureDemoImage(), 120_000, 'demo image')
    await withTimeout(
      installCluster(recordingContext().ctx, validateTopology(cheLike(C))),
      120_000,
      'install'
    )
  })
)
Space.after(
  hook(async () => {
    await removeTestClusters(C)
    if (mounted) execFileSync('umount', [home])
    rmdirSync(home)
  })
)

Space(
  'a volume larger than the disk is refused before anything is paused, naming the path and the sizes',
  async () => {
    await writeData(40)
    const { result, exitCode, steps } = await snapshotJob('big')
    assert.is(exitCode, 3, result.message)
    assert.is(result.code, 'preflight')
    assert.is(result.step, 'preflight')
    const message = result.message ?? ''
    assert.ok(message.startsWith(`no space left on ${home}/snapshots (needs ~`), message)
    const [, needs, has] = message.match(SIZES)!.map(Number)
    assert.ok(needs >= 40 && needs < 45, `needs ~${needs} MB for 40 MB of data`)
    assert.ok(has <= 30 && has >= 25, `has ${has} MB of a 30 MB disk`)
    assert.match(
      message,
      /the volume archives of snapshot "big" would not fit; nothing was paused or written$/
    )
    assert.is(steps('pause').length, 0, 'no node was paused')
    assert.equal(await node().then((n) => [n.running, n.paused]), [true, false])
    await assertNothingLeft('big')
  }
)

Space(
  'with a remote engine the volume is measured by Docker, and refused the same way',
  async () => {
    process.env.BERTH_DIRECT_FILES = '0'
    try {
      const { result, exitCode, steps } = await snapshotJob('big-remote')
      assert.is(exitCode, 3, result.message)
      assert.match(
        result.message ?? '',
        new RegExp(`^no space left on ${home}/snapshots \\(needs ~4\\d MB, has \\d+ MB\\)`)
      )
      assert.is(steps('pause').length, 0, 'no node was paused')
      await assertNothingLeft('big-remote')
    } finally {
      delete process.env.BERTH_DIRECT_FILES
    }
  }
)

Space(
  'a disk that fills up after the estimate ends as the same clear error: partial snapshot gone, cluster unpaused',
  async () => {
    await writeData(12)
    const filler = join(home, 'filler')
    // Someone else fills the disk the moment the estimate has passed, before the pause.
    const fill = (e: JobEvent) => {
      if (e.type !== 'step' || e.step !== 'preflight' || e.state !== 'done') return
      const fd = openSync(filler, 'w')
      try {
        for (const chunk = Buffer.alloc(1 << 20); ;) writeSync(fd, chunk)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
      } finally {
        closeSync(fd)
      }
    }
    const { result, exitCode, steps } = await snapshotJob('filled', fill)
    assert.ok(existsSync(filler), 'the disk was filled')
    assert.is(exitCode, 3, result.message)
    assert.is(result.code, 'preflight')
    const message = result.message ?? ''
    assert.ok(message.startsWith(`no space left on ${home}/snapshots (needs ~`), message)
    assert.match(
      message,
      /: the disk filled up while snapshot "filled" was written; the partial snapshot was removed and the cluster unpaused$/
    )
    assert.not.match(message, /tar|Connection reset|Cannot write/)
    const [, needs, has] = message.match(SIZES)!.map(Number)
    assert.ok(needs >= 12 && has < needs, `needs ~${needs} MB, has ${has} MB`)
    assert.ok(
      steps('pause').some((e) => e.state === 'done'),
      'it had paused'
    )
    assert.ok(
      steps('unpause').some((e) => e.state === 'done'),
      'and unpaused'
    )
    assert.equal(await node().then((n) => [n.running, n.paused]), [true, false])
    await assertNothingLeft('filled')

    rmSync(filler)
    const again = await snapshotJob('after')
    assert.is(again.exitCode, 0, again.result.message)
    const data = again.result.data as { snapshot: { volumeBytes: number } }
    assert.ok(
      data.snapshot.volumeBytes > 12 * 1024 ** 2,
      'with room again, the snapshot is taken whole'
    )
  }
)

Space.run()
