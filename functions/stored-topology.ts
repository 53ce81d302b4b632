/**
 * A topology stored under its cluster's name, as PUT /v1/topologies/:name and the dashboard's
 * editor store it: read and checked first (a bad one is a 422 naming each path, and nothing is
 * stored), then saved and audited. Runtime-neutral.
 */
import { BerthError } from '../scripts/engine/errors.ts'
import { parseTopology } from '../scripts/engine/topology.ts'
import { invalid } from './errors.ts'
import type { Store, TopologyRecord } from './store/store.ts'

export async function storeTopology(
  store: Store,
  t: { name: string; text: string; actor: string; source: string | null }
): Promise<TopologyRecord> {
  try {
    const named = parseTopology(t.text, { file: `${t.name}.yaml` }).name
    if (named !== t.name) {
      const message = `the topology is named "${named}"; it is stored as "${t.name}"`
      throw invalid(`name: ${message}`, [{ path: 'name', message }])
    }
  } catch (err) {
    if (err instanceof BerthError)
      throw invalid(
        err.message,
        err.info.issues?.length ? err.info.issues : [{ path: '(file)', message: err.message }]
      )
    throw err
  }
  const saved = await store.putTopology({ name: t.name, text: t.text, updatedBy: t.actor })
  await store.audit({
    actor: t.actor,
    source: t.source,
    action: 'topology.put',
    target: t.name,
    outcome: 'ok',
    detail: null,
  })
  return saved
}
