/** Sign-in: a token pasted once; where to go after it rides along as `next`. */
import type { FC } from 'hono/jsx'

export const SignInPage: FC<{ next: string; error?: string; expired?: boolean }> = ({
  next,
  error,
  expired,
}) => (
  <>
    <h1>Sign in</h1>
    {expired ? (
      <p class="notice" role="status">
        Your session has ended: sign in again to go on to <code>{next}</code>.
      </p>
    ) : null}
    <form method="post" action="/sign-in" class="grid">
      <input type="hidden" name="next" value={next} />
      <label for="token">API token</label>
      <input
        id="token"
        name="token"
        type="password"
        autocomplete="off"
        required
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={error ? 'token-error' : 'token-help'}
      />
      <p id="token-help" class="dim">
        A token from <code>berth token create</code>. The page then uses a session cookie; the token
        is not kept in the browser.
      </p>
      {error ? (
        <p id="token-error" class="field-error" role="alert">
          {error}
        </p>
      ) : null}
      <button type="submit">Sign in</button>
    </form>
  </>
)
