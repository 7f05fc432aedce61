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
  /**
   * Agreed time, in epoch milliseconds: the time the request entered the cluster (the clock of the replica
   * it was submitted to), made non-decreasing along the order. The same on every replica at every position,
   * across view changes, restarts and state transfers. The only time a machine may read: leases and
   * timeouts are built on it (the DSL's `now`). 0 for requests ordered by earlier versions.
   */
  readonly time: number
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
  /**
   * Optional, for machines whose state can grow large: the state as a sequence of chunks, so that a
   * snapshot or a state transfer never holds the whole state twice in memory and never stops the replica
   * for longer than one chunk takes. When a machine has it (and `restoreChunks`), replicas use it instead
   * of `snapshot` for state transfers and for the snapshots they write to disk.
   *
   * - **A cheap capture, lazy bytes.** The call captures the state as it is at the call, cheaply (a copy
   *   of references to immutable values, a copy-on-write view: O(entries), not O(bytes)); the chunks are
   *   produced as the iterable is consumed, which the replica does later, a chunk at a time, while `apply`
   *   goes on changing `state`. Every chunk must still describe the state at the call. So do not write it
   *   as a generator function that reads `state` lazily: capture first, then return the iterable.
   * - **Iterable again.** Each iteration starts over and yields the same chunks (return an object whose
   *   `[Symbol.iterator]()` starts a new pass, not a one-shot generator; a one-shot one works, but the
   *   replica then has to keep every chunk it produced).
   * - **Deterministic.** Equal states give equal chunk sequences (same chunks, same boundaries), on every
   *   replica: chunks from several replicas are combined in one transfer, checked by one digest.
   * - **Bounded.** Each chunk should hold at most about 1 MiB (an entry larger than that may take a chunk
   *   of its own).
   * - `restoreChunks(snapshotChunks(s))` equals `s`.
   */
  snapshotChunks?(state: S): Iterable<Uint8Array>
  /**
   * Rebuilds a state from the chunks of `snapshotChunks`, in order; iterates them once. Required with
   * `snapshotChunks`. Chunks that are not what `snapshotChunks` writes throw an error saying which chunk
   * is wrong and why.
   */
  restoreChunks?(chunks: Iterable<Uint8Array>): S
  /**
   * Optional, with `snapshotChunks`: rebuilds a state a chunk at a time, as the chunks arrive. A replica
   * taking a state from its peers adds each chunk as soon as the bytes before it are in, so it never stops
   * for the whole state at the end (the time `restoreChunks` takes, which for millions of entries is
   * longer than a failure detector's patience) and lets go of each chunk's bytes once added. `add` takes
   * the chunks of `snapshotChunks` in order and throws like `restoreChunks` on a wrong one; `finish`
   * returns the state. A restorer whose image turns out wrong (its digest) is dropped unfinished.
   */
  chunkRestorer?(): ChunkRestorer<S>
  /** JSON Schema for commands; a request that fails it is rejected before ordering. */
  readonly commandSchema?: object
  /** A JSON view of the state, for inspection and `lockstep exec`. */
  toJSON?(state: S): unknown
  /**
   * Optional: a small, bounded JSON view of the state for operators: what a replica's `GET /status` reports
   * as `summary` (unless the cluster configuration says `"statusSummary": false`), `lockstep status` prints
   * and `lockstep dashboard` shows (the lock service's holder, queue and lease). Unlike `toJSON` it is
   * **public**: the operator endpoint's `GET`s are not authenticated, so put in it only what anyone who can
   * reach that port may read.
   *
   * - **Small.** At most about 4 KB of JSON text, whatever the state's size: truncate collections (their first
   *   elements and a count). A replica reports `summaryError` instead of a summary larger than 16 KiB.
   * - **Cheap.** It runs on the replica's event loop at every `/status` (the dashboard asks every 500 ms):
   *   O(what it returns), or at most one pass over the state.
   * - **Read-only and deterministic.** It must not change `state`; equal states give equal summaries.
   *
   * The built-in mutex gives `{ user, waiting: { count, items } }`; a machine compiled from the DSL gives its
   * state variables (see docs/dsl.md).
   */
  summary?(state: S): JsonValue
}

/** A JSON value: what `JSON.parse` returns. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue }

/** Rebuilds a state from the chunks of `snapshotChunks`, one at a time (see `StateMachine.chunkRestorer`). */
export interface ChunkRestorer<S> {
  /** Adds the next chunk. */
  add(chunk: Uint8Array): void
  /** The state of every chunk added. */
  finish(): S
}
