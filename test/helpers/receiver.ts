/**
 * A tiny real HTTP receiver on 127.0.0.1: stands in for Slack's response_url, a Jira REST API or
 * any other endpoint berth posts to. Records every request in arrival order (the failed ones
 * too, with the status it was answered with), and can be told to fail the next few.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface ReceivedPost {
  method: string
  path: string
  headers: IncomingHttpHeaders
  body: string
  /** Date.now() when the body had arrived. */
  at: number
  /** The status this request was answered with. */
  status: number
}

export interface Receiver {
  /** http://127.0.0.1:<port>, no trailing slash. */
  url: string
  posts: ReceivedPost[]
  /** Resolves with the posts (those `where` keeps, if given) once there are at least `n`; rejects after `ms`. */
  waitFor(n: number, ms?: number, where?: (p: ReceivedPost) => boolean): Promise<ReceivedPost[]>
  /** The next `n` requests are answered with `status` (and recorded). */
  failNext(n: number, status?: number): void
  /** The next `n` requests are answered only after `ms` (recorded on arrival all the same). */
  slowNext(n: number, ms: number): void
  /** Requests whose path starts with `prefix` are answered 200 with this JSON (a REST API's read). */
  answerJson(prefix: string, json: unknown): void
  close(): Promise<void>
}

export async function startReceiver(): Promise<Receiver> {
  const posts: ReceivedPost[] = []
  const waiters = new Set<() => void>()
  let failing = { n: 0, status: 500 }
  let slow = { n: 0, ms: 0 }
  const answers = new Map<string, unknown>()

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const status = failing.n > 0 ? (failing.n--, failing.status) : 200
      posts.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
        status,
      })
      const delay = slow.n > 0 ? (slow.n--, slow.ms) : 0
      const answer = [...answers].find(([prefix]) => (req.url ?? '').startsWith(prefix))
      setTimeout(() => {
        if (answer && status === 200)
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer[1]))
        else
          res
            .writeHead(status, { 'content-type': 'text/plain' })
            .end(status === 200 ? 'ok' : 'failing on purpose')
      }, delay)
      for (const wake of waiters) wake()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}`,
    posts,
    waitFor(n, ms = 10_000, where = () => true) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const mine = posts.filter(where)
          if (mine.length < n) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve(mine)
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          const seen = posts
            .map((p) => `${p.status} ${p.path} ${p.body.slice(0, 120)}`)
            .join('\n  ')
          reject(
            new Error(
              `the receiver got ${posts.filter(where).length} of ${n} posts within ${ms} ms; all it got:\n  ${seen}`
            )
          )
        }, ms)
        waiters.add(check)
        check()
      })
    },
    failNext(n, status = 500) {
      failing = { n, status }
    },
    slowNext(n, ms) {
      slow = { n, ms }
    },
    answerJson(prefix, json) {
      answers.set(prefix, json)
    },
    close() {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
