/**
 * Outbound reports on jobs that came from Slack or Jira: when the job starts and when it ends,
 * to the Slack `response_url` or as a comment on the Jira issue. Runtime-neutral (fetch only).
 * Each post is retried with backoff; a failure is recorded on the job's notification row (and
 * kept there: `lastError` names the stage and attempt) and never blocks or fails the job.
 * Slack takes at most 5 posts on one response_url, within 30 minutes of issuing it: past that,
 * a post is skipped and the reason recorded instead.
 */
import type { ResultEvent } from '../scripts/engine/events.ts'
import { sleep } from '../scripts/engine/retry.ts'
import type { Channel } from './channels.ts'
import type { JobRecord, NotificationRecord, NotificationStage, Store } from './store/store.ts'
import { silentLogger, type Logger } from '../scripts/engine/logger.ts'

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
  /** Milliseconds since the epoch, for the response_url's 30 minutes (tests move it). */
  now?: () => number
  log?: Logger
}

/** Slack's limits on one response_url (api.slack.com, "Handling slash commands"). */
export const SLACK_MAX_POSTS = 5
export const SLACK_URL_TTL_MS = 30 * 60_000

/**
 * A Slack notification's target: the response_url, when Slack issued it (ISO time; the 30
 * minutes count from there), and how many posts the hook made to it itself (the "accepted" that
 * replaces a Confirm button), which count against the 5.
 */
export interface SlackTarget {
  responseUrl: string
  issuedAt: string
  earlierPosts?: string
}

/** One channel's way of posting a report, and why it would not take one now (or null). */
interface ChannelDriver {
  cannotPost(n: NotificationRecord, stage: NotificationStage, attempts: number): string | null
  post(n: NotificationRecord, text: string): Promise<void>
}

// One lane per response_url: posts leave one after another in the order they were asked for, so
// a hook's "accepted" is never overtaken by the Notifier's "started" (within this process).
const lanes = new Map<string, Promise<unknown>>()

/** POSTs a message (JSON) to a Slack response_url, in order with every other post to it. */
export function postSlack(
  url: string,
  message: object,
  fetchFn: typeof fetch = fetch
): Promise<void> {
  return reserveSlack(url, fetchFn).post(message)
}

/**
 * Takes the next place in a response_url's lane now, for a message known only later: a hook
 * that is about to queue a job reserves its "accepted" before the job can start, so the
 * Notifier's "started" queues behind it. `cancel()` gives the place up without posting.
 */
export function reserveSlack(
  url: string,
  fetchFn: typeof fetch = fetch
): { post(message: object): Promise<void>; cancel(): void } {
  let give!: (m: object | null) => void
  const message = new Promise<object | null>((r) => (give = r))
  const turn = (lanes.get(url) ?? Promise.resolve())
    .catch(() => {})
    .then(() => message)
    .then(async (m) => {
      if (!m) return
      const res = await fetchFn(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(m),
        signal: AbortSignal.timeout(10_000),
      })
      await res.body?.cancel()
      if (!res.ok) throw new Error(`HTTP ${res.status} from slack`)
    })
  lanes.set(url, turn)
  void turn.catch(() => {}).finally(() => lanes.get(url) === turn && lanes.delete(url))
  return {
    post: (m) => (give(m), turn),
    cancel: () => give(null),
  }
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
  const where = [r?.node && `node ${r.node}`, r?.step && `step ${r.step}`]
    .filter(Boolean)
    .join(', ')
  const verb = job.state === 'cancelled' ? 'was cancelled' : 'failed'
  return `:x: ${what} ${verb}${where ? ` (${where})` : ''} (job ${job.id}): ${(r?.message ?? r?.code ?? '').slice(0, 500)}`
}

export class Notifier {
  private readonly fetch: typeof fetch
  private readonly backoff: number[]
  private readonly now: () => number
  /** Posts in flight, so a test or a shutdown can wait for them. */
  private readonly inflight = new Set<Promise<void>>()
  /** The last report per job: a job's stages are reported one after another, never at once. */
  private readonly jobs = new Map<string, Promise<void>>()

  /** Where this class says what went wrong (the server's logger; nowhere by default). */
  private get log(): Logger {
    return this.o.log ?? silentLogger
  }

  constructor(private readonly o: NotifierOptions) {
    this.fetch = o.fetch ?? ((...a) => fetch(...a))
    this.backoff = o.backoffMs ?? [1000, 4000, 15_000]
    this.now = o.now ?? Date.now
  }

