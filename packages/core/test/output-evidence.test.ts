import { describe, expect, it } from 'vitest'
import { silentLogger, type Reply, type Request } from '@lockstep/interface'
import { digestOf, generateReplicaKeys, signOutputDigest, verifyEvidence } from '@lockstep/voting'
import { OutputEvidence, type OutputSigner } from '../src/engine/output-evidence'
import { parseClientMessage } from '../src/engine/client-messages'
import type { PeerMessage, ReplySignature } from '../src/engine/peer-messages'
import { decodePeerMessage, encodePeerMessage } from '../src/index'

const clusterId = 'test-cluster'
const replicas = ['r1', 'r2', 'r3'] as const
const keys = Object.fromEntries(replicas.map((replica) => [replica, generateReplicaKeys()]))
const publicKeys = Object.fromEntries(replicas.map((replica) => [replica, keys[replica]!.publicKey]))

function signer(replica: string): OutputSigner {
  return { clusterId, digest: digestOf, sign: (statement) => signOutputDigest(statement, keys[replica]!.privateKey).signature }
}

function store(self = 'r1', window = 100) {
  const sent: { to: string; message: PeerMessage }[] = []
  const evidence = new OutputEvidence({
    self,
    log: silentLogger,
    signer: signer(self),
    window,
    members: () => replicas,
    configurationSize: () => replicas.length,
    send: (to, message) => sent.push({ to, message }),
  })
  return { evidence, sent }
}

const request = (seq: number, client = 'c1'): Request => ({ client, seq, command: { op: 'put', key: 'x', value: seq }, incarnation: 7 })
const reply = (seq: number, position: number, value: unknown = seq): Reply => ({ client: 'c1', seq, ok: true, outputs: [{ outputSeq: seq, value }], position, incarnation: 7 })

/** What replica `from` signs about its reply at `position`, as it travels. */
function peerSignature(from: string, seq: number, position: number, value: unknown = seq): ReplySignature {
  const digest = digestOf(reply(seq, position, value))
  const name = { client: 'c1', seq, incarnation: 7 }
  return { ...name, position, digest, signature: signer(from).sign({ clusterId, replicaId: from, ...name, position, digest }) }
}

