/**
 * infra/: berth's SSM document, the sender's and the host's IAM policies, and the Docker host's
 * CloudFormation stack. What AWS would only tell at deploy time (or never: an injectable document,
 * a policy wider than the code needs) is checked here.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseCfnYaml } from '../../scripts/infra/cfn-yaml.ts'
import { REPO, renderStack, STACK_FILE } from '../../scripts/infra/render-stack.ts'
import {
  BERTH_DOCUMENT_FILE,
  InvalidParameters,
  loadSsmDocument,
  placeholders,
  re2Trouble,
  renderCommand,
  resolveParameters,
} from '../../scripts/infra/ssm-document.ts'

const INFRA = join(REPO, 'infra')
const DISPATCH_MAIN = join(REPO, 'functions/dispatch/ssm.ts')
const BERTH_PATH = '/usr/local/bin/berth'

const readJson = (path: string) => JSON.parse(readFileSync(join(REPO, path), 'utf8'))

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]
  )
}

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- the parsed template, walked key by key by the assertions
const stack = () => parseCfnYaml(readFileSync(STACK_FILE, 'utf8')) as Json
const resourcesOfType = (t: Json, type: string) =>
  Object.entries(t.Resources as Json).filter(([, r]) => r.Type === type)
const toArray = <T>(v: T | T[] | undefined): T[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v]

/** A typical job as the dispatcher sends it: an install with its topology inline. */
function typicalSpec() {
  return {
    id: 'j-20250301-0001-install',
    kind: 'install',
    cluster: 'codenvy',
    // YAML text straight from the examples, with characters a shell would love to see raw.
    topology:
      readFileSync(join(REPO, 'examples/codenvy.yaml'), 'utf8') + '\n# café\'s $(id) `id` "q"\n',
    options: { plan: false, concurrency: 4 },
  }
}
const b64 = (spec: unknown) => Buffer.from(JSON.stringify(spec)).toString('base64')

const HOSTILE = [
  '; rm -rf /',
  '$(id)',
  '`id`',
  'e30=\nid',
  'e30=\n',
  '\ne30=',
  "e30='",
  'e30="',
  "'; touch /tmp/berth-pwned; '",
  'e30=; id',
  'e30= ',
  ' e30=',
  'e30=|id',
  'e30=&&id',
  '${IFS}',
  '--help',
  '-e30',
  'e30=\u0000',
  'ｅ30=', // full-width e
  'e30', // not a whole base64 quantum
  'e3=0',
  'e30===',
  '',
]

// ---------------------------------------------------------------------------------------------
const files = suite('infra files')

files('every JSON and YAML file under infra/ parses (CloudFormation short tags included)', () => {
  const found = walk(INFRA).filter((f) => /\.(json|ya?ml)$/.test(f))
  assert.ok(found.length >= 4, `only ${found.length} files under infra/`)
  for (const f of found) {
    const text = readFileSync(f, 'utf8')
    try {
      if (f.endsWith('.json')) JSON.parse(text)
      else parseCfnYaml(text)
    } catch (err) {
      assert.unreachable(`${relative(REPO, f)}: ${(err as Error).message}`)
    }
  }
})

files('an unknown short tag is an error, not a string that looks right', () => {
  assert.throws(() => parseCfnYaml('A: !Reff B\n'), /Reff/)
})

files.run()

// ---------------------------------------------------------------------------------------------
const doc = suite('ssm document')

doc('is schema 2.2 with a single aws:runShellScript step, Linux only', () => {
  const d = loadSsmDocument()
  assert.is(d.schemaVersion, '2.2')
  assert.is(d.mainSteps.length, 1)
  assert.is(d.mainSteps[0].action, 'aws:runShellScript')
  assert.equal(d.mainSteps[0].precondition, { StringEquals: ['platformType', 'Linux'] })
})

doc('uses only the parameters it declares, and every one it declares', () => {
  const d = loadSsmDocument()
  const declared = Object.keys(d.parameters).sort()
  const used = placeholders(d)
  for (const name of used) assert.ok(declared.includes(name), `{{ ${name} }} is not declared`)
  assert.not.ok(
    used.some((n) => n.startsWith('ssm:')),
    'no Parameter Store references'
  )
  const script = d.mainSteps[0].inputs.runCommand.join('\n')
  for (const name of declared) {
    assert.ok(
      used.includes(name) || script.includes(`SSM_${name}`),
      `${name} is declared but never used`
    )
  }
  assert.equal(declared, ['executionTimeout', 'specB64'])
})

