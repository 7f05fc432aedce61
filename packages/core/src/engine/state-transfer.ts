import type { ReplicaId, Request, View } from '@lockstep/interface'
import { fnv1a64 } from './digest'
import type { PeerMessage, PeerMessageOf } from './peer-messages'
import type { StateImage } from './replicated-state'

/** How a state travels: in chunks of at most `chunkBytes`, at most `window` chunks asked for at once. */
export interface TransferOptions {
  readonly chunkBytes: number
  readonly window: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * A state image as bytes: a 4-byte length, a JSON header (position, sessions, machine length), then the
 * machine's snapshot. Equal states give equal bytes, so every replica that holds the state at the start of
 * a view serves the same image, and a joiner may take its chunks from several of them.
 */
export function encodeImage(image: StateImage): Uint8Array {
  const header = encoder.encode(JSON.stringify({ position: image.position, sessions: image.sessions, machineBytes: image.machine.length }))
  const bytes = new Uint8Array(4 + header.length + image.machine.length)
  new DataView(bytes.buffer).setUint32(0, header.length)
  bytes.set(header, 4)
  bytes.set(image.machine, 4 + header.length)
  return bytes
}

/** The image of {@link encodeImage}. */
export function decodeImage(bytes: Uint8Array): StateImage {
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0)
  const header = JSON.parse(decoder.decode(bytes.subarray(4, 4 + headerLength))) as { position: number; sessions: unknown; machineBytes: number }
  const machine = bytes.slice(4 + headerLength, 4 + headerLength + header.machineBytes)
  return { position: header.position, sessions: header.sessions, machine }
}

/** A state on its way in: the chunks received, and those asked for. */
interface Incoming {
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

  constructor(options: TransferOptions) {
    this.options = options
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

  /** Joiner side: starts taking the state at the start of `view` from `sources`; returns what to ask for. */
  begin(view: number, sources: readonly ReplicaId[]): Outgoing[] {
    this.incoming = { view, sources, nextSource: 0, header: undefined, chunks: new Map(), received: 0, asked: new Set() }
    return this.ask([0])
  }

  /**
   * A chunk arrived. Returns what to ask for next, and the image once every chunk is in and the digest of the
   * whole matches (a mismatch starts the transfer over, from the next source).
   */
  onChunk(m: PeerMessageOf<'stateChunk'>): { readonly ask: Outgoing[]; readonly image?: StateImage; readonly rejected?: string } {
    const incoming = this.incoming
    if (!incoming || m.view !== incoming.view) return { ask: [] }
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
    return this.incoming.header ? [...asks, ...this.fillWindow()] : asks
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
      return { to, message: { kind: 'stateRequest', view: incoming.view, offset } }
    })
  }
}

/** Where to take the state at the start of `view` from: every member that did not join in it. */
export function transferSources(view: View, joining: readonly ReplicaId[], self: ReplicaId): ReplicaId[] {
  return view.members.filter((m) => m !== self && !joining.includes(m))
}
