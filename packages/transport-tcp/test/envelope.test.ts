import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  FrameType,
  decodeEnvelope,
  encodeAckFrame,
  encodeAuthFrame,
  encodeHelloFrame,
  encodeMessage,
  encodePingFrame,
  encodeRefuseFrame,
  encodeResumeFrame,
  encodeWelcomeFrame,
  packValue,
  validateEnvelope,
} from '../src/envelope'
import type { DataEnvelope } from '../src/envelope'
import { FRAME_HEADER_BYTES, FrameDecoder } from '../src/frame-codec'
import { dataFrame } from './helpers'

function roundTrip(frame: Buffer) {
  const { payloads, error } = new FrameDecoder().pushAll(frame)
  expect(error).toBeUndefined()
  expect(payloads).toHaveLength(1)
  return decodeEnvelope(payloads[0]!)
}

/** JSON values without "__proto__" keys, which msgpackr renames (see the test below). */
const jsonWithoutProtoKeys = fc.jsonValue().filter((value) => !JSON.stringify(value).includes('"__proto__":'))

describe('transport envelopes', () => {
  it('round-trips every frame type', () => {
    const nonce = new Uint8Array(32).fill(3)
    expect(roundTrip(dataFrame(7, { a: [1, 'b'] }, 'two'))).toMatchObject({ type: FrameType.DATA, firstSeq: 7, messages: [{ a: [1, 'b'] }, 'two'] })
    expect(roundTrip(encodeAckFrame(9))).toEqual({ type: FrameType.ACK, upTo: 9 })
    expect(roundTrip(encodePingFrame())).toEqual({ type: FrameType.PING })
    expect(roundTrip(encodeHelloFrame({ version: 1, clusterId: 'c', nodeId: 'r1', role: 'replica', nonce }))).toMatchObject({
      type: FrameType.HELLO,
      nodeId: 'r1',
      role: 'replica',
    })
    expect(roundTrip(encodeWelcomeFrame({ version: 1, clusterId: 'c', nodeId: 'r2', nonce, proof: null }))).toMatchObject({ proof: null })
    expect(roundTrip(encodeAuthFrame(new Uint8Array(32).fill(1)))).toMatchObject({ type: FrameType.AUTH })
    expect(roundTrip(encodeResumeFrame({ incarnation: 'i', oldestSeq: 4, peerIncarnation: null, receivedUpTo: 2 }))).toEqual({
      type: FrameType.RESUME,
      incarnation: 'i',
      oldestSeq: 4,
      peerIncarnation: null,
      receivedUpTo: 2,
    })
    expect(roundTrip(encodeRefuseFrame('no'))).toEqual({ type: FrameType.REFUSE, reason: 'no' })
    expect(roundTrip(encodeRefuseFrame('wrong cluster', 'CLUSTER_MISMATCH'))).toEqual({ type: FrameType.REFUSE, reason: 'wrong cluster', code: 'CLUSTER_MISMATCH' })
  })

  it('a REFUSE code this version does not know is left out; the reason stays', () => {
    expect(validateEnvelope([FrameType.REFUSE, { reason: 'busy', code: 'SOMETHING_NEW' }])).toEqual({ type: FrameType.REFUSE, reason: 'busy' })
    expect(validateEnvelope([FrameType.REFUSE, { reason: 'busy', code: 7 }])).toEqual({ type: FrameType.REFUSE, reason: 'busy' })
  })

  it('a frame is an 8-byte header (length, CRC-32) and one msgpack value', () => {
    const frame = encodePingFrame()
    const payload = packValue([FrameType.PING])
    expect(frame.readUInt32BE(0)).toBe(payload.length)
    expect(frame.subarray(FRAME_HEADER_BYTES).equals(payload)).toBe(true)
  })

  const invalid: [string, unknown, RegExp][] = [
    ['a non-array', { t: 1 }, /non-empty array/],
    ['an empty array', [], /non-empty array/],
    ['DATA with seq 0', [1, 0, ['x']], /firstSeq must be a safe integer >= 1/],
    ['DATA with a string seq', [1, '1', ['x']], /firstSeq must be/],
    ['DATA with a missing message list', [1, 1], /DATA must be/],
    ['DATA with a message that is not in a list', [1, 1, 'x'], /DATA must be/],
    ['DATA with an empty message list', [1, 1, []], /DATA must be/],
    ['DATA whose seqs would pass 2^53', [1, Number.MAX_SAFE_INTEGER, ['x']], /safe integers/],
    ['ACK with a negative number', [2, -1], /upTo must be/],
    ['ACK with an unsafe integer', [2, 2 ** 60], /upTo must be/],
    ['PING with extra fields', [3, 1], /PING must be/],
    ['HELLO without a body', [16], /HELLO must be/],
    ['HELLO with a short nonce', [16, { version: 1, clusterId: 'c', nodeId: 'n', role: 'client', nonce: new Uint8Array(3) }], /nonce must be 32 bytes/],
    ['HELLO with an empty node id', [16, { version: 1, clusterId: 'c', nodeId: '', role: 'client', nonce: new Uint8Array(32) }], /nodeId must be a string/],
    ['WELCOME with a huge proof', [17, { version: 1, clusterId: 'c', nodeId: 'n', nonce: new Uint8Array(32), proof: new Uint8Array(1000) }], /proof must be/],
    ['RESUME with a numeric incarnation', [19, { incarnation: 5, oldestSeq: 1, peerIncarnation: null, receivedUpTo: 0 }], /incarnation must be/],
    ['REFUSE without a reason', [20, {}], /reason must be a string/],
    ['an unknown type', [77], /unknown frame type 77/],
  ]
  for (const [what, value, message] of invalid) {
    it(`rejects ${what} as MALFORMED_MESSAGE`, () => {
      expect(() => validateEnvelope(value)).toThrow(message)
      try {
        validateEnvelope(value)
      } catch (error) {
        expect((error as { code: string }).code).toBe('MALFORMED_MESSAGE')
      }
    })
  }

  it('encodes any batch of JSON values as one DATA frame and decodes it back (fast-check, 2,000 cases)', () => {
    fc.assert(
      fc.property(fc.array(jsonWithoutProtoKeys, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 2 ** 52 }), (values, firstSeq) => {
        const envelope = roundTrip(dataFrame(firstSeq, ...values))
        expect(envelope.type).toBe(FrameType.DATA)
        const data = envelope as DataEnvelope
        expect(data.firstSeq).toBe(firstSeq)
        // msgpack has a single integer zero, so -0 comes back as 0: compare as JSON.
        expect(JSON.stringify(data.messages)).toBe(JSON.stringify(values))
      }),
      { seed: 4242, numRuns: 2_000 },
    )
  })

  it('renames a key "__proto__" to "__proto_" on decoding (msgpackr guards against prototype pollution)', () => {
    const envelope = roundTrip(dataFrame(1, JSON.parse('{"__proto__": 1, "a": 2}')))
    expect((envelope as DataEnvelope).messages).toEqual([{ __proto_: 1, a: 2 }])
  })

  it('uses the 16- and 32-bit array headers for large batches', () => {
    for (const count of [15, 16, 65_535, 65_536]) {
      const envelope = roundTrip(dataFrame(1, ...Array.from({ length: count }, (_, i) => i)))
      expect((envelope as DataEnvelope).messages).toHaveLength(count)
    }
  })

  it('refuses to encode a message msgpack cannot carry', () => {
    expect(() => encodeMessage({ big: 2n ** 70n })).toThrow(/could not be encoded/)
  })
})
