import type { ClientId } from './ids'

/** An output of a command: a value addressed to any client (the seed's `send OK to head(waiting)`). */
export interface Output<O = unknown> {
  readonly to: ClientId
  readonly value: O
}

/** What a command sees besides the state and its own arguments. */
export interface ApplyContext {
  /** The client that issued the command (the DSL's `client`). */
  readonly client: ClientId
  /** The command's position in the total order, from 1. The same on every replica. */
  readonly position: number
}

/**
 * A replicated state machine. It must be deterministic: its state and outputs
 * depend only on the sequence of commands it executed, never on time,
 * randomness or I/O.
 *
 * `apply` may mutate `state` in place. To abort, it throws (preferably a
 * `LockstepError` with code `COMMAND_FAILED`) and must leave `state`
 * unchanged; the engine then answers the requester with that error, identically
 * on every replica.
 */
export interface StateMachine<S = any, C = any, O = any> {
  /** A short name (`mutex`, `kv`). */
  readonly name: string
  /** The initial state. */
  init(): S
  /** Executes one command. */
  apply(state: S, command: C, ctx: ApplyContext): Output<O>[]
  /** Serializes the state; `restore(snapshot(s))` must equal `s`. Equal states give equal bytes. */
  snapshot(state: S): Uint8Array
  /** Rebuilds a state from `snapshot`'s bytes. */
  restore(bytes: Uint8Array): S
  /** JSON Schema for commands; a request that fails it is rejected before ordering. */
  readonly commandSchema?: object
  /** A JSON view of the state, for inspection and `lockstep exec`. */
  toJSON?(state: S): unknown
}
