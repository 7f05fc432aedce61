import type { ReplicaId, Request, View } from '@lockstep/interface'
import { fnv1a64 } from './digest'
import type { PeerMessage, PeerMessageOf } from './peer-messages'
import type { StateImage } from './replicated-state'

/**
 * How a state travels: in chunks of at most `chunkBytes`, at most `window` chunks asked for at once; a
 * replica behind by no more than the last `suffixWindow` requests of the order gets just those.
 */
export interface TransferOptions {
  readonly chunkBytes: number
  readonly window: number
  readonly suffixWindow: number
}

/** A delivered request kept for catching replicas up, with the digest of the order after it. */
interface Kept {
  readonly position: number
  readonly request: Request
  readonly digest: string
  readonly bytes: number
}

/** A request whose command holds more than this is not kept for catch-up (the window stays small in memory). */
const LARGE_REQUEST_BYTES = 64 * 1024

/** A rough size of a command: the characters of its strings and 8 per other value, up to `limit`. */
function roughBytes(value: unknown, limit: number): number {
  if (typeof value === 'string') return value.length
  if (value instanceof Uint8Array) return value.length
  if (typeof value !== 'object' || value === null) return 8
  let total = 0
  for (const item of Array.isArray(value) ? value : Object.values(value)) {
    total += 8 + roughBytes(item, limit - total)
    if (total > limit) return total
  }
  return total
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * A state image as bytes: a 4-byte length, a JSON header (position, sessions, machine length), then the
 * machine's snapshot. Equal states give equal bytes, so every replica that holds the state at the start of
 * a view serves the same image, and a joiner may take its chunks from several of them.
 */
export function encodeImage(image: StateImage): Uint8Array {
  const header = encoder.encode(JSON.stringify({ position: image.position, sessions: image.sessions, orderDigest: image.orderDigest, machineBytes: image.machine.length }))
  const bytes = new Uint8Array(4 + header.length + image.machine.length)
  new DataView(bytes.buffer).setUint32(0, header.length)
  bytes.set(header, 4)
  bytes.set(image.machine, 4 + header.length)
  return bytes
}

/** The image of {@link encodeImage}. */
export function decodeImage(bytes: Uint8Array): StateImage {
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0)
  const header = JSON.parse(decoder.decode(bytes.subarray(4, 4 + headerLength))) as { position: number; sessions: unknown; orderDigest?: string; machineBytes: number }
  const machine = bytes.slice(4 + headerLength, 4 + headerLength + header.machineBytes)
  return { position: header.position, sessions: header.sessions, machine, ...(header.orderDigest === undefined ? {} : { orderDigest: header.orderDigest }) }
}

/** A state on its way in: the chunks received, and those asked for. */
interface Incoming {
  /** `suffix`: asking for the requests after `from` (this replica's own state); `image`: the whole state, in chunks. */
  mode: 'suffix' | 'image'
  from: { position: number; digest: string } | undefined
  readonly view: number
  readonly sources: readonly ReplicaId[]
  nextSource: number
  /** What the first chunk said about the whole image; every later chunk must say the same. */
  header: { readonly position: number; readonly totalBytes: number; readonly digest: string } | undefined
  readonly chunks: Map<number, Uint8Array>
  received: number
  readonly asked: Set<number>
}

/** A message to send. */
export interface Outgoing {
  readonly to: ReplicaId
  readonly message: PeerMessage
}

/**
 * State transfer, streamed. Each replica keeps the image of its state at the start of the current view and
 * serves it in chunks under the frame limit to the view's joiners (and to members that could not end the old
 * view by themselves). A joiner asks for a window of chunks at a time, round-robin over every source (so
 * several serve in parallel, and flow control is the joiner's asking), asks again for what does not arrive
 * (a source that crashed or whose link broke: another one answers, from the same offset), checks the digest
 * of the whole image before it installs it, and meanwhile orders in the new view, holding what it delivers.
 */
export class StateTransfer {
  private readonly options: TransferOptions
  private viewStart: { readonly view: number; readonly image: StateImage; encoded?: { bytes: Uint8Array; digest: string } } | undefined
  private held: Request[] = []
  private incoming: Incoming | undefined
  /** The last requests of the order, oldest first, after the position and digest of `keptFrom`. */
  private kept: Kept[] = []
  private keptFrom = { position: 0, digest: '' }
  private keptBytes = 0

  constructor(options: TransferOptions) {
    this.options = options
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
    return { kind: 'stateSuffix', view, from: from.position, target, digest, requests }
  }

  /** Records the state at the start of `view`, served to its joiners. */
  recordViewStart(view: number, image: StateImage): void {
    this.viewStart = { view, image }
  }

