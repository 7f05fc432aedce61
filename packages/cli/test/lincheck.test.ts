import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKvHistory } from '@lockstep/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lincheckCommand } from '../src/commands/lincheck'
import { memoryIo } from './io'

let dir: string
const file = (name: string) => join(dir, name)

const staleRead = [
  { client: 'a', input: { f: 'write', value: 1 }, output: {}, call: 0, return: 10 },
  { client: 'b', input: { f: 'read' }, output: { value: null }, call: 20, return: 30 },
]
const kvGood = [
  { client: 1, input: { f: 'put', key: 'x', value: 'a' }, output: {}, call: 0, return: 10 },
  { client: 2, input: { f: 'append', key: 'x', value: 'b' }, output: null, call: 5, return: 15 },
  { client: 3, input: { f: 'get', key: 'x' }, output: { value: 'ab' }, call: 20, return: 30 },
  { client: 3, input: { f: 'get', key: 'y' }, output: { value: '' }, call: 20, return: 31 },
]
const kvBad = [
  ...kvGood,
  { client: 4, input: { f: 'put', key: 'y', value: 'v' }, output: {}, call: 40, return: 50 },
  { client: 4, input: { f: 'get', key: 'y' }, output: { value: '' }, call: 60, return: 70 },
]

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lockstep-lincheck-'))
  await writeFile(file('stale.json'), JSON.stringify(staleRead))
  await writeFile(file('kv-good.json'), JSON.stringify(kvGood))
  await writeFile(file('kv-bad.json'), JSON.stringify(kvBad))
  await writeFile(file('broken.json'), '[{"client": 1,')
  await writeFile(file('invalid.json'), JSON.stringify([staleRead[0], { ...staleRead[1], call: 'soon' }]))
  await writeFile(file('wrong-model.json'), JSON.stringify(kvGood))
  await writeFile(file('big.json'), JSON.stringify(generateKvHistory({ seed: 1, operations: 2000, clients: 10, keys: 3 })))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('lockstep lincheck', () => {
  it('exits 0 for a linearizable history', async () => {
    const { io, stdout, stderr } = memoryIo()
    expect(await lincheckCommand([file('kv-good.json'), '--model', 'kv'], io)).toBe(0)
    expect(stdout()).toMatch(/kv-good\.json: linearizable \(model kv, 4 operations, 2 partitions, \d+ states explored\)/)
    expect(stderr()).toBe('')
  })

  it('exits 1 for a stale read and prints the prefix and the operation that cannot follow it', async () => {
    const { io, stdout } = memoryIo()
    expect(await lincheckCommand([file('stale.json'), '--model', 'register'], io)).toBe(1)
    const text = stdout()
    expect(text).toContain('stale.json: NOT linearizable (model register, 2 operations, 1 partition')
    expect(text.split('\n').slice(1)).toEqual([
      'Longest linearizable prefix found (1 operation, in linearization order):',
      '  1. #0  client a  write 1       called 0, returned 10',
      'State after it: value 1',
      'Operation that cannot be placed after it (the first to return of those left):',
      '     #1  client b  read -> null  called 20, returned 30',
    ])
  })

  it('names the failing key for kv histories', async () => {
    const { io, stdout } = memoryIo()
    expect(await lincheckCommand([file('kv-bad.json'), '--model', 'kv'], io)).toBe(1)
    expect(stdout()).toContain('In key "y":')
  })

  it('prints one JSON object with --json', async () => {
    const good = memoryIo()
    expect(await lincheckCommand([file('kv-good.json'), '-m', 'kv', '--json'], good.io)).toBe(0)
    expect(JSON.parse(good.stdout())).toMatchObject({ ok: true, verdict: 'linearizable', model: 'kv', operations: 4, partitions: 2 })

    const bad = memoryIo()
    expect(await lincheckCommand(['--json', file('kv-bad.json'), '--model', 'kv'], bad.io)).toBe(1)
    const json = JSON.parse(bad.stdout())
    expect(json).toMatchObject({ ok: false, verdict: 'not-linearizable', model: 'kv', operations: 6, partition: 'key "y"' })
    expect(json.prefix.map((p: { index: number }) => p.index)).toEqual([3, 4])
    expect(json.failedOperation).toMatchObject({ index: 5, client: 4, input: { f: 'get', key: 'y' }, output: { value: '' }, call: 60, return: 70 })
    expect(json.message).toMatch(/operation #5/)
  })

  it('checks a larger generated history', async () => {
    const { io, stdout } = memoryIo()
    expect(await lincheckCommand([file('big.json'), '--model', 'kv', '--json'], io)).toBe(0)
    expect(JSON.parse(stdout())).toMatchObject({ ok: true, operations: 2000, partitions: 3 })
  })

  it('exits 3 when --max-steps stops it before it decides', async () => {
    const { io, stdout } = memoryIo()
    expect(await lincheckCommand([file('big.json'), '--model', 'kv', '--max-steps', '1'], io)).toBe(2)
    expect(stdout()).toMatch(/: unknown \(model kv, .*\): gave up after \d+ model steps/)
  })

  const failures: [string, string[], RegExp][] = [
    ['a missing file', ['missing.json', '--model', 'kv'], /cannot read .*missing\.json/],
    ['bad JSON', ['broken.json', '--model', 'kv'], /broken\.json: history is not valid JSON/],
    ['an invalid history', ['invalid.json', '--model', 'register'], /history operation 1, field "call": is the string "soon"/],
    ['an operation the model does not know', ['wrong-model.json', '--model', 'register'], /operation 0, input\/f: is "put"; the register model accepts/],
    ['an unknown model', ['kv-good.json', '--model', 'queue'], /unknown linearizability model "queue"; the built-in models are register, kv/],
    ['a missing --model', ['kv-good.json'], /--model is required/],
    ['no history file', ['--model', 'kv'], /expected one HISTORY\.json, got 0/],
    ['an unknown flag', ['kv-good.json', '--model', 'kv', '--fast'], /Unknown option '--fast'/],
    ['a bad --timeout-ms', ['kv-good.json', '--model', 'kv', '--timeout-ms', 'soon'], /--timeout-ms must be a whole number/],
  ]
  for (const [name, args, message] of failures) {
    it(`exits 2 for ${name}, with a message on stderr`, async () => {
      const { io, stdout, stderr } = memoryIo()
      const resolved = args.map((a) => (a.endsWith('.json') ? file(a) : a))
      expect(await lincheckCommand(resolved, io)).toBe(2)
      expect(stderr()).toMatch(message)
      expect(stdout()).toBe('')
    })
  }

  it('prints its usage with --help', async () => {
    const { io, stdout } = memoryIo()
    expect(await lincheckCommand(['--help'], io)).toBe(0)
    expect(stdout()).toContain('lockstep lincheck HISTORY.json --model register|kv')
  })
})
