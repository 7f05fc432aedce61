import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  checkLinearizability,
  generateKvHistory,
  generateRegisterHistory,
  isDetermined,
  kvModel,
  registerModel,
  type Operation,
} from '../src/lincheck/index'
import { bruteForceLinearizable, isValidLinearization } from './lincheck-helpers'

const SEED = 20261125

/** The history restricted to the given indices, and the map from history index to position in it. */
function restrict(history: readonly Operation[], indices: readonly number[]) {
  const position = new Map(indices.map((index, at) => [index, at]))
  return { part: indices.map((index) => history[index]!), position }
}

const generatorOptions = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  operations: fc.integer({ min: 0, max: 150 }),
  clients: fc.integer({ min: 1, max: 6 }),
  unknownRate: fc.constantFrom(0, 0.05, 0.2),
  crashRate: fc.constantFrom(0, 0.02),
})

describe('histories of a simulated linearizable service', () => {
  it('register histories are always linearizable, with a valid witness', () => {
    fc.assert(
      fc.property(generatorOptions, (options) => {
        const history = generateRegisterHistory(options)
        const result = checkLinearizability(history, registerModel, { witness: true })
        expect(result.verdict).toBe('linearizable')
        expect(isValidLinearization(history, result.witness![0]!, registerModel, true)).toBe(true)
      }),
      { seed: SEED, numRuns: 60 },
    )
  })

  it('kv histories are always linearizable, with a valid witness per key', () => {
    fc.assert(
      fc.property(generatorOptions, fc.integer({ min: 1, max: 4 }), (options, keys) => {
        const history = generateKvHistory({ ...options, keys })
        const result = checkLinearizability(history, kvModel, { witness: true })
        expect(result.verdict).toBe('linearizable')
        const parts = kvModel.partition!(history).map((ops) => ops.map((o) => history.indexOf(o)))
        expect(result.witness).toHaveLength(parts.length)
        result.witness!.forEach((order, p) => {
          const { part, position } = restrict(history, parts[p]!)
          expect(isValidLinearization(part, order.map((index) => position.get(index)!), kvModel, true)).toBe(true)
        })
      }),
      { seed: SEED, numRuns: 60 },
    )
  })

  it('a determined read changed to a value never written is always rejected', () => {
    fc.assert(
      fc.property(generatorOptions, fc.nat(), (options, pick) => {
        const history = generateRegisterHistory({ ...options, operations: Math.max(options.operations, 1) })
        const reads = history.flatMap((o, index) => (o.input.f === 'read' && isDetermined(o) ? [index] : []))
        fc.pre(reads.length > 0)
        const target = reads[pick % reads.length]!
        const mutated = history.map((o, index) => (index === target ? { ...o, output: { value: -1 } } : o))
        const result = checkLinearizability(mutated, registerModel)
        expect(result.verdict).toBe('not-linearizable')
        // The explanation is a real linearizable prefix that the changed read cannot follow.
        const prefix = result.violation!.prefix.map((p) => p.index)
        expect(prefix).not.toContain(target)
        expect(isValidLinearization(mutated, prefix, registerModel, false)).toBe(true)
      }),
      { seed: SEED, numRuns: 60 },
    )
  })

  it('a determined get changed to a string never written is always rejected, in its key', () => {
    fc.assert(
      fc.property(generatorOptions, fc.nat(), (options, pick) => {
        const history = generateKvHistory({ ...options, operations: Math.max(options.operations, 1), keys: 3 })
        const gets = history.flatMap((o, index) => (o.input.f === 'get' && isDetermined(o) ? [index] : []))
        fc.pre(gets.length > 0)
        const target = gets[pick % gets.length]!
        const mutated = history.map((o, index) => (index === target ? { ...o, output: { value: 'never-written' } } : o))
        const result = checkLinearizability(mutated, kvModel)
        expect(result.verdict).toBe('not-linearizable')
        expect(result.violation!.partition).toBe(`key ${JSON.stringify(history[target]!.input.key)}`)
      }),
      { seed: SEED, numRuns: 60 },
    )
  })
})

