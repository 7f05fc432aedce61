import type { AcceptedValue, Ballot, ViewValue } from '../peer-messages'
import { ballotAbove, sameBallot } from './ballot'

/** What an acceptor remembers: its votes in the newest view change (`instance`: the view number) it took part in. */
export interface AcceptorState {
  readonly instance: number
  readonly promised: Ballot | null
  readonly accepted: AcceptedValue | null
  /**
   * The value chosen for view `instance - 1`, when this acceptor learned it before voting in view change
   * `instance` (from the coordinator). Moving on to a view change forgets what was accepted in the one before;
   * this keeps the chosen value on the disk, so that a replica restarted from it knows the configuration of the
   * view the next change ends even if no replica ever installed that view on its disk.
   */
  readonly previous?: ViewValue
}

/** Why an acceptor refused: it promised a higher ballot in that view change, or it has moved on to a later one. */
export interface Refusal {
  /** The ballot it promised, when the refusal is about the same view change. */
  readonly promised: Ballot | null
  /** The view change it takes part in now. */
  readonly instance: number
}

/**
 * The Paxos acceptor of the view changes (single-decree Paxos per view number). It remembers its votes in
 * the newest view change it took part in; a prepare or accept for an older one is refused (that view number
 * is decided, or about to be, without it), and one for a newer one starts afresh. Its state must outlive the
 * process (it goes to disk with durable storage), or the replica must not vote until it has rejoined: an
 * acceptor that forgets an acceptance can let two values be chosen for one view number.
 */
export class Acceptor {
  private current: AcceptorState = { instance: 0, promised: null, accepted: null }

  /** Its votes, for persistence. */
  get state(): AcceptorState {
    return this.current
  }

  /** The highest ballot promised in the view change it takes part in, if any. */
  get promised(): Ballot | null {
    return this.current.promised
  }

  /** The value it accepted in the view change it takes part in, if any, with its ballot. */
  get accepted(): AcceptedValue | null {
    return this.current.accepted
  }

  /** Takes back votes read from a disk. */
  restore(state: AcceptorState): void {
    this.current = state
  }

  /** Phase 1b for view `instance`: promises `ballot` unless a higher one was promised (the same may be promised again). */
  prepare(instance: number, ballot: Ballot, previous?: ViewValue): Refusal | undefined {
    const refusal = this.moveTo(instance, previous)
    if (refusal) return refusal
    const { promised } = this.current
    if (promised && !ballotAbove(ballot, promised) && !sameBallot(ballot, promised)) return { promised, instance }
    this.current = { ...this.current, promised: ballot }
    return undefined
  }

  /** Phase 2b for view `instance`: accepts `value` in `ballot` unless a higher ballot was promised. */
  accept(instance: number, ballot: Ballot, value: ViewValue, previous?: ViewValue): Refusal | undefined {
    const refusal = this.moveTo(instance, previous)
    if (refusal) return refusal
    const { promised } = this.current
    if (promised && ballotAbove(promised, ballot)) return { promised, instance }
    this.current = { ...this.current, instance, promised: ballot, accepted: { ballot, value } }
    return undefined
  }

  /** Takes part in view change `instance` from now on; `previous` (the value of view `instance - 1`) is kept once known. */
  private moveTo(instance: number, previous: ViewValue | undefined): Refusal | undefined {
    if (instance < this.current.instance) return { promised: null, instance: this.current.instance }
    const known = previous?.view.id === instance - 1 ? previous : undefined
    if (instance > this.current.instance) this.current = { instance, promised: null, accepted: null, ...(known ? { previous: known } : {}) }
    else if (known && !this.current.previous) this.current = { ...this.current, previous: known }
    return undefined
  }
}
