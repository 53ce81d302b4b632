/**
 * Slack: `POST /hooks/slack` takes the `/berth` slash command, `POST /hooks/slack/interactive`
 * the clicks on its Confirm and Cancel buttons. Each request's v0 signature is checked over the
 * raw body before anything is parsed (401, nothing created). Slack shows nothing but a 200, so a
 * refusal is a polite ephemeral message with status 200, and it is audited. Jobs go through
 * submitJob like the API's; the Notifier reports their start and end to the response_url.
 */
import { Hono, type Context } from 'hono'
import type { ResultEvent } from '../../scripts/engine/events.ts'
import { forbidden, invalid, JobError, notFound, unauthorized } from '../errors.ts'
import { sha256Hex } from '../sha256.ts'
import { postSlack, reserveSlack, type SlackTarget } from '../notify.ts'
import type { JobRecord } from '../store/store.ts'
import { submitJob, type Submitter } from '../submit.ts'
import type { HooksConfig } from './config.ts'
import type { HookDeps } from './deps.ts'
import { background } from './background.ts'
import { verifySlack } from './signatures.ts'
import {
  acceptedText,
  describe,
  duplicateText,
  escapeSlack,
  jobRequestOf,
  jobsText,
  parseSlackCommand,
  refusalText,
  SLACK_HELP,
  slackAllowed,
  slackPrincipal,
  statusText,
  type JobCommand,
} from './slack-command.ts'
import {
  CANCEL_ACTION,
  CONFIRM_ACTION,
  CONFIRM_TTL_SECONDS,
  confirmMessage,
  openConfirm,
  sealConfirm,
  type ConfirmRequest,
} from './slack-confirm.ts'

type SlackConfig = NonNullable<HooksConfig['slack']>
type Message = {
  text: string
  response_type?: 'ephemeral'
  replace_original?: boolean
  blocks?: unknown[]
}

/** Slack waits 3 s for the answer; a status read slower than this is posted to response_url instead. */
const ANSWER_BUDGET_MS = 2000
const USER_ID = /^[UW][A-Z0-9]{2,20}$/
const TRIGGER_ID = /^[A-Za-z0-9._-]{1,100}$/

const say = (c: Context, text: string) =>
  c.json({ response_type: 'ephemeral', text } satisfies Message)

export function slackRoutes(deps: HookDeps) {
  const app = new Hono()
  const slack = deps.hooks.slack
  if (!slack) {
    app.all('*', () => {
      throw notFound('the Slack hook is not configured (hooks.slack)')
    })
    return app
  }
  const h = new SlackHandlers(deps, slack)
  app.post('/', (c) => h.command(c))
  app.post('/interactive', (c) => h.interactive(c))
  return app
}

/** Who sent a request, for permissions and the audit. */
interface Sender {
  user: string
  channel: string
  source: string
}

class SlackHandlers {
  private readonly now: () => number

  constructor(
    private readonly deps: HookDeps,
    private readonly slack: SlackConfig
  ) {
    this.now = deps.now ?? (() => Math.floor(Date.now() / 1000))
  }

  async command(c: Context): Promise<Response> {
    const raw = await c.req.text()
    // Slack's certificate check (ssl_check=1) expects a bare 200; it asks for nothing.
    if (new URLSearchParams(raw).get('ssl_check') === '1') return c.body(null, 200)
    const ts = await this.verified(c, raw)
    if (c.req.header('x-slack-retry-num') !== undefined) return c.body(null, 200)

    const form = new URLSearchParams(raw)
    const from = this.sender(form.get('user_id'), form.get('channel_id'))
    const responseUrl = this.usableUrl(form.get('response_url'))
    const cmd = parseSlackCommand(form.get('text') ?? '')
    if ('error' in cmd) return say(c, `Sorry — ${escapeSlack(cmd.error)}. Try \`/berth help\`.`)
    if (cmd.verb === 'help') return say(c, SLACK_HELP)
    const cluster = 'cluster' in cmd ? cmd.cluster : undefined
    if (!slackAllowed(this.slack.allow, from, cmd.verb, cluster)) {
      await this.refused(from, cmd.verb, cluster ?? null, 'no rule allows it', {
        text: (form.get('text') ?? '').slice(0, 200),
      })
      return say(c, refusalText(from.user, cmd.verb, cluster))
    }

    switch (cmd.verb) {
      case 'status':
        return c.json(await this.status(c, cmd.cluster, responseUrl))
      case 'jobs': {
        // Without a cluster: only the jobs on clusters this user may list.
        const jobs = (
          await this.deps.store.listJobs({ cluster: cmd.cluster, limit: cmd.cluster ? 5 : 100 })
        )
          .filter((j) => slackAllowed(this.slack.allow, from, 'jobs', j.cluster))
          .slice(0, 5)
        return say(c, jobsText(cmd.cluster, jobs, Date.now()))
      }
      case 'restore':
      case 'destroy': {
        const trigger = form.get('trigger_id') ?? ''
        const request: ConfirmRequest = {
          verb: cmd.verb,
          cluster: cmd.cluster,
          ...(cmd.verb === 'restore' ? { snapshot: cmd.snapshot } : {}),
          user: from.user,
          channel: from.channel,
          expires: this.now() + CONFIRM_TTL_SECONDS,
          nonce: TRIGGER_ID.test(trigger) ? trigger : crypto.randomUUID(),
        }
        return c.json(confirmMessage(request, await sealConfirm(this.slack.signingSecret, request)))
      }
      case 'install':
      case 'snapshot': {
        const trigger = form.get('trigger_id')
        const out = await this.submit(cmd, from, {
          idempotencyKey:
            trigger && TRIGGER_ID.test(trigger)
              ? `slack:${trigger}`
              : `slack:${await sha256Hex(`${ts}${raw}`)}`,
          bodyHash: await sha256Hex(raw),
          target: !responseUrl
            ? null
            : { responseUrl, issuedAt: new Date(ts * 1000).toISOString() },
        })
        return say(c, out.text)
      }
    }
  }