doc('every parameter is a String with an anchored, RE2-compatible allowedPattern', () => {
  for (const [name, p] of Object.entries(loadSsmDocument().parameters)) {
    assert.is(p.type, 'String', name)
    assert.type(p.allowedPattern, 'string', `${name} has no allowedPattern`)
    assert.ok(
      p.allowedPattern!.startsWith('^') && p.allowedPattern!.endsWith('$'),
      `${name}: not anchored`
    )
    assert.is(re2Trouble(p.allowedPattern!), undefined, `${name}: ${re2Trouble(p.allowedPattern!)}`)
  }
  // A length in the pattern would need {4,65536}: RE2 refuses counts over 1000.
  assert.is(
    re2Trouble('^[A-Za-z0-9]{1,65536}$'),
    'the repetition count {1,65536} (RE2 allows 1000)'
  )
  assert.is(re2Trouble('^(?!x).*$'), 'lookaround')
})

doc('specB64 runs the command only as berth job run, the spec as one argument', () => {
  const lines = loadSsmDocument().mainSteps[0].inputs.runCommand
  const code = lines.filter((l) => !/^\s*#/.test(l))
  assert.equal(
    code.filter((l) => l.includes(BERTH_PATH)).map((l) => l.replace(/ then echo .*/, ' then …')),
    [
      `if [ ! -x ${BERTH_PATH} ]; then …`,
      `exec ${BERTH_PATH} job run --compact --spec-b64 "$SSM_specB64"`,
    ]
  )
  assert.ok(code.at(-1)!.startsWith('exec '), 'nothing runs after berth')
  // The only place the text is substituted: a line of its own in a quoted here-document.
  const subs = lines.filter((l) => l.includes('{{'))
  assert.equal(subs, ['{{ specB64 }}'])
  const at = lines.indexOf('{{ specB64 }}')
  assert.equal(lines.slice(at - 1, at + 3), [
    `if [ -z "\${SSM_specB64+x}" ]; then SSM_specB64=$(cat <<'BERTH_SPEC_B64'`,
    '{{ specB64 }}',
    'BERTH_SPEC_B64',
    '); fi',
  ])
  const next = lines.slice(at + 3).find((l) => !/^\s*#/.test(l))
  assert.ok(next?.startsWith('case "$SSM_specB64"'), `checked right after, before any use: ${next}`)
})

doc('allowedPattern refuses shell metacharacters, newlines, quotes and non-base64', () => {
  const d = loadSsmDocument()
  for (const value of HOSTILE) {
    assert.throws(
      () => resolveParameters(d, { specB64: [value] }),
      (e: unknown) => e instanceof InvalidParameters,
      `specB64 ${JSON.stringify(value)} was accepted`
    )
  }
  for (const value of [
    '0',
    '-1',
    '172801',
    '999999',
    '3600; id',
    '$(id)',
    '`id`',
    '3600\n',
    ' 60',
    '6e1',
    '0x10',
    '',
  ]) {
    assert.throws(
      () => resolveParameters(d, { specB64: ['e30='], executionTimeout: [value] }),
      (e: unknown) => e instanceof InvalidParameters,
      `executionTimeout ${JSON.stringify(value)} was accepted`
    )
  }
  assert.throws(
    () => resolveParameters(d, { specB64: ['e30='], commands: ['id'] }),
    /no parameter "commands"/
  )
  assert.throws(() => resolveParameters(d, {}), /specB64 is required/)
})

doc('specB64 admits no character outside the base64 alphabet, anywhere', () => {
  const pattern = new RegExp(loadSsmDocument().parameters.specB64.allowedPattern!)
  const alphabet = /[A-Za-z0-9+/=]/
  for (let c = 0; c < 0x3000; c++) {
    const ch = String.fromCharCode(c)
    for (const probe of [`${ch}AAA`, `AA${ch}A`, `AAAA${ch}AAA`, `AAA${ch}`]) {
      if (pattern.test(probe)) assert.ok(alphabet.test(ch), `accepted ${JSON.stringify(probe)}`)
    }
  }
})

doc('a real job spec, base64-encoded, is accepted; 65537 characters are not', () => {
  const d = loadSsmDocument()
  const value = b64(typicalSpec())
  assert.equal(resolveParameters(d, { specB64: [value] }), {
    specB64: value,
    executionTimeout: '3600',
  })
  for (const t of ['1', '60', '3600', '99999', '100000', '172799', '172800']) {
    assert.is(resolveParameters(d, { specB64: [value], executionTimeout: [t] }).executionTimeout, t)
  }
  // The largest value that fits, and one quantum more.
  assert.ok(resolveParameters(d, { specB64: ['A'.repeat(65536)] }))
  assert.throws(() => resolveParameters(d, { specB64: ['A'.repeat(65540)] }), /at most 65536/)
})

/** Runs what the agent would run, with a stub in place of berth; returns its exit and argv. */
function runAsAgent(
  rendered: { script: string; env: Record<string, string> },
  opts: { berth?: boolean } = {}
) {
  const dir = mkdtempSync(join(tmpdir(), 'berth-ssm-'))
  try {
    const stub = join(dir, 'berth')
    const argvFile = join(dir, 'argv')
    if (opts.berth !== false) {
      writeFileSync(
        stub,
        `#!/bin/sh\nfor a in "$@"; do printf '%s\\0' "$a"; done > '${argvFile}'\n`
      )
      chmodSync(stub, 0o755)
    }
    assert.is(
      rendered.script.split(BERTH_PATH).length - 1,
      2,
      'the script names berth twice (check, exec)'
    )
    const scriptFile = join(dir, '_script.sh')
    writeFileSync(scriptFile, rendered.script.replaceAll(BERTH_PATH, stub))
    const r = spawnSync('sh', [scriptFile], {
      cwd: dir,
      env: { PATH: '/usr/bin:/bin', ...rendered.env },
      encoding: 'utf8',
      timeout: 10_000,
    })
    const argv = existsSync(argvFile)
      ? readFileSync(argvFile, 'utf8').split('\0').slice(0, -1)
      : undefined
    return { status: r.status, stderr: r.stderr, argv, left: readdirSync(dir).sort() }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

doc('the agent runs berth job run with the spec as one argument, old agents and new alike', () => {
  const d = loadSsmDocument()
  const spec = typicalSpec()
  const values = resolveParameters(d, { specB64: [b64(spec)], executionTimeout: ['7200'] })
  for (const agent of ['env', 'text'] as const) {
    const rendered = renderCommand(d, values, { agent })
    assert.is(rendered.timeoutSeconds, '7200')
    assert.equal(Object.keys(rendered.env), agent === 'env' ? ['SSM_specB64'] : [])
    const r = runAsAgent(rendered)
    assert.is(r.status, 0, `${agent}: ${r.stderr}`)
    assert.equal(r.argv, ['job', 'run', '--compact', '--spec-b64', values.specB64], agent)
    assert.equal(JSON.parse(Buffer.from(r.argv![4], 'base64').toString('utf8')), spec)
  }
})

doc(
  'a value that got past allowedPattern is refused by the script before berth runs, in the environment and as text',
  () => {
    const d = loadSsmDocument()
    const rendered = renderCommand(d, { specB64: 'e30=', executionTimeout: '60' })
    for (const hostile of HOSTILE) {
      const value = hostile.replaceAll('\u0000', '') // no environment string holds a NUL
      if (/^[A-Za-z0-9+/=]+$/.test(value)) continue // malformed base64 only: berth itself says so
      // Straight into the environment, as if the service had not checked it; and substituted into
      // the text, as an old agent does, as if nothing had checked it either.
      const asText = renderCommand(d, { specB64: value, executionTimeout: '60' }, { agent: 'text' })
      const runs: [string, { script: string; env: Record<string, string> }][] = [
        ['env', { script: rendered.script, env: { SSM_specB64: value } }],
      ]
      // $(…) drops trailing newlines: such a value reaches berth as the base64 before them.
      if (!/^[A-Za-z0-9+/=]+$/.test(value.replace(/\n+$/, ''))) runs.push(['text', asText])
      for (const [how, run] of runs) {
        const r = runAsAgent(run)
        assert.is(r.status, 2, `${how} ${JSON.stringify(value)}: ${r.stderr}`)
        assert.is(r.argv, undefined, `berth ran for ${how} ${JSON.stringify(value)}`)
        assert.match(r.stderr, /specB64 is not base64; refused/)
        assert.equal(
          r.left,
          ['_script.sh', 'berth'],
          `${how} ${JSON.stringify(value)} left files behind`
        )
      }
    }
  }
)

doc('a host without berth answers 127 and says why', () => {
  const d = loadSsmDocument()
  const r = runAsAgent(renderCommand(d, { specB64: 'e30=', executionTimeout: '60' }), {
    berth: false,
  })
  assert.is(r.status, 127)
  assert.match(r.stderr, /berth is not installed/)
})

doc.run()

// ---------------------------------------------------------------------------------------------
const iam = suite('iam')

function readDispatcher(): string {
  if (!existsSync(DISPATCH_MAIN)) throw new Error('functions/dispatch/ssm.ts not found')
  return readFileSync(DISPATCH_MAIN, 'utf8')
}

/** The SSM actions the dispatcher's code calls, read from the code itself. */
function dispatcherActions(): { actions: string[]; files: string[] } {
  readDispatcher()
  const functions = join(REPO, 'functions')
  const sources = walk(functions).filter(
    (f) =>
      /\.ts$/.test(f) &&
      (/^ssm[^/]*\.ts$/.test(relative(join(functions, 'dispatch'), f)) ||
        readFileSync(f, 'utf8').includes('@aws-sdk/client-ssm'))
  )
  const actions = new Set<string>()
  for (const f of sources) {
    const code = readFileSync(f, 'utf8')
    if (/\bnew SSM\(/.test(code)) {
      throw new Error(
        `${relative(REPO, f)} uses the aggregated SSM client: its calls cannot be read from the code`
      )
    }
    for (const m of code.matchAll(/\bnew (\w+)Command\(/g)) actions.add(`ssm:${m[1]}`)
    for (const m of code.matchAll(/\bpaginate(\w+)\(/g)) actions.add(`ssm:${m[1]}`)
    if (/\bwaitUntilCommandExecuted\(/.test(code)) actions.add('ssm:GetCommandInvocation')
  }
  return { actions: [...actions].sort(), files: sources.map((f) => relative(REPO, f)) }
}

const senderPolicy = () => readJson('infra/iam/sender-policy.json')

iam('the sender policy allows exactly the SSM actions the dispatcher calls', () => {
  const { actions, files: sources } = dispatcherActions()
  assert.ok(actions.includes('ssm:SendCommand'), `no SendCommand found in ${sources.join(', ')}`)
  const allowed = new Set<string>()
  for (const s of senderPolicy().Statement) {
    assert.is(s.Effect, 'Allow')
    assert.is(s.NotAction, undefined)
    assert.is(s.NotResource, undefined)
    for (const a of toArray<string>(s.Action)) allowed.add(a)
  }
  assert.equal(
    [...allowed].sort(),
    actions,
    `the dispatcher (${sources.join(', ')}) calls ${actions.join(', ')}`
  )
})

iam(
  'no wildcard action; SendCommand only on berth-job-run and on instances tagged berth=host',
  () => {
    const statements = senderPolicy().Statement as Json[]
    for (const s of statements) {
      for (const a of toArray<string>(s.Action)) assert.not.ok(a.includes('*'), `action ${a}`)
    }
    const send = statements.filter((s) => toArray<string>(s.Action).includes('ssm:SendCommand'))
    assert.ok(
      send.length >= 2,
      'SendCommand needs the document and the instances (infra/iam/README.md)'
    )
    const documents: string[] = []
    const instances: string[] = []
    for (const s of send) {
      assert.equal(
        toArray(s.Action),
        ['ssm:SendCommand'],
        'SendCommand statements grant nothing else'
      )
      for (const r of toArray<string>(s.Resource)) {
        assert.is.not(r, '*', 'Resource "*" on SendCommand')
        if (/:document\//.test(r)) {
          documents.push(r)
          // A fixed account: a document of that name shared from another account must not pass.
          assert.match(r, /^arn:aws:ssm:REGION:ACCOUNT_ID:document\/[A-Za-z0-9_.-]+$/)
        } else {
          assert.match(
            r,
            /^arn:aws:(ec2:REGION:ACCOUNT_ID:instance|ssm:REGION:ACCOUNT_ID:managed-instance)\/\*$/
          )
          assert.equal(s.Condition, { StringEquals: { 'ssm:resourceTag/berth': 'host' } }, r)
          instances.push(r)
        }
      }
    }
    assert.equal(documents, ['arn:aws:ssm:REGION:ACCOUNT_ID:document/berth-job-run'])
    assert.ok(instances.some((r) => r.includes(':instance/*')))
  }
)

iam(
  'the document the policy names is the one the dispatcher sends by default and the stack creates',
  () => {
    const code = readDispatcher()
    assert.ok(
      code.includes("'berth-job-run'"),
      'functions/dispatch/ssm.ts sends berth-job-run by default'
    )
    const [[, document]] = resourcesOfType(stack(), 'AWS::SSM::Document')
    assert.is(document.Properties.Name, 'berth-job-run')
  }
)

iam('the host role is for EC2 to assume, nothing else', () => {
  const trust = readJson('infra/iam/host-role.json')
  assert.equal(trust.Statement, [
    {
      Sid: 'Ec2AssumesTheBerthHostRole',
      Effect: 'Allow',
      Principal: { Service: 'ec2.amazonaws.com' },
      Action: 'sts:AssumeRole',
    },
  ])
})

iam.run()

// ---------------------------------------------------------------------------------------------
const cfn = suite('cloudformation')

cfn('the template is up to date with infra/ssm and infra/iam (render-stack.ts)', () => {
  const text = readFileSync(STACK_FILE, 'utf8')
  assert.ok(renderStack(text) === text, 'run: node_modules/.bin/tsx scripts/infra/render-stack.ts')
})

cfn("the document resource's content is infra/ssm/berth-job-run.json", () => {
  const docs = resourcesOfType(stack(), 'AWS::SSM::Document')
  assert.is(docs.length, 1)
  const [, d] = docs[0]
  assert.is(d.Properties.DocumentType, 'Command')
  assert.equal(d.Properties.Content, JSON.parse(readFileSync(BERTH_DOCUMENT_FILE, 'utf8')))
})

cfn('the security group has no inbound rule, and nothing adds one', () => {
  const t = stack()
  const groups = resourcesOfType(t, 'AWS::EC2::SecurityGroup')
  assert.is(groups.length, 1)
  for (const [name, g] of groups) assert.is(g.Properties.SecurityGroupIngress, undefined, name)
  assert.equal(resourcesOfType(t, 'AWS::EC2::SecurityGroupIngress'), [])
  const [[, host]] = resourcesOfType(t, 'AWS::EC2::Instance')
  assert.equal(host.Properties.NetworkInterfaces[0].GroupSet, [{ Ref: groups[0][0] }])
})

cfn(
  'the instance carries berth=host and team=<Team>, and its role has AmazonSSMManagedInstanceCore',
  () => {
    const t = stack()
    const [[, host]] = resourcesOfType(t, 'AWS::EC2::Instance')
    const tags = host.Properties.Tags as { Key: string; Value: unknown }[]
    assert.ok(tags.some((x) => x.Key === 'berth' && x.Value === 'host'))
    assert.ok(tags.some((x) => x.Key === 'team' && JSON.stringify(x.Value) === '{"Ref":"Team"}'))
    const [[profileName, profile]] = resourcesOfType(t, 'AWS::IAM::InstanceProfile')
    assert.equal(host.Properties.IamInstanceProfile, { Ref: profileName })
    const [[roleName, role]] = resourcesOfType(t, 'AWS::IAM::Role')
    assert.equal(profile.Properties.Roles, [{ Ref: roleName }])
    assert.equal(role.Properties.ManagedPolicyArns, [
      { 'Fn::Sub': 'arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore' },
    ])
    assert.is(role.Properties.Policies, undefined, 'the host needs nothing beyond the SSM agent')
    assert.equal(role.Properties.AssumeRolePolicyDocument, readJson('infra/iam/host-role.json'))
  }
)

cfn(
  'the AMI is the latest Debian 12 unless pinned; containers cannot reach the metadata service',
  () => {
    const t = stack()
    assert.is(t.Parameters.DebianAmi.Default, '/aws/service/debian/release/12/latest/amd64')
    assert.is(t.Parameters.DebianAmi.Type, 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>')
    const [[, template]] = resourcesOfType(t, 'AWS::EC2::LaunchTemplate')
    assert.equal(template.Properties.LaunchTemplateData.MetadataOptions, {
      HttpEndpoint: 'enabled',
      HttpTokens: 'required',
      HttpPutResponseHopLimit: 1,
    })
  }
)

/** Every string under an Fn::Sub, with the names its ${} refer to. */
function subs(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => subs(n, found))
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'Fn::Sub') found.push(typeof v === 'string' ? v : (v as [string])[0])
      else subs(v, found)
    }
  }
  return found
}

cfn('every ${} in a !Sub names a parameter, a resource or a pseudo parameter', () => {
  const t = stack()
  const known = new Set([...Object.keys(t.Parameters), ...Object.keys(t.Resources)])
  for (const text of subs(t)) {
    for (const m of text.matchAll(/\$\{(?!!)([^}]*)\}/g)) {
      const name = m[1].split('.')[0]
      assert.ok(
        m[1].startsWith('AWS::') || known.has(name),
        `\${${m[1]}} is neither a parameter nor a resource: write the shell's own as \${!${m[1]}}`
      )
    }
  }
})

/** The host's UserData as the shell gets it, CloudFormation's !Sub done with these values. */
function userData(params: Record<string, string> = {}): string {
  const [[, host]] = resourcesOfType(stack(), 'AWS::EC2::Instance')
  const sub = host.Properties.UserData['Fn::Base64']['Fn::Sub'] as string
  const sample: Record<string, string> = {
    BerthPackage: 'https://example.com/berth-0.1.0.tgz',
    BerthPackageSha256: 'a'.repeat(64),
    'AWS::Region': 'eu-west-1',
    'AWS::URLSuffix': 'amazonaws.com',
    ...params,
  }
  return sub
    .replace(/\$\{!([^}]*)\}/g, '\u0001$1\u0002')
    .replace(/\$\{([^}]*)\}/g, (whole, name: string) => sample[name] ?? whole)
    .replace(/\u0001([^\u0002]*)\u0002/g, '${$1}') // eslint-disable-line no-control-regex -- \u0001 and \u0002 are the markers put in two lines above
}

cfn('the UserData is valid bash once substituted, and installs the berth the document runs', () => {
  const script = userData()
  const r = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' })
  assert.is(r.status, 0, r.stderr)
  assert.ok(script.startsWith('#!/bin/bash\n'))
  assert.match(script, /apt-get install [^\n]*docker\.io/)
  assert.match(script, /node_20\.x/)
  // berth is its npm pack tarball, checked when a sha256 is given, installed with npm install -g
  // under /opt/berth (the layout test/package/install.test.ts installs and runs), never a checkout.
  assert.match(script, /curl -fsSL -o "\$package" "\$BERTH_PACKAGE"\n/)
  assert.match(
    script,
    /echo "\$BERTH_PACKAGE_SHA256 {2}\$package" \| sha256sum --check --strict -\n/
  )
  assert.match(
    script,
    /\nnpm install -g --prefix \/opt\/berth --allow-scripts=better-sqlite3 --no-audit --no-fund "\$package"\n/
  )
  assert.not.match(script, /git clone|npm ci/)
  assert.match(script, /apt-get install [^\n]*python3 make g\+\+/)
  assert.match(script, /REGION='eu-west-1'\n/)
  assert.ok(
    script.includes(
      'https://s3.$REGION.$URL_SUFFIX/amazon-ssm-$REGION/latest/debian_amd64/amazon-ssm-agent.deb'
    )
  )
  assert.match(script, new RegExp(`cat > ${BERTH_PATH} <<'WRAPPER'\n#!/bin/sh\n`))
  assert.match(script, /export BERTH_HOME="\$\{BERTH_HOME:-\/var\/lib\/berth\}"/)
  assert.match(
    script,
    /\nexec \/usr\/bin\/node \/opt\/berth\/lib\/node_modules\/berth\/bin\/berth\.mjs "\$@"\nWRAPPER\n/
  )
  // The auto-rewire daemon, through the same wrapper (so the same BERTH_HOME and locks as jobs).
  const unit = script.match(
    /cat > \/etc\/systemd\/system\/berth-rewire\.service <<'UNIT'\n([\s\S]*?)\nUNIT\n/
  )?.[1]
  assert.ok(unit, 'a berth-rewire unit is written')
  assert.match(unit, new RegExp(`^ExecStart=${BERTH_PATH} watch --rewire$`, 'm'))
  assert.match(unit, /^Restart=always$/m)
  assert.match(unit, /^After=docker\.service$/m)
  assert.match(script, /systemctl enable --now berth-rewire\.service/)
})

cfn(
  "the host's install lines: the package downloaded, its sha256 checked when given, then npm install -g",
  () => {
    const script = userData()
    const from = script.indexOf('package=$(mktemp')
    const to = script.indexOf('rm -f "$package"\n', from)
    assert.ok(from > 0 && to > from, 'the install lines are in the UserData')
    const dir = mkdtempSync(join(tmpdir(), 'berth-userdata-'))
    // curl and npm stand-ins: curl writes "the package" to its -o file; npm says what it was given.
    const prelude = [
      `curl() { [ "$1 $2" = '-fsSL -o' ] && printf 'the package' > "$3"; }`,
      `npm() { printf '%s\\n' "$@" > '${dir}/npm-args'; }`,
    ].join('\n')
    const install = script
      .slice(from, to + 'rm -f "$package"\n'.length)
      .replaceAll('/opt/berth', `${dir}/opt`)
    const run = (sha256: string) => {
      rmSync(join(dir, 'npm-args'), { force: true })
      const r = spawnSync(
        'bash',
        [
          '-euo',
          'pipefail',
          '-c',
          `${prelude}\nBERTH_PACKAGE=https://example.com/berth-0.1.0.tgz\nBERTH_PACKAGE_SHA256=${sha256}\n${install}`,
        ],
        {
          encoding: 'utf8',
          env: { ...process.env, TMPDIR: dir },
        }
      )
      const npm = existsSync(join(dir, 'npm-args'))
        ? readFileSync(join(dir, 'npm-args'), 'utf8').trim().split('\n')
        : null
      return { status: r.status, stderr: r.stderr, out: r.stdout + r.stderr, npm }
    }
    try {
      const right = createHash('sha256').update('the package').digest('hex')
      for (const sha256 of [right, '']) {
        const r = run(sha256)
        assert.is(r.status, 0, r.stderr)
        assert.equal(r.npm!.slice(0, -1), [
          'install',
          '-g',
          '--prefix',
          `${dir}/opt`,
          '--allow-scripts=better-sqlite3',
          '--no-audit',
          '--no-fund',
        ])
        assert.match(r.npm!.at(-1)!, new RegExp(`^${dir}/tmp\\.[^/]+\\.tgz$`))
        assert.not.ok(existsSync(r.npm!.at(-1)!), 'the downloaded tarball is removed')
      }
      const wrong = run('b'.repeat(64))
      assert.is.not(wrong.status, 0)
      assert.match(wrong.out, /did NOT match/)
      assert.is(wrong.npm, null, 'npm never sees a package whose sha256 differs')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    const p = stack().Parameters
    assert.is(p.BerthPackageSha256.Default, '')
    for (const ok of ['', 'f'.repeat(64), '0123456789abcdef'.repeat(4)])
      assert.match(ok, new RegExp(p.BerthPackageSha256.AllowedPattern))
    for (const bad of ['A'.repeat(64), 'a'.repeat(63), `${'a'.repeat(64)} `])
      assert.not.match(bad, new RegExp(p.BerthPackageSha256.AllowedPattern))
    for (const bad of ['http://example.com/berth.tgz', "https://example.com/b'.tgz", 'https://a b'])
      assert.not.match(bad, new RegExp(p.BerthPackage.AllowedPattern))
  }
)

cfn.run()