  /** Reports the job's stage to each of its targets, in the background. Never throws. */
  jobChanged(job: JobRecord, stage: NotificationStage): void {
    const p = (this.jobs.get(job.id) ?? Promise.resolve())
      .then(() => this.report(job, stage))
      .catch((e) => this.log.warn(`notify: ${e}`, { job: job.id, cluster: job.cluster }))
    this.jobs.set(job.id, p)
    this.inflight.add(p)
    void p.finally(() => {
      this.inflight.delete(p)
      if (this.jobs.get(job.id) === p) this.jobs.delete(job.id)
    })
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

  private async deliver(
    n: NotificationRecord,
    job: JobRecord,
    stage: NotificationStage
  ): Promise<void> {
    const text = summaryOf(job, stage)
    let attempts = n.attempts
    let lastError: string | null = null
    for (let i = 0; ; i++) {
      const skip = this.cannotPost(n, stage, attempts)
      if (skip) {
        lastError = `${stage}: not posted: ${skip}`
        await this.o.store.updateNotification(n.id, { lastError })
        break
      }
      attempts++
      try {
        await this.post(n, text)
        n.sent = [...n.sent, stage]
        await this.o.store.updateNotification(n.id, { sent: n.sent, attempts })
        return
      } catch (err) {
        lastError = `${stage}: ${(err as Error).message} (attempt ${i + 1})`
        await this.o.store.updateNotification(n.id, { attempts, lastError })
        if (i >= this.backoff.length) break
        await sleep(this.backoff[i])
      }
    }
    this.log.warn(`notify (${n.channel}): ${lastError}`, { job: job.id, cluster: job.cluster })
  }

  /** How each channel posts, and why it would not take a post now (or null). */
  private readonly channels: Record<Channel, ChannelDriver> = {
    slack: {
      cannotPost: (n, stage, attempts) => this.slackCannotPost(n, stage, attempts),
      post: (n, text) =>
        postSlack(
          n.target.responseUrl,
          { response_type: 'ephemeral', replace_original: false, text },
          this.fetch
        ),
    },
    jira: {
      cannotPost: () => null,
      post: async (n, text) => {
        const jira = this.o.jira
        if (!jira) throw new Error('no Jira connection is configured (hooks.jira.baseUrl)')
        if (!n.target.issueKey) throw new Error('the notification names no issue')
        return postJiraComment(jira, n.target.issueKey, text, this.fetch)
      },
    },
  }

  private cannotPost(
    n: NotificationRecord,
    stage: NotificationStage,
    attempts: number
  ): string | null {
    return this.channels[n.channel].cannotPost(n, stage, attempts)
  }

  private post(n: NotificationRecord, text: string): Promise<void> {
    return this.channels[n.channel].post(n, text)
  }

  /** Why Slack would not take another post on this response_url, or null. */
  private slackCannotPost(
    n: NotificationRecord,
    stage: NotificationStage,
    attempts: number
  ): string | null {
    const t = n.target as Partial<SlackTarget>
    const issued = Date.parse(t.issuedAt ?? '')
    if (!Number.isNaN(issued) && this.now() - issued > SLACK_URL_TTL_MS)
      return 'the response_url is older than 30 minutes'
    // Every attempt counts (a failed post may still count at Slack's end); one is kept for the end.
    const used = attempts + (Number(t.earlierPosts) || 0)
    const room = SLACK_MAX_POSTS - (stage === 'finished' ? 0 : 1)
    if (used >= room)
      return `the response_url takes at most ${SLACK_MAX_POSTS} posts (${used} made${room < SLACK_MAX_POSTS ? ', one kept for the end' : ''})`
    return null
  }
}

/**
 * Comments on a Jira issue (REST v2) as `berth: <text>`; a leading Slack shortcode becomes Jira's
 * own icon. Throws with Jira's reason (no such issue, no permission to comment) when refused.
 */
export async function postJiraComment(
  jira: JiraTarget,
  issueKey: string,
  text: string,
  fetchFn: typeof fetch = fetch
): Promise<void> {
  // REST v2 takes wiki markup, where (i) (/) (x) are Jira's own icons for Slack's shortcodes.
  const lead = text.match(/^:[a-z_]+: /)?.[0] ?? ''
  const res = await fetchFn(
    `${jira.baseUrl.replace(/\/$/, '')}/rest/api/2/issue/${encodeURIComponent(issueKey)}/comment`,
    {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        authorization: jira.authorization,
      },
      body: JSON.stringify({ body: `${JIRA_ICONS[lead] ?? ''}berth: ${text.slice(lead.length)}` }),
      signal: AbortSignal.timeout(10_000),
    }
  )
  if (!res.ok) throw new Error(`HTTP ${res.status} from jira${await jiraReason(res)}`)
  await res.body?.cancel()
}

const JIRA_ICONS: Record<string, string> = {
  ':hourglass_flowing_sand: ': '(i) ',
  ':white_check_mark: ': '(/) ',
  ':x: ': '(x) ',
}

/** `: <Jira's errorMessages and errors>`, or nothing when the body says nothing readable. */
async function jiraReason(res: Response): Promise<string> {
  try {
    const body = (await res.json()) as { errorMessages?: unknown; errors?: unknown }
    const messages = Array.isArray(body.errorMessages) ? body.errorMessages.map(String) : []
    const fields =
      body.errors && typeof body.errors === 'object'
        ? Object.entries(body.errors).map(([k, v]) => `${k}: ${v}`)
        : []
    const all = [...messages, ...fields].join('; ').slice(0, 300)
    return all ? `: ${all}` : ''
  } catch {
    return ''
  }
}
