import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { digestOf, generateReplicaKeys, signOutputDigest, verifyEvidence, type OutputStatement, type ReplicaKeys, type SignedOutputStatement } from '../src/index'

const replicas = ['r1', 'r2', 'r3']
const keys: Record<string, ReplicaKeys> = Object.fromEntries(replicas.map((replica) => [replica, generateReplicaKeys()]))
const publicKeys = Object.fromEntries(replicas.map((replica) => [replica, keys[replica]!.publicKey]))

const value = { outputs: [{ outputSeq: 1, value: { granted: true } }], position: 7 }
const request = { clusterId: 'prod', client: 'alice', seq: 3, incarnation: 1 }
const expected = request

/** What an honest replica signs for `value` (or another value). */
function honest(replica: string, served: unknown = value, about: Omit<OutputStatement, 'replicaId' | 'digest'> = request): SignedOutputStatement {
  return signOutputDigest({ ...about, replicaId: replica, digest: digestOf(served) }, keys[replica]!.privateKey)
}

describe('generateReplicaKeys', () => {
  it('makes Ed25519 key pairs as base64 of the raw 32 bytes, one per call, that survive JSON', () => {
    const pair = generateReplicaKeys()
    expect(Buffer.from(pair.publicKey, 'base64')).toHaveLength(32)
    expect(Buffer.from(pair.privateKey, 'base64')).toHaveLength(32)
    expect(pair.publicKey).toMatch(/^[A-Za-z0-9+/]{43}=$/)
    expect(generateReplicaKeys().publicKey).not.toBe(pair.publicKey)
    const fromConfig = JSON.parse(JSON.stringify({ replicas: { r1: pair } })) as { replicas: { r1: ReplicaKeys } }
    const signed = signOutputDigest({ ...request, replicaId: 'r1', digest: digestOf(1) }, fromConfig.replicas.r1.privateKey)
    expect(verifyEvidence({ value: 1, statements: [signed] }, { r1: fromConfig.replicas.r1.publicKey }, 0, expected)).toMatchObject({ ok: true })
  })
})

