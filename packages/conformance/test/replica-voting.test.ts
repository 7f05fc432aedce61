import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import { ErrorCodes, type ClientTransportFactory, type Reply, type ReplicaToClient } from '@lockstep/interface'
import { LockstepClient, verifyReplyEvidence } from '@lockstep/client'
import { memoryClientTransport } from '@lockstep/transport-memory'
import { signOutputDigest, digestOf, type OutputEvidence } from '@lockstep/voting'
import { SimCluster } from '@lockstep/testkit'
import { orderers } from './orderers'

// Issue 13, the replica side: state digests every N deliveries (item 4) and signed reply digests that any one
// replica serves to external readers as evidence (item 3).

const put = (key: string, value: string) => ({ name: 'put', args: { key, value } })

describe('state digests', () => {
  for (const { name, make } of orderers) {
    it(`a replica whose state is corrupted is found within N deliveries, says so, and rejoins with the majority's state (${name})`, async () => {
      const every = 5
      const lines: string[] = []
      const c = new SimCluster({
        machine: kv,
        orderer: make(),
        replicas: 3,
        seed: 11,
        engine: { stateDigestEvery: every },
        trace: (line) => {
          if (line.includes('STATE_DIVERGED') || line.includes('differs from the majority')) lines.push(line)
        },
      })
      await c.start()
      const alice = await c.client('alice', ['r1', 'r2', 'r3'], 100)
      for (let i = 1; i <= 3; i++) await c.until(alice.submit(put(`k${i}`, `${i}`)))
      expect(await c.runUntil(() => c.converged(), 5_000)).toBe(true)
      expect(c.host('r2').engine.stateDivergences).toBe(0)

      // A memory fault on r2: its state gains a key the others do not have.
      const corruptedAt = c.host('r2').engine.position
      c.host('r2').engine.corruptStateForTest((state) => {
        const s = state as { data: Map<string, unknown> }
        const data = new Map(s.data)
        data.set('k1', 'wrong')
        return { ...s, data }
      })
      expect(c.host('r2').engine.stateDigest()).not.toBe(c.host('r1').engine.stateDigest())

      // Within N deliveries the digests are compared at a checkpoint: r2 is in the minority.
      for (let i = 4; i <= 3 + every; i++) await c.until(alice.submit(put(`k${i}`, `${i}`)))
      expect(await c.runUntil(() => c.host('r2').engine.stateDivergences === 1, 5_000)).toBe(true)
      const checkpoint = Math.ceil((corruptedAt + 1) / every) * every
      expect(lines.some((l) => l.includes(`r2 error replica 'r2': its state at position ${checkpoint} differs from the majority's`) && l.includes('minority: r2'))).toBe(true)
      expect(lines.some((l) => l.includes(`r1 warn replica 'r1': the state of r2 at position ${checkpoint} differs from the majority's`))).toBe(true)

      // It rejoins by state transfer and holds the majority's state again; nobody else diverged.
      await c.until(alice.submit(put('after', 'x')))
      const ok = await c.runUntil(() => c.converged(), 20_000)
      if (!ok) console.log(c.describe(), c.running().map((h) => `${h.engine.self} ${h.engine.status} ${h.engine.position} ${h.engine.stateDigest()}`), lines.join('\n'))
      expect(ok).toBe(true)
      expect(new Set(c.running().map((h) => `${h.engine.position}:${h.engine.stateDigest()}`)).size).toBe(1)
      expect(c.host('r2').engine.stateJSON()).toEqual(c.host('r1').engine.stateJSON())
      expect(c.host('r1').engine.stateDivergences + c.host('r3').engine.stateDivergences).toBe(0)
      await c.stop()
    })
  }

  it('with stateDigestEvery 0 nothing is compared, and the corrupted replica stays wrong', async () => {
    const c = new SimCluster({ machine: kv, orderer: orderers[0].make(), replicas: 3, seed: 3, engine: { stateDigestEvery: 0 } })
    await c.start()
    const alice = await c.client('alice', ['r1', 'r2', 'r3'], 100)
    await c.until(alice.submit(put('a', '1')))
    c.host('r3').engine.corruptStateForTest((state) => ({ ...(state as object), data: new Map([['a', 'wrong']]) }))
    for (let i = 0; i < 10; i++) await c.until(alice.submit(put(`b${i}`, '2')))
    await c.runFor(500)
    expect(c.host('r3').engine.stateDivergences).toBe(0)
    expect(c.host('r3').engine.stateDigest()).not.toBe(c.host('r1').engine.stateDigest())
    await c.stop()
  })
})

