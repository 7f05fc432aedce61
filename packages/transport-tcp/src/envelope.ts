import { Packr, Unpackr } from 'msgpackr'
import { LockstepError } from '@lockstep/interface'
import { crc32 } from 'node:zlib'
import { FRAME_HEADER_BYTES, encodeFrame } from './frame-codec'
import { stringRefsDecoded } from './big-strings'

/** The wire protocol version this package speaks; the handshake refuses any other. */
export const PROTOCOL_VERSION = 1

/** Frame types: the first element of every envelope. */
export const FrameType = {
  /** `[1, firstSeq, [message, ...]]`: one or more user messages, numbered per link from 1 (the i-th has firstSeq + i). */
  DATA: 1,
  /** `[2, upTo]`: cumulative acknowledgement: every DATA with seq <= upTo arrived. */
  ACK: 2,
  /** `[3]`: keeps an idle connection alive. */
  PING: 3,
  /**
   * `[4, seq, offset, totalBytes, bytes]`: part of one user message too large for a frame (replica links only):
   * `bytes` at `offset` of its `totalBytes` encoded bytes. The parts of a message come in order, one message's
   * at a time; the message counts as received (and is acknowledged) once its last part arrived.
   */
  PART: 4,
  /** `[16, {version, clusterId, nodeId, role, nonce}]`: the dialer introduces itself. */
  HELLO: 16,
  /** `[17, {version, clusterId, nodeId, nonce, proof}]`: the listener answers and proves itself. */
  WELCOME: 17,
  /** `[18, {proof}]`: the dialer proves itself. */
  AUTH: 18,
  /** `[19, {incarnation, oldestSeq, peerIncarnation, receivedUpTo, partBytes?, sharedStringChars?, resumeNumber?}]`: resumes a link after authentication. */
  RESUME: 19,
  /**
   * `[20, {reason, code?}]`: the connection is refused; the sender closes it next. `code`, when present, is the
   * error code the refused side reports (AUTH_FAILED, CLUSTER_MISMATCH); older senders omit it.
   */
  REFUSE: 20,
} as const

/**
 * The role a node announces in its handshake: a replica, a client, or a connection shared by the clients of one
 * process (`shareConnections`), whose messages each name their client.
 */
export type NodeRole = 'replica' | 'client' | 'shared-clients'

/** A validated DATA envelope. */
export interface DataEnvelope {
  readonly type: typeof FrameType.DATA
  /** Sequence number of `messages[0]`; the others follow consecutively. */
  readonly firstSeq: number
  readonly messages: readonly unknown[]
  /** The frame's payload size, when it was decoded from bytes (see `decodeEnvelope`). */
  readonly payloadBytes?: number
  /** References to large strings its decoding made (see `big-strings.ts`), when it was decoded from bytes. */
  readonly refs?: number
}
/** A validated PART envelope: a piece of one large message. */
export interface PartEnvelope {
  readonly type: typeof FrameType.PART
  readonly seq: number
  readonly offset: number
  readonly totalBytes: number
  readonly bytes: Uint8Array
}
/** A validated ACK envelope. */
export interface AckEnvelope {
  readonly type: typeof FrameType.ACK
  readonly upTo: number
}
/** A validated PING envelope. */
export interface PingEnvelope {
  readonly type: typeof FrameType.PING
}
/** A validated HELLO envelope. */
export interface HelloEnvelope {
  readonly type: typeof FrameType.HELLO
  readonly version: number
  readonly clusterId: string
  readonly nodeId: string
  readonly role: NodeRole
  readonly nonce: Uint8Array
}
/** A validated WELCOME envelope; `proof` is null when no shared secret applies (TLS only). */
export interface WelcomeEnvelope {
  readonly type: typeof FrameType.WELCOME
  readonly version: number
  readonly clusterId: string
  readonly nodeId: string
  readonly nonce: Uint8Array
  readonly proof: Uint8Array | null
}
/** A validated AUTH envelope. */
export interface AuthEnvelope {
  readonly type: typeof FrameType.AUTH
  readonly proof: Uint8Array | null
}
/** A validated RESUME envelope. */
export interface ResumeEnvelope {
  readonly type: typeof FrameType.RESUME
  /** The sender's incarnation of this link (random, new each time the link state is created). */
  readonly incarnation: string
  /** Seq of the oldest message the sender still holds (unacknowledged); nextSeq when it holds none. */
  readonly oldestSeq: number
  /** The receiver's link incarnation as the sender knows it, or null if it knows none. */
  readonly peerIncarnation: string | null
  /** Every message of `peerIncarnation` with seq <= this was received. */
  readonly receivedUpTo: number
  /** Bytes of message `receivedUpTo + 1` received in PART frames so far (absent: none); its parts resume after them. */
  readonly partBytes?: number
  /**
   * Characters of large strings the sender keeps from the receiver's messages on this link (absent: none): the
   * receiver then sends each large string once and refers to it afterwards (see `big-strings.ts`).
   */
  readonly sharedStringChars?: number
  /**
   * The sender's RESUMEs on this link incarnation are numbered 1, 2, … (absent: an earlier version, which does not
   * number them). A RESUME numbered at or below one the receiver already took is stale: it was written on a
   * connection the sender has since replaced, before what the sender learned since.
   */
  readonly resumeNumber?: number
}
/** A validated REFUSE envelope. */
export interface RefuseEnvelope {
  readonly type: typeof FrameType.REFUSE
  readonly reason: string
  /** Why, as an error code (AUTH_FAILED, CLUSTER_MISMATCH), when the sender gave one. */
  readonly code?: RefusalCode
}