  async interactive(c: Context): Promise<Response> {
    const raw = await c.req.text()
    const ts = await this.verified(c, raw)
    if (c.req.header('x-slack-retry-num') !== undefined) return c.body(null, 200)

    const payload = readPayload(raw)
    const action = payload.actions?.[0]
    // Only our two buttons mean anything; any other interaction is acknowledged and ignored.
    if (
      payload.type !== 'block_actions' ||
      !action ||
      ![CONFIRM_ACTION, CANCEL_ACTION].includes(action.action_id ?? '')
    ) {
      return c.body(null, 200)
    }
    const from = this.sender(payload.user?.id, payload.channel?.id ?? payload.container?.channel_id)
    const opened = await openConfirm(
      this.slack.signingSecret,
      typeof action.value === 'string' ? action.value : ''
    )
    if (!opened.ok) {
      await this.refused(from, 'confirm', null, opened.reason, null)
      throw forbidden(opened.reason)
    }
    const req = opened.request
    const responseUrl = this.usableUrl(payload.response_url)
    const reply = (m: Omit<Message, 'response_type'>) =>
      responseUrl &&
      background(
        c,
        postSlack(responseUrl, { response_type: 'ephemeral', ...m }),
        'slack: a post to response_url'
      )

    if (from.user !== req.user) {
      await this.refused(from, `confirm.${req.verb}`, req.cluster, `asked by ${req.user}`, null)
      reply({
        replace_original: false,
        text: `Sorry <@${from.user}>, only <@${req.user}>, who asked, can confirm this ${req.verb}.`,
      })
      return c.body(null, 200)
    }
    if (action.action_id === CANCEL_ACTION) {
      reply({
        replace_original: true,
        text: `Cancelled: ${req.verb} *${req.cluster}* was not started.`,
      })
      return c.body(null, 200)
    }
    if (req.expires < this.now()) {
      reply({
        replace_original: true,
        text: `This confirmation expired (after ${CONFIRM_TTL_SECONDS / 60} minutes); nothing was done. Run the command again.`,
      })
      return c.body(null, 200)
    }
    // Asked for the person who clicks, from where they asked: rules may have changed since.
    const asker = { ...from, channel: req.channel }
    if (!slackAllowed(this.slack.allow, asker, req.verb, req.cluster)) {
      await this.refused(asker, `confirm.${req.verb}`, req.cluster, 'no rule allows it', null)
      reply({ replace_original: true, text: refusalText(from.user, req.verb, req.cluster) })
      return c.body(null, 200)
    }

    const value = action.value as string
    const sealedHash = await sha256Hex(value)
    const cmd: JobCommand =
      req.verb === 'restore'
        ? { verb: 'restore', cluster: req.cluster, snapshot: req.snapshot ?? '' }
        : { verb: 'destroy', cluster: req.cluster }
    // The "accepted" that replaces the buttons takes its place before the job can start.
    const accepted = responseUrl ? reserveSlack(responseUrl) : null
    let out: Awaited<ReturnType<SlackHandlers['submit']>>
    try {
      out = await this.submit(cmd, asker, {
        idempotencyKey: `slack-confirm:${sealedHash}`,
        // A double click is a second request with another body: the job is the button's, not the body's.
        bodyHash: sealedHash,
        target: !responseUrl
          ? null
          : { responseUrl, issuedAt: new Date(ts * 1000).toISOString(), earlierPosts: '1' },
      })
    } catch (err) {
      accepted?.cancel()
      throw err
    }
    // A double click: the first click has answered already, and Slack's 5 posts are precious.
    if (out.existing || !accepted) {
      accepted?.cancel()
      return c.body(null, 200)
    }
    const posted = accepted.post({
      response_type: 'ephemeral',
      replace_original: true,
      text: out.text,
    })
    background(
      c,
      posted.catch(async (err) => {
        if (out.notification)
          await this.deps.store.updateNotification(out.notification, {
            lastError: `accepted: ${(err as Error).message}`,
          })
        throw err
      }),
      'slack: a post to response_url'
    )
    return c.body(null, 200)
  }

