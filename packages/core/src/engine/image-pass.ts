import { Fnv1a64 } from './digest'

/** What a source knows of an image once it has produced all of it. */
export interface ImageEnd {
  readonly totalBytes: number
  readonly digest: string
}

/**
 * One pass over the bytes of a lazy image, serving byte ranges to one joiner as it asks, in (mostly)
 * increasing order: it produces the image only as far as asked, hashes it on the way (so it learns the
 * size and digest at the end), and keeps only the last `retainBytes` behind the range asked last, for asks
 * repeated from a little way back (a source that crashed, whose chunks are asked again elsewhere). An ask
 * from further back starts the pass over.
 */
export class ImagePass {
  private readonly start: () => Iterator<Uint8Array>
  private readonly retainBytes: number
  private pieces: Iterator<Uint8Array>
  private finished = false
  /** Bytes produced by this pass so far. */
  private produced = 0
  /** Pieces produced and kept, oldest first from `head`, each with its offset. */
  private kept: { readonly offset: number; readonly bytes: Uint8Array }[] = []
  private head = 0
  private hasher = new Fnv1a64()
  private end: ImageEnd | undefined
  /** Passes begun (1 + restarts). */
  passes = 1

  constructor(start: () => Iterator<Uint8Array>, retainBytes: number) {
    this.start = start
    this.retainBytes = retainBytes
    this.pieces = start()
  }

  /**
   * The bytes at `offset`, at most `length` of them (fewer at the end of the image; none past it), and the
   * image's size and digest once the pass has reached its end. It produces at most about `budget` bytes in
   * one call: an ask far ahead of the pass (a digest asked for past the end) gets no bytes yet, and the asker
   * asks again, so a large image is never produced in one turn of the event loop.
   */
  read(offset: number, length: number, budget = Infinity): { readonly bytes: Uint8Array; readonly end: ImageEnd | undefined } {
    if (this.end && offset >= this.end.totalBytes) return { bytes: new Uint8Array(0), end: this.end }
    const oldest = this.head < this.kept.length ? this.kept[this.head]!.offset : this.produced
    if (offset < oldest) this.restart()
    const until = this.produced + budget
    while (!this.finished && this.produced < offset + length && this.produced < until) {
      this.produceOne()
      this.forget(offset)
    }
    this.forget(offset)
    const available = Math.max(0, Math.min(length, this.produced - offset))
    const bytes = new Uint8Array(available)
    for (let i = this.head; i < this.kept.length && available > 0; i++) {
      const piece = this.kept[i]!
      const from = Math.max(offset, piece.offset)
      const to = Math.min(offset + available, piece.offset + piece.bytes.length)
      if (from < to) bytes.set(piece.bytes.subarray(from - piece.offset, to - piece.offset), from - offset)
    }
    return { bytes, end: this.end }
  }

  private produceOne(): void {
    const next = this.pieces.next()
    if (next.done) {
      this.finished = true
      this.end ??= { totalBytes: this.produced, digest: this.hasher.digest() }
      return
    }
    const bytes = next.value
    if (bytes.length === 0) return
    if (!this.end) this.hasher.update(bytes)
    this.kept.push({ offset: this.produced, bytes })
    this.produced += bytes.length
  }

  /** Drops the pieces that end `retainBytes` or more before `offset`. */
  private forget(offset: number): void {
    while (this.head < this.kept.length) {
      const piece = this.kept[this.head]!
      if (piece.offset + piece.bytes.length > offset - this.retainBytes) break
      this.head++
    }
    if (this.head > 64 && this.head * 2 > this.kept.length) {
      this.kept = this.kept.slice(this.head)
      this.head = 0
    }
  }

  private restart(): void {
    this.passes++
    this.pieces = this.start()
    this.finished = false
    this.produced = 0
    this.kept = []
    this.head = 0
    if (!this.end) this.hasher = new Fnv1a64()
  }
}