/** The error codes a REFUSE frame can carry: refusals a client reports to its caller. */
export type RefusalCode = 'AUTH_FAILED' | 'CLUSTER_MISMATCH'
const REFUSAL_CODES: readonly string[] = ['AUTH_FAILED', 'CLUSTER_MISMATCH'] satisfies RefusalCode[]

/** Any frame of the transport's own protocol, after validation. */
export type Envelope =
  | DataEnvelope
  | PartEnvelope
  | AckEnvelope
  | PingEnvelope
  | HelloEnvelope
  | WelcomeEnvelope
  | AuthEnvelope
  | ResumeEnvelope
  | RefuseEnvelope

/** Nonces in the handshake are this many random bytes. */
export const NONCE_BYTES = 32
const MAX_ID_LENGTH = 256
const MAX_REASON_LENGTH = 1024
const MAX_PROOF_BYTES = 64

// Records (msgpackr's structure support) pay off only with structures shared
// across messages, which would make each frame depend on the frames before it
// on the same connection. Frames must stay self-contained so the exact bytes
// can be resent on a new connection after a reconnect, and measured on
// typical messages self-contained records were slower than plain maps, so
// they are off.
const packr = new Packr({ useRecords: false, moreTypes: false })
// copyBuffers: binary values are copied out of the socket chunk, so a
// delivered Uint8Array never aliases (or pins) receive buffers.
const unpackr = new Unpackr({ useRecords: false, copyBuffers: true, mapsAsObjects: true, int64AsType: 'number' })

/** Encodes any value as msgpack with the transport's settings. */
export function packValue(value: unknown): Buffer {
  return packr.pack(value)
}

/** Decodes one msgpack value with the transport's settings (throws msgpackr's error on bad input). */
export function unpackValue(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes)
}

/** Most bytes a DATA frame adds around its messages: frame header, array, type, seq and count. */
export const DATA_FRAME_OVERHEAD_BYTES = FRAME_HEADER_BYTES + 1 + 1 + 9 + 5

/** Backing stores larger than this are not retained by a queued message (it is copied instead). */
const MAX_RETAINED_BACKING_BYTES = 64 * 1024

/** Bytes {@link encodeMessage} produced since the process started (compare before and after, in tests). */
let messageBytesEncoded = 0

/** The number of message bytes encoded so far: what a send cost in encoding, whatever went on the wire. */
export function encodedMessageBytes(): number {
  return messageBytesEncoded
}

/**
 * Encodes one user message as msgpack, once, at send time. Throws
 * MALFORMED_MESSAGE when the message cannot be encoded.
 */
