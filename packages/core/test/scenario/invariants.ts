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
 * Whether the cluster may lose the delivery of `request` at `position` once no live run holds it: in a cluster with
 * disks, when no majority of the configuration's disks ever held it synced (a crash then takes it from the others'
 * reach: its disk lagged, `hold-disk`, or the cluster resumes from a majority's disks without the crashed replica's,
 * or the run that held it dropped it as uncommitted). By default no delivery may be lost.
 */
export type DisksMayLose = (position: number, request: string) => boolean

/**
 * Checks, from observations:
 * - a replica's position never decreases within an incarnation (but to drop deliveries the cluster may have
 *   lost, see below);
 * - a replica delivers nothing while its status is `frozen` (except the flush that ends the view, which is
 *   followed by the view's installation in the same event), `joining`, `recovering` or `transferring`;
 * - all replicas that install or report a view with the same number agree on its members;
 * - delivered sequences agree position by position, across replicas and incarnations, but for a delivery the
 *   cluster may lose: one that no client was answered for, that no majority's disks held (see
 *   {@link DisksMayLose}), and that no live replica still holds (every run that delivered it crashed or took
 *   another state since); the cluster then fills its position anew;
 * - no request is executed at two positions (but the re-execution of a delivery lost so);
 * - every answer a client gets to one ordered request is the same.
 */
export class InvariantChecker {
  private readonly positions = new Map<string, number>()
  private readonly views = new Map<number, { members: string; seenAt: string }>()
  /** The request delivered at each position, and the live runs that delivered it there and still hold it. */
  private readonly sequence = new Map<number, { request: string; seenAt: string; holders: Set<string> }>()
  private disksMayLose: DisksMayLose = () => false
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
    if (!known || (known.request !== request && this.lost(position, known))) this.sequence.set(position, { request, seenAt: who, holders: new Set([key(at)]) })
    else if (known.request !== request) {
      this.fail('delivered sequences agree', `${who} delivered ${request} at position ${position}, but ${known.seenAt} delivered ${known.request} there`)
    } else known.holders.add(key(at))
    if (executed) {
      const first = this.executions.get(request)
      // A request whose earlier delivery was lost (its position holds another one now) may be executed anew.
      if (!first || this.sequence.get(first.position)?.request !== request) this.executions.set(request, { position, seenAt: who })
      else if (first.position !== position) {
        this.fail('executed at most once', `${who} executed ${request} at position ${position}, but ${first.seenAt} executed it at position ${first.position}`)
      }
    }
  }

  /** Says which deliveries the disks may have lost (see {@link DisksMayLose}). */
  disks(disksMayLose: DisksMayLose): void {
    this.disksMayLose = disksMayLose
  }

  /** A run no longer holds what it delivered: it crashed, or took another state. */
  dropped(at: Incarnation): void {
    for (const entry of this.sequence.values()) entry.holders.delete(key(at))
  }

  /** Whether every delivery after `from` up to `to` is one the cluster may have lost. */
  private lostAfter(from: number, to: number): boolean {
    for (let position = from + 1; position <= to; position++) {
      const known = this.sequence.get(position)
      if (known === undefined || !this.lost(position, known)) return false
    }
    return true
  }

  /** Whether the cluster may have lost the delivery `known` at `position` (see the class's comment). */
  private lost(position: number, known: { readonly request: string; readonly holders: ReadonlySet<string> }): boolean {
    return known.holders.size === 0 && !this.replies.has(known.request.replace(/\/.*$/, '')) && this.disksMayLose(position, known.request)
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
      // Back to a state that lacks deliveries the cluster lost (taking the state after its own was dropped) is no violation.
      if (this.lostAfter(position, last)) this.positions.set(key(at), position)
      else this.fail('position never decreases', `${label(at)} was at position ${last} and is now at position ${position}`)
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
