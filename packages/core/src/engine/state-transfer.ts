import type { ChunkRestorer, ReplicaId, Request, View } from '@lockstep/interface'
import { Fnv1a64 } from './digest'
import { ImageStream, imagePieces } from './image-codec'
import { ImagePass, type ImageEnd } from './image-pass'
import type { PeerMessage, PeerMessageOf } from './peer-messages'
import type { LazyImage, StateImage } from './state-image'
import { majorityOf } from './view-change/quorum'

/**
 * How a state travels: in chunks of at most `chunkBytes`, at most `window` chunks asked for at once; a
 * replica behind by no more than the last `suffixWindow` requests of the order gets just those.
 */
export interface TransferOptions {
  readonly chunkBytes: number
  readonly window: number
  readonly suffixWindow: number
}

/**
 * The last requests of the order before a state, as a snapshot keeps them: `requests[i]` was delivered at
 * `from.position + i + 1`, the order's digest becoming `digests[i]`; `from` is the position and digest before the first.
 */
export interface RecentOrder {
  readonly from: { readonly position: number; readonly digest: string }
  readonly requests: readonly Request[]
  readonly digests: readonly string[]
}

/** A delivered request kept for catching replicas up, with the digest of the order after it. */
interface Kept {
  readonly position: number
  readonly request: Request
  readonly digest: string
  readonly bytes: number
}

/**
 * At most this much of the kept requests (by their rough size) goes into a snapshot (see
 * `StateTransfer.recentOrder`): each snapshot stays small beside the log it compacts.
 */
export const RECENT_ORDER_BYTES = 256 * 1024

/** A request whose command holds more than this is not kept for catch-up (the window stays small in memory). */
const LARGE_REQUEST_BYTES = 64 * 1024

/** A rough size of a command: the characters of its strings and 8 per other value, up to `limit`. */
function roughBytes(value: unknown, limit: number): number {
  if (typeof value === 'string') return value.length
  if (value instanceof Uint8Array) return value.length
  if (typeof value !== 'object' || value === null) return 8
  // Once per delivery (whether to keep the request for catch-up): no list of values made per object.
  let total = 0
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      total += 8 + roughBytes(value[i], limit - total)
      if (total > limit) return total
    }
    return total
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue
    total += 8 + roughBytes((value as Record<string, unknown>)[key], limit - total)
    if (total > limit) return total
  }
  return total
}

/**
 * Retries (see {@link StateTransfer.retry}) a whole state received waits for the sources that have not said its
 * digest yet, before it goes on without them (they crashed, or their links broke).
 */
export const CONFIRM_RETRIES = 2

/** A whole state this replica would not take: its sources hold different states, and none is a majority's. */
export interface TransferRefusal {
  readonly view: number
  readonly position: number
  /** The sources that said each digest of the state at `position`. */
  readonly holders: Readonly<Record<string, readonly ReplicaId[]>>
}

/** "r1 holds 845a…; r2, r3 hold 40ac…": who holds which digest of a state, for a log line. */
export function describeHolders(holders: Iterable<readonly [string, Iterable<ReplicaId>]>): string {
  return [...holders]
    .map(([digest, h]) => {
      const ids = [...h].sort()
      return `${ids.join(', ')} ${ids.length === 1 ? 'holds' : 'hold'} ${digest}`
    })
    .join('; ')
}

/** What a chunk, or a retry, brought: what to ask for next, and the state once it is taken (or why not). */
export interface TransferStep {
  readonly ask: Outgoing[]
  readonly image?: StateImage
  readonly totalBytes?: number
  /** The sources of the image taken: those whose chunks it holds, and those that said the same digest. */
  readonly sources?: readonly ReplicaId[]
  /** The image (or the bytes read so far) was dropped and is taken again: why. */
  readonly rejected?: string
  /** The image was taken while some sources said another digest (their states are wrong): who. */
  readonly disputed?: string
  /** Its sources disagree and no state is a majority's: it takes none in this view. */
  readonly refused?: TransferRefusal
}

