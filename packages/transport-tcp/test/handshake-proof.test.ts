import { describe, expect, it } from 'vitest'
import { handshakeProof, proofMatches } from '../src/handshake'
import type { HandshakeTranscript } from '../src/handshake'

const transcript: HandshakeTranscript = {
  clusterId: 'c',
  dialerId: 'r1',
  dialerRole: 'replica',
  listenerId: 'r2',
  dialerNonce: new Uint8Array(32).fill(1),
  listenerNonce: new Uint8Array(32).fill(2),
}
const secret = Buffer.from('a-cluster-secret-of-some-length')

describe('handshake proofs', () => {
  it('are bound to the side, the role, both nonces, the ids and the secret', () => {
    const base = handshakeProof(secret, 'dialer', transcript)
    const variants = [
      handshakeProof(secret, 'listener', transcript),
      handshakeProof(secret, 'dialer', { ...transcript, dialerRole: 'client' }),
      handshakeProof(secret, 'dialer', { ...transcript, dialerNonce: new Uint8Array(32).fill(9) }),
      handshakeProof(secret, 'dialer', { ...transcript, listenerNonce: new Uint8Array(32).fill(9) }),
      handshakeProof(secret, 'dialer', { ...transcript, dialerId: 'r3' }),
      handshakeProof(secret, 'dialer', { ...transcript, listenerId: 'r3' }),
      handshakeProof(secret, 'dialer', { ...transcript, clusterId: 'other' }),
      handshakeProof(Buffer.from('another-secret-of-some-length!!'), 'dialer', transcript),
    ]
    for (const variant of variants) expect(proofMatches(base, variant)).toBe(false)
    expect(proofMatches(base, handshakeProof(secret, 'dialer', transcript))).toBe(true)
  })

  it('a missing or short proof never matches', () => {
    const base = handshakeProof(secret, 'dialer', transcript)
    expect(proofMatches(base, null)).toBe(false)
    expect(proofMatches(base, base.subarray(0, 16))).toBe(false)
  })
})
