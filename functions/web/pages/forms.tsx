/** What every form shares: the CSRF field, and the typed confirmation of a destructive action. */
import type { Child, FC } from 'hono/jsx'

export const Csrf: FC<{ value: string }> = ({ value }) => (
  <input type="hidden" name="_csrf" value={value} />
)

/**
 * A destructive action asks for the cluster's name typed out (as GitHub asks for a repository's):
 * the server compares it, so a click alone, or a form posted by anything but a person reading
 * the page, does nothing.
 */
export const Confirm: FC<{
  title: string
  action: string
  cluster: string
  csrf: string
  verb: string
  error?: string
  children?: Child
}> = ({ title, action, cluster, csrf, verb, error, children }) => (
  <>
    <h1>{title}</h1>
    <form method="post" action={action} class="grid confirm">
      <Csrf value={csrf} />
      {children}
      <label for="confirm">
        Type <strong>{cluster}</strong> to confirm
      </label>
      <input
        id="confirm"
        name="confirm"
        required
        autocomplete="off"
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={error ? 'confirm-error' : undefined}
        data-must-equal={cluster}
      />
      {error ? (
        <p id="confirm-error" class="field-error" role="alert">
          {error}
        </p>
      ) : null}
      <button type="submit" class="danger" data-enable-when="confirm">
        {verb}
      </button>
      <a href={`/clusters/${cluster}`}>Cancel</a>
    </form>
  </>
)