/** A state on its way in: the chunks received, and those asked for. */
interface Incoming {
  /** `suffix`: asking for the requests after `from` (this replica's own state); `image`: the whole state, in chunks. */
  mode: 'suffix' | 'image'
  from: { position: number; digest: string } | undefined
  readonly view: number
  /** Every source: each is asked to confirm a whole state's digest before it is taken. */
  readonly sources: readonly ReplicaId[]
  /**
   * The sources chunks are asked of: all of them at first, a single one after a whole did not match its digest
   * (the next one when it does not answer), the holders of the majority's state after a dispute.
   */
  askFrom: readonly ReplicaId[]
  /** Attempts at the whole state so far in this view (the next single source is chosen by it). */
  readonly attempt: number
  /** How many of the view's members must hold a state for it to be taken over another source's. */
  readonly quorum: number
  nextSource: number
  /** The position of the image, as the first chunk said; every later chunk must say the same. */
  position: number | undefined
  /** The image's size and digest, once a source has produced all of it and said so; they never change after. */
  end: ImageEnd | undefined
  readonly chunks: Map<number, Uint8Array>
  received: number
  /** The image is hashed and read as it comes, in order: every byte before `hashedUpTo` is hashed and read. */
  hashedUpTo: number
  readonly hasher: Fnv1a64
  /** Reads the bytes hashed (a machine with `chunkRestorer` is rebuilt on the way, and the chunks let go). */
  readonly stream: ImageStream
  /** Why the bytes read so far cannot be an image, once known. */
  unreadable: string | undefined
  readonly asked: Set<number>
  /** The sources whose chunks went into the image (a wrong state can be traced to them). */
  readonly servedBy: Set<ReplicaId>
  /** The size and digest each source said of its image at `position` (kept over the attempts of a view). */
  readonly ends: Map<ReplicaId, ImageEnd>
  /** The image, received whole and matching its digest, while the other sources are asked to confirm it. */
  verified: { readonly image: StateImage; readonly totalBytes: number; readonly digest: string } | undefined
  /** Sources asked to say the verified image's digest, and the retries since the asking began. */
  readonly confirmAsked: Set<ReplicaId>
  confirmRetries: number
  /** Set once its sources disagreed with no majority: nothing more is asked in this view. */
  refused: TransferRefusal | undefined
}

/** A message to send. */
export interface Outgoing {
  readonly to: ReplicaId
  readonly message: PeerMessage
}

/**
 * State transfer, streamed. Each replica keeps the image of its state at the start of the current view (a
 * lazy one: captured at the view's start, its bytes produced only when a joiner asks for them) and serves it
 * in chunks under the frame limit to the view's joiners (and to members that could not end the old view by
 * themselves). A joiner asks for a window of chunks at a time, round-robin over every source (so several
 * serve in parallel, and flow control is the joiner's asking), asks again for what does not arrive (a source
 * that crashed or whose link broke: another one answers, from the same offset), hashes the image as it
 * arrives and checks the digest of the whole before it installs it, and meanwhile orders in the new view,
 * holding what it delivers.
 *
 * A source produces the image as it is asked for it, one pass per joiner (`ImagePass`), so it learns the
 * image's size and digest only at the end: it says them with the last chunk (and every chunk after), and
 * the joiner asks ahead until it knows them.
 */
export class StateTransfer {
  private readonly options: TransferOptions
  private viewStart: { readonly view: number; readonly image: LazyImage; readonly passes: Map<ReplicaId, ImagePass> } | undefined
  private held: Request[] = []
  private incoming: Incoming | undefined
  /** The last requests of the order, oldest first, after the position and digest of `keptFrom`. */
  private kept: Kept[] = []
  private keptFrom = { position: 0, digest: '' }
  private keptBytes = 0

