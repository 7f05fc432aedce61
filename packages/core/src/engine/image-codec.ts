import { ErrorCodes, LockstepError, type ChunkRestorer } from '@lockstep/interface'
import { checkedDigestVersion, type OrderDigestVersion } from './digest'
import { machinePieces, type LazyImage, type MachineImage, type StateImage } from './state-image'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * A state image as bytes: a 4-byte big-endian length, a JSON header, then the machine's state:
 * - header `machineBytes: n`: the machine's `snapshot`, n bytes (the only format of earlier versions);
 * - header `machineChunks: true`: each chunk of `snapshotChunks`, as a 4-byte big-endian length and its
 *   bytes, up to the end of the image.
 *
 * Produced as a sequence of pieces, a chunk at a time: the header first, then the machine's chunks as the
 * machine produces them. Equal states give equal bytes, so every replica that holds the state at the
 * start of a view serves the same image, and a joiner may take its parts from several of them. `extra`
 * fields go into the header (a disk snapshot's view, configuration and votes).
 */
export function* imagePieces(image: LazyImage, extra: object = {}): Generator<Uint8Array, void, undefined> {
  const machine = image.machine
  const format = machine instanceof Uint8Array ? { machineBytes: machine.length } : { machineChunks: true }
  const header = encoder.encode(JSON.stringify({ ...extra, position: image.position, sessions: image.sessions, orderDigest: image.orderDigest, ...(image.orderDigestVersion === undefined || image.orderDigestVersion === 1 ? {} : { orderDigestVersion: image.orderDigestVersion }), ...(image.time === undefined ? {} : { time: image.time }), ...format }))
  const first = new Uint8Array(4 + header.length)
  new DataView(first.buffer).setUint32(0, header.length)
  first.set(header, 4)
  yield first
  yield* machinePieces(machine)
}

/** The whole image at once (tests and small states). */
export function encodeImage(image: LazyImage): Uint8Array {
  return concat([...imagePieces(image)])
}

/** The image of {@link encodeImage}, or of earlier versions' images. */
export function decodeImage(bytes: Uint8Array): StateImage {
  return readImage(new PieceReader([bytes]), 'the state image').image
}

/**
 * Reads an image from `reader`: the state, and the whole header (with any extra fields). The machine's
 * chunks are read as they are iterated, once. Malformed bytes throw `STORAGE_CORRUPT` naming `where`.
 */
export function readImage(reader: PieceReader, where: string): { readonly image: StateImage; readonly header: Record<string, unknown> } {
  const headerLength = reader.u32(where, 'header length')
  const header = parseHeader(reader.read(headerLength, where, 'header'), where)
  let machine: MachineImage
  if (header.machineChunks === true) machine = { chunks: framedChunks(reader, where) }
  else if (typeof header.machineBytes === 'number') machine = reader.read(header.machineBytes, where, 'machine state')
  else throw corrupt(where, 'its header says neither machineBytes nor machineChunks')
  return { image: { position: header.position as number, sessions: header.sessions, machine, ...headerExtras(header, where) }, header }
}

/** The order's digest (with its version) and the agreed time an image's header holds (images of earlier versions may lack them). */
function headerExtras(header: Record<string, unknown>, where: string): { orderDigest?: string; orderDigestVersion?: OrderDigestVersion; time?: number } {
  const version = header.orderDigestVersion === undefined ? undefined : checkedDigestVersion(header.orderDigestVersion, where)
  return {
    ...(typeof header.orderDigest === 'string' ? { orderDigest: header.orderDigest } : {}),
    ...(version === undefined ? {} : { orderDigestVersion: version }),
    ...(typeof header.time === 'number' && Number.isFinite(header.time) ? { time: header.time } : {}),
  }
}

/** The chunks after an image's header, each a 4-byte length and its bytes, up to the end; read once, as iterated. */
function framedChunks(reader: PieceReader, where: string): Iterable<Uint8Array> {
  let used = false
  return {
    [Symbol.iterator](): Iterator<Uint8Array> {
      if (used) throw new LockstepError(ErrorCodes.INTERNAL, `${where}: the machine's chunks of an image read back can be iterated only once`)
      used = true
      let index = 0
      return {
        next(): IteratorResult<Uint8Array> {
          if (reader.remaining === 0) return { done: true, value: undefined }
          const length = reader.u32(where, `length of chunk ${index}`)
          return { done: false, value: reader.read(length, where, `chunk ${index++}`) }
        },
      }
    },
  }
}

/**
 * An image read as its bytes arrive, in order. With a restorer (the machine's `chunkRestorer`, for an image
 * of chunks), each machine chunk is added to it as soon as it is in, and its bytes are let go: at the end
 * the state is already built. Without one, the bytes are kept and read at the end.
 */
export class ImageStream {
  private readonly where: string
  private readonly startRestorer: () => ChunkRestorer<unknown> | undefined
  /** Bytes not parsed yet. */
  private readonly unread = new PieceReader([])
  /** Every byte pushed, while they may be needed whole (no restorer, or the header not read yet). */
  private all: Uint8Array[] | undefined = []
  private headerLength: number | undefined
  private header: Record<string, unknown> | undefined
  private restorer: ChunkRestorer<unknown> | undefined
  private chunkLength: number | undefined
  private chunkIndex = 0

  constructor(where: string, startRestorer: () => ChunkRestorer<unknown> | undefined) {
    this.where = where
    this.startRestorer = startRestorer
  }

  /** The next bytes of the image. Throws `STORAGE_CORRUPT` (or the restorer's error) for bytes that cannot be an image. */
  push(bytes: Uint8Array): void {
    this.all?.push(bytes)
    if (this.header && !this.restorer) return // read whole at the end
    const unread = this.unread
    unread.push(bytes)
    for (;;) {
      if (this.header === undefined) {
        if (this.headerLength === undefined) {
          if (unread.remaining < 4) return
          this.headerLength = unread.u32(this.where, 'header length')
        }
        if (unread.remaining < this.headerLength) return
        this.header = parseHeader(unread.read(this.headerLength, this.where, 'header'), this.where)
        this.restorer = this.header.machineChunks === true ? this.startRestorer() : undefined
        if (!this.restorer) return
        this.all = undefined
        continue
      }
      if (this.chunkLength === undefined) {
        if (unread.remaining < 4) return
        this.chunkLength = unread.u32(this.where, `length of chunk ${this.chunkIndex}`)
      }
      if (unread.remaining < this.chunkLength) return
      const chunk = unread.read(this.chunkLength, this.where, `chunk ${this.chunkIndex}`)
      this.chunkLength = undefined
      this.restorer!.add(chunk)
      this.chunkIndex++
    }
  }

  /** The image, once every byte is in. */
  finish(): StateImage {
    if (!this.restorer) return readImage(new PieceReader(this.all ?? []), this.where).image
    if (this.chunkLength !== undefined || this.unread.remaining > 0) throw corrupt(this.where, `it ends inside chunk ${this.chunkIndex}`)
    const header = this.header!
    return { position: header.position as number, sessions: header.sessions, machine: { chunks: [] }, restored: { state: this.restorer.finish() }, ...headerExtras(header, this.where) }
  }
}

/**
 * Reads bytes in order from pieces laid end to end, copying only what spans two pieces. It lets go of each
 * piece once read past it, so reading an image while building a state from it holds about one copy of the
 * state in memory, not two.
 */
export class PieceReader {
  private readonly pieces: Uint8Array[]
  private piece = 0
  private at = 0
  private left: number

  constructor(pieces: readonly Uint8Array[]) {
    this.pieces = [...pieces]
    this.left = pieces.reduce((sum, p) => sum + p.length, 0)
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.left
  }

  /** Lays `piece` after the others (a stream read as it arrives). */
  push(piece: Uint8Array): void {
    this.pieces.push(piece)
    this.left += piece.length
  }

  /** The next `length` bytes; `what` names them in the error if there are fewer. */
  read(length: number, where: string, what: string): Uint8Array {
    if (!Number.isSafeInteger(length) || length < 0 || length > this.left) throw corrupt(where, `its ${what} (${length} bytes) runs past its end (${this.left} bytes left)`)
    this.left -= length
    while (this.piece < this.pieces.length && this.at === this.pieces[this.piece]!.length) this.nextPiece()
    const current = this.pieces[this.piece]
    if (length === 0 || !current) return new Uint8Array(0)
    if (this.at + length <= current.length) {
      const bytes = current.subarray(this.at, this.at + length)
      this.at += length
      return bytes
    }
    const bytes = new Uint8Array(length)
    let filled = 0
    while (filled < length) {
      const piece = this.pieces[this.piece]!
      const take = Math.min(length - filled, piece.length - this.at)
      bytes.set(piece.subarray(this.at, this.at + take), filled)
      filled += take
      this.at += take
      if (this.at === piece.length) this.nextPiece()
    }
    return bytes
  }

  /** The next 4 bytes as a big-endian unsigned integer. */
  u32(where: string, what: string): number {
    const bytes = this.read(4, where, what)
    return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0)
  }

  private nextPiece(): void {
    this.pieces[this.piece] = EMPTY // read: let it go (what was returned from it stays, as views of it)
    this.piece++
    this.at = 0
  }
}

/** Pieces laid end to end in one array. */
export function concat(pieces: readonly Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(pieces.reduce((sum, p) => sum + p.length, 0))
  let at = 0
  for (const piece of pieces) {
    bytes.set(piece, at)
    at += piece.length
  }
  return bytes
}

const EMPTY = new Uint8Array(0)

/** An image's JSON header; it must have a position. */
function parseHeader(bytes: Uint8Array, where: string): Record<string, unknown> {
  let header: unknown
  try {
    header = JSON.parse(decoder.decode(bytes))
  } catch (error) {
    throw corrupt(where, `its header is not JSON (${(error as Error).message})`)
  }
  if (typeof header !== 'object' || header === null || typeof (header as { position?: unknown }).position !== 'number') throw corrupt(where, 'its header has no position')
  return header as Record<string, unknown>
}

function corrupt(where: string, what: string): LockstepError {
  return new LockstepError(ErrorCodes.STORAGE_CORRUPT, `${where} is damaged or not an image of this version: ${what}`)
}
