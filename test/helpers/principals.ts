import { tokenPrincipal, type Principal } from '../../functions/principal.ts'

/** An admin token's principal, for tests that submit jobs without going through HTTP. */
export const adminWho = (name = 'test'): Principal =>
  tokenPrincipal({ name, scopes: ['admin'], clusters: ['*'], level: null }, 'restricted')
