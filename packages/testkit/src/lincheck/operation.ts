/**
 * One operation of a recorded history: a client invoked `input` at time `call`
 * and saw `output` at time `return`.
 *
 * - `output: null`: the outcome is unknown (a timeout, a lost connection). Any
 *   output is accepted, and the operation may have taken effect at any moment
 *   after its call, even after `return`, or never.
 * - `return: null`: the operation never returned (its client crashed). It is
 *   treated as returning at +infinity: it may or may not have taken effect.
 */
export interface Operation<I = unknown, O = unknown> {
  /** Who invoked the operation; informational, operations are not required to be sequential per client. */
  readonly client: string | number
  /** What was invoked, in the model's input format. */
  readonly input: I
  /** What the client saw, or `null` when the outcome is unknown. */
  readonly output: O | null
  /** When the operation was invoked (any monotonic unit). */
  readonly call: number
  /** When the response arrived, or `null` when it never did. */
  readonly return: number | null
}

/** An operation together with its position in the history that was checked. */
export interface IndexedOperation<I = unknown, O = unknown> {
  /** Index of the operation in the history passed to the checker. */
  readonly index: number
  readonly operation: Operation<I, O>
  /** The model's one-line description of the operation. */
  readonly description: string
}

/**
 * True when the operation has a known outcome and a known return time: it must
 * take effect between its call and its return. Any other operation is optional:
 * it may take effect at any time after its call, or never.
 */
export function isDetermined(operation: Operation): boolean {
  return operation.output !== null && operation.return !== null
}
