/**
 * Stored topologies: the list, and the editor — the server validates what is saved and shows each
 * problem at its path (`nodes[3].name: …`), and what the host policy would refuse at install.
 */
import type { FC } from 'hono/jsx'
import type { Issue } from '../../../scripts/engine/zod-issues.ts'
import { when } from '../format.ts'
import { IssueList } from '../layout.tsx'
import { Csrf } from './forms.tsx'

export interface TopologyRow {
  name: string
  updatedAt: string
  updatedBy: string
}

export const TopologiesPage: FC<{ rows: TopologyRow[] }> = ({ rows }) => (
  <>
    <h1>Topologies</h1>
    <p>Topologies stored on the server, by the name of the cluster each installs.</p>
    {rows.length ? (
      <table>
        <thead>
          <tr>
            <th scope="col">Topology</th>
            <th scope="col">Saved</th>
            <th scope="col">By</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr>
              <th scope="row">
                <a href={`/topologies/${r.name}`}>{r.name}</a>
              </th>
              <td>{when(r.updatedAt)}</td>
              <td>{r.updatedBy}</td>
            </tr>
          ))}
        </tbody>
      </table>
    ) : (
      <p class="empty">None stored that you may install.</p>
    )}
    <form method="get" action="/topologies/new" class="inline">
      <label for="new-name">New topology for cluster</label>
      <input id="new-name" name="name" required pattern="[a-z0-9][a-z0-9-]{0,39}" />
      <button type="submit">Write it</button>
    </form>
  </>
)

export const EditorPage: FC<{
  name: string
  text: string
  csrf: string
  saved?: string | null
  issues?: Issue[]
  refusals?: Issue[]
  message?: string
}> = ({ name, text, csrf, saved, issues, refusals, message }) => (
  <>
    <h1>
      Topology <code>{name}</code>
    </h1>
    {saved ? <p class="dim">Saved {when(saved)}.</p> : <p class="dim">Not stored yet.</p>}
    {message ? (
      <p class="notice" role="status">
        {message}
      </p>
    ) : null}
    {issues?.length ? (
      <section class="error" role="alert" aria-labelledby="issues-h">
        <h2 id="issues-h">Not saved: {issues.length} problem(s)</h2>
        <IssueList issues={issues} id="topology-issues" />
      </section>
    ) : null}
    {refusals?.length ? (
      <section class="error" role="alert" aria-labelledby="refusals-h">
        <h2 id="refusals-h">The host policy would refuse its install</h2>
        <IssueList issues={refusals} id="policy-refusals" />
      </section>
    ) : null}
    <form method="post" action={`/topologies/${name}`} class="grid editor">
      <Csrf value={csrf} />
      <label for="text">YAML</label>
      <textarea
        id="text"
        name="text"
        rows={24}
        spellcheck={false}
        aria-invalid={issues?.length ? 'true' : undefined}
        aria-describedby={issues?.length ? 'topology-issues' : undefined}
      >
        {text}
      </textarea>
      <div class="buttons">
        <button type="submit" name="then" value="save">
          Save
        </button>
        <button type="submit" name="then" value="plan">
          Save and plan the install
        </button>
      </div>
    </form>
  </>
)
