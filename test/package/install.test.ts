/**
 * The package, as a fresh machine gets it: `npm pack` makes the tarball (its `prepare` builds
 * dist/), `npm install -g --prefix <scratch>` installs it with its runtime dependencies from
 * npm's registry — the layout the CloudFormation host gets under /opt/berth — and the installed
 * `berth` works with no checkout behind it: `--version` says compiled, `--help`, a policy check of
 * a shipped example, a token in its SQLite store (better-sqlite3's native addon, built at install;
 * the migrations under infra/), `berth serve` answering. With a Docker engine, `berth image
 * build-demo` from the shipped scripts gives the very image the checkout gives; without one that
 * part is skipped. The tarball holds what runs, and no tests and no TypeScript.
 *
 * better-sqlite3's prebuilt addon comes from GitHub, out of reach here: the one a machine that
 * reaches GitHub would get is made from the checkout's own build of the same version and offered
 * through prebuild-install's local prebuilds (localPrebuilds), rather than compiling SQLite again
 * (76 s of this tier). A registry version other than the checkout's finds none and is compiled,
 * within LIMIT_MS. Never the real global prefix.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import pkg from '../../package.json' with { type: 'json' }
import { withTimeout } from '../helpers/async.ts'
import { freePort } from '../helpers/sshd.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '')
const LIMIT_MS = 8 * 60_000
const deadline = Date.now() + LIMIT_MS
const work = mkdtempSync(join(tmpdir(), 'berth-package-'))
const packDir = join(work, 'pack')
const prefix = join(work, 'prefix')
const installed = join(prefix, 'lib', 'node_modules', 'berth')
const berthBin = join(prefix, 'bin', 'berth')
// The installed berth runs on the node that runs the tests (its shebang is `env node`).
const PATH = `${dirname(process.execPath)}:${process.env.PATH}`
let tarball: string | undefined
let installedOk = false

interface Ran {
  code: number | null
  out: string
  err: string
  ms: number
}

/**
 * Runs a program to its end within what is left of LIMIT_MS. Its own process group: on the
 * deadline the whole group (npm, node-gyp, make, the compiler) is killed, not just npm.
 */
function run(
  file: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}
): Promise<Ran> {
  const t0 = Date.now()
  const child = spawn(file, args, {
    cwd: opts.cwd ?? work,
    env: { ...process.env, PATH, ...opts.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  const done = new Promise<Ran>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, out, err, ms: Date.now() - t0 }))
  })
  const what = `${file.split('/').pop()} ${args.slice(0, 2).join(' ')} (the package tier is bounded to ${LIMIT_MS / 60_000} min)`
  return withTimeout(done, Math.max(deadline - Date.now(), 1), what).catch((e: unknown) => {
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      // gone already
    }
    throw e
  })
}

const ok = (r: Ran, what: string) =>
  assert.is(r.code, 0, `${what} exited ${r.code}:\n${r.out}\n${r.err}`)

function needInstalled() {
  if (!installedOk) throw new Error('the package is not installed (an earlier test failed)')
}

async function berth(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  needInstalled()
  const home = mkdtempSync(join(work, 'home-'))
  // A DOCKER_HOST that answers nothing: none of these commands may need the engine.
  return run(berthBin, args, {
    env: { BERTH_HOME: home, DOCKER_HOST: 'unix:///nonexistent/docker.sock', ...env },
  })
}

test.after(() => rmSync(work, { recursive: true, force: true }))

