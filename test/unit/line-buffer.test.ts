import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { lineBuffer } from '../../scripts/engine/line-buffer.ts'

function collect(maxLine?: number) {
  const lines: string[] = []
  return { lines, buf: lineBuffer((l) => lines.push(l), maxLine) }
}

const test = suite('line buffer')

test('a line cut across two chunks comes out once, whole', () => {
  const { lines, buf } = collect()
  buf.push('step 1 do')
  assert.equal(lines, [], 'nothing before its newline')
  buf.push('ne\nstep 2 done\n')
  assert.equal(lines, ['step 1 done', 'step 2 done'])
})

test('a line cut across many chunks, and several lines in one, each come out whole', () => {
  const { lines, buf } = collect()
  for (const c of ['a', 'b', 'c\nd', 'e\n\nf', '\n']) buf.push(c)
  assert.equal(lines, ['abc', 'de', '', 'f'])
})

test('the rest without a newline comes out when the output ends, and only once', () => {
  const { lines, buf } = collect()
  buf.push('done\nexit wi')
  buf.push('thout newline')
  buf.flush()
  buf.flush()
  assert.equal(lines, ['done', 'exit without newline'])
})

test('an output that ends on a newline leaves nothing to flush', () => {
  const { lines, buf } = collect()
  buf.push('one\n')
  buf.flush()
  assert.equal(lines, ['one'])
})

test('output that never prints a newline is logged in pieces of the longest line, not held', () => {
  const { lines, buf } = collect(10)
  buf.push('0123456')
  buf.push('789abcdefghijklmnopqrst')
  assert.equal(lines, ['0123456789', 'abcdefghij'], 'the rest (10 characters) is held')
  buf.push('u\nnext')
  buf.flush()
  assert.equal(lines, ['0123456789', 'abcdefghij', 'klmnopqrstu', 'next'])
})

test.run()