  private readonly restorer: () => ChunkRestorer<unknown> | undefined

  /** `restorer`: a new restorer of the machine's state from its chunks, one at a time, if it has one. */
  constructor(options: TransferOptions, restorer: () => ChunkRestorer<unknown> | undefined = () => undefined) {
    this.options = options
    this.restorer = restorer
  }

  /** This replica's order digest after the request at `position`, if it still keeps that request (or the kept ones start there). */
  keptDigest(position: number): string | undefined {
    if (position === this.keptFrom.position) return this.keptFrom.digest
    const entry = this.kept[position - this.keptFrom.position - 1]
    return entry?.position === position ? entry.digest : undefined
  }

  /** A request was delivered at `position`, the order's digest becoming `digest`: kept for catching others up. */
  recordDelivery(position: number, request: Request, digest: string): void {
    const bytes = roughBytes(request.command, LARGE_REQUEST_BYTES)
    if (bytes > LARGE_REQUEST_BYTES || position !== this.keptFrom.position + this.kept.length + 1) {
      // Too large to keep (or a gap): the window starts after it.
      this.resetKept(position, digest)
      return
    }
    this.kept.push({ position, request, digest, bytes })
    this.keptBytes += bytes
    while (this.kept.length > this.options.suffixWindow) {
      const oldest = this.kept.shift()!
      this.keptBytes -= oldest.bytes
      this.keptFrom = { position: oldest.position, digest: oldest.digest }
    }
  }

  /**
   * The kept requests up to `position` (the state's: the last kept one must be at it), newest last, at most
   * `maxBytes` of them by their rough size: written into a snapshot, so a replica restarted from it can still
   * serve a replica a little behind the order after its own state instead of its whole state (and a joiner
   * whose only source is that replica keeps its own state and executes the order after it itself). Undefined
   * when none are kept.
   */
  recentOrder(position: number, maxBytes: number): RecentOrder | undefined {
    const kept = this.kept
    if (kept.length === 0 || kept[kept.length - 1]!.position !== position) return undefined
    let first = kept.length
    let bytes = 0
    while (first > 0 && bytes + kept[first - 1]!.bytes <= maxBytes) bytes += kept[--first]!.bytes
    if (first === kept.length) return undefined
    const from = first === 0 ? this.keptFrom : { position: kept[first - 1]!.position, digest: kept[first - 1]!.digest }
    const entries = kept.slice(first)
    return { from, requests: entries.map((e) => e.request), digests: entries.map((e) => e.digest) }
  }

  /**
   * Restarted from a snapshot at `position` with order digest `digest`: keeps the requests the snapshot held
   * before it (see {@link recentOrder}) if they end there; the requests replayed after it extend them. Returns
   * whether they were kept.
   */
  restoreRecentOrder(recent: RecentOrder, position: number, digest: string): boolean {
    const { from, requests, digests } = recent
    if (requests.length === 0 || requests.length !== digests.length || from.position + requests.length !== position || digests[digests.length - 1] !== digest) return false
    this.resetKept(from.position, from.digest)
    for (let i = 0; i < requests.length; i++) this.recordDelivery(from.position + i + 1, requests[i]!, digests[i]!)
    return this.kept.length > 0 && this.kept[this.kept.length - 1]!.position === position
  }

  /** The state was replaced (a transfer, a restore): the kept requests start after it. */
  resetKept(position: number, digest: string): void {
    this.kept = []
    this.keptBytes = 0
    this.keptFrom = { position, digest }
  }

