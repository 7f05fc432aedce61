import type { Ballot } from '../peer-messages'

export type { Ballot } from '../peer-messages'

/** True if `a` is a higher ballot than `b` (any ballot is above none): by round, then by coordinator id. */
export function ballotAbove(a: Ballot, b: Ballot | null): boolean {
  if (!b) return true
  return a.round > b.round || (a.round === b.round && a.coordinator > b.coordinator)
}

/** True if `a` and `b` are the same ballot. */
export function sameBallot(a: Ballot, b: Ballot | null): boolean {
  return b !== null && a.round === b.round && a.coordinator === b.coordinator
}