  /**
   * Submits the job with its notification row (recorded before the job can start). A JobError (no such topology, a key reused, draining) becomes a polite reply.
   */
  private async submit(
    cmd: JobCommand,
    from: Sender,
    o: { idempotencyKey: string; bodyHash: string; target: SlackTarget | null }
  ): Promise<{ text: string; existing: boolean; notification?: number }> {
    const who: Submitter = {
      who: slackPrincipal(this.slack.allow, from, this.deps.policy.default),
      source: from.source,
      idempotencyKey: o.idempotencyKey,
      bodyHash: o.bodyHash,
      notify: o.target ? [{ channel: 'slack', target: { ...o.target } }] : [],
    }
    let made: { job: JobRecord; existing: boolean }
    try {
      made = await submitJob(this.deps, jobRequestOf(cmd), who)
    } catch (err) {
      if (!(err instanceof JobError)) throw err
      return {
        text: `Sorry — I could not start ${describe(cmd)}: ${escapeSlack(err.message)}.`,
        existing: false,
      }
    }
    const { job, existing } = made
    if (existing) return { text: duplicateText(job), existing }
    const [row] = await this.deps.store.notificationsFor(job.id)
    return {
      text: acceptedText(cmd, job, await this.placeOf(job)),
      existing,
      notification: row?.id,
    }
  }

  /** How many jobs on its cluster run or wait before this one; -1 once it has finished. */
  private async placeOf(job: JobRecord): Promise<number> {
    const waiting = await this.deps.store.jobsInState(['running', 'queued'])
    return waiting.filter((j) => j.cluster === job.cluster).findIndex((j) => j.id === job.id)
  }

  /** status <cluster>: the engine read at once if it is quick, else posted to response_url when done. */
  private async status(c: Context, cluster: string, responseUrl: string | null): Promise<Message> {
    const read = this.deps.queue.inspect({ kind: 'status', cluster }).then(
      (r) => statusText(cluster, r),
      (e) => statusText(cluster, { ok: false, code: 'internal', message: String(e) } as ResultEvent)
    )
    const quick = await within(read, ANSWER_BUDGET_MS)
    if (quick !== undefined) return { response_type: 'ephemeral', text: quick }
    if (responseUrl)
      background(
        c,
        read.then((text) => postSlack(responseUrl, { response_type: 'ephemeral', text })),
        'slack: a post to response_url'
      )
    return {
      response_type: 'ephemeral',
      text: `Reading *${cluster}* from the Docker host… the answer follows here.`,
    }
  }

  /** The signed timestamp (seconds), once the v0 signature over the raw body is right; else 401. */
  private async verified(c: Context, raw: string): Promise<number> {
    const headers = {
      signature: c.req.header('x-slack-signature'),
      timestamp: c.req.header('x-slack-request-timestamp'),
    }
    const verdict = await verifySlack(this.slack.signingSecret, headers, raw, this.now())
    if (!verdict.ok) throw unauthorized(`not a signed Slack request: ${verdict.reason}`)
    return Number(headers.timestamp)
  }

  private sender(user: string | null | undefined, channel: string | null | undefined): Sender {
    if (!user || !USER_ID.test(user)) throw invalid('user_id: missing or not a Slack user id')
    const ch = channel && /^[A-Z0-9]{1,40}$/.test(channel) ? channel : ''
    return { user, channel: ch, source: `slack:${ch || 'unknown-channel'}` }
  }

  /** A response_url berth may post to: under hooks.slack.responseUrlPrefix, else none. */
  private usableUrl(url: unknown): string | null {
    const prefix = this.slack.responseUrlPrefix
    if (typeof url !== 'string' || url.length > 2000 || !url.startsWith(prefix)) return null
    try {
      // A prefix without a path ("https://hooks.slack.com") must not admit hooks.slack.com.evil.
      return new URL(url).origin === new URL(prefix).origin ? url : null
    } catch {
      return null
    }
  }

  private async refused(
    from: Sender,
    action: string,
    target: string | null,
    reason: string,
    detail: Record<string, unknown> | null
  ) {
    await this.deps.store.audit({
      actor: `slack:${from.user}`,
      source: from.source,
      action: `slack.${action}`,
      target,
      outcome: 'refused',
      detail: { reason, ...detail },
    })
  }
}

interface InteractivePayload {
  type?: string
  user?: { id?: string }
  channel?: { id?: string }
  container?: { channel_id?: string }
  response_url?: string
  actions?: { action_id?: string; value?: unknown }[]
}

/** `payload=<JSON>`, form-encoded (read only once the signature is checked). */
function readPayload(raw: string): InteractivePayload {
  const text = new URLSearchParams(raw).get('payload')
  if (!text) throw invalid('payload: missing from the interactive request')
  try {
    const value: unknown = JSON.parse(text)
    if (value && typeof value === 'object' && !Array.isArray(value)) return value
  } catch {
    // answered below
  }
  throw invalid('payload: not a JSON object')
}

/** The value, if `p` settles within `ms`; undefined otherwise (the timer goes either way). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}
