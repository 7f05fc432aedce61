import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mutex } from '@lockstep/machines'
import { describe, expect, it } from 'vitest'
import { compile } from '../src/index'
import { readSpec } from './helpers'

const seedDocument = '/work/shared/seed/000_d8a79fcf084990d5.txt'
/** sha256 of the mutex block in the seed document, so the check also runs where the seed is not on disk. */
const seedBlockSha256 = 'a52195f97816d682c79a1e86d39c7cfdf58eb809f5cfb617323101b019a020a9'

const ctx = (client: string, position = 1) => ({ client, position, time: 0 })

describe("the seed's mutex", () => {
  const source = readSpec('seed-mutex.sm')

  it('is the block from the seed document, byte for byte', () => {
    expect(createHash('sha256').update(source, 'utf8').digest('hex')).toBe(seedBlockSha256)
    expect(source).toContain('var user: \n    client_id init Φ;')
    expect(source).toContain('waiting := waiting ● client')
    if (existsSync(seedDocument)) {
      const document = readFileSync(seedDocument, 'utf8')
      const start = document.indexOf('```\n') + 4
      expect(document.slice(start, document.indexOf('\n```', start) + 1)).toBe(source)
    }
  })

  it('compiles without a single diagnostic', () => {
    const result = compile(source, { file: 'seed-mutex.sm' })
    expect(result.diagnostics).toEqual([])
    expect(result.machine?.name).toBe('mutex')
  })

  it("starts in the hand-written mutex's initial state", () => {
    const { machine } = compile(source)
    expect(machine!.toJSON(machine!.init())).toEqual({ user: null, waiting: [] })
    expect(JSON.stringify(machine!.toJSON(machine!.init()))).toBe(JSON.stringify(mutex.toJSON!(mutex.init())))
  })

  it('grants the lock, queues the second client, and hands the lock over on release', () => {
    const machine = compile(source).machine!
    const state = machine.init()
    expect(machine.apply(state, { name: 'acquire' }, ctx('c1'))).toEqual([{ to: 'c1', value: 'OK' }])
    expect(machine.apply(state, { name: 'acquire' }, ctx('c2'))).toEqual([])
    expect(machine.toJSON(state)).toEqual({ user: 'c1', waiting: ['c2'] })
    expect(machine.apply(state, { name: 'release' }, ctx('c1'))).toEqual([{ to: 'c2', value: 'OK' }])
    expect(machine.toJSON(state)).toEqual({ user: 'c2', waiting: [] })
    expect(machine.apply(state, { name: 'release' }, ctx('c2'))).toEqual([])
    expect(machine.toJSON(state)).toEqual({ user: null, waiting: [] })
  })

  it('keeps the seed’s flaws: anyone may release, and the holder queues behind itself', () => {
    const machine = compile(source).machine!
    const state = machine.init()
    machine.apply(state, { name: 'acquire' }, ctx('c1'))
    machine.apply(state, { name: 'acquire' }, ctx('c1'))
    expect(machine.toJSON(state)).toEqual({ user: 'c1', waiting: ['c1'] })
    expect(machine.apply(state, { name: 'release' }, ctx('c9'))).toEqual([{ to: 'c1', value: 'OK' }])
  })

  it('snapshots canonically and restores exactly', () => {
    const machine = compile(source).machine!
    const state = machine.init()
    machine.apply(state, { name: 'acquire' }, ctx('c1'))
    machine.apply(state, { name: 'acquire' }, ctx('c2'))
    const bytes = machine.snapshot(state)
    expect(new TextDecoder().decode(bytes)).toBe('{"user":"c1","waiting":["c2"]}')
    const restored = machine.restore(bytes)
    expect(restored).toEqual(state)
    expect(machine.snapshot(restored)).toEqual(bytes)
  })

  it('accepts every ASCII spelling of its symbols with the same meaning', () => {
    const ascii = source.replaceAll('Φ', 'nil').replaceAll('●', '++')
    const arrows = source.replaceAll('->', '→').replaceAll('!=', '≠').replaceAll('●', '∘')
    for (const variant of [ascii, arrows]) {
      const result = compile(variant)
      expect(result.diagnostics).toEqual([])
      const machine = result.machine!
      const state = machine.init()
      machine.apply(state, { name: 'acquire' }, ctx('c1'))
      machine.apply(state, { name: 'acquire' }, ctx('c2'))
      expect(machine.apply(state, { name: 'release' }, ctx('c1'))).toEqual([{ to: 'c2', value: 'OK' }])
    }
    expect(ascii).not.toMatch(/[Φ●]/)
  })

  it('rejects unknown commands and arguments it does not take, leaving the state alone', () => {
    const machine = compile(source).machine!
    const state = machine.init()
    expect(() => machine.apply(state, { name: 'steal' }, ctx('c1'))).toThrow(/mutex has no command 'steal'; its commands are acquire, release/)
    expect(() => machine.apply(state, { name: 'acquire', args: { force: true } }, ctx('c1'))).toThrow(/'acquire' has no parameter 'force' \(it takes no arguments\)/)
    expect(machine.toJSON(state)).toEqual({ user: null, waiting: [] })
  })
})
