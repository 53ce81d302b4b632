import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { decideJira, jiraRulesFor, type JiraDecision } from '../../functions/hooks/jira-mapping.ts'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const fixture = (name: string): any =>
  JSON.parse(readFileSync(new URL(`../fixtures/jira/${name}.json`, import.meta.url), 'utf8'))
const config = { label: 'berth-install', clusterField: 'customfield_10050' }
const ACCOUNT_ID = '712020:5b10ac8d-82e0-4c2e-9a4f-7d3e2c1b0a99'
const ACCOUNT = `jira:${ACCOUNT_ID}`
/** What the allow rules match on, as the fixtures' OPS project, user and reporter give it. */
const who = { project: 'OPS', user: ACCOUNT_ID, reporter: ACCOUNT_ID }

const reason = (d: JiraDecision) =>
  d.action === 'ignore' ? d.reason : `not ignored: ${JSON.stringify(d)}`

test('an issue created with the label installs the cluster its field names, from the topology of that name', () => {
  assert.equal(decideJira(fixture('issue-created-labelled'), config), {
    action: 'install',
    issueKey: 'OPS-17',
    actor: ACCOUNT,
    cluster: 't-jira-a',
    topologyRef: 't-jira-a',
    ...who,
  })
})

test('an issue created without the label is ignored, saying which label it lacks', () => {
  assert.is(
    reason(decideJira(fixture('issue-created-unlabelled'), config)),
    'OPS-18 does not carry the label "berth-install"'
  )
})

test('the label is configurable: another label makes the labelled fixture an ignored one', () => {
  assert.match(
    reason(decideJira(fixture('issue-created-labelled'), { ...config, label: 'deploy-me' })),
    /label "deploy-me"/
  )
})

test('an update that just added the label installs; the topology field (a select list) names a template', () => {
  const d = decideJira(fixture('issue-updated-label-added'), {
    ...config,
    topologyField: 'customfield_10051',
  })
  assert.equal(d, {
    action: 'install',
    issueKey: 'OPS-19',
    actor: ACCOUNT,
    cluster: 't-jira-b',
    topologyRef: 't-jira-tpl',
    ...who,
  })
})

test('allow rules: every field a rule gives must match; groups are asked for once, only when a rule names them', async () => {
  const d = {
    project: 'OPS',
    user: 'acc-1',
    reporter: 'acc-2',
    cluster: 'ops-web',
    topologyRef: 'ops-web',
  }
  let asked = 0
  const groupsOf = async (user: string) => {
    asked++
    return user === 'acc-1' ? ['ops-admins'] : []
  }
  const rules = (r: object[]) => jiraRulesFor(r as never, d, groupsOf)
  assert.equal(await rules([]), [], 'no rule, no install')
  assert.is((await rules([{ clusters: ['ops-*'] }])).length, 1)
  assert.equal(await rules([{ clusters: ['dev-*'] }]), [], 'the cluster must match a pattern')
  assert.equal(await rules([{ projects: ['DEV'], clusters: ['*'] }]), [], 'another project')
  assert.equal(await rules([{ users: ['acc-9'], clusters: ['*'] }]), [], 'another labeller')
  assert.equal(
    await rules([{ reporters: ['acc-1'], clusters: ['*'] }]),
    [],
    'the reporter is acc-2'
  )
  assert.is((await rules([{ reporters: ['acc-2'], users: ['acc-1'], clusters: ['*'] }])).length, 1)
  assert.equal(
    await rules([{ clusters: ['*'], templates: ['codenvy'] }]),
    [],
    'only the named templates'
  )
  assert.equal(asked, 0, 'no rule named groups: Jira was not asked')
  assert.is(
    (
      await rules([
        { groups: ['ops-admins'], clusters: ['*'] },
        { groups: ['ops-admins', 'x'], clusters: ['*'] },
      ])
    ).length,
    2
  )
  assert.is(asked, 1, 'asked once for both rules')
  assert.equal(
    await jiraRulesFor(
      [{ groups: ['ops-admins'], clusters: ['*'] }] as never,
      { ...d, user: 'acc-2' },
      groupsOf
    ),
    []
  )
  // Without templates a rule allows only the cluster's own stored topology.
  assert.equal(
    await jiraRulesFor([{ clusters: ['*'] }] as never, { ...d, topologyRef: 'codenvy' }, groupsOf),
    []
  )
})