  /** Source side: the chunk at `offset` of the image at the start of `view`, if this replica has it. */
  chunk(view: number, offset: number): PeerMessageOf<'stateChunk'> | undefined {
    if (this.viewStart?.view !== view) return undefined
    const bytes = this.viewStart.encoded?.bytes ?? encodeImage(this.viewStart.image)
    const encoded = (this.viewStart.encoded ??= { bytes, digest: fnv1a64(bytes) })
    if (offset < 0 || offset >= Math.max(1, encoded.bytes.length)) return undefined
    const piece = encoded.bytes.slice(offset, offset + this.options.chunkBytes)
    return { kind: 'stateChunk', view, position: this.viewStart.image.position, totalBytes: encoded.bytes.length, digest: encoded.digest, offset, bytes: piece }
  }

  /**
   * Joiner side: starts taking the state at the start of `view` from `sources`; with `from` (this replica's
   * own position and order digest), first only the requests after it. Returns what to ask for.
   */
  begin(view: number, sources: readonly ReplicaId[], from?: { position: number; digest: string }): Outgoing[] {
    this.incoming = { mode: from ? 'suffix' : 'image', from, view, sources, nextSource: 0, header: undefined, chunks: new Map(), received: 0, asked: new Set() }
    return this.ask([0])
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
    if (!this.incoming) return []
    return this.begin(this.incoming.view, this.incoming.sources)
  }

  /**
   * A chunk arrived. Returns what to ask for next, and the image once every chunk is in and the digest of the
   * whole matches (a mismatch starts the transfer over, from the next source).
   */
  onChunk(m: PeerMessageOf<'stateChunk'>): { readonly ask: Outgoing[]; readonly image?: StateImage; readonly rejected?: string } {
    const incoming = this.incoming
    if (!incoming || m.view !== incoming.view) return { ask: [] }
    if (incoming.mode === 'suffix') {
      // The source cannot serve the suffix (the asker is too far behind): it sent the whole state instead.
      incoming.mode = 'image'
      incoming.from = undefined
      incoming.asked.clear()
    }
    incoming.header ??= { position: m.position, totalBytes: m.totalBytes, digest: m.digest }
    const { header } = incoming
    if (m.position !== header.position || m.totalBytes !== header.totalBytes || m.digest !== header.digest) return { ask: [] } // another image
    incoming.asked.delete(m.offset)
    if (!incoming.chunks.has(m.offset) && m.bytes.length > 0) {
      incoming.chunks.set(m.offset, m.bytes)
      incoming.received += m.bytes.length
    }
    if (incoming.received < header.totalBytes) return { ask: this.fillWindow() }
    const whole = new Uint8Array(header.totalBytes)
    for (const [offset, bytes] of incoming.chunks) whole.set(bytes, offset)
    if (fnv1a64(whole) !== header.digest) {
      const rejected = `the state of view ${incoming.view} from ${incoming.sources.join(', ')} does not match its digest ${header.digest}; taking it again`
      return { ask: this.begin(incoming.view, [...incoming.sources.slice(1), incoming.sources[0]!]), rejected }
    }
    this.incoming = undefined
    return { ask: [], image: decodeImage(whole) }
  }

  /** Asks again, from the next sources, for every chunk asked for and not received (a source crashed, a link broke). */
  retry(): Outgoing[] {
    if (!this.incoming) return []
    const again = this.incoming.header ? [...this.incoming.asked] : [0]
    this.incoming.asked.clear()
    const asks = this.ask(again)
    return this.incoming.header && this.incoming.mode === 'image' ? [...asks, ...this.fillWindow()] : asks
  }

  /** Bytes of the state received so far, and in all (once known). */
  get progress(): { readonly received: number; readonly total: number | undefined } | undefined {
    return this.incoming && { received: this.incoming.received, total: this.incoming.header?.totalBytes }
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

  /** Asks for the chunks that keep `window` in flight, in offset order. */
  private fillWindow(): Outgoing[] {
    const incoming = this.incoming!
    const total = incoming.header!.totalBytes
    const wanted: number[] = []
    for (let offset = 0; offset < total && incoming.asked.size + wanted.length < this.options.window; offset += this.options.chunkBytes) {
      if (!incoming.chunks.has(offset) && !incoming.asked.has(offset)) wanted.push(offset)
    }
    return this.ask(wanted)
  }

  private ask(offsets: readonly number[]): Outgoing[] {
    const incoming = this.incoming!
    if (incoming.sources.length === 0) return []
    return offsets.map((offset) => {
      incoming.asked.add(offset)
      const to = incoming.sources[incoming.nextSource++ % incoming.sources.length]!
      const from = incoming.mode === 'suffix' ? incoming.from : undefined
      return { to, message: from ? { kind: 'stateRequest', view: incoming.view, offset, from: { ...from } } : { kind: 'stateRequest', view: incoming.view, offset } }
    })
  }
}

/** Where to take the state at the start of `view` from: every member that did not join in it. */
export function transferSources(view: View, joining: readonly ReplicaId[], self: ReplicaId): ReplicaId[] {
  return view.members.filter((m) => m !== self && !joining.includes(m))
}
