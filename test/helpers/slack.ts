/**
 * Slack as a test sends it: slash-command and button-click bodies, form-encoded, signed with
 * node:crypto (on purpose not with the code under test) the way Slack signs them.
 */
import { createHmac, randomUUID } from 'node:crypto'

export const unixNow = () => Math.floor(Date.now() / 1000)

/** `v0=<hex HMAC-SHA256(secret, "v0:<ts>:<body>")>` */
export function slackSignature(secret: string, timestamp: number | string, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`
}

/** The headers Slack sends with a body: content type, timestamp, signature. */
export function signedHeaders(
  secret: string,
  body: string,
  timestamp: number = unixNow()
): Record<string, string> {
  return {
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': String(timestamp),
    'x-slack-signature': slackSignature(secret, timestamp, body),
  }
}

/** A fresh trigger_id in Slack's shape (digits.digits.hex). */
export const triggerId = () =>
  `${Date.now()}.${Math.floor(Math.random() * 1e9)}.${randomUUID().replace(/-/g, '')}`

export interface CommandFields {
  text: string
  user_id?: string
  channel_id?: string
  response_url?: string
  trigger_id?: string
}

/** A `/berth …` slash command body, fields in Slack's order. */
export function commandBody(f: CommandFields): string {
  return new URLSearchParams({
    token: 'legacy-verification-token',
    team_id: 'T0BERTH',
    team_domain: 'berth',
    channel_id: f.channel_id ?? 'C0OPS',
    channel_name: 'ops',
    user_id: f.user_id ?? 'U0OPS',
    user_name: 'ops',
    command: '/berth',
    text: f.text,
    api_app_id: 'A0BERTH',
    response_url: f.response_url ?? 'https://hooks.slack.com/commands/T0BERTH/1/x',
    trigger_id: f.trigger_id ?? triggerId(),
  }).toString()
}

export interface ClickFields {
  user_id: string
  action_id: 'berth_confirm' | 'berth_cancel'
  value: string
  response_url: string
  channel_id?: string
}

/** A block_actions payload for a click on one of the buttons of an ephemeral message. */
export function clickBody(f: ClickFields): string {
  const now = (Date.now() / 1000).toFixed(6)
  const payload = {
    type: 'block_actions',
    user: { id: f.user_id, username: f.user_id.toLowerCase(), team_id: 'T0BERTH' },
    api_app_id: 'A0BERTH',
    token: 'legacy-verification-token',
    container: {
      type: 'message',
      message_ts: now,
      channel_id: f.channel_id ?? 'C0OPS',
      is_ephemeral: true,
    },
    trigger_id: triggerId(),
    team: { id: 'T0BERTH', domain: 'berth' },
    channel: { id: f.channel_id ?? 'C0OPS', name: 'ops' },
    response_url: f.response_url,
    actions: [
      { action_id: f.action_id, block_id: 'b1', type: 'button', value: f.value, action_ts: now },
    ],
  }
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString()
}
