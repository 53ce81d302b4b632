/**
 * Outbound reports on jobs that came from Slack or Jira: when the job starts and when it ends,
 * to the Slack `response_url` or as a comment on the Jira issue. Runtime-neutral (fetch only).
 * Each post is retried with backoff; a failure is recorded on the job's notification row and
 * never blocks or fails the job.
 */
import type { ResultEvent } from '../scripts/engine/events.ts'
import type { JobRecord, NotificationRecord, NotificationStage, Store } from './store/store.ts'

export interface JiraTarget {
  baseUrl: string
  /** The full Authorization header value: `Basic <base64 email:api-token>` or `Bearer <token>`. */
  authorization: string
}

export interface NotifierOptions {
  store: Store
  jira?: JiraTarget
  fetch?: typeof fetch
  /** Waits between attempts (ms); attempts = this length + 1. */
  backoffMs?: number[]
  log?: (line: string) => void
}

/** One line a person reads: what ran, how it ended, where (nodes and hostnames, or the failing node and step). */
export function summaryOf(job: JobRecord, stage: NotificationStage): string {
  const what = `${job.kind} ${job.cluster}`
  if (stage === 'started') return `:hourglass_flowing_sand: ${what} started (job ${job.id})`
  const r = job.result as ResultEvent | null
  if (job.state === 'succeeded') {
    const secs = r?.ms !== undefined ? ` in ${(r.ms / 1000).toFixed(1)} s` : ''
    const nodes = (r?.nodes ?? []).map((n) => `${n.hostname}${n.ip ? ` (${n.ip})` : ''}`)
    return `:white_check_mark: ${what} succeeded${secs} (job ${job.id})${nodes.length ? `\nnodes: ${nodes.join(', ')}` : ''}`
  }
  const where = [r?.node && `node ${r.node}`, r?.step && `step ${r.step}`].filter(Boolean).join(', ')
  const verb = job.state === 'cancelled' ? 'was cancelled' : 'failed'
  return `:x: ${what} ${verb}${where ? ` (${where})` : ''} (job ${job.id}): ${(r?.message ?? r?.code ?? '').slice(0, 500)}`
}

export class Notifier {
  private readonly fetch: typeof fetch
  private readonly backoff: number[]
  /** Posts in flight, so a test or a shutdown can wait for them. */
  private readonly inflight = new Set<Promise<void>>()

  constructor(private readonly o: NotifierOptions) {
    this.fetch = o.fetch ?? ((...a) => fetch(...a))
    this.backoff = o.backoffMs ?? [1000, 4000, 15_000]
  }

  /** Reports the job's stage to each of its targets, in the background. Never throws. */
  jobChanged(job: JobRecord, stage: NotificationStage): void {
    const p = this.report(job, stage).catch((e) => this.o.log?.(`notify ${job.id}: ${e}`))
    this.inflight.add(p)
    void p.finally(() => this.inflight.delete(p))
  }

  async idle(): Promise<void> {
    while (this.inflight.size) await Promise.allSettled([...this.inflight])
  }

  private async report(job: JobRecord, stage: NotificationStage): Promise<void> {
    for (const n of await this.o.store.notificationsFor(job.id)) {
      if (n.sent.includes(stage)) continue
      await this.deliver(n, job, stage)
    }
  }

  private async deliver(n: NotificationRecord, job: JobRecord, stage: NotificationStage): Promise<void> {
    const text = summaryOf(job, stage)
    let attempts = n.attempts
    let lastError: string | null = null
    for (let i = 0; i <= this.backoff.length; i++) {
      attempts++
      try {
        await this.post(n, text)
        await this.o.store.updateNotification(n.id, { sent: [...n.sent, stage], attempts, lastError: null })
        n.sent = [...n.sent, stage]
        return
      } catch (err) {
        lastError = `${stage}: ${(err as Error).message}`
        await this.o.store.updateNotification(n.id, { attempts, lastError })
        if (i < this.backoff.length) await new Promise((r) => setTimeout(r, this.backoff[i]))
      }
    }
    this.o.log?.(`notify ${job.id} (${n.channel}): gave up after ${attempts} attempts: ${lastError}`)
  }

  private async post(n: NotificationRecord, text: string): Promise<void> {
    let res: Response
    if (n.channel === 'slack') {
      res = await this.fetch(n.target.responseUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ response_type: 'ephemeral', replace_original: false, text }),
        signal: AbortSignal.timeout(10_000),
      })
    } else {
      const jira = this.o.jira
      if (!jira) throw new Error('no Jira connection is configured (hooks.jira.baseUrl)')
      res = await this.fetch(`${jira.baseUrl.replace(/\/$/, '')}/rest/api/2/issue/${encodeURIComponent(n.target.issueKey)}/comment`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: jira.authorization },
        body: JSON.stringify({ body: text.replace(/:[a-z_]+: /g, '') }),
        signal: AbortSignal.timeout(10_000),
      })
    }
    if (!res.ok) throw new Error(`HTTP ${res.status} from ${n.channel}`)
  }
}