test('an update of an issue that already had the label is ignored (editing it again does not reinstall)', () => {
  assert.is(
    reason(decideJira(fixture('issue-updated-label-present'), config)),
    'this update of OPS-17 did not add the label "berth-install"'
  )
  // Another label added beside it: the label is in both fromString and toString.
  const other = fixture('issue-updated-label-present')
  other.changelog.items = [
    {
      field: 'labels',
      fieldtype: 'jira',
      fieldId: 'labels',
      from: null,
      fromString: 'berth-install',
      to: null,
      toString: 'berth-install urgent',
    },
  ]
  assert.match(reason(decideJira(other, config)), /did not add the label/)
  // The label removed.
  other.changelog.items = [
    { field: 'labels', fromString: 'berth-install staging', toString: 'staging' },
  ]
  assert.match(reason(decideJira(other, config)), /did not add the label/)
  // A label that merely contains ours is not ours.
  other.changelog.items = [{ field: 'labels', fromString: '', toString: 'berth-install-later' }]
  assert.match(reason(decideJira(other, config)), /did not add the label/)
  // An update without a changelog at all.
  delete other.changelog
  assert.match(reason(decideJira(other, config)), /did not add the label/)
})

test('the label added in the changelog counts, even among other changed fields', () => {
  const p = fixture('issue-updated-label-present')
  p.changelog.items.push({
    field: 'labels',
    fieldtype: 'jira',
    fieldId: 'labels',
    from: null,
    fromString: '',
    to: null,
    toString: 'berth-install',
  })
  assert.is(decideJira(p, config).action, 'install')
})

test('other events are ignored, naming the event', () => {
  assert.is(
    reason(decideJira(fixture('issue-deleted'), config)),
    'event "jira:issue_deleted" is not handled (only jira:issue_created, jira:issue_updated)'
  )
  assert.match(
    reason(decideJira(fixture('comment-created'), config)),
    /event "comment_created" is not handled/
  )
  assert.match(reason(decideJira({}, config)), /event null is not handled/)
  assert.match(reason(decideJira([1, 2], config)), /not a Jira event/)
})

test('a matching issue whose cluster field is missing, empty or not a cluster name is invalid, naming the field', () => {
  const p = fixture('issue-created-labelled')
  delete p.issue.fields.customfield_10050
  assert.equal(decideJira(p, config), {
    action: 'invalid',
    issueKey: 'OPS-17',
    actor: ACCOUNT,
    field: 'issue.fields.customfield_10050',
    message: 'issue.fields.customfield_10050: missing or empty (hooks.jira.clusterField)',
  })
  p.issue.fields.customfield_10050 = '   '
  assert.match(
    (decideJira(p, config) as { message: string }).message,
    /customfield_10050: missing or empty/
  )
  p.issue.fields.customfield_10050 = 'Staging; rm -rf /'
  assert.is(
    (decideJira(p, config) as { message: string }).message,
    'issue.fields.customfield_10050: "Staging; rm -rf /" is not a valid cluster name'
  )
  p.issue.fields.customfield_10050 = ['t-jira-a']
  assert.is(decideJira(p, config).action, 'invalid', 'a multi-value field names no one cluster')
  const tpl = fixture('issue-created-labelled')
  tpl.issue.fields.customfield_10051 = { value: '../etc' }
  assert.match(
    (decideJira(tpl, { ...config, topologyField: 'customfield_10051' }) as { message: string })
      .message,
    /^issue\.fields\.customfield_10051: "\.\.\/etc" is not a valid topology name$/
  )
})

test('a plain field can name the cluster; text is trimmed; an empty topology field falls back to the cluster', () => {
  const p = fixture('issue-created-labelled')
  p.issue.fields.summary = '  t-jira-z  '
  assert.equal(
    decideJira(p, { ...config, clusterField: 'summary', topologyField: 'customfield_10051' }),
    {
      action: 'install',
      issueKey: 'OPS-17',
      actor: ACCOUNT,
      cluster: 't-jira-z',
      topologyRef: 't-jira-z',
      ...who,
    }
  )
})

test('a field named like an Object property is not found on the prototype', () => {
  const p = fixture('issue-created-labelled')
  assert.match(
    (decideJira(p, { ...config, clusterField: 'constructor' }) as { message: string }).message,
    /constructor: missing/
  )
})

test('the actor is the account id, else the display name, else unknown', () => {
  const p = fixture('issue-created-labelled')
  delete p.user.accountId
  assert.is((decideJira(p, config) as { actor: string }).actor, 'jira:Ada Lovelace')
  delete p.user
  assert.is((decideJira(p, config) as { actor: string }).actor, 'jira:unknown')
})

test('an issue event without a proper issue key is invalid, naming issue.key', () => {
  const p = fixture('issue-created-labelled')
  p.issue.key = 'OPS-17/../../admin'
  assert.is((decideJira(p, config) as { field: string }).field, 'issue.key')
  delete p.issue
  assert.is((decideJira(p, config) as { field: string }).field, 'issue.key')
})

test.run()