  /**
   * Source side: the requests after `from` up to the start of `view`, if this replica keeps them all and
   * `from` is on the same order (equal digests); at most about a chunk's worth, the asker asks again for more.
   */
  suffix(view: number, from: { readonly position: number; readonly digest: string }): PeerMessageOf<'stateSuffix'> | undefined {
    if (this.viewStart?.view !== view) return undefined
    const target = this.viewStart.image.position
    const start = from.position - this.keptFrom.position
    const last = target - this.keptFrom.position
    if (from.position > target || start < 0 || last > this.kept.length) return undefined
    const digestAtFrom = start === 0 ? this.keptFrom.digest : this.kept[start - 1]!.digest
    if (digestAtFrom !== from.digest) return undefined
    const requests: Request[] = []
    let bytes = 0
    let digest = from.digest
    for (let i = start; i < last && (requests.length === 0 || bytes < this.options.chunkBytes); i++) {
      const entry = this.kept[i]!
      requests.push(entry.request)
      bytes += entry.bytes
      digest = entry.digest
    }
    const version = this.viewStart.image.orderDigestVersion ?? 1
    return version === 1 ? { kind: 'stateSuffix', view, from: from.position, target, digest, requests } : { kind: 'stateSuffix', view, from: from.position, target, digest, requests, digestVersion: version }
  }

  /** Records the state at the start of `view` (captured, not yet produced), served to its joiners. */
  recordViewStart(view: number, image: LazyImage): void {
    this.viewStart = { view, image, passes: new Map() }
  }

  /**
   * Source side: the chunk at `offset` of the image at the start of `view` for the joiner `asker`, if this
   * replica has it; with the image's size and digest once it has produced all of it (an ask past the end
   * gets no bytes, and them).
   */
  chunk(view: number, offset: number, asker: ReplicaId = ''): PeerMessageOf<'stateChunk'> | undefined {
    const start = this.viewStart
    if (start?.view !== view || offset < 0) return undefined
    let pass = start.passes.get(asker)
    if (!pass) {
      // Keep what a retry from the window a joiner asks at once, twice over, may ask again.
      pass = new ImagePass(() => imagePieces(start.image), 2 * this.options.window * this.options.chunkBytes)
      start.passes.set(asker, pass)
    }
    // At most this far in one ask: the window's asks stay well within it, a digest asked past the end does not.
    const budget = 16 * this.options.window * this.options.chunkBytes
    const { bytes, end } = pass.read(offset, this.options.chunkBytes, budget)
    return { kind: 'stateChunk', view, position: start.image.position, offset, bytes, ...(end ? { end } : {}) }
  }

  /**
   * Joiner side: starts taking the state at the start of `view` from `sources`; with `from` (this replica's
   * own position and order digest), first only the requests after it. `members`: the size of the view (a
   * state some sources dispute is taken only if a majority of it holds it; default: the sources and this
   * replica). Returns what to ask for.
   */
  begin(view: number, sources: readonly ReplicaId[], from?: { position: number; digest: string }, members = sources.length + 1): Outgoing[] {
    return this.attemptImage(view, sources, sources, 0, majorityOf(members), from)
  }

  private attemptImage(view: number, sources: readonly ReplicaId[], askFrom: readonly ReplicaId[], attempt: number, quorum: number, from?: { position: number; digest: string }): Outgoing[] {
    const ends = this.incoming?.view === view ? this.incoming.ends : new Map<ReplicaId, ImageEnd>()
    const stream = new ImageStream(`the state of view ${view}`, this.restorer)
    this.incoming = {
      mode: from ? 'suffix' : 'image',
      from,
      view,
      sources,
      askFrom,
      attempt,
      quorum,
      nextSource: 0,
      position: undefined,
      end: undefined,
      chunks: new Map(),
      received: 0,
      hashedUpTo: 0,
      hasher: new Fnv1a64(),
      stream,
      unreadable: undefined,
      asked: new Set(),
      servedBy: new Set(),
      ends,
      verified: undefined,
      confirmAsked: new Set(),
      confirmRetries: 0,
      refused: undefined,
    }
    return this.ask([0])
  }