export function encodeMessage(message: unknown): Buffer {
  let encoded: Buffer
  try {
    encoded = packr.pack(message)
    messageBytesEncoded += encoded.length
  } catch (error) {
    throw new LockstepError(
      'MALFORMED_MESSAGE',
      `A message could not be encoded as msgpack (${describe(error)}); send plain data: objects, arrays, strings, numbers, booleans, null, Uint8Array.`,
      undefined,
      { cause: error },
    )
  }
  // msgpackr returns a view of its own growing buffer, never overwritten later;
  // keep small views, copy out of a large backing store so a queued message
  // never pins megabytes.
  return encoded.buffer.byteLength > MAX_RETAINED_BACKING_BYTES ? Buffer.from(encoded) : encoded
}

/**
 * Builds one DATA frame from already-encoded messages: the msgpack array
 * `[1, firstSeq, [m0, m1, ...]]` is assembled around their bytes, so
 * messages are encoded once however often they are resent, and the whole
 * batch costs one checksum and one decode at the receiver.
 */
export function encodeDataFrame(firstSeq: number, encodedMessages: readonly Uint8Array[]): Buffer {
  const seqBytes = packr.pack(firstSeq)
  const count = encodedMessages.length
  const countBytes = count < 16 ? 1 : count < 0x10000 ? 3 : 5
  let payloadLength = 2 + seqBytes.length + countBytes
  for (const encoded of encodedMessages) payloadLength += encoded.length
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadLength)
  let offset = FRAME_HEADER_BYTES
  frame[offset++] = 0x93 // fixarray of 3
  frame[offset++] = FrameType.DATA // positive fixint
  frame.set(seqBytes, offset)
  offset += seqBytes.length
  if (count < 16) {
    frame[offset++] = 0x90 | count
  } else if (count < 0x10000) {
    frame[offset++] = 0xdc
    frame.writeUInt16BE(count, offset)
    offset += 2
  } else {
    frame[offset++] = 0xdd
    frame.writeUInt32BE(count, offset)
    offset += 4
  }
  for (const encoded of encodedMessages) {
    frame.set(encoded, offset)
    offset += encoded.length
  }
  frame.writeUInt32BE(payloadLength, 0)
  frame.writeUInt32BE(crc32(frame.subarray(FRAME_HEADER_BYTES)), 4)
  return frame
}

/** Bytes a PART frame adds around its piece of a message, at most. */
export const PART_FRAME_OVERHEAD_BYTES = FRAME_HEADER_BYTES + 1 + 1 + 9 + 9 + 9 + 5

/** Encodes a PART frame: `bytes` at `offset` of the `totalBytes` encoded bytes of message `seq`. */
export function encodePartFrame(seq: number, offset: number, totalBytes: number, bytes: Uint8Array): Buffer {
  return encodeFrame(packr.pack([FrameType.PART, seq, offset, totalBytes, bytes]))
}

/** Encodes an ACK frame. */
export function encodeAckFrame(upTo: number): Buffer {
  return encodeFrame(packr.pack([FrameType.ACK, upTo]))
}

/** Encodes a PING frame. */
export function encodePingFrame(): Buffer {
  return encodeFrame(packr.pack([FrameType.PING]))
}

/** Encodes a HELLO frame. */
export function encodeHelloFrame(hello: Omit<HelloEnvelope, 'type'>): Buffer {
  return encodeControl(FrameType.HELLO, {
    version: hello.version,
    clusterId: hello.clusterId,
    nodeId: hello.nodeId,
    role: hello.role,
    nonce: hello.nonce,
  })
}

/** Encodes a WELCOME frame. */
export function encodeWelcomeFrame(welcome: Omit<WelcomeEnvelope, 'type'>): Buffer {
  return encodeControl(FrameType.WELCOME, {
    version: welcome.version,
    clusterId: welcome.clusterId,
    nodeId: welcome.nodeId,
    nonce: welcome.nonce,
    proof: welcome.proof,
  })
}

/** Encodes an AUTH frame. */
export function encodeAuthFrame(proof: Uint8Array | null): Buffer {
  return encodeControl(FrameType.AUTH, { proof })
}

