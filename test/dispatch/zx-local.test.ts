import { ZxDispatcher } from '../../functions/dispatch/zx.ts'
import { dispatcherContract } from './dispatcher.case.ts'

const BIN = new URL('../../bin/berth.mjs', import.meta.url).pathname

dispatcherContract('zx local', async () => ({
  dispatcher: new ZxDispatcher({ mode: 'local', berth: [process.execPath, BIN], graceMs: 10_000 }),
  cleanup: async () => {},
}))
