/**
 * CloudFormation YAML as plain data: the short forms (!Ref, !Sub, !GetAtt, …) load as the long
 * forms CloudFormation turns them into ({ Ref: … }, { 'Fn::Sub': … }), so a template can be
 * inspected like its JSON equivalent.
 */
import { parseDocument, type CollectionTag, type ScalarTag, type YAMLMap, type YAMLSeq } from 'yaml'

const FUNCTIONS = [
  'And',
  'Base64',
  'Cidr',
  'Condition',
  'Equals',
  'FindInMap',
  'GetAtt',
  'GetAZs',
  'If',
  'ImportValue',
  'Join',
  'Not',
  'Or',
  'Ref',
  'Select',
  'Split',
  'Sub',
  'Transform',
]

const longForm = (name: string) => (name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`)

const CFN_TAGS = FUNCTIONS.flatMap((name): (ScalarTag | CollectionTag)[] => {
  const key = longForm(name)
  const wrap = (value: unknown) => ({ [key]: value })
  const collection = (value: YAMLMap.Parsed | YAMLSeq.Parsed) => wrap(value.toJSON())
  return [
    {
      tag: `!${name}`,
      // !GetAtt Resource.Attribute is the short form of ['Resource', 'Attribute'].
      resolve: (s: string) =>
        wrap(name === 'GetAtt' ? [s.slice(0, s.indexOf('.')), s.slice(s.indexOf('.') + 1)] : s),
    },
    { tag: `!${name}`, collection: 'seq', resolve: collection },
    { tag: `!${name}`, collection: 'map', resolve: collection },
  ]
})

/** Parses a CloudFormation template written in YAML; throws on a YAML error or an unknown tag. */
export function parseCfnYaml(text: string): Record<string, unknown> {
  const doc = parseDocument(text, { customTags: CFN_TAGS, prettyErrors: true, logLevel: 'silent' })
  // An unknown tag (a typo like !Reff) is only a warning to yaml, and would load as a string.
  const problem = doc.errors[0] ?? doc.warnings[0]
  if (problem) throw problem
  const data = doc.toJS({ maxAliasCount: 100 }) as unknown
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new Error('a CloudFormation template is a mapping')
  }
  return data as Record<string, unknown>
}