/** Encodes a RESUME frame. */
export function encodeResumeFrame(resume: Omit<ResumeEnvelope, 'type'>): Buffer {
  return encodeControl(FrameType.RESUME, {
    incarnation: resume.incarnation,
    oldestSeq: resume.oldestSeq,
    peerIncarnation: resume.peerIncarnation,
    receivedUpTo: resume.receivedUpTo,
    ...(resume.partBytes ? { partBytes: resume.partBytes } : {}),
    ...(resume.sharedStringChars ? { sharedStringChars: resume.sharedStringChars } : {}),
    ...(resume.resumeNumber ? { resumeNumber: resume.resumeNumber } : {}),
  })
}

/** Encodes a REFUSE frame. */
export function encodeRefuseFrame(reason: string, code?: RefusalCode): Buffer {
  return encodeControl(FrameType.REFUSE, { reason: reason.slice(0, MAX_REASON_LENGTH), ...(code === undefined ? {} : { code }) })
}

function encodeControl(type: number, body: Record<string, unknown>): Buffer {
  return encodeFrame(packr.pack([type, body]))
}

/**
 * Decodes and validates one frame payload. Throws a LockstepError
 * (MALFORMED_FRAME for bytes that are not one msgpack value, MALFORMED_MESSAGE
 * for a value that is not a valid envelope); never returns an unchecked shape.
 */
export function decodeEnvelope(payload: Uint8Array): Envelope {
  let value: unknown
  const refsBefore = stringRefsDecoded()
  try {
    value = unpackr.unpack(payload)
  } catch (error) {
    throw new LockstepError(
      'MALFORMED_FRAME',
      `A frame of ${payload.length} bytes is not one valid msgpack value (${describe(error)}).`,
      undefined,
      { cause: error },
    )
  }
  return validateEnvelope(value, payload.length, stringRefsDecoded() - refsBefore)
}