/** A reader's transport that lets `forge` rewrite every evidence answer from `liar` (a lying replica's answers). */
function forgingTransport(inner: ClientTransportFactory, liar: string, forge: (evidence: OutputEvidence<Reply>) => OutputEvidence<Reply>): ClientTransportFactory {
  return (components) => {
    const transport = inner(components)
    return {
      self: transport.self,
      start: (handle, events) =>
        transport.start((from, raw) => {
          const message = raw as ReplicaToClient
          if (from === liar && message.type === 'evidence' && message.answer.status === 'ok') {
            handle(from, { ...message, answer: { ...message.answer, evidence: forge(message.answer.evidence) } })
          } else handle(from, raw)
        }, events),
      send: (to, message) => transport.send(to, message),
      stop: () => transport.stop(),
    }
  }
}

describe('evidence for external readers', () => {
  for (const { name, make } of orderers) {
    it(`any one replica serves a reply with t+1 signatures, and a reader with the public keys accepts it (${name})`, async () => {
      const c = new SimCluster({ machine: kv, orderer: make(), replicas: 3, seed: 5, signOutputs: true })
      await c.start()
      const alice = await c.client('alice', ['r1', 'r2', 'r3'], 100)
      const reply = await c.until(alice.submit(put('x', '42')))
      expect(reply.ok).toBe(true)
      // Another client, an external reader, asks each replica in turn.
      const reader = await c.client('reader', ['r1', 'r2', 'r3'], 100)
      for (const replica of ['r1', 'r2', 'r3']) {
        const verified = await c.until(reader.verifiedReply({ client: 'alice', seq: reply.seq, incarnation: reply.incarnation ?? 0 }, { replica, publicKeys: c.publicKeys, clusterId: c.clusterId }))
        expect(verified.reply).toEqual(reply)
        expect(verified.servedBy).toBe(replica)
        expect(verified.signers.length).toBeGreaterThanOrEqual(2)
        expect(verified.signers).toContain(replica)
      }
      // Asked before the request executed there, a replica says "not yet"; the reader asks again until it has.
      const incarnation = reply.incarnation ?? 0
      const early = reader.verifiedReply({ client: 'alice', seq: reply.seq + 1, incarnation }, { replica: 'r2', publicKeys: c.publicKeys, clusterId: c.clusterId })
      await c.runFor(500)
      const second = await c.until(alice.submit(put('x', '43')))
      expect((await c.until(early)).reply).toEqual(second)
      // A request that never executes: the ask times out.
      await expect(c.until(reader.evidence({ client: 'alice', seq: 99, incarnation }, { replica: 'r2', timeoutMs: 1_000 }))).rejects.toMatchObject({ code: ErrorCodes.TIMEOUT })
      await c.stop()
    })
  }

  it('a replica keeps the evidence of the last evidenceWindow positions; an older request has none', async () => {
    const c = new SimCluster({ machine: kv, orderer: orderers[0].make(), replicas: 3, seed: 4, signOutputs: true, engine: { evidenceWindow: 3 } })
    await c.start()
    const alice = await c.client('alice', ['r1', 'r2', 'r3'], 100)
    const first = await c.until(alice.submit(put('a', '0')))
    for (let i = 1; i <= 4; i++) await c.until(alice.submit(put('a', `${i}`)))
    await c.runFor(200)
    await expect(c.until(alice.evidence(first, { replica: 'r1' }))).rejects.toMatchObject({
      code: ErrorCodes.EVIDENCE_UNAVAILABLE,
      message: expect.stringMatching(/replica 'r1' has no evidence for alice#1: .* older than the last 3 positions it keeps/),
    })
    const last = await c.until(alice.submit(put('a', 'last')))
    expect((await c.until(alice.verifiedReply(last, { replica: 'r1', publicKeys: c.publicKeys, clusterId: c.clusterId }))).reply).toEqual(last)
    await c.stop()
  })

  it('evidence forged by a lying replica is rejected, whatever it forges; honest evidence from another replica is accepted', async () => {
    const c = new SimCluster({ machine: kv, orderer: orderers[0].make(), replicas: 3, seed: 9, signOutputs: true })
    await c.start()
    const alice = await c.client('alice', ['r1', 'r2', 'r3'], 100)
    const reply = await c.until(alice.submit(put('x', 'true value')))
    const request = { client: 'alice', seq: reply.seq, incarnation: reply.incarnation ?? 0 }
    const honest = await c.until((await c.client('probe', ['r2'], 100)).evidence(request, { replica: 'r2' }))
    const lie: Reply = { ...reply, ok: true, outputs: [{ outputSeq: 1, value: { ok: true, value: 'a lie' } }], position: reply.position ?? 1 }
    // Bob's request, whose (honest) evidence the liar will serve as if it were alice's.
    const bob = await c.client('bob', ['r2'], 100)
    const bobReply = await c.until(bob.submit(put('y', 'other')))
    const bobEvidence = await c.until(bob.evidence(bobReply, { replica: 'r3' }))
    const r1Key = (c as unknown as { keys: Map<string, { privateKey: string }> }).keys.get('r1')!.privateKey
    const forgeries: Record<string, (evidence: OutputEvidence<Reply>) => OutputEvidence<Reply>> = {
      // Another value, with the honest signatures: the digest no longer matches.
      'another value': (evidence) => ({ ...evidence, value: lie }),
      // Another value, signed anew by the liar itself (it has its own key), the others' statements rewritten.
      're-signed by the liar': (evidence) => {
        const digest = digestOf(lie)
        const own = signOutputDigest({ ...evidence.statements[0]!.statement, replicaId: 'r1', digest }, r1Key)
        const copied = evidence.statements.slice(1).map((s) => ({ statement: { ...s.statement, digest }, signature: s.signature }))
        return { value: lie, statements: [own, ...copied] }
      },
      // The liar's own statement about the lie, repeated as if it were several replicas'.
      'one signer counted thrice': (evidence) => {
        const own = signOutputDigest({ ...evidence.statements[0]!.statement, replicaId: 'r1', digest: digestOf(lie) }, r1Key)
        return { value: lie, statements: [own, own, own] }
      },
      // The honest evidence of another request, replayed.
      'evidence of another request': () => bobEvidence,
    }
    for (const [what, forge] of Object.entries(forgeries)) {
      const reader = new LockstepClient({
        id: `reader-${what.replace(/\W+/g, '-')}`,
        replicas: ['r1', 'r2', 'r3'],
        scheduler: c.scheduler,
        retryAfterMs: 100,
        transport: forgingTransport(memoryClientTransport({ network: c.network, replicas: ['r1', 'r2', 'r3'] }), 'r1', forge),
      })
      await reader.start()
      const outcome = c.until(reader.verifiedReply(request, { replica: 'r1', publicKeys: c.publicKeys, clusterId: c.clusterId }))
      await expect(outcome, what).rejects.toMatchObject({ code: ErrorCodes.EVIDENCE_INVALID, message: expect.stringMatching(/the evidence replica 'r1' served for alice#\d+ does not verify/) })
      // The same reader asks an honest replica and gets the true reply.
      const verified = await c.until(reader.verifiedReply(request, { replica: 'r3', publicKeys: c.publicKeys, clusterId: c.clusterId }))
      expect(verified.reply).toEqual(reply)
      await reader.stop()
    }
    // Without the public keys of the signers, even honest evidence does not verify.
    expect(() => verifyReplyEvidence(honest, request, { publicKeys: { r2: c.publicKeys.r2! }, clusterId: c.clusterId, t: 1 }, 'r2')).toThrow(/does not verify: only 1 distinct known replica validly signed/)
    expect(() => verifyReplyEvidence(honest, request, { publicKeys: c.publicKeys, clusterId: 'another-cluster' }, 'r2')).toThrow(expect.objectContaining({ code: ErrorCodes.EVIDENCE_INVALID }))
    await c.stop()
  })
})
