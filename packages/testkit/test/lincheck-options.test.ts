import { LockstepError } from '@lockstep/interface'
import { describe, expect, it } from 'vitest'
import {
  checkLinearizability,
  generateKvHistory,
  generateRegisterHistory,
  kvModel,
  modelByName,
  models,
  registerModel,
  type Model,
  type Operation,
} from '../src/lincheck/index'
import { op } from './lincheck-helpers'

function thrown(run: () => unknown): LockstepError {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(LockstepError)
    return error as LockstepError
  }
  throw new Error('expected a LockstepError')
}

/** A counter: `incr` adds 1 and returns nothing, `read` returns the count. One per name: partitioned by name. */
type CounterInput = { f: 'incr' | 'read'; name: string }
const counterModel: Model<number, CounterInput, { value?: number }> = {
  name: 'counter',
  init: () => 0,
  step: (state, input, output) =>
    input.f === 'incr' ? { ok: true, state: state + 1 } : { ok: output === null || output.value === state, state },
  key: (state) => String(state),
  readOnly: (input) => input.f === 'read',
  partition(history) {
    const byName = new Map<string, Operation<CounterInput, { value?: number }>[]>()
    for (const operation of history) byName.set(operation.input.name, [...(byName.get(operation.input.name) ?? []), operation])
    return [...byName.values()]
  },
  describePartition: (operations) => `counter ${operations[0]!.input.name}`,
  checkOperation: (operation) => (['incr', 'read'].includes(operation.input.f) ? undefined : { path: '/input/f', message: 'expected "incr" or "read"' }),
}

describe('custom models', () => {
  it('checks a user-written model with its own partitioning', () => {
    const history = [
      op('a', { f: 'incr', name: 'hits' } as CounterInput, {}, 0, 10),
      op('b', { f: 'incr', name: 'hits' } as CounterInput, {}, 0, 10),
      op('c', { f: 'read', name: 'hits' } as CounterInput, { value: 1 }, 5, 15),
      op('c', { f: 'read', name: 'misses' } as CounterInput, { value: 0 }, 5, 15),
    ]
    expect(checkLinearizability(history, counterModel)).toMatchObject({ ok: true, partitions: 2 })
    const late = [...history, op('d', { f: 'read', name: 'hits' } as CounterInput, { value: 1 }, 20, 30)]
    const result = checkLinearizability(late, counterModel)
    expect(result.ok).toBe(false)
    expect(result.violation!.partition).toBe('counter hits')
    expect(result.violation!.stateAfterPrefix).toBe('2')
    // Without describeOperation, operations are described generically.
    expect(result.violation!.failedOperation.description).toBe('{"f":"read","name":"hits"} -> {"value":1}')
  })

  it('reports an operation the model does not understand, with its index and field', () => {
    const error = thrown(() => checkLinearizability([op('a', { f: 'decr', name: 'x' } as unknown as CounterInput, {}, 0, 1)], counterModel))
    expect(error.code).toBe('INVALID_CONFIG')
    expect(error.details?.path).toBe('/0/input/f')
    expect(error.message).toMatch(/operation 0, input\/f: expected "incr" or "read" \(model counter\)/)
  })

  it('checks the built-in models’ input shapes', () => {
    expect(thrown(() => checkLinearizability([op('a', { f: 'get' }, { value: 'x' }, 0, 1)], kvModel as Model)).details?.path).toBe('/0/input/key')
    expect(thrown(() => checkLinearizability([op('a', { f: 'read' }, {}, 0, 1)], registerModel as Model)).details?.path).toBe('/0/output/value')
    expect(thrown(() => checkLinearizability([op('a', { f: 'cas', from: 1 }, { ok: true }, 0, 1)], registerModel as Model)).details?.path).toBe('/0/input/to')
    expect(thrown(() => checkLinearizability([op('a', { f: 'put', key: 'k', value: 1 }, {}, 0, 1)], kvModel as Model)).details?.path).toBe('/0/input/value')
  })

  it('rejects a partition that loses or invents operations', () => {
    const losing: Model = { ...registerModel, partition: (history) => [history.slice(1)] }
    const history = [op('a', { f: 'read' }, { value: null }, 0, 1), op('a', { f: 'read' }, { value: null }, 2, 3)]
    expect(thrown(() => checkLinearizability(history, losing)).message).toMatch(/placed 1 of 2 operations/)
    const inventing: Model = { ...registerModel, partition: (h) => [h.map((o) => ({ ...o }))] }
    expect(thrown(() => checkLinearizability(history, inventing)).message).toMatch(/not in the history/)
  })

  it('finds the built-in models by name', () => {
    expect(models.register).toBe(registerModel)
    expect(models.kv).toBe(kvModel)
    expect(modelByName('kv')).toBe(kvModel)
    expect(thrown(() => modelByName('queue')).message).toMatch(/unknown linearizability model "queue"; the built-in models are register, kv/)
    expect(thrown(() => modelByName('toString')).code).toBe('INVALID_CONFIG')
  })
})

