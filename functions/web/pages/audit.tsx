/** The audit record, newest first (admins only). */
import type { FC } from 'hono/jsx'
import type { AuditRecord } from '../../store/store.ts'
import { when } from '../format.ts'

export const AuditPage: FC<{ rows: AuditRecord[]; next: number | null }> = ({ rows, next }) => (
  <>
    <h1>Audit</h1>
    <table id="audit">
      <thead>
        <tr>
          <th scope="col">When</th>
          <th scope="col">Who</th>
          <th scope="col">From</th>
          <th scope="col">Action</th>
          <th scope="col">Target</th>
          <th scope="col">Outcome</th>
          <th scope="col">Detail</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((a) => (
          <tr class={a.outcome === 'refused' ? 'bad' : undefined}>
            <td>{when(a.at)}</td>
            <td>{a.actor}</td>
            <td>{a.source ?? '—'}</td>
            <td>{a.action}</td>
            <td>{a.target ?? '—'}</td>
            <td>{a.outcome}</td>
            <td>
              <code class="detail">{a.detail === null ? '' : JSON.stringify(a.detail)}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
    {next !== null ? <a href={`/audit?before=${next}`}>Older</a> : null}
  </>
)
