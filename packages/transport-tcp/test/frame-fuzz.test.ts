import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { silentLogger } from '@lockstep/interface'
import {
  FrameType,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  decodeEnvelope,
  encodeAuthFrame,
  encodeDataFrame,
  encodeHelloFrame,
  encodeMessage,
  encodeResumeFrame,
  packValue,
  unpackValue,
} from '../src/envelope'
import { FrameDecoder, encodeFrame } from '../src/frame-codec'
import { handshakeProof, runListenerHandshake } from '../src/handshake'
import { ReliableLink } from '../src/reliable-link'
import { fakeConnection, inertScheduler } from './fake-socket'
import { fixedRandom } from './helpers'

/**
 * Random and damaged byte streams go through the real receive path: a
 * Connection (frame decoder, envelope validation) feeding a ReliableLink
 * (sequence checks, delivery). Whatever the bytes, nothing may throw out of
 * the socket callback, and what is delivered must be exactly a prefix of the
 * messages that were encoded.
 */

interface CleanStream {
  readonly frames: Buffer[]
  /** Each message as the codec decodes it (so -0, Buffer and the like compare like for like). */
  readonly expected: unknown[]
}

/** RESUME, then the messages in DATA frames of 1, 2, 3, 1, 2, 3... messages. */
function cleanStream(messages: unknown[]): CleanStream {
  const frames = [encodeResumeFrame({ incarnation: 'fuzz-peer', oldestSeq: 1, peerIncarnation: null, receivedUpTo: 0 })]
  let next = 0
  for (let size = 1; next < messages.length; size = (size % 3) + 1) {
    const batch = messages.slice(next, next + size)
    frames.push(encodeDataFrame(next + 1, batch.map(encodeMessage)))
    next += batch.length
  }
  return { frames, expected: messages.map((m) => unpackValue(packValue(m))) }
}

interface FeedResult {
  readonly delivered: unknown[]
  readonly thrown: unknown
  readonly closeReason: string | undefined
}

/** Feeds `bytes`, split at `cuts`, into a fresh connection with a link attached; then closes it. */
function feedLink(bytes: Buffer, cuts: readonly number[]): FeedResult {
  const { socket, connection } = fakeConnection({ maxFrameBytes: 256 * 1024 })
  const delivered: unknown[] = []
  const link = new ReliableLink({
    label: 'fuzz',
    maxBufferedBytes: 1 << 20,
    maxFrameBytes: 256 * 1024,
    logger: silentLogger,
    scheduler: inertScheduler,
    deliver: (message) => delivered.push(message),
  })
  link.attach(connection)
  let thrown: unknown
  let start = 0
  const points = [...cuts].map((c) => Math.min(c, bytes.length)).sort((a, b) => a - b)
  for (const end of [...points, bytes.length]) {
    try {
      socket.emit('data', bytes.subarray(start, end))
    } catch (error) {
      thrown = error
      break
    }
    start = end
  }
  const closeReason = connection.closeReason
  socket.destroy()
  return { delivered, thrown, closeReason }
}

function checkPrefix(result: FeedResult, expected: readonly unknown[]): void {
  if (result.thrown !== undefined) throw new Error(`an exception escaped the socket callback: ${String(result.thrown)}`)
  if (result.delivered.length > expected.length) throw new Error(`delivered ${result.delivered.length} messages, only ${expected.length} were encoded`)
  for (let i = 0; i < result.delivered.length; i += 1) {
    if (!isDeepStrictEqual(result.delivered[i], expected[i])) {
      throw new Error(`message ${i + 1} was delivered corrupted: ${JSON.stringify(result.delivered[i])?.slice(0, 200)}`)
    }
  }
}

type Mutation =
  | { kind: 'flipBit'; at: number; bit: number }
  | { kind: 'setByte'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'duplicateRange'; at: number; length: number }
  | { kind: 'hugeLength'; frame: number; length: number }
  | { kind: 'dropFrame'; frame: number }
  | { kind: 'duplicateFrame'; frame: number }
  | { kind: 'swapFrames'; a: number; b: number }

/** Applies frame-level mutations to the frame list, then byte-level ones to the joined bytes. Positions wrap around. */
function applyMutations(frames: readonly Buffer[], mutations: readonly Mutation[]): Buffer {
  const list = [...frames]
  for (const m of mutations) {
    if (list.length === 0) break
    if (m.kind === 'hugeLength') {
      const index = m.frame % list.length
      const copy = Buffer.from(list[index]!)
      copy.writeUInt32BE(m.length >>> 0, 0)
      list[index] = copy
    } else if (m.kind === 'dropFrame') {
      list.splice(m.frame % list.length, 1)
    } else if (m.kind === 'duplicateFrame') {
      const index = m.frame % list.length
      list.splice(index, 0, list[index]!)
    } else if (m.kind === 'swapFrames') {
      const a = m.a % list.length
      const b = m.b % list.length
      ;[list[a], list[b]] = [list[b]!, list[a]!]
    }
  }
  let bytes = Buffer.concat(list)
  for (const m of mutations) {
    if (bytes.length === 0) break
    switch (m.kind) {
      case 'flipBit': {
        bytes = Buffer.from(bytes)
        const at = m.at % bytes.length
        bytes[at] = bytes[at]! ^ (1 << (m.bit % 8))
        break
      }
      case 'setByte':
        bytes = Buffer.from(bytes)
        bytes[m.at % bytes.length] = m.value & 0xff
        break
      case 'insert': {
        const at = m.at % (bytes.length + 1)
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(m.bytes), bytes.subarray(at)])
        break
      }
      case 'delete': {
        const at = m.at % bytes.length
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + m.length)])
        break
      }
      case 'truncate':
        bytes = bytes.subarray(0, m.at % bytes.length)
        break
      case 'duplicateRange': {
        const at = m.at % bytes.length
        const range = bytes.subarray(at, at + m.length)
        bytes = Buffer.concat([bytes.subarray(0, at + range.length), range, bytes.subarray(at + range.length)])
        break
      }
      default:
        break
    }
  }
  return bytes
}