test('npm pack: the tarball holds what runs — bin, dist, examples, infra, the demo image scripts, docs — and its licence, no tests, no TypeScript', async () => {
  mkdirSync(packDir)
  const r = await run('npm', ['pack', '--pack-destination', packDir, '--json'], { cwd: ROOT })
  ok(r, 'npm pack')
  const [info] = JSON.parse(r.out) as [
    { filename: string; size: number; unpackedSize: number; entryCount: number },
  ]
  tarball = join(packDir, info.filename)
  assert.is(info.filename, `berth-${pkg.version}.tgz`)
  console.log(
    `  npm pack: ${(r.ms / 1000).toFixed(1)} s; ${info.filename}: ${(info.size / 1024).toFixed(0)} KiB (${statSync(tarball).size} bytes), ${info.entryCount} files, ${(info.unpackedSize / 1024).toFixed(0)} KiB unpacked`
  )

  const listing = execFileSync('tar', ['-tvzf', tarball], { encoding: 'utf8' }).trim().split('\n')
  const modes = new Map(
    listing.map((l) => [
      l
        .split(/\s+/)
        .slice(5)
        .join(' ')
        .replace(/^package\//, ''),
      l.split(/\s+/)[0],
    ])
  )
  const files = [...modes.keys()]
  assert.is(files.length, info.entryCount)
  const tops = new Set(files.map((f) => f.split('/')[0]))
  assert.equal([...tops].sort(), [
    'LICENSE',
    'README.md',
    'bin',
    'dist',
    'docs',
    'examples',
    'functions',
    'infra',
    'package.json',
    'scripts',
  ])
  assert.equal(
    files.filter((f) => f.startsWith('functions/')).sort(),
    ['functions/web/assets/app.css', 'functions/web/assets/app.js'],
    "of functions/, only the dashboard's script and style sheet"
  )
  assert.equal(
    files.filter((f) => f.startsWith('scripts/') && !f.startsWith('scripts/image/demo/')),
    [],
    'of scripts/, only the demo image files'
  )
  assert.equal(
    files.filter((f) => /\.(c|m)?ts$/.test(f)),
    [],
    'no TypeScript'
  )
  assert.equal(
    files.filter((f) => /(^|\/)test\//.test(f) || f.includes('node_modules/')),
    [],
    'no tests, no node_modules'
  )
  // Every file berth reads at run time from the package root is there, with its executable bit.
  const needed = execFileSync(
    'git',
    ['ls-files', 'bin', 'examples', 'infra', 'scripts/image/demo'],
    { cwd: ROOT, encoding: 'utf8' }
  )
    .trim()
    .split('\n')
  for (const f of [...needed, 'dist/berth.js', 'dist/inputs.json', 'README.md'])
    assert.ok(modes.has(f), `${f} is in the tarball`)
  for (const f of needed) {
    const exec = (statSync(join(ROOT, f)).mode & 0o100) !== 0
    assert.is(
      modes.get(f)![3] === 'x',
      exec,
      `${f}: executable in the tarball as in the repository`
    )
  }
})

/**
 * A directory holding better-sqlite3's prebuilt addon under the name prebuild-install looks for
 * (`better-sqlite3-v<version>-node-v<abi>-<platform>-<arch>.tar.gz`, holding
 * build/Release/better_sqlite3.node), made from the checkout's node_modules.
 */
function localPrebuilds(): string {
  const dir = join(work, 'prebuilds')
  mkdirSync(dir, { recursive: true })
  const from = join(ROOT, 'node_modules', 'better-sqlite3')
  const { version } = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')) as {
    version: string
  }
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`
  execFileSync('tar', ['-czf', join(dir, name), '-C', from, 'build/Release/better_sqlite3.node'])
  return dir
}

test('npm install -g into a scratch prefix, from the tarball and the registry: runtime dependencies only', async () => {
  assert.ok(tarball, 'npm pack made the tarball')
  // npm 11's install-script policy: a global install has no package.json to read allowScripts
  // from, so the one berth needs (better-sqlite3's native addon) is allowed by name, as the
  // CloudFormation host does. npm 11.19 still runs the others (ssh2's optional speed-ups) with a
  // notice; an npm that blocks them leaves ssh2 on its JavaScript fallback.
  const r = await run(
    'npm',
    [
      'install',
      '-g',
      '--prefix',
      prefix,
      '--allow-scripts=better-sqlite3',
      '--no-audit',
      '--no-fund',
      tarball,
    ],
    {
      env: {
        npm_config_update_notifier: 'false',
        npm_config_better_sqlite3_local_prebuilds: localPrebuilds(),
      },
    }
  )
  ok(r, 'npm install -g')
  console.log(`  npm install -g: ${(r.ms / 1000).toFixed(1)} s`)
  for (const line of r.err.split('\n').filter((l) => /install-scripts|prebuild-install/.test(l)))
    console.log(`    ${line}`)
  // The layout the stack's wrapper relies on: <prefix>/lib/node_modules/berth/bin/berth.mjs.
  assert.ok(lstatSync(berthBin).isSymbolicLink())
  assert.is(readlinkSync(berthBin), '../lib/node_modules/berth/bin/berth.mjs')
  assert.ok(
    existsSync(
      join(installed, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')
    ),
    "better-sqlite3's addon is built"
  )
  for (const dep of Object.keys(pkg.dependencies))
    assert.ok(
      existsSync(join(installed, 'node_modules', dep, 'package.json')),
      `${dep} is installed`
    )
  // What dist/ bundles, and what only a checkout needs (tsx, esbuild), stays out.
  for (const dev of ['tsx', 'esbuild', 'dockerode', 'zod', 'hono', 'typescript', 'wrangler'])
    assert.not.ok(existsSync(join(installed, 'node_modules', dev)), `${dev} is not installed`)
  assert.not.ok(existsSync(join(installed, 'scripts', 'berth.ts')))
  installedOk = true
})

test('the installed berth: --version says compiled, --help lists the commands', async () => {
  const v = await berth(['--version'])
  ok(v, 'berth --version')
  assert.is(v.out.trim(), `berth ${pkg.version} (compiled)`)
  const h = await berth(['--help'])
  ok(h, 'berth --help')
  assert.match(h.out, /^berth — install multi-node container clusters on Docker/)
  assert.match(h.out, /berth image build-demo/)
})

test("berth policy check of the package's own example: allowed", async () => {
  const r = await berth(['policy', 'check', join(installed, 'examples', 'che.yaml')])
  ok(r, 'berth policy check')
  assert.match(r.out, /che\.yaml: allowed by policy "restricted"/)
})

test('berth token create: the SQLite store (better-sqlite3, the migrations under infra/) in BERTH_HOME', async () => {
  needInstalled()
  const home = mkdtempSync(join(work, 'home-'))
  const create = await run(berthBin, ['token', 'create', '--name', 't', '--scopes', 'read'], {
    env: { BERTH_HOME: home },
  })
  ok(create, 'berth token create')
  assert.match(create.out, /^berth_[A-Za-z0-9_-]{40,}\n/)
  assert.ok(existsSync(join(home, 'berth.db')))
  const list = await run(berthBin, ['token', 'list'], { env: { BERTH_HOME: home } })
  ok(list, 'berth token list')
  assert.match(list.out, /\bt\b.*\bread\b/)
})

test('berth serve from the package: /healthz, /v1/jobs with the admin token it wrote, the dashboard', async () => {
  needInstalled()
  const home = mkdtempSync(join(work, 'home-'))
  const port = await freePort()
  const proc: ChildProcess = spawn(berthBin, ['serve'], {
    env: {
      ...process.env,
      PATH,
      BERTH_HOME: home,
      PORT: String(port),
      BERTH_AUTO_REWIRE: 'false',
      DOCKER_HOST: 'unix:///nonexistent/docker.sock',
    },
  })
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (out += d))
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        proc.stdout!.on('data', () => /berth serve: http/.test(out) && resolve())
        proc.once('exit', (code) => reject(new Error(`berth serve exited (${code}): ${out}`)))
      }),
      30_000,
      'berth serve start'
    )
    const base = `http://127.0.0.1:${port}`
    assert.equal(await (await fetch(`${base}/healthz`)).json(), { ok: true })
    const token = readFileSync(join(home, 'admin-token'), 'utf8').trim()
    const jobs = await fetch(`${base}/v1/jobs`, { headers: { authorization: `Bearer ${token}` } })
    assert.is(jobs.status, 200, await jobs.clone().text())
    assert.equal(((await jobs.json()) as { jobs: unknown[] }).jobs, [])
    // The dashboard, with the script and style sheet the package carries.
    const signIn = await (await fetch(`${base}/sign-in`)).text()
    const assets = [...signIn.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1])
    assert.is(assets.length, 2, signIn)
    for (const path of assets) {
      const res = await fetch(`${base}${path}`)
      const name = path.endsWith('.js') ? 'app.js' : 'app.css'
      assert.is(await res.text(), readFileSync(join(ROOT, 'functions/web/assets', name), 'utf8'))
    }
  } finally {
    proc.kill('SIGTERM')
  }
})

