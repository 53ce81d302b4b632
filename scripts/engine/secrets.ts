/**
 * Secrets a topology's env names (`{ secret: "file:app-db" }`), read on the Docker host when a
 * node is created — never in the topology, the store, a job spec or anything a GET shows. Once
 * read, the job redacts every occurrence from its log, events and result (context.ts), and a
 * snapshot's images carry them blanked (snapshot.ts).
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { berthHome, type JobContext } from './context.ts'
import { BerthError } from './errors.ts'
import type { Topology } from './topology.ts'

export const secretsDir = () => join(berthHome(), 'secrets')

async function readSecret(ref: string): Promise<string | null> {
  const [kind, name] = [ref.slice(0, ref.indexOf(':')), ref.slice(ref.indexOf(':') + 1)]
  if (kind === 'env') return process.env[name] ?? null
  // The name is checked by the topology's schema: no '/', so never outside the directory.
  const text = await readFile(join(secretsDir(), name), 'utf8').catch(() => null)
  return text === null ? null : text.replace(/\r?\n$/, '')
}

/** Reads every secret the topology's nodes name into the job (refusing, naming each missing one). */
export async function loadSecrets(ctx: JobContext, topology: Topology): Promise<void> {
  const missing: string[] = []
  for (const node of topology.nodes) {
    for (const [key, ref] of Object.entries(node.secrets ?? {})) {
      if (ctx.secrets.has(ref)) continue
      const value = await readSecret(ref)
      if (value === null)
        missing.push(
          `node "${node.name}": env.${key}: secret "${ref}" is not on this host (${describe(ref)})`
        )
      else ctx.secrets.set(ref, value)
    }
  }
  if (missing.length) throw new BerthError('preflight', missing.join('\n'), { step: 'preflight' })
}

function describe(ref: string): string {
  const name = ref.slice(ref.indexOf(':') + 1)
  return ref.startsWith('env:')
    ? `berth's environment has no ${name}`
    : `no file ${join(secretsDir(), name)}`
}
