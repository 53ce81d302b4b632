/**
 * The Docker engines berth drives: by default the one of DOCKER_HOST (or the local socket); with
 * an engines file, every host of a Docker Swarm, one of them the manager. The file is
 * BERTH_ENGINES, or $BERTH_HOME/engines.yaml when it exists:
 *
 *   manager: lab1
 *   hosts:
 *     lab1: unix:///var/run/berth-lab/lab1.sock
 *     lab2: { url: tcp://10.0.0.12:2376, tls: /etc/berth/tls/lab2 }   # ca.pem, cert.pem, key.pem
 *     lab3: ssh://berth@10.0.0.13
 *
 * A tcp:// engine without `tls` is plain HTTP: whoever reaches its port is root on that host
 * (`berth doctor` warns). With `tls`, berth presents the client certificate and checks the
 * engine's against the CA, as `docker --tlsverify` with DOCKER_CERT_PATH does.
 *
 * With it, every job runs against the swarm (SwarmEngine): a cluster in `network.mode: swarm`
 * spreads over the hosts as its nodes' placements say; any other cluster lives on the manager.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import YAML from 'yaml'
import { z } from 'zod'
import { berthHome } from './context.ts'
import { createEngine, DockerEngine, type Engine } from './docker.ts'
import { BerthError } from './errors.ts'
import type { Logger } from './logger.ts'
import type { Check } from './preflight.ts'
import { SwarmEngine } from './swarm-engine.ts'
import { HOSTNAME_LABEL } from './topology.ts'
import { issueLines, zodIssues } from './zod-issues.ts'

const hostName = z.string().regex(HOSTNAME_LABEL, 'is not a host name (a-z, 0-9, -)')

const engineUrl = z
  .string()
  .regex(
    /^(unix:\/\/\/.+|tcp:\/\/[^/\s]+|ssh:\/\/[^/\s]+)$/,
    'is not unix:///path, tcp://host:port or ssh://user@host'
  )

const engineEntry = z.union([
  engineUrl,
  z
    .strictObject({
      url: engineUrl,
      /** A directory with ca.pem, cert.pem and key.pem (Docker's DOCKER_CERT_PATH layout). */
      tls: z
        .string()
        .regex(/^\/\S*$/, 'is not an absolute path')
        .optional(),
    })
    .refine((e) => !e.tls || e.url.startsWith('tcp://'), {
      error: 'tls is for a tcp:// engine',
      path: ['tls'],
    }),
])
export type EngineEntry = z.infer<typeof engineEntry>

export const EnginesFile = z.strictObject({
  manager: hostName,
  hosts: z
    .record(hostName, engineEntry)
    .refine((h) => Object.keys(h).length > 0, 'name at least one host'),
})
export type EnginesFile = z.infer<typeof EnginesFile>

/** An entry's URL and TLS directory, whichever way it is written. */
export const entryOf = (e: EngineEntry): { url: string; tls?: string } =>
  typeof e === 'string' ? { url: e } : e

/** dockerode's connection options for an engine (the TLS files read here). */
export function connection(entry: EngineEntry): Record<string, string | number | Buffer> {
  const { url, tls } = entryOf(entry)
  if (url.startsWith('unix://')) return { socketPath: url.slice('unix://'.length) }
  const u = new URL(url)
  if (u.protocol === 'tcp:' && tls) {
    const read = (f: string) => {
      try {
        return readFileSync(join(tls, f))
      } catch (err) {
        throw new BerthError(
          'invalid_job',
          `engines file: ${url}: tls: ${join(tls, f)}: ${(err as Error).message}`
        )
      }
    }
    return {
      protocol: 'https',
      host: u.hostname,
      port: Number(u.port || 2376),
      ca: read('ca.pem'),
      cert: read('cert.pem'),
      key: read('key.pem'),
    }
  }
  if (u.protocol === 'tcp:')
    return { protocol: 'http', host: u.hostname, port: Number(u.port || 2375) }
  return {
    protocol: 'ssh',
    host: u.hostname,
    port: Number(u.port || 22),
    ...(u.username ? { username: u.username } : {}),
  }
}

/** The engines file in force (its path and contents), or null: one engine. */
export function readEnginesFile(
  env: Record<string, string | undefined> = process.env
): { file: string; engines: EnginesFile } | null {
  const file = env.BERTH_ENGINES || join(env.BERTH_HOME || berthHome(), 'engines.yaml')
  if (!env.BERTH_ENGINES && !existsSync(file)) return null
  let data: unknown
  try {
    data = YAML.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new BerthError('invalid_job', `engines file ${file}: ${(err as Error).message}`)
  }
  const r = EnginesFile.safeParse(data)
  if (!r.success)
    throw new BerthError(
      'invalid_job',
      `engines file ${file}:\n${issueLines(zodIssues(r.error, '(file)'))}`
    )
  if (!(r.data.manager in r.data.hosts)) {
    throw new BerthError(
      'invalid_job',
      `engines file ${file}: manager: "${r.data.manager}" is not one of the hosts (${Object.keys(r.data.hosts).join(', ')})`
    )
  }
  return { file, engines: r.data }
}

/** A warning for each engine reached over tcp:// without TLS (`berth doctor`). */
export function plainTcp(engines: EnginesFile | undefined): Check[] {
  return Object.entries(engines?.hosts ?? {})
    .filter(([, e]) => entryOf(e).url.startsWith('tcp://') && !entryOf(e).tls)
    .map(([name, e]) => ({
      name: `${name}: transport`,
      status: 'warn',
      message: `${entryOf(e).url} without TLS: whoever reaches that port is root on ${name}`,
      hint: 'give it tls: a directory with ca.pem, cert.pem and key.pem, and start its dockerd with --tlsverify',
    }))
}

/** The engine a job runs against: the swarm's when an engines file names one, else the local. */
export function jobEngine(
  log: Logger,
  env: Record<string, string | undefined> = process.env
): Engine {
  const found = readEnginesFile(env)
  if (!found) return createEngine(log)
  const { manager, hosts } = found.engines
  // The manager first: an unplaced node lives there.
  const names = [manager, ...Object.keys(hosts).filter((h) => h !== manager)]
  return new SwarmEngine(
    names.map((name) => ({
      name,
      engine: new DockerEngine(connection(hosts[name]), log.with({ host: name }), name),
    })),
    manager
  )
}