const seed = 20_261_125

const messageArbitrary = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.uint8Array({ maxLength: 64 }),
  fc.record({ op: fc.constantFrom('acquire', 'release'), client: fc.string({ maxLength: 12 }), seq: fc.nat(), data: fc.uint8Array({ maxLength: 16 }) }),
)

const mutationArbitrary: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flipBit' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('setByte' as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(fc.nat(255), { minLength: 1, maxLength: 9 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 24 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicateRange' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('hugeLength' as const), frame: fc.nat(), length: fc.nat() }),
  fc.record({ kind: fc.constant('dropFrame' as const), frame: fc.nat() }),
  fc.record({ kind: fc.constant('duplicateFrame' as const), frame: fc.nat() }),
  fc.record({ kind: fc.constant('swapFrames' as const), a: fc.nat(), b: fc.nat() }),
)

const cutsArbitrary = fc.array(fc.nat({ max: 4096 }), { maxLength: 8 })

/** Every case counted here; the suite asserts the total at the end. */
let casesRun = 0

describe('frame decoding under random and damaged input', () => {
  it('delivers every message of an undamaged stream, however it is split (fast-check, 3,000 cases)', () => {
    fc.assert(
      fc.property(fc.array(messageArbitrary, { minLength: 1, maxLength: 10 }), cutsArbitrary, (messages, cuts) => {
        casesRun += 1
        const stream = cleanStream(messages)
        const result = feedLink(Buffer.concat(stream.frames), cuts)
        checkPrefix(result, stream.expected)
        expect(result.delivered.length).toBe(messages.length)
      }),
      { seed, numRuns: 3_000 },
    )
  })

  it('never delivers a corrupted message from a mutated stream (fast-check, 15,000 cases)', () => {
    fc.assert(
      fc.property(
        fc.array(messageArbitrary, { minLength: 1, maxLength: 10 }),
        fc.array(mutationArbitrary, { minLength: 1, maxLength: 3 }),
        cutsArbitrary,
        (messages, mutations, cuts) => {
          casesRun += 1
          const stream = cleanStream(messages)
          checkPrefix(feedLink(applyMutations(stream.frames, mutations), cuts), stream.expected)
        },
      ),
      { seed: seed + 1, numRuns: 15_000 },
    )
  })

  it('survives pure noise (fast-check, 10,000 cases)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), cutsArbitrary, (noise, cuts) => {
        casesRun += 1
        const result = feedLink(Buffer.from(noise), cuts)
        checkPrefix(result, [])
      }),
      { seed: seed + 2, numRuns: 10_000 },
    )
  })

  it('never delivers a corrupted message (seeded PRNG loop, 75,000 cases)', () => {
    const random = fixedRandom(seed)
    const int = (n: number) => Math.floor(random.next() * n)
    const pick = <T>(items: readonly T[]) => items[int(items.length)]!
    // A pool of clean streams of varied messages.
    const pool: CleanStream[] = []
    for (let s = 0; s < 64; s += 1) {
      const messages: unknown[] = []
      const count = 1 + int(20)
      for (let i = 0; i < count; i += 1) {
        messages.push(
          pick([
            () => ({ n: int(1_000_000), text: 'm'.repeat(int(50)), ok: random.next() < 0.5 }),
            () => [int(100) - 50, random.next() * 1e6, null, 'ünïcödé ✓ 🚀'],
            () => new Uint8Array(Array.from({ length: int(40) }, () => int(256))),
            () => 'x'.repeat(int(300)),
            () => ({ nested: { deeper: { list: Array.from({ length: int(10) }, (_, k) => k) } } }),
          ])(),
        )
      }
      pool.push(cleanStream(messages))
    }
    const kinds: Mutation['kind'][] = ['flipBit', 'setByte', 'insert', 'delete', 'truncate', 'duplicateRange', 'hugeLength', 'dropFrame', 'duplicateFrame', 'swapFrames']
    const randomMutation = (): Mutation => {
      const kind = pick(kinds)
      switch (kind) {
        case 'flipBit':
          return { kind, at: int(1 << 20), bit: int(8) }
        case 'setByte':
          return { kind, at: int(1 << 20), value: int(256) }
        case 'insert':
          return { kind, at: int(1 << 20), bytes: Array.from({ length: 1 + int(8) }, () => int(256)) }
        case 'delete':
          return { kind, at: int(1 << 20), length: 1 + int(24) }
        case 'truncate':
          return { kind, at: int(1 << 20) }
        case 'duplicateRange':
          return { kind, at: int(1 << 20), length: 1 + int(40) }
        case 'hugeLength':
          return { kind, frame: int(64), length: int(2 ** 32) }
        case 'dropFrame':
          return { kind, frame: int(64) }
        case 'duplicateFrame':
          return { kind, frame: int(64) }
        case 'swapFrames':
          return { kind, a: int(64), b: int(64) }
      }
    }
    let damagedAndStopped = 0
    for (let i = 0; i < 75_000; i += 1) {
      casesRun += 1
      const stream = pick(pool)
      const mutationCount = i % 10 === 0 ? 0 : 1 + int(3)
      const mutations = Array.from({ length: mutationCount }, randomMutation)
      const bytes = applyMutations(stream.frames, mutations)
      const cuts = Array.from({ length: int(6) }, () => int(bytes.length + 1))
      const result = feedLink(bytes, cuts)
      checkPrefix(result, stream.expected)
      if (mutationCount === 0) expect(result.delivered.length).toBe(stream.expected.length)
      if (result.closeReason !== undefined) damagedAndStopped += 1
    }
    // Most damaged streams must have been caught (closed), not silently accepted.
    expect(damagedAndStopped).toBeGreaterThan(40_000)
  })

  it('refuses damaged handshakes without throwing (fast-check, 5,000 cases)', () => {
    const secret = Buffer.from('fuzz-secret-0123456789abcdef')
    const nonce = Buffer.alloc(NONCE_BYTES, 7)
    fc.assert(
      fc.property(fc.array(mutationArbitrary, { maxLength: 3 }), cutsArbitrary, (mutations, cuts) => {
        casesRun += 1
        const { socket, connection } = fakeConnection()
        let authenticated = 0
        let listenerNonce: Uint8Array | undefined
        // Capture the listener's nonce from its WELCOME to build a valid AUTH when unmutated.
        const originalWrite = socket.write.bind(socket)
        socket.write = (bytes: Uint8Array) => {
          const decoder = new FrameDecoder()
          for (const payload of decoder.pushAll(bytes).payloads) {
            const envelope = decodeEnvelope(payload)
            if (envelope.type === FrameType.WELCOME) listenerNonce = envelope.nonce
          }
          return originalWrite(bytes)
        }
        runListenerHandshake(connection, {
          selfId: 'r2',
          clusterId: 'fuzz',
          decide: () => ({ accept: true, secret }),
          authenticated: () => {
            authenticated += 1
            connection.close('done', 'debug')
          },
        })
        const hello = encodeHelloFrame({ version: PROTOCOL_VERSION, clusterId: 'fuzz', nodeId: 'r1', role: 'replica', nonce })
        const helloBytes = applyMutations([hello], mutations)
        let start = 0
        for (const end of [...cuts.map((c) => Math.min(c, helloBytes.length)).sort((a, b) => a - b), helloBytes.length]) {
          socket.emit('data', helloBytes.subarray(start, end))
          start = end
        }
        if (listenerNonce !== undefined && !connection.isClosed) {
          const proof = handshakeProof(secret, 'dialer', {
            clusterId: 'fuzz',
            dialerId: 'r1',
            dialerRole: 'replica',
            listenerId: 'r2',
            dialerNonce: nonce,
            listenerNonce,
          })
          socket.emit('data', applyMutations([encodeAuthFrame(proof)], mutations))
        }
        socket.destroy()
        // Authentication succeeds only when the bytes were not damaged in a way that matters.
        if (authenticated > 0) expect(listenerNonce).toBeDefined()
        expect(authenticated).toBeLessThanOrEqual(1)
      }),
      { seed: seed + 3, numRuns: 5_000 },
    )
  })

  it('ran at least 100,000 cases in total', () => {
    expect(casesRun).toBeGreaterThanOrEqual(100_000)
  })

  it('rejects an oversized length before the payload arrives', () => {
    const decoder = new FrameDecoder(1024)
    const header = Buffer.alloc(8)
    header.writeUInt32BE(1025, 0)
    const result = decoder.pushAll(header)
    expect(result.error?.code).toBe('FRAME_TOO_LARGE')
    expect(decoder.bufferedBytes).toBe(0)
  })

  it('reassembles a large frame from many small chunks', () => {
    const payload = Buffer.alloc(3 * 1024 * 1024, 5)
    const frame = encodeFrame(payload)
    const decoder = new FrameDecoder()
    const payloads: Buffer[] = []
    for (let offset = 0; offset < frame.length; offset += 1000) {
      const result = decoder.pushAll(frame.subarray(offset, offset + 1000))
      expect(result.error).toBeUndefined()
      payloads.push(...result.payloads)
    }
    expect(payloads).toHaveLength(1)
    expect(payloads[0]!.equals(payload)).toBe(true)
  })
})
