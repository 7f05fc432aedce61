import type { Operation } from './operation'

/** What a model's `step` returns: whether the output is possible, and the state after the operation. */
export interface StepResult<S> {
  /** False when `output` cannot be produced by `input` in this state. */
  readonly ok: boolean
  /** The state after the operation; ignored when `ok` is false. */
  readonly state: S
}

/**
 * A sequential specification the checker linearizes a history against.
 *
 * The model must be deterministic and pure: `step` never mutates `state`, and
 * `key` maps two states to the same string exactly when they behave the same
 * (the checker caches visited (linearized set, state key) pairs).
 */
export interface Model<S = any, I = any, O = any> {
  /** Name used by `models`, the CLI's `--model` flag and in reports. */
  readonly name: string
  /** The state before any operation. */
  init(): S
  /**
   * Apply `input` to `state`. With `output === null` (unknown outcome) any
   * output is acceptable: return `ok: true` and the state the input leads to.
   */
  step(state: S, input: I, output: O | null): StepResult<S>
  /**
   * True when an operation with this input and output leaves unchanged every
   * state it is possible in (a read, a failed compare-and-set). The checker
   * then linearizes such an operation as soon as it fits, without trying the
   * alternatives, and ignores it when its outcome is unknown. Optional: it
   * only speeds the search up, but it must never say true wrongly.
   */
  readOnly?(input: I, output: O | null): boolean
  /**
   * Early pruning for a read (an operation `readOnly` says true for, with a
   * known output): which of `writes` (the operations that may take effect
   * before it) its value can come from. Optional: it only speeds the search
   * up, but it must never be wrong. See {@link ReadSources}. Return undefined
   * when nothing can be said (for example for a compare-and-set that failed).
   */
  readSources?(read: Operation<I, O>, writes: readonly Operation<I, O>[]): ReadSources<S> | undefined
  /**
   * True when no operation of `history` can observe the effect of `write`:
   * removing it from any legal sequence of the history's operations leaves a
   * legal sequence. The search then leaves `write`, when its outcome is
   * unknown (so it may never have taken effect), out of its candidates: trying
   * it at every step of its window is what makes unknown outcomes expensive.
   * For kv: an append whose string no get returned, a put whose value starts
   * no string a get returned. Optional: it only speeds the search up, but it
   * must never say true wrongly.
   */
  unobserved?(write: Operation<I, O>, history: readonly Operation<I, O>[]): boolean
  /** A string that identifies the state: equal strings for equivalent states, different strings otherwise. */
  key(state: S): string
  /**
   * Split a history into independent sub-histories (P-compositionality): the
   * whole history is linearizable iff every part is. Must return the history's
   * own operation objects, each exactly once. Omit it to check the history as one part.
   */
  partition?(history: readonly Operation<I, O>[]): Operation<I, O>[][]
  /** A short name for a part returned by `partition`, such as `key "x"`. */
  describePartition?(operations: readonly Operation<I, O>[]): string
  /** A one-line description of an operation, such as `put "x" "1"`. */
  describeOperation?(operation: Operation<I, O>): string
  /** A one-line description of a state, for explanations. Defaults to `key(state)`. */
  describeState?(state: S): string
  /**
   * Check that an operation's input and output have the shape this model
   * understands. Returns undefined when they do, otherwise the problem:
   * `{ path, message }`, `path` relative to the operation (`/input/key`).
   */
  checkOperation?(operation: Operation<I, O>): OperationProblem | undefined
}

/**
 * What a model knows about where a read's value can come from
 * ({@link Model.readSources}). The promise: every sequence of distinct
 * operations of `writes` that leads from a state `s` to a state in which the
 * read fits contains one of `sources`, unless `reachableFrom(s)` is true.
 *
 * For a kv get that read "ab": the sources are the puts whose value starts
 * the string ("a", "ab"), and `reachableFrom(s)` is whether "ab" starts with
 * the key's value in `s` (appends only extend a string). Once every source is
 * linearized and the state has moved past the value, the read can never fit:
 * the search drops that branch at once instead of exploring every order of the
 * operations that come before the read returns.
 */
export interface ReadSources<S> {
  /** Positions in `writes` of the operations the read's value may come from. */
  readonly sources: readonly number[]
  /** False only when no sequence of the writes without a source leads from `state` to a state in which the read fits. */
  reachableFrom(state: S): boolean
}

/** Why an operation does not fit a model, as reported by {@link Model.checkOperation}. */
export interface OperationProblem {
  /** JSON Pointer inside the operation, for example `/input/f`. */
  readonly path: string
  readonly message: string
}
