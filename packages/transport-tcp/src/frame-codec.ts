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

/** What {@link FrameDecoder.push} found in a chunk. */
export interface FrameDecodeResult {
  /** Whole, checksum-verified payloads, in stream order. */
  readonly payloads: Buffer[]
  /** Set when the stream is broken; the decoder accepts nothing after it. */
  readonly error?: LockstepError
}

/**
 * Splits a byte stream into frame payloads. Never throws: a damaged stream
 * (oversized length, checksum mismatch) is reported once as `error`, and
 * the decoder then refuses further input, because nothing after a broken
 * frame boundary can be trusted.
 */
export class FrameDecoder {
  /** Bytes of an incomplete frame, kept as received so a large frame is copied once, not once per chunk. */
  private chunks: Buffer[] = []
  private chunksLength = 0
  /** Header plus payload length of the incomplete frame, once its header has arrived; 0 before. */
  private neededBytes = 0
  private failed: LockstepError | undefined

  /** @param maxFrameBytes largest payload accepted; may be changed later with {@link setMaxFrameBytes}. */
  constructor(private maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {}

  /** Changes the largest payload accepted (the handshake uses a small limit, an open link the full one). */
  setMaxFrameBytes(maxFrameBytes: number): void {
    this.maxFrameBytes = maxFrameBytes
  }

  /** Bytes held back while waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.chunksLength
  }

  /** The error that stopped this decoder, if any. */
  get error(): LockstepError | undefined {
    return this.failed
  }

  /** Feeds the next chunk of the stream. */
  push(chunk: Uint8Array): FrameDecodeResult {
    if (this.failed) return { payloads: [], error: this.failed }
    const incoming = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    let buffer: Buffer
    if (this.chunksLength > 0) {
      this.chunks.push(incoming)
      this.chunksLength += incoming.length
      if (this.neededBytes === 0 && this.chunksLength >= FRAME_HEADER_BYTES) {
        const joined = Buffer.concat(this.chunks, this.chunksLength)
        this.chunks = [joined]
        const error = this.checkLength(joined.readUInt32BE(0))
        if (error) return { payloads: [], error }
        this.neededBytes = FRAME_HEADER_BYTES + joined.readUInt32BE(0)
      }
      if (this.neededBytes === 0 || this.chunksLength < this.neededBytes) return { payloads: [] }
      buffer = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.chunksLength)
      this.chunks = []
      this.chunksLength = 0
      this.neededBytes = 0
    } else {
      buffer = incoming
    }
    const payloads: Buffer[] = []
    let offset = 0
    while (buffer.length - offset >= FRAME_HEADER_BYTES) {
      const length = buffer.readUInt32BE(offset)
      const error = this.checkLength(length)
      if (error) return { payloads, error }
      if (buffer.length - offset - FRAME_HEADER_BYTES < length) break
      const expectedChecksum = buffer.readUInt32BE(offset + 4)
      const start = offset + FRAME_HEADER_BYTES
      const payload = buffer.subarray(start, start + length)
      const actualChecksum = crc32(payload)
      if (actualChecksum !== expectedChecksum) {
        this.failed = new LockstepError(
          'MALFORMED_FRAME',
          `A frame of ${length} bytes failed its checksum (expected ${expectedChecksum}, computed ${actualChecksum}); ` +
            'the stream is damaged or is not Lockstep traffic, so the connection is closed.',
          { frameBytes: length },
        )
        return { payloads, error: this.failed }
      }
      payloads.push(payload)
      offset = start + length
    }
    if (offset < buffer.length) {
      // Copy the tail so a small remainder does not pin a large socket chunk.
      const tail = Buffer.from(buffer.subarray(offset))
      this.chunks = [tail]
      this.chunksLength = tail.length
      this.neededBytes = tail.length >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + tail.readUInt32BE(0) : 0
    }
    return { payloads }
  }

  private checkLength(length: number): LockstepError | undefined {
    if (length <= this.maxFrameBytes) return undefined
    this.failed = new LockstepError(
      'FRAME_TOO_LARGE',
      `A frame announced ${length} bytes, more than the limit of ${this.maxFrameBytes} bytes; ` +
        'the connection is closed. Raise limits.maxFrameBytes on both ends if such messages are expected.',
      { frameBytes: length, maxFrameBytes: this.maxFrameBytes },
    )
    return this.failed
  }
}