describe('options', () => {
  const hard = generateRegisterHistory({ seed: 3, operations: 3000, clients: 10 })

  it('refuses a timeout without a clock: the checker never reads time itself', () => {
    const error = thrown(() => checkLinearizability([], registerModel, { timeoutMs: 100 }))
    expect(error.code).toBe('INVALID_CONFIG')
    expect(error.message).toMatch(/pass now/)
    expect(thrown(() => checkLinearizability([], registerModel, { timeoutMs: -1, now: () => 0 })).message).toMatch(/positive number/)
    expect(thrown(() => checkLinearizability([], registerModel, { maxSteps: 0 })).message).toMatch(/maxSteps/)
  })

  it('gives up with verdict unknown when the injected clock passes the timeout', () => {
    let time = 0
    const result = checkLinearizability(hard, registerModel, { timeoutMs: 50, now: () => (time += 10) })
    expect(result).toMatchObject({ ok: false, verdict: 'unknown', reason: 'timed out after 50 ms' })
  })

  it('gives up deterministically after about maxSteps model steps', () => {
    const result = checkLinearizability(hard, registerModel, { maxSteps: 100 })
    expect(result.verdict).toBe('unknown')
    expect(result.reason).toMatch(/gave up after \d+ model steps \(maxSteps 100\)/)
    expect(result.steps).toBeLessThan(2000)
    expect(checkLinearizability(hard, registerModel, { maxSteps: 100 })).toEqual(result)
  })

  it('gives up on a partition deterministically after about maxStates states, saying so', () => {
    const result = checkLinearizability(hard, registerModel, { maxStates: 500 })
    expect(result).toMatchObject({ ok: false, verdict: 'unknown' })
    expect(result.reason).toMatch(/^gave up after \d+ states in one partition \(maxStates 500\)$/)
    expect(result.statesExplored).toBeLessThan(5000)
    expect(checkLinearizability(hard, registerModel, { maxStates: 500 })).toEqual(result)
    expect(thrown(() => checkLinearizability([], registerModel, { maxStates: 0 })).message).toMatch(/maxStates is 0; expected a positive number/)
    expect(checkLinearizability(hard, registerModel, { maxStates: Infinity }).verdict).toBe('linearizable')
  })

  it('still finds a violation in another partition when one runs out of states', () => {
    // Key "a" needs many states; key "b" fails at once. Running out on "a" must not hide "b".
    const busy = generateKvHistory({ seed: 3, operations: 3000, clients: 10, keys: 1 }).map((o) => ({ ...o, input: { ...o.input, key: 'a' } }))
    const history = [
      ...busy,
      op('x', { f: 'put', key: 'b', value: '1' }, {}, 0, 1),
      op('y', { f: 'get', key: 'b' }, { value: '2' }, 2, 3),
    ]
    expect(checkLinearizability(busy, kvModel, { maxStates: 100 }).verdict).toBe('unknown')
    const result = checkLinearizability(history, kvModel, { maxStates: 100 })
    expect(result.verdict).toBe('not-linearizable')
    expect(result.violation!.partition).toBe('key "b"')
  })

  it('decides the same history when given enough time', () => {
    let time = 0
    const result = checkLinearizability(hard, registerModel, { timeoutMs: 1e12, now: () => (time += 1) })
    expect(result.verdict).toBe('linearizable')
  })

  it('rejects a history that is not an array', () => {
    expect(thrown(() => checkLinearizability({} as unknown as Operation[], registerModel)).code).toBe('INVALID_CONFIG')
  })
})
