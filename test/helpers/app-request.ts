/** In-process requests to the app (`app.request`), as the HTTP tier's tests make them. */

/** What the tests read of a response (JSON bodies are checked field by field, so typed loosely). */
export interface Res {
  status: number
  json(): Promise<any> // eslint-disable-line @typescript-eslint/no-explicit-any
  text(): Promise<string>
}

export interface CallOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string
  /** JSON-encoded unless already text (then sent as is, to test malformed bodies). */
  body?: unknown
  headers?: Record<string, string>
}

interface Requestable {
  request(path: string, init: RequestInit): Response | Promise<Response>
}

/** `call(method, path, opts)` on the app `app()` returns (read at each call: suites set it up in `before`). */
export function caller(app: () => Requestable) {
  return (method: string, path: string, opts: CallOptions = {}): Promise<Res> => {
    const headers: Record<string, string> = { ...opts.headers }
    if (opts.token) headers.authorization = `Bearer ${opts.token}`
    let body: string | undefined
    if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body)
      headers['content-type'] ??= 'application/json'
    }
    return Promise.resolve(app().request(path, { method, headers, body }))
  }
}