describe('signed reply digests (evidence for external readers)', () => {
  it('serves the reply with t+1 matching signatures, which a reader verifies with the public keys', () => {
    const { evidence, sent } = store()
    evidence.executed(5, request(1), reply(1, 5))
    expect(sent).toHaveLength(0) // executing sends nothing: signatures are asked for when a reader wants them
    expect(evidence.answer('c1', 1, 7)).toMatchObject({ status: 'pending', reason: expect.stringMatching(/holds 1 matching signature\(s\) for c1#1; 2 \(t\+1\) are needed/) })
    expect(sent).toEqual([
      { to: 'r2', message: { kind: 'signatureRequest', positions: [5] } },
      { to: 'r3', message: { kind: 'signatureRequest', positions: [5] } },
    ])
    // r2 executed the same request with the same reply at 5 and answers r1's ask; r3 holds another reply.
    const r2 = store('r2')
    r2.evidence.executed(5, request(1), reply(1, 5))
    r2.evidence.onSignatureRequest('r1', [5, 6]) // nothing at 6: only 5 is signed
    expect(r2.sent).toEqual([{ to: 'r1', message: { kind: 'replySignatures', signatures: [peerSignature('r2', 1, 5)] } }])
    evidence.onSignatures('r3', [peerSignature('r3', 1, 5, 'another value')]) // another digest: does not count
    expect(evidence.answer('c1', 1, 7).status).toBe('pending')
    expect(sent.slice(2)).toEqual([{ to: 'r2', message: { kind: 'signatureRequest', positions: [5] } }]) // r3 answered already
    evidence.onSignatures('r2', (r2.sent[0]!.message as Extract<PeerMessage, { kind: 'replySignatures' }>).signatures)
    const answer = evidence.answer('c1', 1, 7)
    if (answer.status !== 'ok') throw new Error(`expected ok, got ${answer.status}: ${answer.reason}`)
    expect(answer.evidence.statements.map((s) => s.statement.replicaId)).toEqual(['r1', 'r2'])
    const check = verifyEvidence(answer.evidence, publicKeys, 1, { clusterId, client: 'c1', seq: 1, incarnation: 7 })
    expect(check).toMatchObject({ ok: true, signers: ['r1', 'r2'], value: reply(1, 5) })
  })

  it('signs a reply once, when evidence of it is first needed, not when it executes', () => {
    let signatures = 0
    const counting: OutputSigner = { ...signer('r1'), sign: (statement) => (signatures++, signer('r1').sign(statement)) }
    const evidence = new OutputEvidence({ self: 'r1', log: silentLogger, signer: counting, window: 100, members: () => replicas, configurationSize: () => 3, send: () => {} })
    for (let position = 1; position <= 50; position++) evidence.executed(position, request(position), reply(position, position))
    expect(signatures).toBe(0)
    evidence.answer('c1', 7, 7)
    evidence.answer('c1', 7, 7)
    evidence.onSignatureRequest('r2', [7, 8])
    expect(signatures).toBe(2) // 7 once, 8 once
  })

  it('a reply with no canonical encoding is never signed: readers are told so, and the error is logged once', () => {
    const errors: string[] = []
    const log = { ...silentLogger, error: (message: string) => errors.push(message) }
    const evidence = new OutputEvidence({ self: 'r1', log, signer: signer('r1'), window: 100, members: () => replicas, configurationSize: () => 3, send: () => {} })
    evidence.executed(1, request(1), reply(1, 1, () => 'a function'))
    expect(evidence.answer('c1', 1, 7)).toMatchObject({ status: 'unavailable', reason: expect.stringMatching(/no canonical encoding/) })
    evidence.answer('c1', 1, 7)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/cannot sign the reply to c1#1 at position 1/)
  })

  it('a signature that arrives before the replica executed the request counts once it has', () => {
    const { evidence } = store()
    evidence.onSignatures('r2', [peerSignature('r2', 1, 1)])
    expect(evidence.answer('c1', 1, 7).status).toBe('unavailable')
    evidence.executed(1, request(1), reply(1, 1))
    expect(evidence.answer('c1', 1, 7).status).toBe('ok')
  })

  it('keeps only the last `window` positions, and drops statements far ahead of its own order', () => {
    const { evidence } = store('r1', 4)
    for (let position = 1; position <= 10; position++) {
      evidence.executed(position, request(position), reply(position, position))
      evidence.onSignatures('r2', [peerSignature('r2', position, position)])
    }
    expect(evidence.size).toBe(4)
    expect(evidence.answer('c1', 6, 7)).toMatchObject({ status: 'unavailable', reason: expect.stringMatching(/older than the last 4 positions it keeps/) })
    expect(evidence.answer('c1', 7, 7).status).toBe('ok')
    evidence.onSignatures('r2', [peerSignature('r2', 15, 15), peerSignature('r2', 14, 14)])
    expect(evidence.size).toBe(5) // 14 is within the window ahead, 15 is not
    evidence.clear()
    expect(evidence.size).toBe(0)
    expect(evidence.answer('c1', 10, 7).status).toBe('unavailable')
  })

  it('finds requests executed after an earlier ask (the index of requests grows when a reader asks)', () => {
    const { evidence } = store('r1', 4)
    for (let round = 0; round < 5; round++) {
      // Each round: 3 positions executed and signed by r2, then a reader asks for one of them; the index holds
      // stale positions by then (rounds earlier than the window), and is started over when they outnumber it.
      for (let i = 1; i <= 3; i++) {
        const position = round * 3 + i
        evidence.executed(position, request(position), reply(position, position))
        evidence.onSignatures('r2', [peerSignature('r2', position, position)])
      }
      expect(evidence.answer('c1', round * 3 + 2, 7).status).toBe('ok')
      expect(evidence.answer('c1', round * 3 + 3, 7).status).toBe('ok')
      if (round > 0) expect(evidence.answer('c1', round * 3 - 2, 7).status).toBe('unavailable') // 4 or more positions back
    }
  })

  it('after the order rolls back, what was executed above the new position is no longer served', () => {
    const { evidence } = store()
    for (let position = 1; position <= 5; position++) {
      evidence.executed(position, request(position), reply(position, position))
      evidence.onSignatures('r2', [peerSignature('r2', position, position)])
    }
    expect(evidence.answer('c1', 4, 7).status).toBe('ok')
    // A transferred state replaced this replica's: position 3 now holds request 40 (its own order was off).
    evidence.executed(3, request(40), reply(40, 3))
    expect(evidence.answer('c1', 3, 7).status).toBe('unavailable')
    expect(evidence.answer('c1', 4, 7).status).toBe('unavailable')
    expect(evidence.answer('c1', 5, 7).status).toBe('unavailable')
    expect(evidence.answer('c1', 2, 7).status).toBe('ok')
    // Nor signed for a member that asks: position 4 is void until executed again.
    const { evidence: other, sent } = store()
    for (let position = 1; position <= 5; position++) other.executed(position, request(position), reply(position, position))
    other.executed(3, request(40), reply(40, 3))
    other.onSignatureRequest('r2', [2, 4, 5])
    expect(sent.flatMap((s) => (s.message.kind === 'replySignatures' ? s.message.signatures.map((signature) => signature.position) : []))).toEqual([2])
    evidence.onSignatures('r2', [peerSignature('r2', 40, 3)])
    expect(evidence.answer('c1', 40, 7).status).toBe('ok')
  })

  it('the wire codec round-trips the new kinds and refuses malformed signatures with an error naming the field', () => {
    const signature = peerSignature('r2', 3, 9)
    const messages: PeerMessage[] = [
      { kind: 'replySignatures', signatures: [signature, { ...signature, seq: 4, position: 10 }] },
      { kind: 'replySignatures', signatures: [] },
      { kind: 'stateDigest', position: 1000, digest: '0123456789abcdef' },
      { kind: 'signatureRequest', positions: [1, 99] },
    ]
    for (const message of messages) expect(decodePeerMessage('r2', encodePeerMessage(message))).toEqual(message)
    const wire = (fields: unknown[]) => [18, [fields]]
    const good = ['c1', 3, 7, 9, signature.digest, signature.signature]
    expect(decodePeerMessage('r2', wire(good))).toEqual({ kind: 'replySignatures', signatures: [{ ...signature, incarnation: 7 }] })
    expect(() => decodePeerMessage('r2', [18, 'x'])).toThrow(/\(replySignatures\): signatures must be a list of at most 100000 signatures/)
    expect(() => decodePeerMessage('r2', wire(good.slice(0, 5)))).toThrow(/signature 0: signature must be \[client, seq, incarnation, position, digest, signature\]/)
    expect(() => decodePeerMessage('r2', wire(['', ...good.slice(1)]))).toThrow(/signature 0: client must be a non-empty client id/)
    expect(() => decodePeerMessage('r2', wire(['c1', 0, ...good.slice(2)]))).toThrow(/seq must be an integer >= 1/)
    expect(() => decodePeerMessage('r2', wire(['c1', 3, -1, ...good.slice(3)]))).toThrow(/incarnation must be a non-negative integer/)
    expect(() => decodePeerMessage('r2', wire([...good.slice(0, 4), 'ABC', good[5]]))).toThrow(/digest must be a SHA-256 digest in 64 lowercase hex digits/)
    expect(() => decodePeerMessage('r2', wire([...good.slice(0, 5), 'not base64!']))).toThrow(/signature must be an Ed25519 signature in base64/)
    expect(() => decodePeerMessage('r2', [19, 10])).toThrow(/\(stateDigest\): digest must be a string/)
    expect(() => decodePeerMessage('r2', [19, -1, 'ab'])).toThrow(/\(stateDigest\): position must be a non-negative integer/)
    expect(() => decodePeerMessage('r2', [20, [1, 0]])).toThrow(/\(signatureRequest\): positions must be a list of at most 100000 positions >= 1/)
    expect(() => decodePeerMessage('r2', [20, 'x'])).toThrow(/\(signatureRequest\): positions must be a list/)
  })

  it("any client may ask for the evidence of any client's request; a malformed ask is refused naming the field", () => {
    expect(parseClientMessage('reader', { type: 'evidence', client: 'c1', seq: 3 })).toEqual({ type: 'evidence', client: 'c1', seq: 3, incarnation: 0 })
    expect(parseClientMessage('reader', { type: 'evidence', client: 'c1', seq: 3, incarnation: 9 })).toEqual({ type: 'evidence', client: 'c1', seq: 3, incarnation: 9 })
    expect(() => parseClientMessage('reader', { type: 'evidence', client: 'c1', seq: 0 })).toThrow(/seq must be an integer >= 1/)
    expect(() => parseClientMessage('reader', { type: 'evidence', seq: 1 })).toThrow(/client must be a non-empty string/)
    expect(() => parseClientMessage('reader', { type: 'evidence', client: 'c1', seq: 1, incarnation: -2 })).toThrow(/incarnation must be a non-negative integer/)
  })
})
