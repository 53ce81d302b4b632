/**
 * The page shell every dashboard page shares: the header with what the viewer may open, the one
 * style sheet and the one script (deferred: every page reads whole without it). `streamPage`
 * sends the shell at once and the body when it is ready, so a page whose body waits on the
 * Docker host still starts at once.
 */
import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { Child, FC } from 'hono/jsx'
import { JobError, type Issue } from '../errors.ts'
import type { AssetPaths } from './assets.ts'

export interface Viewer {
  name: string
  admin: boolean
  csrf: string
}

export interface Chrome {
  assets: AssetPaths
  viewer: Viewer | null
  /** The path of the page, for the header's current link. */
  path: string
}

const NavLink: FC<{ href: string; path: string; children: Child }> = ({ href, path, children }) => {
  const current =
    href === '/' ? path === '/' || path.startsWith('/clusters') : path.startsWith(href)
  return (
    <a href={href} aria-current={current ? 'page' : undefined}>
      {children}
    </a>
  )
}

export const Layout: FC<{ chrome: Chrome; title: string; children?: Child }> = ({
  chrome,
  title,
  children,
}) => {
  const v = chrome.viewer
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · berth`}</title>
        <link rel="stylesheet" href={chrome.assets.css} />
        <script src={chrome.assets.js} defer></script>
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/">
            berth
          </a>
          {v ? (
            <nav aria-label="Main">
              <NavLink href="/" path={chrome.path}>
                Clusters
              </NavLink>
              <NavLink href="/jobs" path={chrome.path}>
                Jobs
              </NavLink>
              <NavLink href="/topologies" path={chrome.path}>
                Topologies
              </NavLink>
              {v.admin ? (
                <NavLink href="/audit" path={chrome.path}>
                  Audit
                </NavLink>
              ) : null}
            </nav>
          ) : null}
          {v ? (
            <form class="who" method="post" action="/sign-out">
              <span>
                signed in as <strong>{v.name}</strong>
              </span>
              <input type="hidden" name="_csrf" value={v.csrf} />
              <button type="submit" class="link">
                Sign out
              </button>
            </form>
          ) : null}
        </header>
        <main id="main">{children}</main>
      </body>
    </html>
  )
}

/** JSX to HTML text: hono's nodes render through toString, which is async when a component is. */
export async function render(el: unknown): Promise<string> {
  return String(await (el as { toString(): string | Promise<string> }).toString())
}

/** A whole page, rendered then sent. */
export async function page(
  c: Context,
  chrome: Chrome,
  title: string,
  body: Child,
  status: ContentfulStatusCode = 200
): Promise<Response> {
  const html = await render(
    <Layout chrome={chrome} title={title}>
      {body}
    </Layout>
  )
  return c.html(`<!doctype html>${html}`, status)
}

const MARK = '\u0000body\u0000'

/**
 * The shell at once, the body when `body` resolves. A failure after the first byte is shown in
 * the page (its status is sent already): a JobError as its message, anything else as a bug.
 */
export async function streamPage(
  chrome: Chrome,
  title: string,
  body: () => Promise<Child>,
  onError: (err: unknown) => void
): Promise<Response> {
  const shell = await render(
    <Layout chrome={chrome} title={title}>
      {MARK}
    </Layout>
  )
  const [head, tail] = shell.split(MARK)
  const enc = new TextEncoder()
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(enc.encode(`<!doctype html>${head}`))
      // Out to the socket before the body's work, even when that work never yields (SQLite).
      await new Promise((resolve) => setTimeout(resolve, 0))
      let inner: string
      try {
        inner = await render(<>{await body()}</>)
      } catch (err) {
        if (!(err instanceof JobError)) onError(err)
        inner = await render(<ErrorBlock err={err} />)
      }
      controller.enqueue(enc.encode(inner + tail))
      controller.close()
    },
  })
  return new Response(stream, { headers: { 'content-type': 'text/html; charset=utf-8' } })
}

/** Each problem at its path (`nodes[3].name: …`): a topology's, a form's, the policy's. */
export const IssueList: FC<{ issues: Issue[]; id?: string }> = ({ issues, id }) => (
  <ul class="issues" id={id}>
    {issues.map((i) => (
      <li>
        <code>{i.path}</code>: {i.message}
      </li>
    ))}
  </ul>
)

/** What went wrong, as a page section: a 404 says so, a refusal lists each path. */
export const ErrorBlock: FC<{ err: unknown }> = ({ err }) => {
  if (!(err instanceof JobError))
    return (
      <section class="error" role="alert">
        <h1>Something went wrong</h1>
        <p>berth hit a bug answering this page; its log says more.</p>
      </section>
    )
  const heading =
    err.code === 'not_found'
      ? 'Not found'
      : err.code === 'forbidden'
        ? 'Refused'
        : err.code === 'invalid_request'
          ? 'Not valid'
          : err.status >= 500
            ? 'The Docker host did not answer'
            : 'Not done'
  return (
    <section class="error" role="alert">
      <h1>{heading}</h1>
      <p class="message">{err.message.split('\n')[0]}</p>
      {err.issues?.length ? <IssueList issues={err.issues} /> : null}
    </section>
  )
}
