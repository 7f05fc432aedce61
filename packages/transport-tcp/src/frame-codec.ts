import { crc32 } from 'node:zlib'
import { LockstepError } from '@lockstep/interface'

/**
 * Frame layout on the wire (all integers big-endian):
 *
 *   offset 0  uint32  payload length in bytes (not counting this 8-byte header)
 *   offset 4  uint32  CRC-32 (IEEE, as zlib computes it) of the payload
 *   offset 8  bytes   payload: one msgpack value (the envelope, see envelope.ts)
 *
 * The checksum lets the decoder refuse a frame whose bytes were damaged
 * instead of handing up a message that was never sent.
 */
export const FRAME_HEADER_BYTES = 8

/** Default maximum payload size of one frame: 16 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024

/** Wraps one encoded payload in a frame: length, checksum, payload. */
export function encodeFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length)
  frame.writeUInt32BE(payload.length, 0)
  frame.writeUInt32BE(crc32(payload), 4)
  frame.set(payload, FRAME_HEADER_BYTES)
  return frame
}

/** What {@link FrameDecoder.pushAll} found in a chunk. */
export interface FrameDecodeResult {
  /** Whole, checksum-verified payloads, in stream order. */
  readonly payloads: Buffer[]
  /** Set when the stream is broken; the decoder accepts nothing after it. */
  readonly error?: LockstepError
}

/**
 * Splits a byte stream into frame payloads, one at a time, so that what a
 * frame changes (the handshake lifting the frame limit, say) applies to the
 * very next one. Never throws: a damaged stream (oversized length, checksum
 * mismatch) sets `error` once and the decoder then yields nothing more,
 * because nothing after a broken frame boundary can be trusted.
 */
export class FrameDecoder {
  /** Received bytes not consumed yet: chunks[0] from `offset` on, then the other chunks whole. */
  private chunks: Buffer[] = []
  private offset = 0
  private available = 0
  private failed: LockstepError | undefined

  /** @param maxFrameBytes largest payload accepted; may be changed later with {@link setMaxFrameBytes}. */
  constructor(private maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {}

  /** Changes the largest payload accepted (the handshake uses a small limit, an open link the full one). */
  setMaxFrameBytes(maxFrameBytes: number): void {
    this.maxFrameBytes = maxFrameBytes
  }

  /** Bytes received and not yet returned as frames (an incomplete frame, or frames not pulled yet). */
  get bufferedBytes(): number {
    return this.available
  }

  /** The error that stopped this decoder, if any. */
  get error(): LockstepError | undefined {
    return this.failed
  }

  /** Appends the next chunk of the stream; pull frames with {@link next}. */
  push(chunk: Uint8Array): void {
    if (this.failed || chunk.length === 0) return
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    this.available += chunk.length
  }

  /**
   * The next whole, checksum-verified payload, or undefined when more bytes
   * are needed or the stream is broken (then {@link error} is set).
   */
  next(): Buffer | undefined {
    if (this.failed || this.available < FRAME_HEADER_BYTES) return undefined
    let first = this.chunks[0]!
    if (first.length - this.offset < FRAME_HEADER_BYTES) {
      // The header spans chunks (rare): join everything buffered once.
      first = Buffer.concat([first.subarray(this.offset), ...this.chunks.slice(1)], this.available)
      this.chunks = [first]
      this.offset = 0
    }
    const length = first.readUInt32BE(this.offset)
    if (length > this.maxFrameBytes) {
      this.fail(
        new LockstepError(
          'FRAME_TOO_LARGE',
          `A frame announced ${length} bytes, more than the limit of ${this.maxFrameBytes} bytes; ` +
            'the connection is closed. Raise limits.maxFrameBytes on both ends if such messages are expected.',
          { frameBytes: length, maxFrameBytes: this.maxFrameBytes },
        ),
      )
      return undefined
    }
    const frameBytes = FRAME_HEADER_BYTES + length
    if (this.available < frameBytes) return undefined
    const expectedChecksum = first.readUInt32BE(this.offset + 4)
    let payload: Buffer
    if (first.length - this.offset >= frameBytes) {
      payload = first.subarray(this.offset + FRAME_HEADER_BYTES, this.offset + frameBytes)
      this.consume(frameBytes)
    } else {
      // The frame spans chunks: copy exactly its bytes, once.
      const frame = Buffer.allocUnsafe(frameBytes)
      let copied = 0
      while (copied < frameBytes) {
        const chunk = this.chunks[0]!
        const take = Math.min(chunk.length - this.offset, frameBytes - copied)
        chunk.copy(frame, copied, this.offset, this.offset + take)
        copied += take
        this.consume(take)
      }
      payload = frame.subarray(FRAME_HEADER_BYTES)
    }
    const actualChecksum = crc32(payload)
    if (actualChecksum !== expectedChecksum) {
      this.fail(
        new LockstepError(
          'MALFORMED_FRAME',
          `A frame of ${length} bytes failed its checksum (expected ${expectedChecksum}, computed ${actualChecksum}); ` +
            'the stream is damaged or is not Lockstep traffic, so the connection is closed.',
          { frameBytes: length },
        ),
      )
      return undefined
    }
    return payload
  }

  /** Pushes a chunk and pulls every frame it completes (for callers that need no per-frame state changes). */
  pushAll(chunk: Uint8Array): FrameDecodeResult {
    this.push(chunk)
    const payloads: Buffer[] = []
    for (let payload = this.next(); payload !== undefined; payload = this.next()) payloads.push(payload)
    return this.failed ? { payloads, error: this.failed } : { payloads }
  }

  private consume(bytes: number): void {
    this.offset += bytes
    this.available -= bytes
    while (this.chunks.length > 0 && this.offset >= this.chunks[0]!.length) {
      this.offset -= this.chunks[0]!.length
      this.chunks.shift()
    }
  }

  private fail(error: LockstepError): void {
    this.failed = error
    this.chunks = []
    this.offset = 0
    this.available = 0
  }
}
