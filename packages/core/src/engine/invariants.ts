import type { View } from '@lockstep/interface'
import type { EngineStatus } from './engine-types'

/** What the invariants look at after each event. */
export interface EngineObservation {
  readonly status: EngineStatus
  readonly view: View
  readonly position: number
  /** True while this replica has promised a ballot in a view change. */
  readonly promised: boolean
  /** The view number of the view change this replica coordinates, if any. */
  readonly coordinating: number | undefined
  /**
   * True while a replica restarted from its disk has not yet taken the cluster's state: after a whole-cluster
   * crash its disk may hold deliveries that no majority's disk held (never acknowledged), which the cluster
   * resumed without; taking the cluster's state rolls them back.
   */
  readonly restartedFromDisk: boolean
  /**
   * How many times the state was replaced by a transferred one. A replica waiting for a view's state may hold
   * deliveries that never reached a majority's disks (the only replica that had the view's state failed): the
   * cluster may resume without them, and taking its state rolls them back.
   */
  readonly restores: number
}

/** True when two member lists name the same replicas in the same order. */
function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * The replica engine's invariants, checked after every event when the engine
 * runs with `checkInvariants` (tests, simulations), like TigerBeetle's
 * assertions after each message:
 * - the position never decreases, except when a replica restarted from its disk takes the cluster's state: if
 *   the whole cluster had crashed, its disk may hold requests that no majority's disk held (so never
 *   acknowledged: a reply waits for a majority's disks), which the cluster resumed without;
 * - view numbers never decrease, and a view number always names the same members (one view per number);
 * - a frozen replica has promised a ballot; a coordinator coordinates a view after its own (the next one, or
 *   the one after a chosen view it could not install because it was restarting from its disk);
 * - a replica delivers only while it orders (normal, or transferring with deliveries held), while it ends a
 *   view by the agreed flush, or while it replays its own log.
 */
export class EngineInvariants {
  private lastPosition = 0
  private lastRestores = 0
  private lastView = 0
  /** The members each view number named when first seen (copies: a view changed in place must not change them). */
  private readonly viewMembers = new Map<number, readonly string[]>()

  /** Checks the state after an event; returns what is violated (empty when all hold). */
  afterEvent(now: EngineObservation): string[] {
    const violations: string[] = []
    const rolledBack = now.restartedFromDisk || now.restores !== this.lastRestores
    if (now.position < this.lastPosition && !rolledBack) violations.push(`the position went back from ${this.lastPosition} to ${now.position}`)
    if (now.view.id < this.lastView) violations.push(`the view went back from ${this.lastView} to ${now.view.id}`)
    const known = this.viewMembers.get(now.view.id)
    if (known === undefined) this.viewMembers.set(now.view.id, [...now.view.members])
    else if (!sameMembers(known, now.view.members)) violations.push(`view ${now.view.id} changed its members from [${known.join(',')}] to [${now.view.members.join(',')}]`)
    if (now.status === 'frozen' && !now.promised) violations.push('frozen without having promised a ballot')
    if (now.coordinating !== undefined && now.coordinating <= now.view.id) violations.push(`coordinating view ${now.coordinating} from view ${now.view.id}`)
    this.lastPosition = rolledBack ? now.position : Math.max(this.lastPosition, now.position)
    this.lastRestores = now.restores
    this.lastView = Math.max(this.lastView, now.view.id)
    return violations
  }

  /** Checks that a delivery is allowed in the replica's situation; returns the violation, if any. */
  onDeliver(status: EngineStatus, flushing: boolean, replaying: boolean): string | undefined {
    if (status === 'normal' || status === 'transferring' || flushing || replaying) return undefined
    return `delivered a request while ${status}`
  }
}
