import { DEFAULT_MAX_STATES, checkLinearizability, type LinearizabilityOptions } from '../../lincheck/check-linearizability'
import type { Model } from '../../lincheck/model'
import { isDetermined, type Operation } from '../../lincheck/operation'

/** Where the cluster executed an operation's request: its position in the total order, or undefined if it never did (or nobody knows). */
export type PositionOf = (operation: Operation) => number | undefined

/** Options of {@link checkHistoryLinearizable}. */
export interface HistoryCheckOptions extends LinearizabilityOptions {
  /** With it, a history the search gives up on is tried against the cluster's own order (see {@link orderWitness}). */
  readonly positionOf?: PositionOf
  /**
   * With `positionOf`: the states a partition's search may record before the cluster's order is tried, before the
   * full search (default {@link QUICK_SEARCH_STATES}). A history the quick search decides never needs the order.
   */
  readonly quickStates?: number
}

/**
 * The quick search's budget (see {@link HistoryCheckOptions.quickStates}): the simulator's histories of one request in
 * flight per client take at most some tens of thousands of states a partition; a pipelined one (8 clients with 8 in
 * flight) can take more than the full search's 5,000,000, and its seconds were spent before the order, linear in the
 * history's length, was asked.
 */
export const QUICK_SEARCH_STATES = 200_000

/**
 * Linearizability of a client-visible history against a model (register, kv), as a violation list. When the search
 * gives up (verdict `unknown`: too many operations pending at once on one key, as with many pipelined clients), the
 * order the cluster executed the requests in is tried as a linearization (`positionOf`); if it is one, the history
 * is linearizable. Otherwise the run fails, saying the verdict is undecided rather than calling the history not
 * linearizable.
 *
 * With `positionOf`, a quick search (at most `quickStates` states a partition) comes first, then the order, then the
 * full search: the verdict is the full search's or the order's, as before (a history found not linearizable is
 * searched again in full, for the same report), but a history the quick search cannot decide and the order
 * linearizes costs no full search. The search stays the judge of every history it decides
 * quickly (nearly all), so the order and the search still check each other there.
 */
export function checkHistoryLinearizable(history: readonly Operation[], model: Model, options: HistoryCheckOptions = {}): string[] {
  const { positionOf, quickStates = QUICK_SEARCH_STATES, ...limits } = options
  /** The cluster's order as a witness: worked out once, when a search first gives up. */
  let witness: ReturnType<typeof orderWitness> | undefined
  if (positionOf && quickStates < (limits.maxStates ?? DEFAULT_MAX_STATES)) {
    const quick = checkLinearizability([...history], model, { ...limits, maxStates: quickStates })
    if (quick.ok) return []
    if (quick.verdict === 'unknown') witness = orderWitness(history, model, positionOf)
    if (witness?.ok) return []
  }
  const result = checkLinearizability([...history], model, limits)
  if (result.ok) return []
  if (result.verdict === 'unknown') {
    witness ??= positionOf ? orderWitness(history, model, positionOf) : undefined
    if (witness?.ok) return []
    return [
      `linearizability undecided: the checker gave up on the history of ${history.length} operations (${result.reason ?? 'a limit'})` +
        `${witness ? `, and the cluster's own order does not linearize it (${witness.reason})` : ''}; ` +
        `too many operations were pending at once for it to decide (fewer clients or a smaller inFlight keep a history decidable): ${JSON.stringify(result).slice(0, 600)}`,
    ]
  }
  return [`history of ${history.length} operations is not linearizable: ${JSON.stringify(result).slice(0, 600)}`]
}

/**
 * Whether the order the cluster executed the requests in linearizes the history: every operation with a known
 * outcome executed; taken in the order of their positions, the executed operations respect real time (none
 * returned before one placed earlier was called) and the model, replaying them, gives every output seen. Operations
 * that never executed are left out (they must have unknown outcomes). A witness proves the history linearizable;
 * a failure proves nothing (another order might do), so the search stays the judge and this is asked only when it
 * gave up. Linear in the history's length.
 */
export function orderWitness(history: readonly Operation[], model: Model, positionOf: PositionOf): { readonly ok: true } | { readonly ok: false; readonly reason: string } {
  const placed: { operation: Operation; position: number }[] = []
  for (const operation of history) {
    const position = positionOf(operation)
    if (position !== undefined) placed.push({ operation, position })
    else if (isDetermined(operation)) return { ok: false, reason: `an operation of ${String(operation.client)} called at ${operation.call} was answered but its position is unknown` }
  }
  placed.sort((a, b) => a.position - b.position)
  let latestCall = -Infinity
  let state = model.init()
  for (let i = 0; i < placed.length; i++) {
    const { operation, position } = placed[i]!
    if (i > 0 && placed[i - 1]!.position === position) return { ok: false, reason: `two operations at position ${position}` }
    if (operation.return !== null && operation.return < latestCall) {
      return { ok: false, reason: `the operation at position ${position} (${String(operation.client)}) returned at ${operation.return}, before one placed earlier was called at ${latestCall}` }
    }
    latestCall = Math.max(latestCall, operation.call)
    const step = model.step(state, operation.input, operation.output)
    if (!step.ok) return { ok: false, reason: `the operation at position ${position} (${String(operation.client)}, ${JSON.stringify(operation.input)}) cannot give ${JSON.stringify(operation.output)} there` }
    state = step.state
  }
  return { ok: true }
}