describe('verifyEvidence', () => {
  it('accepts honest evidence from any t+1 replicas (and from all of them)', () => {
    for (const pair of [['r1', 'r2'], ['r1', 'r3'], ['r2', 'r3'], ['r3', 'r1', 'r2']]) {
      const check = verifyEvidence({ value, statements: pair.map((replica) => honest(replica)) }, publicKeys, 1, expected)
      expect(check, pair.join(',')).toEqual({
        ok: true,
        value,
        statement: { clusterId: 'prod', client: 'alice', seq: 3, incarnation: 1, digest: digestOf(value) },
        signers: pair.slice(0, 2),
      })
    }
  })

  it('accepts the served value whatever its key order', () => {
    const reordered = { position: 7, outputs: [{ value: { granted: true }, outputSeq: 1 }] }
    expect(verifyEvidence({ value: reordered, statements: [honest('r1'), honest('r2')] }, publicKeys, 1, expected)).toMatchObject({ ok: true, value: reordered })
  })

  it('rejects evidence forged by a lying replica: its own signature on a wrong digest and fabricated signatures of the others', () => {
    const lie = { outputs: [{ outputSeq: 1, value: { granted: false } }], position: 7 }
    const own = signOutputDigest({ ...request, replicaId: 'r3', digest: digestOf(lie) }, keys.r3!.privateKey)
    const fabricated: SignedOutputStatement[] = [
      // r1's name over r3's signature.
      signOutputDigest({ ...request, replicaId: 'r1', digest: digestOf(lie) }, keys.r3!.privateKey),
      // r2's name with random bytes for a signature.
      { statement: { ...request, replicaId: 'r2', digest: digestOf(lie) }, signature: randomBytes(64).toString('base64') },
      // r1's name with r1's honest signature copied from a statement about the true value.
      { statement: { ...request, replicaId: 'r1', digest: digestOf(lie) }, signature: honest('r1').signature },
    ]
    const check = verifyEvidence({ value: lie, statements: [own, ...fabricated] }, publicKeys, 1, expected)
    expect(check.ok).toBe(false)
    const reason = (check as { reason: string }).reason
    expect(reason).toContain('only 1 distinct known replica validly signed one statement')
    expect(reason).toContain("statement 1 (replica 'r1'): bad signature")
    expect(reason).toContain("statement 2 (replica 'r2'): bad signature")
    expect(reason).toContain("statement 3 (replica 'r1'): bad signature")
  })

  it('rejects a lie served with the honest replicas\' statements about the true value', () => {
    const lie = { outputs: [], position: 7 }
    const check = verifyEvidence({ value: lie, statements: [honest('r1'), honest('r2'), honest('r3')] }, publicKeys, 1, expected)
    expect(check.ok).toBe(false)
    expect((check as { reason: string }).reason).toContain("statement 0 (replica 'r1'): signs digest")
    expect((check as { reason: string }).reason).toContain("not the served value's")
  })

  it('counts two statements from one replica once', () => {
    const check = verifyEvidence({ value, statements: [honest('r1'), honest('r1')] }, publicKeys, 1, expected)
    expect(check.ok).toBe(false)
    expect((check as { reason: string }).reason).toContain('a second statement from this replica (counted once)')
  })

  it('does not count a statement from a replica with no known key, however well signed', () => {
    const stranger = generateReplicaKeys()
    const fromStranger = signOutputDigest({ ...request, replicaId: 'r9', digest: digestOf(value) }, stranger.privateKey)
    const check = verifyEvidence({ value, statements: [honest('r1'), fromStranger] }, publicKeys, 1, expected)
    expect(check.ok).toBe(false)
    expect((check as { reason: string }).reason).toContain("statement 1 (replica 'r9'): not a replica with a known public key")
  })

  it('refuses evidence replayed from another cluster', () => {
    const other = { ...request, clusterId: 'staging' }
    const statements = [honest('r1', value, other), honest('r2', value, other)]
    const replayed = verifyEvidence({ value, statements }, publicKeys, 1, expected)
    expect(replayed.ok).toBe(false)
    expect((replayed as { reason: string }).reason).toContain('it is about clusterId "staging", expected "prod"')
    // Rewriting the cluster in the statements breaks their signatures.
    const rewritten = statements.map((signed) => ({ ...signed, statement: { ...signed.statement, clusterId: 'prod' } }))
    expect(verifyEvidence({ value, statements: rewritten }, publicKeys, 1, expected)).toMatchObject({ ok: false, reason: expect.stringContaining('bad signature') })
  })

  it('refuses evidence replayed from another request (or another incarnation of the client)', () => {
    const statements = [honest('r1', value, { ...request, seq: 2 }), honest('r2', value, { ...request, seq: 2 })]
    expect(verifyEvidence({ value, statements }, publicKeys, 1, expected)).toMatchObject({ ok: false, reason: expect.stringContaining('it is about seq 2, expected 3') })
    const rewritten = statements.map((signed) => ({ ...signed, statement: { ...signed.statement, seq: 3 } }))
    expect(verifyEvidence({ value, statements: rewritten }, publicKeys, 1, expected)).toMatchObject({ ok: false, reason: expect.stringContaining('bad signature') })
    const earlierRun = [honest('r1', value, { ...request, incarnation: 0 }), honest('r2', value, { ...request, incarnation: 0 })]
    expect(verifyEvidence({ value, statements: earlierRun }, publicKeys, 1, expected)).toMatchObject({ ok: false, reason: expect.stringContaining('incarnation 0, expected 1') })
  })

  it('without `expected`, needs the t+1 statements to be the same statement, and returns it to check', () => {
    const mixed = [honest('r1'), honest('r2', value, { ...request, seq: 4 })]
    expect(verifyEvidence({ value, statements: mixed }, publicKeys, 1)).toMatchObject({ ok: false, reason: expect.stringContaining('Statements about different outputs') })
    expect(verifyEvidence({ value, statements: [honest('r1'), honest('r2')] }, publicKeys, 1)).toMatchObject({ ok: true, statement: { clusterId: 'prod', seq: 3 } })
  })

  it('names outputs by position too, and a client without incarnation is incarnation 0', () => {
    const byPosition = { clusterId: 'prod', position: 7 }
    const statements = [honest('r1', value, byPosition), honest('r2', value, byPosition)]
    expect(verifyEvidence({ value, statements }, publicKeys, 1, { clusterId: 'prod', position: 7 })).toMatchObject({ ok: true, statement: { position: 7 } })
    expect(verifyEvidence({ value, statements }, publicKeys, 1, { clusterId: 'prod', position: 8 }).ok).toBe(false)
    const noIncarnation = { clusterId: 'prod', client: 'bob', seq: 1 }
    expect(honest('r1', value, noIncarnation).statement.incarnation).toBe(0)
    expect(verifyEvidence({ value, statements: [honest('r1', value, noIncarnation), honest('r2', value, noIncarnation)] }, publicKeys, 1, { ...noIncarnation, incarnation: 0 }).ok).toBe(true)
  })

  it('needs t+1: byzantine(2) evidence needs 3 signers', () => {
    const five = ['r1', 'r2', 'r3', 'r4', 'r5']
    for (const replica of five) keys[replica] ??= generateReplicaKeys()
    const fiveKeys = Object.fromEntries(five.map((replica) => [replica, keys[replica]!.publicKey]))
    expect(verifyEvidence({ value, statements: [honest('r4'), honest('r5')] }, fiveKeys, 2, expected)).toMatchObject({ ok: false, reason: expect.stringContaining('t+1 = 3 are needed (t = 2)') })
    expect(verifyEvidence({ value, statements: [honest('r4'), honest('r5'), honest('r1')] }, fiveKeys, 2, expected)).toMatchObject({ ok: true, signers: ['r4', 'r5', 'r1'] })
  })

  it('answers malformed (untrusted) evidence with a reason instead of throwing', () => {
    const cases: unknown[] = [
      null,
      { value },
      { value, statements: 'no' },
      { value, statements: [null, 5, { statement: null }, { statement: { ...request, replicaId: 'r1', digest: 'abc' }, signature: 'x' }] },
      { value, statements: [{ statement: honest('r1').statement, signature: '%%%' }] },
      { value: new Map(), statements: [honest('r1'), honest('r2')] },
    ]
    for (const evidence of cases) {
      const check = verifyEvidence(evidence as never, publicKeys, 1, expected)
      expect(check.ok, JSON.stringify(evidence)).toBe(false)
      expect((check as { reason: string }).reason.length).toBeGreaterThan(10)
    }
  })

  it('refuses a bad t or a key that is not an Ed25519 public key with INVALID_CONFIG', () => {
    expect(() => verifyEvidence({ value, statements: [] }, publicKeys, -1)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }))
    expect(() => verifyEvidence({ value, statements: [] }, { ...publicKeys, r2: 'not a key' }, 1)).toThrow(expect.objectContaining({
      code: 'INVALID_CONFIG',
      message: "the public key of replica 'r2' is not an Ed25519 key: expected the base64 of 32 raw bytes (as generateReplicaKeys writes it)",
    }))
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey
    expect(() => verifyEvidence({ value, statements: [] }, { r1: rsa }, 1)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining('not an Ed25519 public key') }))
  })

  it('accepts node:crypto KeyObjects as keys', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519')
    const signed = signOutputDigest({ ...request, replicaId: 'k1', digest: digestOf(value) }, privateKey)
    expect(verifyEvidence({ value, statements: [signed] }, { k1: publicKey }, 0, expected).ok).toBe(true)
  })
})

describe('signOutputDigest', () => {
  it.each([
    [{ ...request, replicaId: 'r1', digest: 'ABC' }, 'digest must be a SHA-256 digest in 64 lowercase hex digits'],
    [{ clusterId: 'prod', replicaId: 'r1', digest: digestOf(1) }, 'the statement names no output: give client and seq, or position, or both'],
    [{ clusterId: 'prod', replicaId: 'r1', client: 'alice', digest: digestOf(1) }, 'client and seq name a request together'],
    [{ clusterId: '', replicaId: 'r1', position: 1, digest: digestOf(1) }, 'clusterId must be a non-empty string'],
    [{ clusterId: 'prod', replicaId: 'r1', position: -1, digest: digestOf(1) }, 'position must be a non-negative integer'],
  ])('refuses a statement it cannot sign with INVALID_ARGUMENT: %j', (statement, message) => {
    expect(() => signOutputDigest(statement as OutputStatement, keys.r1!.privateKey)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining(message) }))
  })

  it('refuses a private key that is not one with INVALID_CONFIG', () => {
    expect(() => signOutputDigest({ ...request, replicaId: 'r1', digest: digestOf(1) }, keys.r1!.publicKey.slice(4))).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining("the private key given for replica 'r1'") }))
  })
})
