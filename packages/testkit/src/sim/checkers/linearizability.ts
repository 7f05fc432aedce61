import { checkLinearizability, type LinearizabilityOptions } from '../../lincheck/check-linearizability'
import type { Model } from '../../lincheck/model'
import type { Operation } from '../../lincheck/operation'

/**
 * Linearizability of a client-visible history against a model (register, kv), as a violation list. A search that
 * gave up (verdict `unknown`) fails too, but says so rather than calling the history not linearizable: it is a
 * limit of the checker, reached when too many operations on one key are pending at once.
 */
export function checkHistoryLinearizable(history: readonly Operation[], model: Model, options: LinearizabilityOptions = {}): string[] {
  const result = checkLinearizability([...history], model, options)
  if (result.ok) return []
  if (result.verdict === 'unknown') {
    return [
      `linearizability undecided: the checker gave up on the history of ${history.length} operations (${result.reason ?? 'a limit'}); ` +
        `too many operations were pending at once for it to decide (fewer clients or a smaller inFlight keep a history decidable): ${JSON.stringify(result).slice(0, 600)}`,
    ]
  }
  return [`history of ${history.length} operations is not linearizable: ${JSON.stringify(result).slice(0, 600)}`]
}