/** Random small register histories, linearizable or not: random intervals, values, outputs. */
const smallRegisterHistory = fc.array(
  fc.record({
    client: fc.integer({ min: 0, max: 3 }),
    kind: fc.constantFrom('read', 'write', 'cas'),
    a: fc.constantFrom(null, 0, 1, 2),
    b: fc.constantFrom(0, 1, 2),
    ok: fc.boolean(),
    call: fc.integer({ min: 0, max: 30 }),
    duration: fc.integer({ min: 0, max: 15 }),
    outcome: fc.constantFrom('known', 'known', 'known', 'unknown', 'never-returned'),
  }),
  { minLength: 0, maxLength: 7 },
).map((specs) =>
  specs.map((s): Operation => {
    const input = s.kind === 'read' ? { f: 'read' } : s.kind === 'write' ? { f: 'write', value: s.b } : { f: 'cas', from: s.a, to: s.b }
    const output = s.kind === 'read' ? { value: s.a } : s.kind === 'write' ? {} : { ok: s.ok }
    return {
      client: s.client,
      input,
      output: s.outcome === 'known' ? output : null,
      call: s.call,
      return: s.outcome === 'never-returned' ? null : s.call + s.duration,
    }
  }),
)

describe('agreement with an exhaustive search on small histories', () => {
  it('the verdict matches trying every order, for random register histories', () => {
    let rejected = 0
    fc.assert(
      fc.property(smallRegisterHistory, (history) => {
        const expected = bruteForceLinearizable(history, registerModel)
        const result = checkLinearizability(history, registerModel, { witness: true })
        expect(result.ok).toBe(expected)
        if (result.ok) {
          expect(isValidLinearization(history, result.witness![0]!, registerModel, true)).toBe(true)
        } else {
          rejected++
          const prefix = result.violation!.prefix.map((p) => p.index)
          expect(isValidLinearization(history, prefix, registerModel, false)).toBe(true)
          expect(prefix).not.toContain(result.violation!.failedOperation.index)
        }
      }),
      { seed: SEED, numRuns: 1500 },
    )
    // The generator must produce both kinds, or the comparison proves little.
    expect(rejected).toBeGreaterThan(100)
  })
})

/** Random small single-key kv histories with appends, whose order matters. */
const smallKvHistory = fc.array(
  fc.record({
    kind: fc.constantFrom('get', 'put', 'append'),
    value: fc.constantFrom('', 'a', 'b', 'ab', 'ba', 'aa'),
    call: fc.integer({ min: 0, max: 30 }),
    duration: fc.integer({ min: 0, max: 15 }),
    outcome: fc.constantFrom('known', 'known', 'known', 'unknown', 'never-returned'),
  }),
  { minLength: 0, maxLength: 7 },
).map((specs) =>
  specs.map((s, index): Operation => ({
    client: index,
    input: s.kind === 'get' ? { f: 'get', key: 'k' } : { f: s.kind, key: 'k', value: s.value.slice(0, 1) },
    output: s.outcome !== 'known' ? null : s.kind === 'get' ? { value: s.value } : {},
    call: s.call,
    return: s.outcome === 'never-returned' ? null : s.call + s.duration,
  })),
)

describe('agreement with an exhaustive search on small kv histories', () => {
  it('the verdict matches trying every order, with appends', () => {
    let rejected = 0
    fc.assert(
      fc.property(smallKvHistory, (history) => {
        const expected = bruteForceLinearizable(history, kvModel)
        const result = checkLinearizability(history, kvModel, { witness: true })
        expect(result.ok).toBe(expected)
        if (result.ok) {
          if (history.length > 0) expect(isValidLinearization(history, result.witness![0]!, kvModel, true)).toBe(true)
        } else {
          rejected++
          // Early pruning (Model.readSources) still explains with a real linearizable prefix.
          const prefix = result.violation!.prefix.map((p) => p.index)
          expect(isValidLinearization(history, prefix, kvModel, false)).toBe(true)
          expect(prefix).not.toContain(result.violation!.failedOperation.index)
        }
      }),
      { seed: SEED, numRuns: 1500 },
    )
    expect(rejected).toBeGreaterThan(100)
  })
})
