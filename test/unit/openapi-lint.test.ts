/**
 * The OpenAPI document berth serves passes `redocly lint --extends recommended` (npm run
 * lint:openapi, the same check) with no error, no warning and nothing ignored; each problem is
 * named. And what the recommended rules asked of it stays true in its own terms: every operation
 * has a unique camelCase operationId, its security said (a bearer scope, or none on the public
 * routes and the signed hooks), its 4xx answers, and every error answer is the one envelope.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { openApiDocument } from '../../functions/openapi.ts'
import { describeProblem, lintOpenApi } from '../../scripts/openapi/lint.ts'

type Operation = {
  operationId?: string
  security?: unknown[]
  'x-berth-signature'?: string
  responses: Record<
    string,
    { $ref?: string; content?: Record<string, { schema: { $ref?: string } }> }
  >
}

const doc = openApiDocument()
const operations = Object.entries(doc.paths as Record<string, Record<string, Operation>>).flatMap(
  ([path, item]) =>
    Object.entries(item).map(([method, op]) => ({
      where: `${method.toUpperCase()} ${path}`,
      path,
      op,
    }))
)

test('redocly lint --extends recommended: 0 errors, 0 warnings, nothing ignored', () => {
  const report = lintOpenApi()
  assert.equal(report.problems.map(describeProblem), [], 'the problems redocly names')
  assert.equal(
    { errors: report.errors, warnings: report.warnings, ignored: report.ignored },
    { errors: 0, warnings: 0, ignored: 0 }
  )
})

test('every operation: a unique camelCase operationId', () => {
  const ids = operations.map(({ op }) => op.operationId)
  for (const [i, id] of ids.entries())
    assert.match(
      id ?? '',
      /^[a-z]+(?:[A-Z][a-z0-9]*)+$/,
      `${operations[i].where}: operationId ${id}`
    )
  assert.is(new Set(ids).size, ids.length, 'operationIds are unique')
  assert.ok(
    ids.includes('submitJob') &&
      ids.includes('getJob') &&
      ids.includes('streamJobEvents') &&
      ids.includes('cancelJob')
  )
})

test('security: a bearer token (or a dashboard session), or none said out loud on the public routes and on the signed hooks (with their scheme)', () => {
  for (const { where, path, op } of operations) {
    assert.ok(Array.isArray(op.security), `${where}: security is stated`)
    if (path === '/healthz' || path === '/v1/openapi.json')
      assert.equal(op.security, [], `${where} is public`)
    else if (path.startsWith('/hooks/')) {
      assert.equal(op.security, [], `${where}: no bearer token`)
      assert.match(op['x-berth-signature'] ?? '', /^X-/, `${where}: the signature header`)
      assert.match(
        (op as { description?: string }).description ?? '',
        /HMAC-SHA256/,
        `${where}: the signature scheme is described`
      )
    } else
      assert.equal(
        op.security,
        [{ bearer: [] }, { session: [] }],
        `${where}: a bearer token, or a session`
      )
  }
})

test('every operation answers a 4xx; every JSON error answer is the Error envelope', () => {
  for (const { where, op } of operations) {
    const codes = Object.keys(op.responses)
    assert.ok(
      codes.some((c) => /^4\d\d$/.test(c)),
      `${where}: a 4xx`
    )
    for (const [code, res] of Object.entries(op.responses)) {
      if (!/^[45]/.test(code) || res.$ref) continue
      const schema = res.content?.['application/json']?.schema.$ref
      // The one non-error 4xx: cancelling a finished job answers 409 with { ok: true, outcome: 'finished' }.
      const expected =
        where === 'POST /v1/jobs/{id}/cancel' && code === '409'
          ? '#/components/schemas/CancelOutcome'
          : '#/components/schemas/Error'
      assert.is(schema, expected, `${where} ${code}`)
    }
  }
})

test.run()
