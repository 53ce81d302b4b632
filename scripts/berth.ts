/**
 * berth — the command line. Every cluster command builds a job spec and runs it through the same
 * `runJob` that `berth job run` (and so every dispatcher) uses.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import minimist from 'minimist'
import type { Mode } from './cli/render.ts'
import { asBerthError, BerthError, EXIT_CODES } from './engine/errors.ts'
import type { JobEvent } from './engine/events.ts'
import { BERTH_VERSION } from './engine/labels.ts'
import { processLogger } from './engine/logger.ts'
import { KIND_USAGE } from './engine/job-kinds.ts'
import { CLUSTER_PATTERN } from './engine/patterns.ts'
import type { LoadedTopology } from './engine/topology-sources.ts'

// Each command loads what it needs when it runs (`--help` loads nothing): the engine, zod, yaml
// and dockerode are most of a start's time.
const cli = {
  render: () => import('./cli/render.ts'),
  print: () => import('./cli/print.ts'),
  color: () => import('./cli/color.ts'),
  context: () => import('./engine/context.ts'),
  docker: () => import('./engine/docker.ts'),
  engines: () => import('./engine/engines.ts'),
  job: () => import('./engine/job.ts'),
  jobLog: () => import('./engine/job-log.ts'),
  policy: () => import('./engine/policy.ts'),
  topologySources: () => import('./engine/topology-sources.ts'),
}

const USAGE = `berth — install multi-node container clusters on Docker

usage:
${KIND_USAGE}
  berth doctor  [topology.yaml]
  berth image build-demo [--force]
  berth image build-debian --tag T --packages a,b,c [--suite bookworm] [--mirror URL] [--force]
                                    (mmdebstrap minbase + packages → docker import; reused
                                     while its recipe is unchanged)
  berth job run [--spec-b64 B64] [--compact]
                                    (job spec as JSON on stdin otherwise; NDJSON events out;
                                     --compact: failures, one line per phase and the result)
  berth watch                       (NDJSON: dynamic-mode nodes started outside berth; ends
                                     when stdin closes — berth serve runs it to auto-rewire)
  berth watch --rewire              (daemon: rewires those clusters here, each as a logged job;
                                     for SSM hosts — the stack installs it as berth-rewire.service)
  berth demo    [--mode static|dynamic] [--destroy]
  berth demo --puppet [--destroy]   (the same with real Puppet: examples/codenvy-puppet)
  berth serve [--config FILE]       (the job API; its file and environment: docs/http-api.md)
  berth token create --name N --scopes read,install,snapshot,restore,admin
                    [--clusters 'team-a-*,shared'] [--level restricted|baseline|privileged]
  berth token list | berth token revoke <id|name>
  berth policy check <topology.yaml> [--level L] [--config FILE]
                                    (what the host policy says of it, before anyone sends it)
  berth secret set <name>           (value on stdin → $BERTH_HOME/secrets/<name>, mode 0600;
                                     a topology names it as env: { KEY: { secret: file:<name> } })
  berth schedule add <cluster> --cron "0 2 * * *" [--keep N] [--tz ZONE] [--name N]
                                    (snapshots run by berth serve; cron read in ZONE, UTC default)
  berth schedule list | berth schedule rm <name>

common flags:
  --version  berth's version, and whether the compiled CLI runs (dist/) or the sources
  --json     NDJSON job events on stdout (one object per line, the last one the result)
  --plain    plain progress lines even on a terminal
  -h, --help

exit codes: 0 ok · 1 job failed · 2 invalid input · 3 host preflight failed · 4 conflict
            5 not found · 6 damaged snapshot · 7 refused by the policy or grants
            8 status: drift (berth repair) · 9 the engine went away (the next command finishes)
            130 cancelled`

const BOOLEAN_OPTIONS = [
  'json',
  'plain',
  'plan',
  'keep-failed',
  'volumes',
  'force',
  'help',
  'version',
  'destroy',
  'compact',
  'rewire',
  'puppet',
] as const
const STRING_OPTIONS = [
  'config',
  'spec-b64',
  'mode',
  'concurrency',
  'tag',
  'keep',
  'as',
  'domain',
  'image',
  'output',
  'name',
  'scopes',
  'cron',
  'tz',
  'clusters',
  'level',
  'ports',
  'placement',
  'packages',
  'suite',
  'mirror',
] as const
/** What minimist makes of them: every boolean option is there (false unless given), a string option only when given. */
type Argv = { _: string[] } & Record<(typeof BOOLEAN_OPTIONS)[number], boolean> &
  Partial<Record<(typeof STRING_OPTIONS)[number], string>>

