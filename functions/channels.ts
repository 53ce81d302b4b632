/**
 * Where berth reports on a job that came from a chat or a ticket: the notification channels. One
 * list, from which the stores' and the queue's types come; the notifications table's CHECK
 * (infra/migrations/0002_notifications.sql) must say the same, which a unit test holds it to.
 * How each channel posts is the Notifier's table (notify.ts). Runtime-neutral.
 */
export const CHANNELS = ['slack', 'jira'] as const
export type Channel = (typeof CHANNELS)[number]
