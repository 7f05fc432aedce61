import type { AcceptedValue, Ballot, ViewValue } from '../peer-messages'
import { ballotAbove, sameBallot } from './ballot'

/**
 * The Paxos acceptor of one view change (single-decree Paxos per view number):
 * it promises ballots and accepts values, refusing anything below what it
 * promised. The engine keeps one per view and resets it when a view is installed.
 */
export class Acceptor {
  private promisedBallot: Ballot | null = null
  private acceptedValue: AcceptedValue | null = null

  /** The highest ballot promised in this view change, if any. */
  get promised(): Ballot | null {
    return this.promisedBallot
  }

  /** The value accepted in this view change, if any, with its ballot. */
  get accepted(): AcceptedValue | null {
    return this.acceptedValue
  }

  /** Phase 1b: promises `ballot` unless a higher one was promised (the same one may be promised again). Returns the refusing ballot, or undefined. */
  prepare(ballot: Ballot): Ballot | undefined {
    if (this.promisedBallot && !ballotAbove(ballot, this.promisedBallot) && !sameBallot(ballot, this.promisedBallot)) return this.promisedBallot
    this.promisedBallot = ballot
    return undefined
  }

  /** Phase 2b: accepts `value` in `ballot` unless a higher ballot was promised. Returns the refusing ballot, or undefined. */
  accept(ballot: Ballot, value: ViewValue): Ballot | undefined {
    if (this.promisedBallot && ballotAbove(this.promisedBallot, ballot)) return this.promisedBallot
    this.promisedBallot = ballot
    this.acceptedValue = { ballot, value }
    return undefined
  }

  /** Forgets this view change (a view was installed, or this replica left the view). */
  reset(): void {
    this.promisedBallot = null
    this.acceptedValue = null
  }
}