  /** Takes the whole state again, its chunks from one source only: the next one after the last attempt's. */
  private again(why: string): TransferStep {
    const incoming = this.incoming!
    const attempt = incoming.attempt + 1
    const single = incoming.sources[(attempt - 1) % incoming.sources.length]!
    return {
      ask: this.attemptImage(incoming.view, incoming.sources, [single], attempt, incoming.quorum),
      rejected: `the state of view ${incoming.view} from ${[...incoming.askFrom].join(', ')} ${why}; taking it again, from ${single}`,
    }
  }

  /** Why this replica takes no state in its view (its sources disagree), while it is so. */
  get refusal(): TransferRefusal | undefined {
    return this.incoming?.refused
  }

  /**
   * A part of the order arrived for a catch-up by suffix: the requests to execute (the caller checks that its
   * order's digest then equals `m.digest`), and whether that reaches the start of the view.
   */
  onSuffix(m: PeerMessageOf<'stateSuffix'>): { readonly requests: readonly Request[]; readonly done: boolean } | undefined {
    const incoming = this.incoming
    if (!incoming || incoming.mode !== 'suffix' || m.view !== incoming.view || m.from !== incoming.from?.position) return undefined
    return { requests: m.requests, done: m.from + m.requests.length >= m.target }
  }

  /** The suffix applied brought this replica to `position` with order digest `digest`: ask for the next part. */
  caughtUpTo(position: number, digest: string): Outgoing[] {
    if (!this.incoming) return []
    this.incoming.from = { position, digest }
    this.incoming.asked.clear()
    return this.ask([0])
  }

  /** The suffix did not fit (a digest mismatch): take the whole state instead. */
  wholeState(): Outgoing[] {
    const incoming = this.incoming
    if (!incoming) return []
    return this.attemptImage(incoming.view, incoming.sources, incoming.sources, incoming.attempt, incoming.quorum)
  }

  /**
   * A chunk arrived from `from`. Returns what to ask for next, and the image (with its size in bytes and its
   * sources) once every chunk is in, the digest of the whole matches, and the other sources confirmed it (see
   * {@link confirm}). A mismatch, or an image that cannot be read, starts the transfer over, from one source.
   */
  onChunk(m: PeerMessageOf<'stateChunk'>, from: ReplicaId = ''): TransferStep {
    const incoming = this.incoming
    if (!incoming || m.view !== incoming.view) return { ask: [] }
    if (incoming.mode === 'suffix') {
      // The source cannot serve the suffix (the asker is too far behind): it sent the whole state instead.
      incoming.mode = 'image'
      incoming.from = undefined
      incoming.asked.clear()
    }
    incoming.position ??= m.position
    if (m.position !== incoming.position) return { ask: [] } // another image
    if (m.end && from !== '') incoming.ends.set(from, m.end)
    if (incoming.refused) return { ask: [] }
    if (incoming.verified) {
      // A source asked for the digest that has not produced its image that far yet: ask it again at once.
      if (!m.end && from !== '') incoming.confirmAsked.delete(from)
      return this.confirm()
    }
    if (m.end) {
      if (incoming.end && (m.end.totalBytes !== incoming.end.totalBytes || m.end.digest !== incoming.end.digest)) {
        // Two sources hold different states: chunks of both cannot make one image.
        return this.again(`came with two digests (${incoming.end.digest}, and ${m.end.digest} from ${from || 'a source'})`)
      }
      incoming.end ??= m.end
      for (const offset of incoming.asked) if (offset >= m.end.totalBytes) incoming.asked.delete(offset)
    }
    incoming.asked.delete(m.offset)
    if (m.offset >= incoming.hashedUpTo && !incoming.chunks.has(m.offset) && m.bytes.length > 0 && (!incoming.end || m.offset < incoming.end.totalBytes)) {
      incoming.chunks.set(m.offset, m.bytes)
      incoming.received += m.bytes.length
      if (from !== '') incoming.servedBy.add(from)
      for (let next = incoming.chunks.get(incoming.hashedUpTo); next; next = incoming.chunks.get(incoming.hashedUpTo)) {
        incoming.chunks.delete(incoming.hashedUpTo)
        incoming.hasher.update(next)
        incoming.hashedUpTo += next.length
        if (incoming.unreadable !== undefined) continue
        try {
          incoming.stream.push(next)
        } catch (error) {
          // Checked against the digest first: damage on the way is retried, a machine that cannot read its own chunks is said so.
          incoming.unreadable = (error as Error).message
        }
      }
    }
    const end = incoming.end
    if (!end || incoming.hashedUpTo < end.totalBytes) return { ask: this.fillWindow() }
    if (incoming.hasher.digest() !== end.digest) return this.again(`does not match its digest ${end.digest}`)
    if (incoming.unreadable !== undefined) return this.again(`cannot be read (${incoming.unreadable})`)
    let image: StateImage
    try {
      image = incoming.stream.finish()
    } catch (error) {
      return this.again(`cannot be read (${(error as Error).message})`)
    }
    incoming.verified = { image, totalBytes: end.totalBytes, digest: end.digest }
    incoming.asked.clear()
    return this.confirm()
  }

