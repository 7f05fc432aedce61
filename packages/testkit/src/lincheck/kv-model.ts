import type { Model, OperationProblem } from './model'
import type { Operation } from './operation'

/** An input of the kv model. */
export type KvInput =
  | { readonly f: 'get'; readonly key: string }
  | { readonly f: 'put'; readonly key: string; readonly value: string }
  | { readonly f: 'append'; readonly key: string; readonly value: string }

/** An output of the kv model: `{value}` for get, `{}` for put and append. */
export interface KvOutput {
  readonly value?: string
}

/** The kv model's state: string keys to non-empty strings (a missing key reads `""`). */
export type KvState = ReadonlyMap<string, string>

const kvFunctions = ['get', 'put', 'append']

function checkKvOperation(operation: Operation<KvInput, KvOutput>): OperationProblem | undefined {
  const input = operation.input as unknown as Record<string, unknown>
  if (!kvFunctions.includes(input.f as string)) {
    return { path: '/input/f', message: `is ${JSON.stringify(input.f)}; the kv model accepts "get", "put" and "append"` }
  }
  if (typeof input.key !== 'string') return { path: '/input/key', message: `is ${JSON.stringify(input.key) ?? 'missing'}; expected a string key` }
  if (input.f !== 'get' && typeof input.value !== 'string') {
    return { path: '/input/value', message: `is ${JSON.stringify(input.value) ?? 'missing'}; ${input.f} needs a string value` }
  }
  const output = operation.output as Record<string, unknown> | null
  if (output !== null && input.f === 'get' && typeof output.value !== 'string') {
    return { path: '/output/value', message: `is ${JSON.stringify(output.value) ?? 'missing'}; a get returns {"value":"..."} ("" for a missing key), or use output null if unknown` }
  }
  return undefined
}

function withValue(state: KvState, key: string, value: string): KvState {
  const next = new Map(state)
  // A missing key and an empty value read the same, so they are the same state.
  if (value === '') next.delete(key)
  else next.set(key, value)
  return next
}

/**
 * A map from string keys to strings, where a missing key reads `""`:
 * `get key` → `{value}`, `put key value` → `{}`, `append key value` → `{}`.
 * Partitioned by key, so each key is checked on its own.
 */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  name: 'kv',
  init: () => new Map(),
  step(state, input, output) {
    const current = state.get(input.key) ?? ''
    switch (input.f) {
      case 'get':
        return { ok: output === null || output.value === current, state }
      case 'put':
        return { ok: true, state: current === input.value ? state : withValue(state, input.key, input.value) }
      case 'append':
        return { ok: true, state: input.value === '' ? state : withValue(state, input.key, current + input.value) }
      default:
        return { ok: false, state }
    }
  },
  readOnly: (input) => input.f === 'get',
  unobserved(write, history) {
    const { input } = write
    if (input.f === 'get') return true
    // A get after an append contains its string until the next put; a get after a put starts
    // with its value until the next put. If no get does, no get came between.
    return !history.some(
      (operation) =>
        operation.input.f === 'get' &&
        operation.input.key === input.key &&
        operation.output !== null &&
        (input.f === 'put' ? (operation.output.value ?? '').startsWith(input.value) : (operation.output.value ?? '').includes(input.value)),
    )
  },
  readSources(read, writes) {
    if (read.input.f !== 'get' || read.output === null) return undefined
    const key = read.input.key
    const value = read.output.value ?? ''
    // Appends only extend the value, so the value read is reachable without a put only from
    // one of its prefixes; with puts, the last one must put a prefix of it.
    const sources: number[] = []
    writes.forEach((write, position) => {
      if (write.input.f === 'put' && write.input.key === key && value.startsWith(write.input.value)) sources.push(position)
    })
    return { sources, reachableFrom: (state) => value.startsWith(state.get(key) ?? '') }
  },
  key(state) {
    // Length-prefixed entries in key order: injective, and cheap for the one-key states of a partition.
    if (state.size === 0) return ''
    if (state.size === 1) {
      const [entry] = state
      return `${entry![0].length}:${entry![0]}${entry![1].length}:${entry![1]}`
    }
    let text = ''
    for (const k of [...state.keys()].sort()) {
      const v = state.get(k)!
      text += `${k.length}:${k}${v.length}:${v}`
    }
    return text
  },
  partition(history) {
    const byKey = new Map<string, Operation<KvInput, KvOutput>[]>()
    for (const operation of history) {
      const part = byKey.get(operation.input.key)
      if (part === undefined) byKey.set(operation.input.key, [operation])
      else part.push(operation)
    }
    return [...byKey.values()]
  },
  describePartition: (operations) => (operations.length === 0 ? 'empty' : `key ${JSON.stringify(operations[0]!.input.key)}`),
  describeOperation({ input, output }) {
    switch (input.f) {
      case 'get':
        return `get ${JSON.stringify(input.key)} -> ${output === null ? '?' : JSON.stringify(output.value)}`
      case 'put':
      case 'append':
        return `${input.f} ${JSON.stringify(input.key)} ${JSON.stringify(input.value)}${output === null ? ' -> ?' : ''}`
      default:
        return JSON.stringify(input)
    }
  },
  describeState(state) {
    if (state.size === 0) return 'every key is ""'
    return [...state.keys()].sort().map((k) => `${JSON.stringify(k)} = ${JSON.stringify(state.get(k))}`).join(', ')
  },
  checkOperation: checkKvOperation,
}
