/**
 * Safety invariants of a replicated cluster, checked from observations only (what
 * the engines' effects and public getters show), never from their internals. The
 * scenario environment feeds every observation in as it happens and collects the
 * violations after each command.
 */
import type { Reply, View } from '@lockstep/interface'

/** One run of a replica: its id and which start it is (1 for the first, 2 after the first restart, …). */
export interface Incarnation {
  readonly replica: string
  readonly incarnation: number
}

/** The invariants, by name (a violation message starts with it). */
export const invariantNames = [
  'position never decreases',
  'no delivery while not serving',
  'one view per view number',
  'delivered sequences agree',
  'executed at most once',
  'replies agree',
] as const

export type InvariantName = (typeof invariantNames)[number]

/** A broken invariant: which one, and what was observed. */
export interface Violation {
  readonly invariant: InvariantName
  readonly message: string
}

/** Statuses in which a replica must not deliver (a frozen one only delivers the flush that ends its view). */
const notServing = new Set(['frozen', 'joining', 'recovering', 'transferring'])

/**
 * Checks, from observations:
 * - a replica's position never decreases within an incarnation;
 * - a replica delivers nothing while its status is `frozen` (except the flush that ends the view, which is
 *   followed by the view's installation in the same event), `joining`, `recovering` or `transferring`;
 * - all replicas that install or report a view with the same number agree on its members;
 * - delivered sequences agree position by position, across replicas and incarnations;
 * - no request is executed at two positions;
 * - every answer a client gets to one ordered request is the same.
 */
export class InvariantChecker {
  private readonly positions = new Map<string, number>()
  private readonly views = new Map<number, { members: string; seenAt: string }>()
  private readonly sequence = new Map<number, { request: string; seenAt: string }>()
  private readonly executions = new Map<string, { position: number; seenAt: string }>()
  private readonly replies = new Map<string, { reply: string; from: string }>()
  /** Deliveries seen while frozen in the current event: allowed only as the flush before a view installs. */
  private readonly frozenDeliveries = new Map<string, string[]>()
  private violations: Violation[] = []

  /** A request was delivered at `position`; `status` is the replica's status when it did. */
  delivered(at: Incarnation, position: number, request: string, executed: boolean, status: string): void {
    const who = label(at)
    this.position(at, position)
    if (status === 'frozen') {
      const list = this.frozenDeliveries.get(key(at)) ?? []
      list.push(`${request} at position ${position}`)
      this.frozenDeliveries.set(key(at), list)
    } else if (notServing.has(status)) {
      this.fail('no delivery while not serving', `${who} delivered ${request} at position ${position} while ${status}`)
    }
    const known = this.sequence.get(position)
    if (!known) this.sequence.set(position, { request, seenAt: who })
    else if (known.request !== request) {
      this.fail('delivered sequences agree', `${who} delivered ${request} at position ${position}, but ${known.seenAt} delivered ${known.request} there`)
    }
    if (executed) {
      const first = this.executions.get(request)
      if (!first) this.executions.set(request, { position, seenAt: who })
      else if (first.position !== position) {
        this.fail('executed at most once', `${who} executed ${request} at position ${position}, but ${first.seenAt} executed it at position ${first.position}`)
      }
    }
  }

  /** A view was installed (or entered, or reported) by a replica. */
  view(at: Incarnation, view: View): void {
    const members = view.members.join(',')
    const known = this.views.get(view.id)
    if (!known) this.views.set(view.id, { members, seenAt: label(at) })
    else if (known.members !== members) {
      this.fail('one view per view number', `${label(at)} has view ${view.id} with members (${members}), but ${known.seenAt} had view ${view.id} with members (${known.members})`)
    }
  }

  /** A view was installed: it also ends any closing flush of the old view. */
  viewInstalled(at: Incarnation, view: View, position: number): void {
    this.frozenDeliveries.delete(key(at))
    this.view(at, view)
    this.position(at, position)
  }

  /** The replica's position, as its getter or a state transfer shows it. */
  position(at: Incarnation, position: number): void {
    const last = this.positions.get(key(at))
    if (last !== undefined && position < last) {
      this.fail('position never decreases', `${label(at)} was at position ${last} and is now at position ${position}`)
    }
    if (last === undefined || position > last) this.positions.set(key(at), position)
  }

  /** One event (a message, a tick, a client request…) handed to a replica is over. */
  eventEnded(at: Incarnation): void {
    const pending = this.frozenDeliveries.get(key(at))
    if (!pending) return
    this.frozenDeliveries.delete(key(at))
    this.fail('no delivery while not serving', `${label(at)} delivered ${pending.join(', ')} while frozen, and installed no view after it (only the flush that ends a view may deliver while frozen)`)
  }

  /** A client received a reply from `from`. */
  reply(from: string, reply: Reply): void {
    if (!reply.ok && reply.position === undefined) return // refused before ordering (invalid, expired): not an answer of the order
    const name = `${reply.client}#${reply.seq}`
    const text = JSON.stringify(reply)
    const first = this.replies.get(name)
    if (!first) this.replies.set(name, { reply: text, from })
    else if (first.reply !== text) this.fail('replies agree', `${reply.client} got ${text} from ${from} for request ${name}, but ${first.reply} from ${first.from}`)
  }

  /** Violations since the last call. */
  take(): Violation[] {
    const found = this.violations
    this.violations = []
    return found
  }

  private fail(invariant: InvariantName, message: string): void {
    this.violations.push({ invariant, message: `${invariant}: ${message}` })
  }
}

/** `r2`, or `r2 (run 2)` after a restart. */
export function label(at: Incarnation): string {
  return at.incarnation === 1 ? at.replica : `${at.replica} (run ${at.incarnation})`
}

function key(at: Incarnation): string {
  return `${at.replica}/${at.incarnation}`
}