  /**
   * A whole image received and matching its digest is taken once every source said the same digest (a source
   * whose chunks went into it counts as saying it), or, after {@link CONFIRM_RETRIES} retries, every source
   * that answered did (the silent ones crashed or are cut off: a crash-tolerant cluster takes the state of the
   * one source left). The sources are asked for the digest by asking past the image's end.
   *
   * Found: a replica whose machine computed a wrong state (a lying replica in the simulator, as a memory fault or
   * a bug would) served a rejoining correct replica its state (seed 11 of a 3-replica mutex with one liar); the
   * two then answered clients alike, and a voting client took their wrong answer over the one correct replica's.
   * Now when sources say different digests, the state held by a majority of the view is taken (from its
   * holders), and when none is, no state: the replica stays out of service and says so at error level, since
   * the cluster cannot tell which state is right (with n = 2t + 1 replicas it cannot; BFT state transfer takes
   * 3f + 1).
   */
  private confirm(): TransferStep {
    const incoming = this.incoming!
    const verified = incoming.verified!
    const holders = new Map<string, Set<ReplicaId>>([[verified.digest, new Set(incoming.servedBy)]])
    for (const [source, end] of incoming.ends) {
      if (!incoming.sources.includes(source)) continue
      if (holders.get(verified.digest)!.has(source)) continue // its chunks made the image
      const digest = end.totalBytes === verified.totalBytes ? end.digest : `${end.digest} (${end.totalBytes} bytes)`
      holders.set(digest, (holders.get(digest) ?? new Set()).add(source))
    }
    const said = new Set([...holders.values()].flatMap((h) => [...h]))
    const silent = incoming.sources.filter((source) => !said.has(source))
    if (silent.length > 0 && incoming.confirmRetries < CONFIRM_RETRIES) {
      const ask: Outgoing[] = []
      for (const to of silent) {
        if (incoming.confirmAsked.has(to)) continue
        incoming.confirmAsked.add(to)
        ask.push({ to, message: { kind: 'stateRequest', view: incoming.view, offset: verified.totalBytes } })
      }
      return { ask }
    }
    const own = holders.get(verified.digest)!
    const others = [...holders].filter(([digest]) => digest !== verified.digest)
    const taken = (disputed?: string): TransferStep => {
      this.incoming = undefined
      return { ask: [], image: verified.image, totalBytes: verified.totalBytes, sources: [...own].sort(), ...(disputed === undefined ? {} : { disputed }) }
    }
    if (others.length === 0) return taken()
    if (own.size >= incoming.quorum) return taken(describeHolders(others))
    const majority = others.find(([, h]) => h.size >= incoming.quorum)
    if (majority) {
      const askFrom = [...majority[1]].sort()
      return {
        ask: this.attemptImage(incoming.view, incoming.sources, askFrom, incoming.attempt + 1, incoming.quorum),
        rejected: `the state of view ${incoming.view} from ${[...own].sort().join(', ')} (digest ${verified.digest}) is not the majority's (${describeHolders([majority])}); taking theirs`,
      }
    }
    incoming.refused = {
      view: incoming.view,
      position: verified.image.position,
      holders: Object.fromEntries([...holders].map(([digest, h]) => [digest, [...h].sort()])),
    }
    return { ask: [], refused: incoming.refused }
  }

