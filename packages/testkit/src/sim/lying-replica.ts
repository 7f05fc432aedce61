import type { ReplicaToClient, StateMachine, TransportFactory } from '@lockstep/interface'
import { SeededRandom } from './prng'

/**
 * How a lying replica lies, for testing voting (Schneider §4: replicas that may compute wrong outputs).
 *
 * - `outputs`: its engine computes correctly (its state, its order and its votes stay right), but what it sends
 *   clients is corrupted: reply outputs changed, an error turned into a success or a success into an error, the
 *   outputs it addresses to other clients changed.
 * - `state`: its machine now and then loses a command's effect on the state (the command runs on a copy), so its
 *   state drifts from the others' and its later answers, and its state digest, differ.
 */
export interface LieOptions {
  /** Seeds which answers (or commands) it corrupts, and how. */
  readonly seed: number
  /** Default `outputs`. */
  readonly mode?: 'outputs' | 'state'
  /** The share of answers (`outputs`) or commands (`state`) it corrupts, from 0 to 1. Default 1 for `outputs`, 0.2 for `state`. */
  readonly rate?: number
}

/** The lie modes, for parsing. */
export const lieModes = ['outputs', 'state'] as const

/** A value that differs from `value` (a string gets a suffix, a number grows, an object changes one field). */
export function corruptValue(value: unknown, random: SeededRandom): unknown {
  if (typeof value === 'string') return `${value}~lie${random.int(0, 999)}`
  if (typeof value === 'number') return value + random.int(1, 1_000)
  if (typeof value === 'boolean') return !value
  if (value === null || value === undefined) return `lie${random.int(0, 999)}`
  if (Array.isArray(value)) return value.length === 0 ? [`lie${random.int(0, 999)}`] : value.map((item, i) => (i === 0 ? corruptValue(item, random) : item))
  if (typeof value === 'object') {
    const keys = Object.keys(value).sort()
    if (keys.length === 0) return { lie: random.int(0, 999) }
    const key = keys[random.int(0, keys.length - 1)]!
    return { ...(value as Record<string, unknown>), [key]: corruptValue((value as Record<string, unknown>)[key], random) }
  }
  return `lie${random.int(0, 999)}`
}

/** A replica-to-client message with its content corrupted: what a lying replica sends instead. */
export function corruptClientMessage(message: ReplicaToClient, random: SeededRandom): ReplicaToClient {
  if (message.type === 'output') return { ...message, output: { ...message.output, value: corruptValue(message.output.value, random) } }
  // Evidence carries signatures: a reader checks it (see voting's verifyEvidence). `no-outputs` carries no answer.
  if (message.type !== 'reply') return message
  const { reply } = message
  if (!reply.ok) {
    // Claims success for a request that failed (or was refused).
    return { ...message, reply: { client: reply.client, seq: reply.seq, ok: true, outputs: [], position: reply.position ?? 0, ...(reply.incarnation === undefined ? {} : { incarnation: reply.incarnation }) } }
  }
  if (reply.outputs.length === 0 || random.chance(0.2)) {
    // Claims failure for a request that succeeded.
    return { ...message, reply: { client: reply.client, seq: reply.seq, ok: false, error: { code: 'COMMAND_FAILED', message: 'a lie' }, position: reply.position, ...(reply.incarnation === undefined ? {} : { incarnation: reply.incarnation }) } }
  }
  return { ...message, reply: { ...reply, outputs: reply.outputs.map((o) => ({ ...o, value: corruptValue(o.value, random) })) } }
}

function rateOf(options: LieOptions, fallback: number): number {
  const rate = options.rate ?? fallback
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`a lying replica's rate must be between 0 and 1, not ${String(options.rate)}`)
  return rate
}

/**
 * A replica transport that lies to clients (`outputs` mode): each reply or output it sends a client is corrupted
 * with probability `rate`, drawn from the seed. Messages to other replicas pass unchanged.
 */
export function lyingTransport(inner: TransportFactory, options: LieOptions): TransportFactory {
  const rate = rateOf(options, 1)
  return (components) => {
    const transport = inner(components)
    const random = new SeededRandom(options.seed)
    return {
      self: transport.self,
      start: (handler) => transport.start(handler),
      send: (to, message) => transport.send(to, message),
      sendToClient: (to, message) => {
        const m = message as ReplicaToClient
        const lie = (m?.type === 'reply' || m?.type === 'output') && random.chance(rate)
        transport.sendToClient(to, lie ? corruptClientMessage(m, random) : message)
      },
      stop: () => transport.stop(),
    }
  }
}

/**
 * A machine that computes a wrong state now and then (`state` mode): with probability `rate` a command runs on a
 * copy of the state (its outputs are returned as usual), so its effect on the state is lost here only.
 */
export function lyingMachine<S>(machine: StateMachine<S>, options: LieOptions): StateMachine<S> {
  const rate = rateOf(options, 0.2)
  const random = new SeededRandom(options.seed)
  // Everything else (schema, snapshots, chunks) is the machine's own, through the prototype.
  const lying = Object.create(machine) as StateMachine<S>
  lying.apply = (state, command, ctx) => {
    if (!random.chance(rate)) return machine.apply(state, command, ctx)
    const copy = machine.restore(machine.snapshot(state))
    return machine.apply(copy, command, ctx)
  }
  return lying
}
