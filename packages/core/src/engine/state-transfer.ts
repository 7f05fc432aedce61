import type { ReplicaId, Request, View } from '@lockstep/interface'
import type { StateImage } from './replicated-state'

/** The state at the start of a view: what every joiner of that view takes. */
export interface ViewStartImage extends StateImage {
  readonly view: number
}

/**
 * State transfer. Each replica keeps the image of its state at the start of
 * the current view and serves it to the view's joiners (and to members that
 * could not end the old view by themselves). A replica waiting for that image
 * keeps ordering in the new view, but holds what it delivers until the image
 * arrives, then executes it on top.
 */
export class StateTransfer {
  private viewStart: ViewStartImage | undefined
  private held: Request[] = []

  /** Records the state at the start of `view`. */
  recordViewStart(view: number, image: StateImage): void {
    this.viewStart = { view, position: image.position, machine: image.machine, sessions: image.sessions }
  }

  /** The state at the start of `view`, if this replica has it. */
  imageAt(view: number): ViewStartImage | undefined {
    return this.viewStart?.view === view ? this.viewStart : undefined
  }

  /** Holds a request delivered before the image arrived. */
  hold(request: Request): void {
    this.held.push(request)
  }

  /** The held requests, in delivery order, emptying the hold. */
  takeHeld(): Request[] {
    return this.held.splice(0)
  }

  /** Drops held requests (a new view, or this replica left). */
  dropHeld(): void {
    this.held = []
  }

  /** Requests held, not yet executed. */
  get heldCount(): number {
    return this.held.length
  }
}

/** Where to ask for the state at the start of `view`: every member that did not join in it. */
export function transferSources(view: View, joining: readonly ReplicaId[], self: ReplicaId): ReplicaId[] {
  return view.members.filter((m) => m !== self && !joining.includes(m))
}
