import { ErrorCodes, type Logger, type ReplicaId, type View } from '@lockstep/interface'
import type { EngineEffects, EngineStatus } from './engine-types'
import type { PeerMessage, PeerMessageOf, ViewValue } from './peer-messages'
import type { RequestPath } from './request-path'
import { StateTransfer, describeHolders, transferSources, type Outgoing, type TransferOptions, type TransferStep } from './state-transfer'

/** What catching up needs from the engine around it. */
export interface CatchUpHost {
  readonly self: ReplicaId
  readonly log: Logger
  readonly effects: EngineEffects
  readonly requests: RequestPath<unknown>
  status(): EngineStatus
  view(): View
  transitionTo(status: EngineStatus): void
  send(to: ReplicaId, message: PeerMessage): void
  /**
   * Its state was replaced by a transfer: besides the held replies, what it knew of the disks (checked against its
   * old order) and its old order's digests no longer count (see `DurableReplies.orderReplaced`).
   */
  orderReplaced(): void
}

/**
 * Catching a replica up to the state at the start of its view, and serving others: first only the part of
 * the order after its own state (when a member still keeps it, and the digests of the orders agree up to
 * there), else the whole state, streamed (`StateTransfer`). Meanwhile the replica orders in the view and
 * holds what it delivers; once it has the state it executes what it held and serves.
 */
export class CatchUp {
  readonly transfer: StateTransfer
  private readonly host: CatchUpHost
  /** The position this replica had when it began catching up. */
  private startedAt = 0
  /** Its own state is known to be wrong (see `distrustOwnState`): the next catch-up takes the whole state. */
  private ownStateWrong = false

  constructor(host: CatchUpHost, options: TransferOptions) {
    this.host = host
    this.transfer = new StateTransfer(options, () => host.requests.replicated.chunkRestorer())
  }

  /** Starts catching up with the view `commit` installed (its sources: the members that did not join in it). */
  begin(commit: ViewValue | undefined): void {
    const view = this.host.view()
    const sources = commit?.source ? [commit.source] : transferSources(view, commit?.joining ?? [], this.host.self)
    const { position, orderDigest } = this.host.requests.replicated
    this.startedAt = position
    // A state known to be wrong cannot be caught up by the order after it: its order is right, its state is not.
    const from = this.ownStateWrong ? undefined : { position, digest: orderDigest }
    this.send(this.transfer.begin(view.id, sources.filter((s) => s !== this.host.self), from, view.members.length))
  }

  /** This replica's state is wrong though its order is right (a state digest differed): take the whole state next. */
  distrustOwnState(): void {
    this.ownStateWrong = true
  }

  /** Asks again for what did not come (a source crashed, a link broke); takes a whole state its silent sources did not confirm. */
  retry(configuration: readonly ReplicaId[], commit: ViewValue | undefined): void {
    if (this.host.status() !== 'transferring') return
    this.step(this.transfer.retry(), configuration, commit)
  }

  /** Serves a replica catching up: the suffix it asked for if this replica keeps it, else a chunk of the state. */
  onRequest(from: ReplicaId, m: PeerMessageOf<'stateRequest'>, lastCommit: ViewValue | undefined): void {
    const serving = this.host.status() !== 'transferring'
    const answer = serving ? ((m.from && this.transfer.suffix(m.view, m.from)) ?? this.transfer.chunk(m.view, m.offset, from)) : undefined
    if (answer) this.host.send(from, answer)
    else if (lastCommit && m.view < lastCommit.view.id) this.host.send(from, { kind: 'commit', value: lastCommit })
  }

  onChunk(from: ReplicaId, m: PeerMessageOf<'stateChunk'>, configuration: readonly ReplicaId[], commit: ViewValue | undefined): void {
    const { host } = this
    if (host.status() !== 'transferring' || m.view !== host.view().id) return
    this.step(this.transfer.onChunk(m, from), configuration, commit)
  }

