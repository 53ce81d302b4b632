/**
 * Restore and destroy wait for a click on Confirm. Stateless: the button's value carries the
 * request itself (who asked, what, until when) sealed with an HMAC keyed by the signing secret,
 * so nothing is stored until the click and a value nobody sealed is refused. Runtime-neutral.
 */
import { z } from 'zod'
import { CLUSTER_NAME, SNAPSHOT_ID } from '../../scripts/engine/labels.ts'
import { hmacSha256Hex, safeEqual } from './signatures.ts'
import { describe } from './slack-command.ts'

/** How long a Confirm button works after the command. */
export const CONFIRM_TTL_SECONDS = 300

export const CONFIRM_ACTION = 'berth_confirm'
export const CANCEL_ACTION = 'berth_cancel'

export const ConfirmRequest = z.strictObject({
  verb: z.enum(['restore', 'destroy']),
  cluster: z.string().regex(CLUSTER_NAME),
  snapshot: z.string().regex(SNAPSHOT_ID).optional(),
  /** Only this user may confirm; the permission is checked again for them, from this channel. */
  user: z.string().min(1).max(40),
  channel: z.string().max(40),
  /** Unix seconds after which Confirm does nothing. */
  expires: z.number().int(),
  /** The command's trigger_id: two commands alike are two confirmations, a double click is one. */
  nonce: z.string().min(1).max(100),
})
export type ConfirmRequest = z.infer<typeof ConfirmRequest>

// A prefix of its own, so a confirmation can never be mistaken for any other signed text.
const sealed = (secret: string, payload: string) =>
  hmacSha256Hex(secret, `berth-confirm:${payload}`)

function toBase64Url(text: string): string {
  let bin = ''
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b)
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

function fromBase64Url(b64: string): string {
  const bin = atob(b64.replace(/-/g, '+').replace(/_/g, '/'))
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)))
}

/** `<base64url JSON>.<hex HMAC>`: well under Slack's 2,000 characters for a button value. */
export async function sealConfirm(secret: string, req: ConfirmRequest): Promise<string> {
  const payload = toBase64Url(JSON.stringify(ConfirmRequest.parse(req)))
  return `${payload}.${await sealed(secret, payload)}`
}

/** The request a value carries, or why it is refused (not sealed by us, or not a request). Expiry is the caller's. */
export async function openConfirm(
  secret: string,
  value: string
): Promise<{ ok: true; request: ConfirmRequest } | { ok: false; reason: string }> {
  const m = /^([A-Za-z0-9_-]{1,1800})\.([0-9a-f]{64})$/.exec(value)
  if (!m) return { ok: false, reason: 'the confirmation is malformed' }
  if (!safeEqual(m[2], await sealed(secret, m[1])))
    return {
      ok: false,
      reason: 'the confirmation was not issued by berth (its seal does not match)',
    }
  try {
    const r = ConfirmRequest.safeParse(JSON.parse(fromBase64Url(m[1])))
    if (r.success) return { ok: true, request: r.data }
  } catch {
    // Sealed by us but unreadable: only a change to this file could do that; refused alike.
  }
  return { ok: false, reason: 'the confirmation does not hold a request' }
}

/** The ephemeral question with its two buttons; both carry the sealed value. */
export function confirmMessage(req: ConfirmRequest, value: string) {
  const what =
    req.verb === 'restore'
      ? `Restore *${req.cluster}* from snapshot \`${req.snapshot}\`? The running cluster is replaced by the snapshot (the swap happens only once the restored nodes are healthy).`
      : `Destroy *${req.cluster}*? Its containers and network are removed; its volumes are kept.`
  const label = req.verb === 'restore' ? `Restore ${req.cluster}` : `Destroy ${req.cluster}`
  return {
    response_type: 'ephemeral',
    text: `Confirm: ${describe(req)}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: what } },
      {
        type: 'actions',
        elements: [
          {
            type: 'button',
            action_id: CONFIRM_ACTION,
            style: 'danger',
            text: { type: 'plain_text', text: label.slice(0, 75) },
            value,
          },
          {
            type: 'button',
            action_id: CANCEL_ACTION,
            text: { type: 'plain_text', text: 'Cancel' },
            value,
          },
        ],
      },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `Only <@${req.user}> can confirm; the button works for ${CONFIRM_TTL_SECONDS / 60} minutes.`,
          },
        ],
      },
    ],
  }
}
