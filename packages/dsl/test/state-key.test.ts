import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { StateKeys } from '../src/state-key'
import { compileOk } from './helpers'

const source = `
keys: state_machine
  var
    who: client_id init Φ
    n: int init Φ
    flag: bool init Φ
    xs: list of int init Φ
    tags: set of string init Φ
    table: map of string to list of int init Φ
    grid: map of int to bool init Φ
    names: list of string init Φ
  touch: command
    n := len(xs) + len(tags) + len(table) + len(grid) + len(names)
    flag := who = Φ
  end touch
end keys
`

describe('the model checker’s compact state keys', () => {
  it('are equal exactly when the canonical snapshot encodings are (fast-check, fixed seed)', () => {
    const { machine } = compileOk(source)
    const compiled = machine.compiled
    const keys = new StateKeys(compiled.program)
    const int = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(53247, 53248, 2 ** 53 - 1, -(2 ** 53 - 1)))
    const text = fc.oneof(fc.constantFrom('', 'a', 'b', 'c1', '\u0000', '\uffff', '"'), fc.string({ maxLength: 3 }))
    const state = fc.record({
      who: fc.option(fc.constantFrom('c1', 'c2', 'c\u0001'), { nil: null }),
      n: fc.option(int, { nil: null }),
      flag: fc.option(fc.boolean(), { nil: null }),
      xs: fc.array(int, { maxLength: 3 }),
      tags: fc.uniqueArray(text, { maxLength: 3 }),
      table: fc.dictionary(text, fc.array(int, { minLength: 1, maxLength: 2 }), { maxKeys: 2 }),
      grid: fc.dictionary(int.map(String), fc.boolean(), { maxKeys: 2 }),
      names: fc.array(text, { maxLength: 3 }),
    })
    fc.assert(
      fc.property(state, state, (a, b) => {
        const x = compiled.stateFromJson(a)
        const y = compiled.stateFromJson(b)
        expect(keys.key(x) === keys.key(y)).toBe(compiled.encodeState(x) === compiled.encodeState(y))
        expect(keys.key(x)).toBe(keys.key(compiled.stateFromJson(JSON.parse(compiled.encodeState(x)))))
      }),
      { seed: 2026, numRuns: 3000 },
    )
  })
})