  /** What a chunk or a retry brought: asks sent, what went wrong said, and the state taken once it is whole and confirmed. */
  private step(step: TransferStep, configuration: readonly ReplicaId[], commit: ViewValue | undefined): void {
    const { host } = this
    const { ask, image, totalBytes, sources = [], rejected, disputed, refused } = step
    if (rejected) host.log.error(`replica '${host.self}': ${rejected}`)
    if (refused) {
      host.log.error(
        `replica '${host.self}' takes no state in view ${refused.view}: its sources hold different states at position ${refused.position} (${describeHolders(Object.entries(refused.holders))}) and none is held by a majority of the view, so it cannot tell the right one. ` +
          'It stays out of service until a view whose sources agree; a replica whose state is wrong must be found (its state digests, GET /status) and restarted without its state.',
        { code: ErrorCodes.STATE_DIVERGED, view: refused.view, position: refused.position, holders: refused.holders },
      )
    }
    this.send(ask)
    if (!image) return
    const view = host.view().id
    const held = host.requests.replicated.position
    // Whether its own order had already departed from the cluster's where the cluster resumed (when it still keeps its digest there).
    const own = held > image.position ? this.transfer.keptDigest(image.position) : undefined
    const departed = own !== undefined && image.orderDigest !== undefined && own !== image.orderDigest
    host.requests.replicated.restore(image)
    this.transfer.resetKept(image.position, image.orderDigest ?? '')
    if (held > image.position) {
      // Its own order went further than the state the cluster resumed from. With intact disks those positions were
      // never acknowledged (no majority's disks held them); with disks restored from older copies they may have been.
      host.log.warn(
        `replica '${host.self}' drops positions ${image.position + 1}..${held} of its own order` +
          (departed ? `, which had departed from the cluster's by position ${image.position}: the cluster resumed there on another order. ` : `: the cluster resumed at position ${image.position} without them. `) +
          `No client was answered for ${departed ? 'its own order past the point where they part' : 'them'} unless disks were restored from copies older than this replica's (see "Backup and restore" in docs/operations.md).`,
        { position: image.position, dropped: held - image.position, ...(departed ? { departed: true } : {}) },
      )
    }
    if (disputed) host.log.warn(`replica '${host.self}' takes the state of view ${view} that a majority holds (${sources.join(', ')}); its other sources hold other states, which are wrong: ${disputed}`, { code: ErrorCodes.STATE_DIVERGED })
    this.taken(`the state of view ${view} at position ${image.position} (${totalBytes} bytes) from ${sources.join(', ')}`, configuration, commit, sources)
  }

  /** A part of the order after this replica's own state: executed as it was ordered, checked by digest. */
  onSuffix(m: PeerMessageOf<'stateSuffix'>, configuration: readonly ReplicaId[], commit: ViewValue | undefined): void {
    const { host } = this
    const part = host.status() === 'transferring' && m.view === host.view().id ? this.transfer.onSuffix(m) : undefined
    if (!part) return
    // From position 0 this replica holds no order yet: it continues the source's digest version (1 if unsaid: an earlier version's).
    if (host.requests.replicated.position === 0 && part.requests.length > 0) host.requests.replicated.continueOrderOf(m.digestVersion ?? 1)
    host.requests.replay(part.requests)
    const { position, orderDigest } = host.requests.replicated
    if (orderDigest !== m.digest) {
      host.log.error(`replica '${host.self}': the order after position ${m.from} does not match its digest; taking the whole state instead`)
      return this.send(this.transfer.wholeState())
    }
    if (part.done) this.taken(`the order's last ${position - this.startedAt} requests, up to position ${position} (no snapshot needed)`, configuration, commit, undefined)
    else this.send(this.transfer.caughtUpTo(position, orderDigest))
  }

  /**
   * This replica holds the state at the start of its view: it executes what it held and serves. `wholeSources`:
   * the sources of a whole state taken (undefined when it took the order after its own state).
   */
  private taken(what: string, configuration: readonly ReplicaId[], commit: ViewValue | undefined, wholeSources: readonly ReplicaId[] | undefined): void {
    const { host } = this
    const wholeState = wholeSources !== undefined
    const position = host.requests.replicated.position
    // Replies held for disks answered deliveries of the state it had before: that state is gone (a majority
    // never held those deliveries, or the replies would have gone out), and a later report that the peers'
    // disks hold those positions would be about other requests. The clients retry and get the real answer.
    host.orderReplaced()
    if (wholeState) this.ownStateWrong = false
    this.transfer.recordViewStart(host.view().id, host.requests.replicated.image())
    host.transitionTo('normal')
    host.effects.stateReplaced?.(position, wholeState, wholeSources ?? [])
    host.effects.viewInstalled?.(host.view(), position, configuration, commit?.view.id === host.view().id ? commit : undefined)
    host.log.info(`replica '${host.self}' took ${what} and serves again`)
    for (const request of this.transfer.takeHeld()) host.requests.execute(request, true)
    host.requests.resubmitHeld()
  }

  private send(messages: readonly Outgoing[]): void {
    for (const { to, message } of messages) this.host.send(to, message)
  }
}
