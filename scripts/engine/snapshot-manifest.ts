/**
 * A snapshot's manifest.json, checked before anything trusts it. Listing, removal, restore,
 * export and import read it back from a disk (or a file from another host) that a crash, a full
 * disk or a hand may have changed, and what it says becomes paths, image tags to remove and the
 * nodes a restore builds. A manifest that does not pass makes a damaged snapshot: listed with
 * the reason, never restored or exported, removable by the labels of its images (snapshot.ts).
 *
 * Pure: no fs, no docker. The caller reads the file.
 */
import { z } from 'zod'
import { CLUSTER_NAME, SNAPSHOT_ID } from './labels.ts'
import type { SnapshotManifest } from './snapshot.ts'
import { HOSTNAME_LABEL } from './topology.ts'
import { issueLines, zodIssues } from './zod-issues.ts'
import { errorMap } from './topology-kit.ts'
import { ExpandedTopology, not, quote } from './topology-record.ts'

export const MANIFEST = 'manifest.json'
/** A manifest is read into memory whole: bounded, whatever a file claims. */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024
/** A volume archive's path: it is joined to the snapshot's directory, so it stays in `volumes/`. */
export const VOLUME_FILE = /^volumes\/[A-Za-z0-9][A-Za-z0-9_.-]{0,200}\.tar$/

export const snapshotImage = (cluster: string, node: string) => `berth-snap/${cluster}.${node}`

// The topology's own wording (expected …, got …), and "required" for whatever is missing.
const manifestErrors: z.core.$ZodErrorMap = (iss) =>
  iss.input === undefined ? 'required' : errorMap(iss)

const count = z.number().int().min(0)
const isoTime = z.iso.datetime({ error: not('an ISO date and time') })
const nodeName = z.string().regex(HOSTNAME_LABEL, { error: not('a node name') })

const ManifestSchema: z.ZodType<SnapshotManifest> = z
  .object({
    format: z.literal(1, { error: not('a format this berth reads (1)') }),
    id: z.string().regex(SNAPSHOT_ID, { error: not('a snapshot id') }),
    cluster: z.string().regex(CLUSTER_NAME, { error: not('a cluster name') }),
    createdAt: isoTime,
    berthVersion: z.string(),
    job: z.string(),
    topology: ExpandedTopology,
    network: z.object({ mode: z.string(), subnet: z.string().nullable() }),
    // ms may be negative: the wall clock can step back while the cluster is paused.
    window: z.object({ pausedAt: isoTime, unpausedAt: isoTime, ms: z.number() }),
    nodes: z.array(
      z.object({
        name: nodeName,
        hostname: z.string(),
        ip: z.string().nullable(),
        image: z.object({
          ref: z.string(),
          id: z.string().regex(/^sha256:[0-9a-f]{64}$/, { error: not('an image id') }),
        }),
        bootstrapped: z.boolean(),
        host: z.string().optional(),
      })
    ),
    volumes: z.array(
      z.object({
        node: nodeName,
        name: z.string().min(1),
        target: z.string().min(1),
        file: z.string().regex(VOLUME_FILE, { error: not('volumes/<name>.tar') }),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, { error: not('a sha256') }),
        size: count,
      })
    ),
  })
  .superRefine((m, ctx) => {
    const issue = (path: PropertyKey[], message: string) =>
      ctx.addIssue({ code: 'custom', path, message })
    // A restore takes every node's image and every volume's data from these lists, and builds a
    // node without an entry from its plain image, or with an empty volume: silently, not at all
    // what was snapshotted. Removal deletes the images named here: only this snapshot's own.
    const inTopology = new Map(m.topology.nodes.map((n) => [n.name, n]))
    const imaged = new Set<string>()
    m.nodes.forEach((n, i) => {
      if (imaged.has(n.name)) issue(['nodes', i, 'name'], `node "${n.name}" appears twice`)
      imaged.add(n.name)
      if (!inTopology.has(n.name)) {
        issue(['nodes', i, 'name'], `"${n.name}" is not a node of the topology`)
      }
      const own = `${snapshotImage(m.cluster, n.name)}:${m.id}`
      if (n.image.ref !== own) {
        const why = `${quote(n.image.ref)} is not this snapshot's image (${own})`
        issue(['nodes', i, 'image', 'ref'], why)
      }
    })
    for (const n of m.topology.nodes) {
      if (!imaged.has(n.name)) issue(['nodes'], `no image for node "${n.name}"`)
    }
    const archived = new Set<string>()
    const files = new Set<string>()
    m.volumes.forEach((v, i) => {
      const what = `volume "${v.name}" of node "${v.node}"`
      if (archived.has(`${v.node}/${v.name}`)) issue(['volumes', i], `${what} appears twice`)
      if (files.has(v.file)) issue(['volumes', i, 'file'], `${quote(v.file)} appears twice`)
      archived.add(`${v.node}/${v.name}`)
      files.add(v.file)
      if (!inTopology.get(v.node)?.volumes.some((tv) => tv.name === v.name && !tv.external)) {
        issue(['volumes', i], `${what} is not a volume of the topology`)
      }
    })
    for (const n of m.topology.nodes) {
      for (const v of n.volumes.filter((v) => !v.external)) {
        if (!archived.has(`${n.name}/${v.name}`)) {
          issue(['volumes'], `no archive for volume "${v.name}" of node "${n.name}"`)
        }
      }
    }
  })

export type ManifestCheck = { ok: true; manifest: SnapshotManifest } | { ok: false; why: string }

/** How many issues a reason names before "and N more": it is one line of a listing. */
const SHOWN = 3

/** Checks a parsed manifest. `why` starts with `manifest.json: ` and names the paths at fault. */
export function checkManifest(value: unknown): ManifestCheck {
  const r = ManifestSchema.safeParse(value, { error: manifestErrors })
  if (r.success) return { ok: true, manifest: r.data }
  const issues = zodIssues(r.error, '')
  const more = issues.length > SHOWN ? `; and ${issues.length - SHOWN} more` : ''
  return { ok: false, why: `${MANIFEST}: ${issueLines(issues.slice(0, SHOWN), '; ')}${more}` }
}

/** Checks a manifest's text: JSON first, then the schema. */
export function checkManifestText(text: string): ManifestCheck {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    return {
      ok: false,
      // Node quotes the text at fault, newlines and all: a reason is one line of a listing.
      why: `${MANIFEST}: not valid JSON (${(err as Error).message.replace(/\s+/g, ' ').slice(0, 120)})`,
    }
  }
  return checkManifest(value)
}
