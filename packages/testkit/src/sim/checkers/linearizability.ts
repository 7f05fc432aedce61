import { checkLinearizability } from '../../lincheck/check-linearizability'
import type { Model } from '../../lincheck/model'
import type { Operation } from '../../lincheck/operation'

/** Linearizability of a client-visible history against a model (register, kv), as a violation list. */
export function checkHistoryLinearizable(history: readonly Operation[], model: Model): string[] {
  const result = checkLinearizability([...history], model)
  if (result.ok) return []
  return [`history of ${history.length} operations is not linearizable: ${JSON.stringify(result).slice(0, 600)}`]
}
