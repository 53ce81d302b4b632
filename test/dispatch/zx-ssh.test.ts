/** The dispatcher contract over a real OpenSSH server on 127.0.0.1 (test/helpers/sshd.ts). */
import { ZxDispatcher } from '../../functions/dispatch/zx.ts'
import { startSshd } from '../helpers/sshd.ts'
import { dispatcherContract } from './dispatcher.case.ts'

const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname

dispatcherContract('zx ssh', async () => {
  const sshd = await startSshd()
  const { stop, ...target } = sshd
  return {
    dispatcher: new ZxDispatcher({
      mode: 'ssh',
      ...target,
      // The remote shell starts in the user's home with a login PATH: absolute paths only.
      berth: [process.execPath, BIN],
      graceMs: 10_000,
    }),
    cleanup: stop,
  }
})
