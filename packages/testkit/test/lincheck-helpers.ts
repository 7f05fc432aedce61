import { isDetermined, type Model, type Operation } from '../src/lincheck/index'

/** Shorthand for a history operation (its output is untyped so `null` fits any model). */
export function op<I>(client: string | number, input: I, output: unknown, call: number, ret: number | null): Operation<I, any> {
  return { client, input, output, call, return: ret }
}

/** True when `before` must be linearized before `after`: it returned (for sure) before `after` was called. */
function mustPrecede(before: Operation, after: Operation): boolean {
  return isDetermined(before) && before.return! < after.call
}

/**
 * Exhaustive reference check for small histories: tries every order of every
 * subset that contains all determined operations.
 */
export function bruteForceLinearizable<S>(history: readonly Operation[], model: Model<S>): boolean {
  const used = new Array<boolean>(history.length).fill(false)
  const mustUse = history.filter(isDetermined).length
  const search = (state: S, usedDetermined: number): boolean => {
    if (usedDetermined === mustUse) return true
    for (let i = 0; i < history.length; i++) {
      if (used[i]) continue
      const candidate = history[i]!
      if (history.some((other, j) => !used[j] && j !== i && mustPrecede(other, candidate))) continue
      const result = model.step(state, candidate.input, candidate.output)
      if (!result.ok) continue
      used[i] = true
      const found = search(result.state, usedDetermined + (isDetermined(candidate) ? 1 : 0))
      used[i] = false
      if (found) return true
    }
    return false
  }
  return search(model.init(), 0)
}

/**
 * Check that `order` (history indices) is a legal linearization prefix: every
 * operation fits the model in turn, and no operation comes before one that
 * returned before it was called. With `complete`, also that every determined
 * operation of `history` is in it.
 */
export function isValidLinearization<S>(history: readonly Operation[], order: readonly number[], model: Model<S>, complete: boolean): boolean {
  const position = new Map<number, number>()
  order.forEach((index, at) => position.set(index, at))
  if (position.size !== order.length) return false
  let state = model.init()
  for (const index of order) {
    const operation = history[index]!
    const result = model.step(state, operation.input, operation.output)
    if (!result.ok) return false
    state = result.state
    for (let j = 0; j < history.length; j++) {
      if (j === index || !mustPrecede(history[j]!, operation)) continue
      const at = position.get(j)
      if (at === undefined || at > position.get(index)!) return false
    }
  }
  if (complete) return history.every((operation, index) => !isDetermined(operation) || position.has(index))
  return true
}