const argv = minimist(process.argv.slice(2), {
  boolean: [...BOOLEAN_OPTIONS],
  string: [...STRING_OPTIONS],
  alias: { h: 'help', o: 'output' },
}) as Argv

function outputMode(): Mode {
  if (argv.json) return 'json'
  if (argv.plain || !process.stdout.isTTY) return 'plain'
  return 'tty'
}

async function fail(err: unknown): Promise<never> {
  const e = asBerthError(err)
  const { color } = await cli.color()
  process.stderr.write(`${color.red('error:')} ${e.message}\n`)
  process.exit(e.exitCode)
}

/** A topology file, checked (its name in every message), with its files' sources read in. */
async function readTopology(file: string | undefined): Promise<LoadedTopology> {
  if (!file)
    throw new BerthError('invalid_job', 'a topology file is required (e.g. examples/codenvy.yaml)')
  return (await cli.topologySources()).loadTopologyFile(file)
}

/** Cancellation: the first signal stops the job at its next safe point; a second one exits. */
function abortOnSignals(): AbortController {
  const ac = new AbortController()
  let count = 0
  const onSignal = (sig: NodeJS.Signals) => {
    if (++count > 1) process.exit(130)
    process.stderr.write(`\n${sig}: stopping at the next safe point (again to exit now)\n`)
    ac.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return ac
}

/** Runs one job with the chosen output and exits with its code. */
async function runCli(spec: Record<string, unknown>): Promise<never> {
  const mode = outputMode()
  const [{ createRenderer }, { printResult }, { berthHome }, { jobEngine }, { runJob }] =
    await Promise.all([cli.render(), cli.print(), cli.context(), cli.engines(), cli.job()])
  const renderer = createRenderer(mode)
  const ac = abortOnSignals()
  // Its engine trace (BERTH_LOG_LEVEL=debug) and warnings, on stderr, under the job's id; the
  // swarm's engines when an engines file names them (engines.ts).
  const engine = jobEngine(
    processLogger(process.stderr, process.env).with(
      typeof spec.id === 'string' ? { job: spec.id } : {}
    )
  )
  const { result, exitCode } = await runJob(spec, {
    engine,
    signal: ac.signal,
    emit: (e: JobEvent) => {
      if (e.type === 'result' && mode !== 'json') return
      renderer.emit(e)
    },
  })
  renderer.close()
  const logFile = join(berthHome(), 'jobs', `${result.job}.log`)
  if (mode !== 'json') printResult(result, logFile)
  process.exit(exitCode)
}

/** `berth token create|list|revoke`, straight on the server's store (run on the server host). */
async function tokenCommand(rest: string[]): Promise<void> {
  const { openSqliteStore } = await import('../functions/store/sqlite.ts')
  const { hashToken, newToken, SCOPES } = await import('../functions/middleware/auth.ts')
  const [{ berthHome }, { LEVELS }] = await Promise.all([cli.context(), cli.policy()])
  const store = await openSqliteStore(join(berthHome(), 'berth.db'))
  try {
    if (rest[0] === 'create') {
      const name = argv.name
      if (!name || !/^[A-Za-z0-9_.:@-]{1,64}$/.test(name))
        throw new BerthError('invalid_job', '--name: 1–64 letters, digits or _.:@-')
      const scopes = String(argv.scopes ?? 'read')
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
      const bad = scopes.filter((x) => !(SCOPES as readonly string[]).includes(x))
      if (bad.length || !scopes.length)
        throw new BerthError(
          'invalid_job',
          `--scopes: unknown ${bad.join(', ') || '(none)'}; use ${SCOPES.join(', ')}`
        )
      const clusters = String(argv.clusters ?? '*')
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
      const badCluster = clusters.find((c) => !CLUSTER_PATTERN.test(c))
      if (!clusters.length || badCluster !== undefined)
        throw new BerthError(
          'invalid_job',
          `--clusters: "${badCluster ?? ''}" is not a cluster name or glob (a-z, 0-9, -, *)`
        )
      const level = argv.level === undefined ? null : String(argv.level)
      if (level !== null && !(LEVELS as readonly string[]).includes(level))
        throw new BerthError(
          'invalid_job',
          `--level: "${level}" is not one of ${LEVELS.join(', ')}`
        )
      if (level === 'privileged' && !scopes.includes('admin'))
        throw new BerthError(
          'invalid_job',
          '--level privileged: only an admin token may hold it (a privileged node can take the host)'
        )
      const token = newToken()
      const id = crypto.randomUUID()
      await store.createToken({ id, name, hash: await hashToken(token), scopes, clusters, level })
      await store.audit({
        actor: 'cli',
        source: null,
        action: 'token.create',
        target: name,
        outcome: 'ok',
        detail: { scopes, clusters, level },
      })
      process.stdout.write(
        argv.json
          ? JSON.stringify({ id, name, scopes, clusters, level, token }) + '\n'
          : `${token}\n(shown once; stored only as a hash) id ${id} scopes ${scopes.join(',')} clusters ${clusters.join(',')}${level ? ` level ${level}` : ''}\n`
      )
    } else if (rest[0] === 'list') {
      const tokens = await store.listTokens()
      if (argv.json)
        process.stdout.write(JSON.stringify(tokens.map(({ hash: _h, ...t }) => t)) + '\n')
      else
        for (const t of tokens)
          process.stdout.write(
            `${t.id}  ${t.name.padEnd(20)} ${t.scopes.join(',').padEnd(32)} ${t.clusters.join(',').padEnd(16)} ${(t.level ?? 'default').padEnd(10)} ${t.revokedAt ? `revoked ${t.revokedAt}` : `last used ${t.lastUsedAt ?? 'never'}`}\n`
          )
    } else if (rest[0] === 'revoke' && rest[1]) {
      const ok = await store.revokeToken(rest[1])
      await store.audit({
        actor: 'cli',
        source: null,
        action: 'token.revoke',
        target: rest[1],
        outcome: ok ? 'ok' : 'not found',
        detail: null,
      })
      if (!ok) throw new BerthError('not_found', `no live token "${rest[1]}"`)
      process.stdout.write(`revoked ${rest[1]}\n`)
    } else {
      throw new BerthError(
        'invalid_job',
        'usage: berth token create --name N --scopes S,… | list | revoke <id|name>'
      )
    }
  } finally {
    await store.close()
  }
}

/**
 * `berth policy check <topology>`: what the host policy says of a topology at a level (the
 * server's policy from --config, else the defaults). Exit 0 allowed, 7 refused, 2 invalid.
 */
async function policyCommand(rest: string[]): Promise<void> {
  if (rest[0] !== 'check' || !rest[1])
    throw new BerthError(
      'invalid_job',
      'usage: berth policy check <topology.yaml> [--level L] [--config FILE]'
    )
  const { checkPolicy, DEFAULT_POLICY, LEVELS } = await cli.policy()
  let policy = DEFAULT_POLICY
  if (argv.config || process.env.BERTH_CONFIG) {
    const { readConfig } = await import('../functions/config.ts')
    try {
      policy = readConfig({ file: argv.config }).policy
    } catch (err) {
      throw new BerthError('invalid_job', (err as Error).message)
    }
  }
  const level = String(argv.level ?? policy.default)
  if (!(LEVELS as readonly string[]).includes(level))
    throw new BerthError('invalid_job', `--level: "${level}" is not one of ${LEVELS.join(', ')}`)
  const { file } = await readTopology(rest[1])
  const issues = checkPolicy(file, level as (typeof LEVELS)[number], policy)
  if (argv.json) process.stdout.write(JSON.stringify({ ok: !issues.length, level, issues }) + '\n')
  else if (!issues.length) process.stdout.write(`${rest[1]}: allowed by policy "${level}"\n`)
  else
    process.stdout.write(
      `${rest[1]}: refused by policy "${level}":\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}\n`
    )
  process.exit(issues.length ? EXIT_CODES.forbidden : 0)
}

/** `berth secret set <name>`: the value from stdin, in a file only root can read. */
async function secretCommand(rest: string[]): Promise<void> {
  const name = rest[1]
  if (rest[0] !== 'set' || !name)
    throw new BerthError('invalid_job', 'usage: berth secret set <name>   (the value on stdin)')
  const { SECRET_REF } = await import('./engine/topology.ts')
  if (!SECRET_REF.test(`file:${name}`))
    throw new BerthError(
      'invalid_job',
      `"${name}" is not a secret name (letters, digits, '_', '.', '-'; at most 64)`
    )
  const { secretsDir } = await import('./engine/secrets.ts')
  const value = (await readStdin()).replace(/\r?\n$/, '')
  if (!value) throw new BerthError('invalid_job', 'the secret is empty: give its value on stdin')
  mkdirSync(secretsDir(), { recursive: true, mode: 0o700 })
  const file = join(secretsDir(), name)
  writeFileSync(`${file}.tmp`, value + '\n', { mode: 0o600 })
  renameSync(`${file}.tmp`, file)
  process.stdout.write(
    `${file} written (mode 0600): name it in a topology as { secret: "file:${name}" }\n`
  )
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

async function main(): Promise<void> {
  // A promise rejected where nobody awaits it yet must not end the process before a job has
  // cleaned up and told its result: it is said on stderr, and the job's own flow decides.
  process.on('unhandledRejection', (err) =>
    process.stderr.write(
      `berth: a rejection nobody awaited yet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`
    )
  )
  const [cmd, ...rest] = argv._.map(String)
  if (argv.version || cmd === 'version') {
    // Which code runs: the compiled CLI in dist/, or the sources (bin/berth.mjs says why).
    process.stdout.write(
      `berth ${BERTH_VERSION} (${import.meta.url.endsWith('/dist/berth.js') ? 'compiled' : 'sources'})\n`
    )
    process.exit(0)
  }
  if (!cmd || argv.help) {
    process.stdout.write(USAGE + '\n')
    process.exit(cmd || argv.help ? 0 : 2)
  }
  const concurrency = argv.concurrency ? Number(argv.concurrency) : undefined
  switch (cmd) {
    case 'install': {
      const { topology, data } = await readTopology(rest[0])
      return runCli({
        kind: 'install',
        cluster: topology.name,
        topology: data,
        options: { plan: argv.plan, keepFailed: argv['keep-failed'], concurrency },
      })
    }
    case 'clusters':
      return runCli({ kind: 'clusters' })
    case 'status':
    case 'repair':
    case 'stop':
    case 'start':
    case 'rewire':
    case 'destroy': {
      if (!rest[0]) throw new BerthError('invalid_job', `usage: berth ${cmd} <cluster>`)
      return runCli({
        kind: cmd,
        cluster: rest[0],
        options: { ...(cmd === 'destroy' ? { volumes: argv.volumes } : {}), concurrency },
      })
    }
    case 'snapshot': {
      if (rest[0] === 'rm') {
        if (!rest[1] || !rest[2])
          throw new BerthError('invalid_job', 'usage: berth snapshot rm <cluster> <snapshot>')
        return runCli({ kind: 'snapshot-rm', cluster: rest[1], snapshot: rest[2] })
      }
      if (!rest[0])
        throw new BerthError('invalid_job', 'usage: berth snapshot <cluster> [--tag T] [--keep N]')
      const keep = argv.keep === undefined ? undefined : Number(argv.keep)
      return runCli({
        kind: 'snapshot',
        cluster: rest[0],
        options: { tag: argv.tag, keep, concurrency },
      })
    }
    case 'snapshots':
      if (!rest[0]) throw new BerthError('invalid_job', 'usage: berth snapshots <cluster>')
      return runCli({ kind: 'snapshots', cluster: rest[0] })
    case 'restore':
      if (!rest[0] || !rest[1])
        throw new BerthError(
          'invalid_job',
          'usage: berth restore <cluster> <snapshot> [--as NEW] [--domain D] [--ports offset:N|none] [--placement same|spread|host=H[,H…]]'
        )
      return runCli({
        kind: 'restore',
        cluster: rest[0],
        snapshot: rest[1],
        options: {
          as: argv.as,
          domain: argv.domain,
          ports: argv.ports,
          placement: argv.placement,
          concurrency,
        },
      })
    case 'upgrade': {
      if (!rest[0])
        throw new BerthError(
          'invalid_job',
          'usage: berth upgrade <cluster> --image IMAGE | <topology.yaml>'
        )
      const topology = rest[1] ? (await readTopology(rest[1])).data : undefined
      return runCli({
        kind: 'upgrade',
        cluster: rest[0],
        topology,
        options: { image: argv.image, concurrency },
      })
    }
    case 'export':
      if (!rest[0] || !rest[1] || !argv.output)
        throw new BerthError('invalid_job', 'usage: berth export <cluster> <snapshot> -o FILE.tar')
      return runCli({
        kind: 'export',
        cluster: rest[0],
        snapshot: rest[1],
        options: { file: resolve(argv.output) },
      })
    case 'import':
      if (!rest[0]) throw new BerthError('invalid_job', 'usage: berth import FILE.tar')
      return runCli({ kind: 'import', options: { file: resolve(rest[0]) } })
    case 'doctor': {
      const [
        { DEMO_IMAGE },
        { hostChecks, topologyChecks },
        { printChecks },
        { jobEngine, plainTcp, readEnginesFile },
        { SwarmEngine },
      ] = await Promise.all([
        import('./image/demo-image.ts'),
        import('./engine/preflight.ts'),
        cli.print(),
        cli.engines(),
        import('./engine/swarm-engine.ts'),
      ])
      const engine = jobEngine(processLogger(process.stderr, process.env))
      // With an engines file: every host's engine, each check named after its host, and each
      // host as a node of the swarm.
      const hosts = engine instanceof SwarmEngine ? engine.hosts : [{ name: '', engine }]
      let checks = (
        await Promise.all(
          hosts.map(async (h) => {
            const probe = (await h.engine.inspectImage(DEMO_IMAGE).catch(() => null))
              ? DEMO_IMAGE
              : null
            const own = await hostChecks(h.engine, probe)
            return h.name ? own.map((c) => ({ ...c, name: `${h.name}: ${c.name}` })) : own
          })
        )
      ).flat()
      if (engine instanceof SwarmEngine) checks = checks.concat(await engine.swarmChecks())
      checks = checks.concat(plainTcp(readEnginesFile()?.engines))
      if (rest[0] && !checks.some((c) => /(^|: )engine$/.test(c.name) && c.status === 'fail'))
        checks = checks.concat(await topologyChecks(engine, (await readTopology(rest[0])).topology))
      if (argv.json)
        process.stdout.write(
          JSON.stringify({ ok: !checks.some((c) => c.status === 'fail'), checks }) + '\n'
        )
      const ok = argv.json ? !checks.some((c) => c.status === 'fail') : printChecks(checks)
      process.exit(ok ? 0 : 3)
    }
    case 'image': {
      const t0 = Date.now()
      const { createEngine } = await cli.docker()
      if (rest[0] === 'build-demo') {
        const { buildDemoImage } = await import('./image/demo-image.ts')
        const r = await buildDemoImage(createEngine(), { force: argv.force })
        const line = r.built
          ? `built ${r.image} (${r.id.slice(7, 19)}) in ${Date.now() - t0} ms`
          : `${r.image} is up to date (${r.id.slice(7, 19)})`
        process.stdout.write((argv.json ? JSON.stringify(r) : line) + '\n')
        return
      }
      if (rest[0] === 'build-debian') {
        const [{ parseRecipe }, { buildDebianImage }] = await Promise.all([
          import('./image/debian-recipe.ts'),
          import('./image/debian-image.ts'),
        ])
        const ac = abortOnSignals()
        const input = {
          tag: argv.tag,
          packages: argv.packages,
          suite: argv.suite,
          mirror: argv.mirror,
        }
        // Checked before the engine is asked anything: a wrong option is exit 2 on any host.
        parseRecipe(input)
        const r = await buildDebianImage(createEngine(), input, {
          force: argv.force,
          signal: ac.signal,
          progress: (line) => process.stderr.write(`image: ${line}\n`),
        })
        const line = r.built
          ? `built ${r.image} (${r.id.slice(7, 19)}) in ${Date.now() - t0} ms`
          : `${r.image} is up to date (${r.id.slice(7, 19)})`
        process.stdout.write((argv.json ? JSON.stringify(r) : line) + '\n')
        return
      }
      throw new BerthError(
        'invalid_job',
        'usage: berth image build-demo [--force] | berth image build-debian --tag T --packages a,b,c [--suite S] [--mirror URL] [--force]'
      )
    }
    case 'job': {
      if (rest[0] === 'log') {
        if (!rest[1]) throw new BerthError('invalid_job', 'usage: berth job log <job>')
        // Chunk by chunk through the same reader as the `log` kind: a log may be large.
        const { readJobLog } = await cli.jobLog()
        for (let offset: number | null = 0; offset !== null;) {
          const chunk = readJobLog(rest[1], offset)
          process.stdout.write(chunk.text)
          offset = chunk.next
        }
        return
      }
      if (rest[0] !== 'run')
        throw new BerthError(
          'invalid_job',
          'usage: berth job run [--spec-b64 B64] [--compact] | berth job log <job>'
        )
      const text = argv['spec-b64']
        ? Buffer.from(argv['spec-b64'], 'base64').toString('utf8')
        : await readStdin()
      let spec: unknown
      try {
        spec = JSON.parse(text)
      } catch (err) {
        spec = { invalid: `the job spec is not JSON: ${(err as Error).message}` }
      }
      const [{ jobEngine }, { runJob }, { compactEvents }] = await Promise.all([
        cli.engines(),
        cli.job(),
        cli.jobLog(),
      ])
      const ac = abortOnSignals()
      const print = (e: JobEvent) => process.stdout.write(JSON.stringify(e) + '\n')
      const { exitCode } = await runJob(spec, {
        // The swarm's engines when an engines file names them, as for every other job.
        engine: jobEngine(processLogger(process.stderr, process.env)),
        signal: ac.signal,
        emit: argv.compact ? compactEvents(print) : print,
        echo: (line) => process.stderr.write(line),
      })
      process.exit(exitCode)
    }
    case 'watch': {
      const { createEngine } = await cli.docker()
      const ac = abortOnSignals()
      // Ends with its stdin, so a watch started over ssh ends with the connection (not the
      // --rewire daemon: systemd gives it /dev/null).
      if (!argv.rewire && !process.stdin.isTTY) process.stdin.on('end', () => ac.abort()).resume()
      const print = (line: object) => process.stdout.write(JSON.stringify(line) + '\n')
      if (argv.rewire)
        await (
          await import('./cli/rewire-daemon.ts')
        ).rewireOnStarts(createEngine(), { signal: ac.signal, report: print })
      else
        await (
          await import('./engine/restart-watch.ts')
        ).watchNodeStarts(createEngine(), print, ac.signal)
      // The stream ended by itself (the Docker daemon restarted): a non-zero exit, so that
      // whoever runs it (berth serve, systemd) starts it again.
      process.exit(ac.signal.aborted ? 0 : 1)
    }
    case 'serve': {
      const { readConfig, startServer } = await import('../functions/node.ts')
      let config
      try {
        config = readConfig({ file: argv.config })
      } catch (err) {
        throw new BerthError('invalid_job', (err as Error).message)
      }
      const server = await startServer(config)
      let stopping = false
      const stop = async () => {
        if (stopping) process.exit(130)
        stopping = true
        await server.stop()
        process.exit(0)
      }
      process.on('SIGTERM', () => void stop())
      process.on('SIGINT', () => void stop())
      return
    }
    case 'token':
      return tokenCommand(rest)
    case 'policy':
      return policyCommand(rest)
    case 'secret':
      return secretCommand(rest)
    case 'schedule':
      return (await import('./cli/schedule.ts')).scheduleCommand(rest, {
        cron: argv.cron,
        keep: argv.keep,
        tz: argv.tz,
        name: argv.name,
        json: argv.json,
      })
    case 'demo':
      if (argv.puppet)
        return (await import('./cli/puppet-demo.ts')).runPuppetDemo({
          destroy: argv.destroy,
          output: outputMode(),
        })
      return (await import('./cli/demo.ts')).runDemo({
        mode: argv.mode === 'dynamic' ? 'dynamic' : 'static',
        destroy: argv.destroy,
        output: outputMode(),
      })
    default:
      process.stderr.write(`unknown command "${cmd}"\n\n${USAGE}\n`)
      process.exit(2)
  }
}

main().catch(fail)
