import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { BerthError } from '../../scripts/engine/errors.ts'
import {
  DEFAULT_MIRROR,
  DEFAULT_SUITE,
  explainFailure,
  importChanges,
  mmdebstrapArgs,
  parseRecipe,
  RECIPE_LABEL,
  splitTag,
} from '../../scripts/image/debian-recipe.ts'

const base = { tag: 'berth/codenvy-puppet:1', packages: 'puppetserver,nginx-light' }

function refused(input: Parameters<typeof parseRecipe>[0]): BerthError {
  try {
    parseRecipe(input)
  } catch (err) {
    assert.instance(err, BerthError)
    return err as BerthError
  }
  assert.unreachable(`expected ${JSON.stringify(input)} to be refused`)
  throw new Error('unreachable')
}

test('the recipe hash does not depend on the order or repetition of the packages', () => {
  const a = parseRecipe({ ...base, packages: 'puppetserver,nginx-light,procps' })
  const b = parseRecipe({ ...base, packages: 'procps, nginx-light,puppetserver,procps' })
  assert.is(a.hash, b.hash)
  assert.equal(b.packages, ['nginx-light', 'procps', 'puppetserver'])
  assert.match(a.hash, /^[0-9a-f]{64}$/)
})

test('the recipe hash changes with the suite, the packages and the mirror, not with the tag', () => {
  const h = (over: object) => parseRecipe({ ...base, ...over }).hash
  const first = h({})
  assert.is.not(h({ suite: 'trixie' }), first)
  assert.is.not(h({ packages: 'puppetserver' }), first)
  assert.is.not(h({ packages: 'puppetserver,nginx-light,procps' }), first)
  assert.is.not(h({ mirror: 'http://ftp.de.debian.org/debian' }), first)
  assert.is(h({ mirror: `${DEFAULT_MIRROR}/` }), first, 'a trailing slash is the same mirror')
  assert.is(h({ suite: DEFAULT_SUITE }), first, 'the default suite is bookworm')
  assert.is(h({ tag: 'other/name:2' }), first)
})

test('defaults, tag halves and the import changes', () => {
  const r = parseRecipe({ tag: 'berth-test/hello', packages: 'hello' })
  assert.equal(
    [r.suite, r.mirror, r.repo, r.tag],
    [DEFAULT_SUITE, DEFAULT_MIRROR, 'berth-test/hello', 'latest']
  )
  assert.equal(splitTag('localhost:5000/a/b:7'), { repo: 'localhost:5000/a/b', tag: '7' })
  assert.equal(splitTag('localhost:5000/a/b'), { repo: 'localhost:5000/a/b', tag: 'latest' })
  const changes = importChanges(r)
  assert.ok(changes.includes(`LABEL ${RECIPE_LABEL}=${r.hash}`))
  assert.ok(changes.some((c) => c.startsWith('ENV PATH=') && c.includes('/usr/sbin')))
  assert.ok(changes.some((c) => /^CMD \[/.test(c)))
  assert.equal(mmdebstrapArgs(r), [
    '--variant=minbase',
    '--include=hello',
    'bookworm',
    '-',
    DEFAULT_MIRROR,
  ])
})

test('a wrong option is refused with exit 2, naming the option', () => {
  const cases: [object, RegExp][] = [
    [{ packages: 'hello' }, /^--tag: .*required/],
    [{ tag: 'Berth/Image:1', packages: 'hello' }, /^--tag: "Berth\/Image:1" .*lowercase/],
    [{ tag: 'berth/image:bad tag', packages: 'hello' }, /^--tag: .*whitespace/],
    [{ tag: `berth/image@sha256:${'a'.repeat(64)}`, packages: 'hello' }, /^--tag: .*digest/],
    [{ tag: 'berth/image:1' }, /^--packages: at least one/],
    [{ tag: 'berth/image:1', packages: ' , ' }, /^--packages: at least one/],
    [
      { tag: 'berth/image:1', packages: 'hello,Nginx' },
      /^--packages: "Nginx" is not a Debian package name/,
    ],
    [
      { tag: 'berth/image:1', packages: 'x,a;b' },
      /^--packages: "x", "a;b" are not Debian package names/,
    ],
    [{ tag: 'berth/image:1', packages: 'hello', suite: 'Bookworm' }, /^--suite: "Bookworm"/],
    [
      { tag: 'berth/image:1', packages: 'hello', mirror: 'deb.debian.org/debian' },
      /^--mirror: .*URL/,
    ],
    [
      { tag: 'berth/image:1', packages: 'hello', mirror: 'ftp://deb.debian.org/debian' },
      /^--mirror: /,
    ],
    [{ tag: ['a:1', 'b:1'], packages: 'hello' }, /^--tag: expected one value/],
  ]
  for (const [input, message] of cases) {
    const err = refused(input)
    assert.is(err.exitCode, 2, `${JSON.stringify(input)} → exit 2`)
    assert.match(err.message, message)
  }
  assert.ok(parseRecipe({ tag: 'berth/image:1', packages: 'g++,libc6-dev,python3.11' }))
})

const recipe = parseRecipe({
  tag: 'berth-test/x:1',
  packages: 'hello',
  mirror: 'http://127.0.0.1:9/debian',
})

test("mmdebstrap's output about an unreachable mirror names the mirror (preflight, exit 3)", () => {
  const stderr = [
    'I: running apt-get update...',
    'Err:1 http://127.0.0.1:9/debian bookworm InRelease',
    '  Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)',
    'E: Failed to fetch http://127.0.0.1:9/debian/dists/bookworm/InRelease  Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)',
    'E: apt-get update --error-on=any -oAPT::Status-Fd=<$fd> -oDpkg::Use-Pty=false failed',
  ].join('\n')
  const err = explainFailure(stderr, 1, recipe)
  assert.is(err.code, 'preflight')
  assert.is(err.exitCode, 3)
  assert.match(err.message, 'the Debian mirror http://127.0.0.1:9/debian cannot be reached')
  assert.match(err.message, 'Connection refused')
})

test('a package that does not exist is named; a missing suite is named; anything else keeps the tail', () => {
  const pkg = explainFailure(
    'E: Unable to locate package no-such-pkg\nE: apt-get install failed\n',
    1,
    recipe
  )
  assert.is(pkg.code, 'not_found')
  assert.match(pkg.message, '"no-such-pkg"')
  const cand = explainFailure("E: Package 'vim-gui' has no installation candidate\n", 1, recipe)
  assert.match(cand.message, '"vim-gui"')
  const suite = explainFailure(
    "E: The repository 'http://x bookworm2 Release' does not have a Release file.\n",
    1,
    recipe
  )
  assert.match(suite.message, /^--suite: .*no suite "bookworm"/)
  const other = explainFailure('line 1\nE: something odd\n', 2, recipe)
  assert.is(other.code, 'internal')
  assert.match(other.message, /exit 2[\s\S]*E: something odd/)
})

test.run()
