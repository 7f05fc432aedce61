import { readdirSync } from 'node:fs'
import { commandSchema as handWrittenSchema } from '@lockstep/machines'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { commandSchema, commandSchemas, validateCommand } from '../src/index'
import { compileOk, createAjv, readSpec, specsDir } from './helpers'

const allTypes = `
types: state_machine
  var last: string init Φ
  go(who: client_id, n: int, flag: bool, name: string, xs: list of int, tags: set of string, scores: map of string to int, seen: map of int to bool, nested: list of list of client_id): command
    last := name
  end go
  stop: command
    skip
  end stop
end types
`

describe('command schemas', () => {
  it('use the same layout as the hand-written machines', () => {
    const { program } = compileOk(readSpec('seed-mutex.sm'))
    expect(commandSchema(program)).toEqual(handWrittenSchema({ acquire: {}, release: {} }))
  })

  it('compile under ajv 8 with the engine’s options, for every example spec', () => {
    for (const file of readdirSync(specsDir).filter((f) => f.endsWith('.sm'))) {
      const { machine, program } = compileOk(readSpec(file), file)
      const ajv = createAjv()
      expect(() => ajv.compile(machine.commandSchema)).not.toThrow()
      for (const schema of Object.values(commandSchemas(program))) expect(() => ajv.compile(schema)).not.toThrow()
    }
  })

  it('accept well-formed commands and name the offending field of bad ones', () => {
    const { machine } = compileOk(readSpec('kv.sm'), 'kv.sm')
    const validate = createAjv().compile(machine.commandSchema)
    expect(validate({ name: 'put', args: { key: 'a', value: 3 } })).toBe(true)
    expect(validate({ name: 'size' })).toBe(true)
    expect(validate({ name: 'size', args: {} })).toBe(true)
    expect(validate({ name: 'put', args: { key: 'a', value: 'three' } })).toBe(false)
    expect(validate.errors[0].instancePath).toBe('/args/value')
    expect(validate({ name: 'put', args: { key: 'a' } })).toBe(false)
    expect(validate({ name: 'put' })).toBe(false)
    expect(validate({ name: 'steal' })).toBe(false)
    expect(validate({ name: 'put', args: { key: 'a', value: 2 ** 53 } })).toBe(false)
  })

  it('agree with validateCommand on random commands (fast-check, fixed seed)', () => {
    const { machine } = compileOk(allTypes, 'types.sm')
    const validate = createAjv().compile(machine.commandSchema)
    const value = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom('c1', '', 'a', 0, -1, 3, 1.5, true, null, [], {}, [1, 2], [1, 1], ['a', 'b'], ['a', 'a'], { a: 1 }, { 1: true, '-2': false }, { x: true }, { '01': true }, [['c1'], ['c2']], [['']]),
    )
    const args = fc.dictionary(fc.constantFrom('who', 'n', 'flag', 'name', 'xs', 'tags', 'scores', 'seen', 'nested', 'other'), value)
    const full = fc.record({ who: value, n: value, flag: value, name: value, xs: value, tags: value, scores: value, seen: value, nested: value })
    const command = fc.oneof(
      fc.record({ name: fc.constantFrom('go', 'stop', 'nope'), args: fc.oneof(args, full, value) }, { requiredKeys: ['name'] }),
      fc.record({ name: fc.constant('go'), args: full.map((a) => ({ ...a, who: 'c1', n: 1, flag: true, name: 'x' })) }),
      fc.record({ name: fc.constant('stop'), extra: value }),
      value,
    )
    let accepted = 0
    fc.assert(
      fc.property(command, (candidate) => {
        const ours = validateCommand(machine, candidate)
        expect(ours.ok, JSON.stringify(candidate)).toBe(validate(candidate))
        if (ours.ok) accepted++
      }),
      { seed: 99, numRuns: 3000 },
    )
    expect(accepted).toBeGreaterThan(50)
  })
})
