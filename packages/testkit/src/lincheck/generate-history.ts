import { LockstepError } from '@lockstep/interface'
import type { KvInput, KvOutput } from './kv-model'
import type { Operation } from './operation'
import type { RegisterInput, RegisterOutput } from './register-model'
import { SeededRandom } from '../sim/prng'

/** Options of the history generators. Every history they produce is linearizable. */
export interface HistoryGeneratorOptions {
  /** Seed of the pseudo-random choices; the same options give the same history. */
  readonly seed: number
  /** Number of operations. */
  readonly operations: number
  /** Number of concurrent clients (default 10), named 0 … clients-1. */
  readonly clients?: number
  /** Fraction of operations whose client times out: output null; they take effect later or never (default 0.01). */
  readonly unknownRate?: number
  /** Fraction of operations that never return: return null; they take effect or not (default 0.002). */
  readonly crashRate?: number
  /** Longest time an operation takes, in ticks (default 20). */
  readonly maxLatency?: number
}

/** Options of {@link generateKvHistory}. */
export interface KvHistoryGeneratorOptions extends HistoryGeneratorOptions {
  /** Number of keys, named k0 … (default 5). */
  readonly keys?: number
}

interface Planned<I> {
  readonly client: number
  readonly input: I
  readonly call: number
  readonly return: number | null
  /** When the operation takes effect, or Infinity when it never does. */
  readonly effect: number
  /** Whether the client learns the output. */
  readonly known: boolean
}

function checkOptions(options: HistoryGeneratorOptions): void {
  const counts: [string, number | undefined][] = [['operations', options.operations], ['clients', options.clients], ['maxLatency', options.maxLatency]]
  for (const [name, value] of counts) {
    if (value !== undefined && !(Number.isInteger(value) && value >= (name === 'operations' ? 0 : 1))) {
      throw new LockstepError('INVALID_CONFIG', `history generator: ${name} is ${String(value)}; expected a positive integer`, { path: name })
    }
  }
  for (const [name, value] of [['unknownRate', options.unknownRate], ['crashRate', options.crashRate]] as const) {
    if (value !== undefined && !(value >= 0 && value <= 1)) {
      throw new LockstepError('INVALID_CONFIG', `history generator: ${name} is ${String(value)}; expected a fraction between 0 and 1`, { path: name })
    }
  }
}

/**
 * Simulate clients of a linearizable service: each client issues one operation
 * at a time; each operation takes effect at one instant inside its interval
 * (or, when its outcome is unknown, at any instant after its call, or never);
 * outputs come from applying the operations in the order they take effect.
 */
function simulate<S, I, O>(
  options: HistoryGeneratorOptions,
  initial: S,
  nextInput: (random: SeededRandom, client: number, sequence: number) => I,
  run: (state: S, input: I) => { state: S; output: O },
): Operation<I, O>[] {
  checkOptions(options)
  const random = new SeededRandom(options.seed)
  const clients = options.clients ?? 10
  const unknownRate = options.unknownRate ?? 0.01
  const crashRate = options.crashRate ?? 0.002
  const maxLatency = options.maxLatency ?? 20
  const clientFree = new Array<number>(clients).fill(0)
  const planned: Planned<I>[] = []
  for (let sequence = 0; sequence < options.operations; sequence++) {
    // The client that is free first issues the next operation.
    let client = 0
    for (let c = 1; c < clients; c++) if (clientFree[c]! < clientFree[client]!) client = c
    const call = clientFree[client]! + random.int(0, 3)
    const latency = 1 + random.int(0, maxLatency - 1)
    const input = nextInput(random, client, sequence)
    const roll = random.next()
    if (roll < crashRate) {
      // The client crashes; a fresh client process takes over its name later.
      const effect = random.next() < 0.5 ? call + random.next() * 2 * maxLatency : Infinity
      planned.push({ client, input, call, return: null, effect, known: false })
      clientFree[client] = call + 2 * maxLatency
    } else if (roll < crashRate + unknownRate) {
      // The client times out; the request may still take effect later, or be lost.
      const ret = call + maxLatency
      const effect = random.next() < 0.6 ? call + random.next() * 2 * maxLatency : Infinity
      planned.push({ client, input, call, return: ret, effect, known: false })
      clientFree[client] = ret
    } else {
      const ret = call + latency
      planned.push({ client, input, call, return: ret, effect: call + random.next() * latency, known: true })
      clientFree[client] = ret
    }
  }
  const outputs = new Array<O | null>(planned.length).fill(null)
  const effective = planned.map((_, index) => index).filter((index) => planned[index]!.effect !== Infinity)
  effective.sort((a, b) => planned[a]!.effect - planned[b]!.effect || a - b)
  let state = initial
  for (const index of effective) {
    const result = run(state, planned[index]!.input)
    state = result.state
    if (planned[index]!.known) outputs[index] = result.output
  }
  return planned.map((p, index) => ({ client: p.client, input: p.input, output: outputs[index]!, call: p.call, return: p.return }))
}

/**
 * A linearizable history of a kv store (the `kv` model) with concurrent
 * clients, gets, puts and appends over a few keys, and some unknown outcomes.
 * Deterministic for given options.
 */
export function generateKvHistory(options: KvHistoryGeneratorOptions): Operation<KvInput, KvOutput>[] {
  const keys = options.keys ?? 5
  if (!(Number.isInteger(keys) && keys >= 1)) throw new LockstepError('INVALID_CONFIG', `history generator: keys is ${String(keys)}; expected a positive integer`, { path: 'keys' })
  return simulate<ReadonlyMap<string, string>, KvInput, KvOutput>(
    options,
    new Map(),
    (random, client, sequence) => {
      const key = `k${random.int(0, keys - 1)}`
      const roll = random.next()
      if (roll < 0.5) return { f: 'get', key }
      if (roll < 0.75) return { f: 'put', key, value: `${client}.${sequence}` }
      return { f: 'append', key, value: `${sequence},` }
    },
    (state, input) => {
      const current = state.get(input.key) ?? ''
      if (input.f === 'get') return { state, output: { value: current } }
      const next = new Map(state)
      next.set(input.key, input.f === 'put' ? input.value : current + input.value)
      return { state: next, output: {} }
    },
  )
}

/**
 * A linearizable history of one register (the `register` model) with
 * concurrent clients doing reads, writes of distinct integers and
 * compare-and-sets from recently written values, and some unknown outcomes.
 * Deterministic for given options.
 */
export function generateRegisterHistory(options: HistoryGeneratorOptions): Operation<RegisterInput, RegisterOutput>[] {
  const recent: (number | null)[] = [null]
  return simulate<number | null, RegisterInput, RegisterOutput>(
    options,
    null,
    (random, _client, sequence) => {
      const roll = random.next()
      if (roll < 0.5) return { f: 'read' }
      recent.push(sequence)
      if (recent.length > 4) recent.shift()
      if (roll < 0.8) return { f: 'write', value: sequence }
      return { f: 'cas', from: recent[random.int(0, recent.length - 2)]!, to: sequence }
    },
    (state, input) => {
      if (input.f === 'read') return { state, output: { value: state } }
      if (input.f === 'write') return { state: input.value as number, output: {} }
      const ok = input.from === state
      return { state: ok ? (input.to as number) : state, output: { ok } }
    },
  )
}