/** Checks that a decoded value is one of the transport's envelopes. */
export function validateEnvelope(value: unknown, payloadBytes?: number, refs?: number): Envelope {
  if (!Array.isArray(value) || value.length === 0) fail('an envelope must be a non-empty array')
  const type = value[0]
  switch (type) {
    case FrameType.DATA: {
      const messages = value[2]
      if (value.length !== 3 || !Array.isArray(messages) || messages.length === 0) fail('DATA must be [1, firstSeq, [message, ...]]')
      const firstSeq = sequenceNumber(value[1], 'DATA firstSeq', 1)
      if (!Number.isSafeInteger(firstSeq + messages.length)) fail('DATA sequence numbers must stay safe integers')
      return payloadBytes === undefined ? { type, firstSeq, messages } : { type, firstSeq, messages, payloadBytes, refs: refs ?? 0 }
    }
    case FrameType.PART: {
      if (value.length !== 5) fail('PART must be [4, seq, offset, totalBytes, bytes]')
      const seq = sequenceNumber(value[1], 'PART seq', 1)
      const offset = sequenceNumber(value[2], 'PART offset', 0)
      const totalBytes = sequenceNumber(value[3], 'PART totalBytes', 1)
      const piece = value[4]
      if (!(piece instanceof Uint8Array) || piece.length === 0) fail('PART bytes must be a non-empty binary value')
      if (offset + piece.length > totalBytes) fail(`PART bytes at ${offset} (${piece.length} of them) run past the message's ${totalBytes} bytes`)
      return { type, seq, offset, totalBytes, bytes: piece }
    }
    case FrameType.ACK: {
      if (value.length !== 2) fail('ACK must be [2, upTo]')
      return { type, upTo: sequenceNumber(value[1], 'ACK upTo', 0) }
    }
    case FrameType.PING: {
      if (value.length !== 1) fail('PING must be [3]')
      return { type }
    }
    case FrameType.HELLO: {
      const body = controlBody(value, 'HELLO')
      const role = body.role
      if (role !== 'replica' && role !== 'client' && role !== 'shared-clients') {
        fail(`HELLO role must be "replica", "client" or "shared-clients", not ${preview(role)}`)
      }
      return {
        type,
        version: version(body.version),
        clusterId: identifier(body.clusterId, 'HELLO clusterId'),
        nodeId: identifier(body.nodeId, 'HELLO nodeId'),
        role,
        nonce: bytes(body.nonce, 'HELLO nonce', NONCE_BYTES, NONCE_BYTES),
      }
    }
    case FrameType.WELCOME: {
      const body = controlBody(value, 'WELCOME')
      return {
        type,
        version: version(body.version),
        clusterId: identifier(body.clusterId, 'WELCOME clusterId'),
        nodeId: identifier(body.nodeId, 'WELCOME nodeId'),
        nonce: bytes(body.nonce, 'WELCOME nonce', NONCE_BYTES, NONCE_BYTES),
        proof: body.proof === null ? null : bytes(body.proof, 'WELCOME proof', 1, MAX_PROOF_BYTES),
      }
    }
    case FrameType.AUTH: {
      const body = controlBody(value, 'AUTH')
      return { type, proof: body.proof === null ? null : bytes(body.proof, 'AUTH proof', 1, MAX_PROOF_BYTES) }
    }
    case FrameType.RESUME: {
      const body = controlBody(value, 'RESUME')
      const peerIncarnation =
        body.peerIncarnation === null ? null : identifier(body.peerIncarnation, 'RESUME peerIncarnation')
      return {
        type,
        incarnation: identifier(body.incarnation, 'RESUME incarnation'),
        oldestSeq: sequenceNumber(body.oldestSeq, 'RESUME oldestSeq', 1),
        peerIncarnation,
        receivedUpTo: sequenceNumber(body.receivedUpTo, 'RESUME receivedUpTo', 0),
        ...(body.partBytes === undefined ? {} : { partBytes: sequenceNumber(body.partBytes, 'RESUME partBytes', 0) }),
        ...(body.sharedStringChars === undefined ? {} : { sharedStringChars: sequenceNumber(body.sharedStringChars, 'RESUME sharedStringChars', 0) }),
        ...(body.resumeNumber === undefined ? {} : { resumeNumber: sequenceNumber(body.resumeNumber, 'RESUME resumeNumber', 1) }),
      }
    }
    case FrameType.REFUSE: {
      const body = controlBody(value, 'REFUSE')
      if (typeof body.reason !== 'string') fail('REFUSE reason must be a string')
      // A code this version does not know is left out: the reason still says what happened.
      const code = typeof body.code === 'string' && REFUSAL_CODES.includes(body.code) ? (body.code as RefusalCode) : undefined
      return { type, reason: body.reason.slice(0, MAX_REASON_LENGTH), ...(code === undefined ? {} : { code }) }
    }
    default:
      fail(`unknown frame type ${preview(type)}`)
  }
}

function controlBody(value: unknown[], name: string): Record<string, unknown> {
  const body = value[1]
  if (value.length !== 2 || typeof body !== 'object' || body === null || Array.isArray(body) || body instanceof Uint8Array) {
    fail(`${name} must be [type, {fields}]`)
  }
  return body as Record<string, unknown>
}

function sequenceNumber(value: unknown, what: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    fail(`${what} must be a safe integer >= ${min}, not ${preview(value)}`)
  }
  return value
}

function version(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) fail(`protocol version must be an integer, not ${preview(value)}`)
  return value
}

function identifier(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) {
    fail(`${what} must be a string of 1 to ${MAX_ID_LENGTH} characters, not ${preview(value)}`)
  }
  return value
}

function bytes(value: unknown, what: string, minBytes: number, maxBytes: number): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length < minBytes || value.length > maxBytes) {
    fail(`${what} must be ${minBytes === maxBytes ? minBytes : `${minBytes} to ${maxBytes}`} bytes, not ${preview(value)}`)
  }
  return value
}

function fail(problem: string): never {
  throw new LockstepError('MALFORMED_MESSAGE', `Invalid transport envelope: ${problem}.`)
}

function preview(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.length} bytes`
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object'
  return String(value)
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 200) : String(error).slice(0, 200)
}
