/**
 * The documents: README.md stays a short front page with the two fresh-machine commands on its
 * first screen; every relative link in README.md and docs/*.md reaches a file of the repository
 * (and an `#anchor` a heading of it, by GitHub's slug); and every code block marked
 * ```sh runnable runs and exits 0 — with `berth` meaning `node bin/berth.mjs`, in the repository
 * root, with a BERTH_HOME of its own and a DOCKER_HOST that answers nothing, so a block that
 * needed Docker would fail here rather than touch the host's engine.
 */
import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '')
const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
]
const FRESH_MACHINE = ['bash scripts/host/setup.sh && npm ci && npm run demo', 'bash .ci/run']

const read = (file: string) => readFileSync(join(ROOT, file), 'utf8')

interface Fence {
  info: string
  /** 1-based line of the opening fence. */
  line: number
  body: string
}

/** The text with every fenced block blanked (line count kept), and the fenced blocks themselves. */
function splitFences(text: string): { prose: string; fences: Fence[] } {
  const lines = text.split('\n')
  const fences: Fence[] = []
  let open: { marker: string; indent: number; fence: Fence; body: string[] } | null = null
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (open) {
      const close = line.match(/^(\s*)(`{3,}|~{3,})\s*$/)
      if (close && close[2][0] === open.marker[0] && close[2].length >= open.marker.length) {
        open.fence.body = open.body.join('\n')
        fences.push(open.fence)
        open = null
      } else {
        open.body.push(line.slice(Math.min(open.indent, line.length - line.trimStart().length)))
      }
      lines[i] = ''
      continue
    }
    const start = line.match(/^(\s*)(`{3,}|~{3,})(.*)$/)
    if (start && !(start[2][0] === '`' && start[3].includes('`'))) {
      open = {
        marker: start[2],
        indent: start[1].length,
        fence: { info: start[3].trim(), line: i + 1, body: '' },
        body: [],
      }
      lines[i] = ''
    }
  }
  assert.is(open, null, 'a code fence is never closed')
  return { prose: lines.join('\n'), fences }
}

/** GitHub's heading slug: lowercase, punctuation dropped, each space a '-'; repeats get -1, -2… */
function slugs(markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const line of splitFences(markdown).prose.split('\n')) {
    const m = line.match(/^#{1,6}\s+(.*?)\s*#*\s*$/)
    if (!m) continue
    const text = m[1].replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/<[^>]+>/g, '')
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}\p{Pc} -]/gu, '')
      .replace(/ /g, '-')
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.add(n ? `${base}-${n}` : base)
  }
  return out
}

/** Every link target in the prose (code blocks and code spans are not links). */
function linkTargets(markdown: string): string[] {
  const prose = splitFences(markdown).prose.replace(/(`+)(?!`)[\s\S]*?[^`]\1(?!`)/g, 'code')
  const targets: string[] = []
  for (const m of prose.matchAll(
    /!?\[(?:[^[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g
  ))
    targets.push(m[1])
  return targets
}

test('README.md is at most 8 KB and shows the two fresh-machine commands on its first screen', () => {
  const size = statSync(join(ROOT, 'README.md')).size
  assert.ok(size <= 8192, `README.md is ${size} bytes (at most 8192)`)
  const first = read('README.md').split('\n').slice(0, 40)
  for (const command of FRESH_MACHINE)
    assert.ok(first.includes(command), `"${command}" is not a line of README.md's first 40`)
})

test('every relative link in README.md and docs/*.md resolves to a file and a heading', () => {
  const problems: string[] = []
  let checked = 0
  for (const file of DOCS) {
    for (const target of linkTargets(read(file))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // http(s), mailto: not ours to check
      checked++
      const [path, anchor] = target.split('#', 2) as [string, string | undefined]
      const abs = path
        ? resolve(dirname(join(ROOT, file)), decodeURIComponent(path))
        : join(ROOT, file)
      const where = `${file}: (${target})`
      if (abs !== ROOT && !abs.startsWith(ROOT + sep)) {
        problems.push(`${where} points outside the repository`)
        continue
      }
      if (!existsSync(abs)) {
        problems.push(`${where}: no file ${relative(ROOT, abs)}`)
        continue
      }
      if (anchor === undefined) continue
      if (!abs.endsWith('.md')) {
        problems.push(`${where}: an anchor into a file that is not Markdown`)
        continue
      }
      if (!slugs(readFileSync(abs, 'utf8')).has(anchor))
        problems.push(`${where}: no heading #${anchor} in ${relative(ROOT, abs)}`)
    }
  }
  assert.ok(checked > 50, `only ${checked} relative links found: is the parser broken?`)
  assert.equal(problems, [])
})

test('the slug and link readers read Markdown as GitHub does', () => {
  assert.ok(slugs('## SSM from `berth serve`\n').has('ssm-from-berth-serve'))
  assert.ok(
    slugs("### Docker's per-container files, not the archive API\n").has(
      'dockers-per-container-files-not-the-archive-api'
    )
  )
  assert.ok(slugs('# A\n# A\n').has('a-1'))
  assert.not.ok(slugs('```\n# not a heading\n```\n').has('not-a-heading'))
  assert.equal(linkTargets('[a](x.md) `[b](y.md)` [`c`](z.md#q)\n```\n[d](w.md)\n```\n'), [
    'x.md',
    'z.md#q',
  ])
})

// Runnable blocks: collected now, one test each.
const runnable: { file: string; fence: Fence }[] = []
for (const file of DOCS) {
  for (const fence of splitFences(read(file)).fences) {
    if (/^sh\s+runnable$/.test(fence.info)) runnable.push({ file, fence })
  }
}

test('at least 5 code blocks are marked runnable', () => {
  assert.ok(runnable.length >= 5, `${runnable.length} blocks are marked \`\`\`sh runnable`)
})

for (const { file, fence } of runnable) {
  test(`runnable block ${file}:${fence.line} exits 0`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-docs-'))
    try {
      const bin = join(dir, 'bin')
      const home = join(dir, 'home')
      for (const d of [bin, home]) mkdirSync(d)
      const quoted = `'${ROOT.replace(/'/g, `'\\''`)}'`
      writeFileSync(join(bin, 'berth'), `#!/bin/sh\nexec node ${quoted}/bin/berth.mjs "$@"\n`)
      chmodSync(join(bin, 'berth'), 0o755)
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        PATH: `${bin}:${process.env.PATH ?? ''}`,
        BERTH_HOME: home,
        DOCKER_HOST: `unix://${join(dir, 'no-docker.sock')}`,
        FORCE_COLOR: '0',
        NO_COLOR: '1',
      }
      delete env.BERTH_CONFIG
      const r = spawnSync('bash', ['-euo', 'pipefail', '-c', fence.body], {
        cwd: ROOT,
        env,
        encoding: 'utf8',
        timeout: 60_000,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      const said = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n')
      assert.is(r.error, undefined, `${file}:${fence.line}: ${r.error?.message}`)
      assert.is(
        r.status,
        0,
        `${file}:${fence.line} exited ${r.status ?? r.signal}:\n${fence.body}\n--- output:\n${said}`
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
}

test.run()