/** Whether the Docker engine answers (DOCKER_HOST's unix socket, or the default one) within 2 s. */
function dockerAnswers(): Promise<boolean> {
  const host = process.env.DOCKER_HOST
  if (host && !host.startsWith('unix://')) return Promise.resolve(false)
  const socketPath = host ? host.slice('unix://'.length) : '/var/run/docker.sock'
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.once('timeout', () => req.destroy())
    req.once('error', () => resolve(false))
    req.end()
  })
}

test("with Docker: berth image build-demo from the package's scripts gives the checkout's image", async () => {
  needInstalled()
  if (!(await dockerAnswers())) {
    console.log('  skipped: no Docker engine answers (DOCKER_HOST or /var/run/docker.sock)')
    return
  }
  // The checkout's (built when missing), then the package's: the same hash, so up to date —
  // the rootfs tar, scripts and executable bits included, is byte for byte the same.
  const env = { BERTH_HOME: mkdtempSync(join(work, 'home-')) }
  const fromCheckout = await run(
    process.execPath,
    [join(ROOT, 'bin', 'berth.mjs'), 'image', 'build-demo', '--json'],
    { env }
  )
  ok(fromCheckout, 'berth image build-demo (checkout)')
  const fromPackage = await run(berthBin, ['image', 'build-demo', '--json'], { env })
  ok(fromPackage, 'berth image build-demo (package)')
  const a = JSON.parse(fromCheckout.out) as { hash: string; id: string }
  const b = JSON.parse(fromPackage.out) as { hash: string; id: string; built: boolean }
  assert.is(b.hash, a.hash)
  assert.is(b.id, a.id)
  assert.is(b.built, false)
})

test.run()