  /**
   * Asks again, from the next sources, for every chunk asked for and not received (a source crashed, a link
   * broke); with a whole image received, asks the sources that have not confirmed it again, or takes it without
   * them after {@link CONFIRM_RETRIES} retries.
   */
  retry(): TransferStep {
    const incoming = this.incoming
    if (!incoming || incoming.refused) return { ask: [] }
    if (incoming.verified) {
      incoming.confirmRetries++
      incoming.confirmAsked.clear()
      return this.confirm()
    }
    const started = incoming.position !== undefined
    const again = started ? [...incoming.asked] : [0]
    if (again.length > 0 && incoming.askFrom.length === 1 && incoming.sources.length > 1) {
      // The one source asked did not answer: the next one.
      incoming.askFrom = [incoming.sources[(incoming.sources.indexOf(incoming.askFrom[0]!) + 1) % incoming.sources.length]!]
    }
    incoming.asked.clear()
    const asks = this.ask(again)
    return { ask: started && incoming.mode === 'image' ? [...asks, ...this.fillWindow()] : asks }
  }

  /** Bytes of the state received so far, and in all (once a source has said). */
  get progress(): { readonly received: number; readonly total: number | undefined } | undefined {
    return this.incoming && { received: this.incoming.received, total: this.incoming.end?.totalBytes }
  }

  /** Holds a request delivered before the state arrived. */
  hold(request: Request): void {
    this.held.push(request)
  }

  /** The held requests, in delivery order, emptying the hold. */
  takeHeld(): Request[] {
    return this.held.splice(0)
  }

  /** Drops held requests and any transfer under way (a new view, or this replica left). */
  dropHeld(): void {
    this.held = []
    this.incoming = undefined
  }

  /** Requests held, not yet executed. */
  get heldCount(): number {
    return this.held.length
  }

  /** Asks for the chunks that keep `window` in flight, in offset order (ahead of what is known to exist, until the end is known). */
  private fillWindow(): Outgoing[] {
    const incoming = this.incoming!
    const total = incoming.end?.totalBytes ?? Infinity
    const { chunkBytes } = this.options
    const wanted: number[] = []
    // Every chunk before `hashedUpTo` is in.
    for (let offset = Math.floor(incoming.hashedUpTo / chunkBytes) * chunkBytes; offset < total && incoming.asked.size + wanted.length < this.options.window; offset += chunkBytes) {
      if (!incoming.chunks.has(offset) && !incoming.asked.has(offset)) wanted.push(offset)
    }
    return this.ask(wanted)
  }

  private ask(offsets: readonly number[]): Outgoing[] {
    const incoming = this.incoming!
    if (incoming.askFrom.length === 0) return []
    return offsets.map((offset) => {
      incoming.asked.add(offset)
      const to = incoming.askFrom[incoming.nextSource++ % incoming.askFrom.length]!
      const from = incoming.mode === 'suffix' ? incoming.from : undefined
      return { to, message: from ? { kind: 'stateRequest', view: incoming.view, offset, from: { ...from } } : { kind: 'stateRequest', view: incoming.view, offset } }
    })
  }
}

/** Where to take the state at the start of `view` from: every member that did not join in it. */
export function transferSources(view: View, joining: readonly ReplicaId[], self: ReplicaId): ReplicaId[] {
  return view.members.filter((m) => m !== self && !joining.includes(m))
}
