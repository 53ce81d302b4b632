/**
 * A node's `files`, written into its container after it is created and before it starts (the
 * archive API: works with any image, no shell needed), each with its mode and owner. An owner
 * given by name is looked up in the container's own /etc/passwd and /etc/group, as the image
 * defines them.
 */
import type { JobContext } from './context.ts'
import { BerthError } from './errors.ts'
import type { NodeSpec } from './topology.ts'

/** name → id, from an /etc/passwd or /etc/group text (field 3 is the id, field 4 the group). */
function table(text: string | null): Map<string, { id: number; group: number }> {
  const out = new Map<string, { id: number; group: number }>()
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':')
    if (f.length >= 3 && /^\d+$/.test(f[2]))
      out.set(f[0], { id: Number(f[2]), group: Number(f[3] ?? f[2]) })
  }
  return out
}

export async function writeNodeFiles(ctx: JobContext, node: NodeSpec, id: string): Promise<void> {
  if (!node.files.length) return
  const named = node.files.some((f) => f.owner && /[^\d:]/.test(f.owner))
  const [passwd, group] = named
    ? await Promise.all([
        ctx.engine.readFile(id, '/etc/passwd'),
        ctx.engine.readFile(id, '/etc/group'),
      ])
    : [null, null]
  const users = table(passwd?.toString('utf8') ?? null)
  const groups = table(group?.toString('utf8') ?? null)
  const ownerOf = (owner: string | null, i: number): { uid: number; gid: number } => {
    if (!owner) return { uid: 0, gid: 0 }
    const [u, g] = owner.split(':')
    const fail = (what: string) =>
      new BerthError(
        'invalid_topology',
        `node "${node.name}": files[${i}].owner: ${what} is not in the image's ${what.startsWith('user') ? '/etc/passwd' : '/etc/group'}`,
        { node: node.name, step: 'files' }
      )
    const user = /^\d+$/.test(u) ? { id: Number(u), group: Number(u) } : users.get(u)
    if (!user) throw fail(`user "${u}"`)
    if (g === undefined) return { uid: user.id, gid: user.group }
    const gid = /^\d+$/.test(g) ? Number(g) : groups.get(g)?.id
    if (gid === undefined) throw fail(`group "${g}"`)
    return { uid: user.id, gid }
  }
  const entries = node.files.map((f, i) => ({
    name: f.target.replace(/^\/+/, ''),
    content: Buffer.from(f.data, 'base64'),
    mode: f.mode,
    ...ownerOf(f.owner, i),
  }))
  await ctx.steps.timed('files', node.name, () => ctx.engine.writeFiles(id, '/', entries))
}
