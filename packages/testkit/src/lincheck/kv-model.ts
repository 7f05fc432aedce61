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

/**
 * How a long value was made: a put's value, or a value extended by an append. Made once per parent and string
 * (`children`), so the same operations from the same value give the same node, and its `id` stands for the value
 * in a cache key exactly (equal ids, equal strings) in a few characters. A value of at most {@link LONG_VALUE}
 * characters is its own parent node (`root.children` by its text). Two nodes may hold equal strings (appends of
 * "a" then "b" to a long value, against one append of "ab"): their states then do not meet in the cache, which
 * costs search, never correctness. (The search keeps a key per state it visits, and values grow with every
 * append: a chaos run's history of 14,423 operations, with values up to 19,690 characters, ran the checker out of
 * memory when keys held the values.)
 */
interface ValueNode {
  readonly id: number
  readonly children: Map<string, ValueNode>
}

/** Ids of value nodes: never reused, so an id names one node for the life of the process. */
let nextValueId = 0
/** Values longer than this are keyed by their node (see {@link ValueNode}), shorter ones by their text. */
const LONG_VALUE = 64

function newNode(): ValueNode {
  return { id: nextValueId++, children: new Map() }
}

function childOf(node: ValueNode, text: string): ValueNode {
  let child = node.children.get(text)
  if (child === undefined) node.children.set(text, (child = newNode()))
  return child
}

/** A state `init` or `step` made: its search's root node, and the nodes of its long values by key. */
class NodedState extends Map<string, string> {
  constructor(
    entries: ReadonlyMap<string, string> | undefined,
    readonly root: ValueNode,
    readonly long: ReadonlyMap<string, ValueNode> | undefined,
  ) {
    // Not `super(entries)`: a Map subclass's constructor takes the generic path (an iterator and a lookup of `set`
    // per entry), 14 % of the checker's time on the benchmark's slowest kv history; a loop over the entries is not.
    super()
    if (entries !== undefined) for (const [key, value] of entries) this.set(key, value)
  }
}

/** `state` with `key`'s value set to `value`: put there (`appended` undefined), or extended by `appended`. */
function withValue(state: KvState, key: string, value: string, appended?: string): KvState {
  const next = state instanceof NodedState ? new NodedState(state, state.root, nodesAfter(state, key, value, appended)) : new Map(state)
  // A missing key and an empty value read the same, so they are the same state.
  if (value === '') next.delete(key)
  else next.set(key, value)
  return next
}

/** The nodes of the long values of `state` once `key`'s value is `value` (see {@link withValue}). */
function nodesAfter(state: NodedState, key: string, value: string, appended: string | undefined): ReadonlyMap<string, ValueNode> | undefined {
  let long = state.long
  if (value.length > LONG_VALUE) {
    const before = state.get(key) ?? ''
    const parent = appended === undefined ? state.root : before.length > LONG_VALUE ? state.long?.get(key) : childOf(state.root, before)
    const node = parent === undefined ? undefined : childOf(parent, appended ?? value)
    const nodes = new Map(long)
    if (node) nodes.set(key, node)
    else nodes.delete(key)
    long = nodes
  } else if (long?.has(key)) {
    const nodes = new Map(long)
    nodes.delete(key)
    long = nodes.size === 0 ? undefined : nodes
  }
  return long
}

/**
 * A map from string keys to strings, where a missing key reads `""`:
 * `get key` → `{value}`, `put key value` → `{}`, `append key value` → `{}`.
 * Partitioned by key, so each key is checked on its own.
 */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  name: 'kv',
  init: () => new NodedState(undefined, newNode(), undefined),
  step(state, input, output) {
    const current = state.get(input.key) ?? ''
    switch (input.f) {
      case 'get':
        return { ok: output === null || output.value === current, state }
      case 'put':
        return { ok: true, state: current === input.value ? state : withValue(state, input.key, input.value) }
      case 'append':
        return { ok: true, state: input.value === '' ? state : withValue(state, input.key, current + input.value, input.value) }
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
    // Length-prefixed entries in key order: injective, and cheap for the one-key states of a partition. A long
    // value with a node is written `#id` instead of `length:text` (see ValueNode): after the key, a digit starts
    // the one and '#' the other, so the two never meet.
    if (state.size === 0) return ''
    const nodes = state instanceof NodedState ? state.long : undefined
    const entry = (k: string, v: string) => {
      const node = v.length > LONG_VALUE ? nodes?.get(k) : undefined
      return node ? `${k.length}:${k}#${node.id}` : `${k.length}:${k}${v.length}:${v}`
    }
    if (state.size === 1) {
      const [only] = state
      return entry(only![0], only![1])
    }
    let text = ''
    for (const k of [...state.keys()].sort()) text += entry(k, state.get(k)!)
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
