import { sign, verify } from 'node:crypto'
import { ErrorCodes, LockstepError, type ClientId, type ReplicaId } from '@lockstep/interface'
import { canonicalEncode, digestOf, isDigest } from './canonical-encoding'
import { privateKeyObject, publicKeyObject, type KeyInput } from './replica-keys'

/**
 * What a replica vouches for: in cluster `clusterId`, the output of one request (`client`, `seq`, `incarnation`)
 * and/or of one position of the total order has digest `digest` ({@link digestOf} of the value).
 */
export interface OutputStatement {
  readonly clusterId: string
  /** The replica that signs. */
  readonly replicaId: ReplicaId
  /** The request's client; with `seq`. */
  readonly client?: ClientId
  /** The request's number; with `client`. */
  readonly seq?: number
  /** The client's incarnation (as in `Request.incarnation`); 0 when a client is named without one. */
  readonly incarnation?: number
  /** The position of the total order whose output it is. */
  readonly position?: number
  /** {@link digestOf} the output value. */
  readonly digest: string
}

/** An {@link OutputStatement} with its replica's Ed25519 signature (base64). */
export interface SignedOutputStatement {
  readonly statement: OutputStatement
  readonly signature: string
}

/** What an external reader receives: the value served, and the signed statements of the replicas about it. */
export interface OutputEvidence<V = unknown> {
  readonly value: V
  readonly statements: readonly SignedOutputStatement[]
}

/** What the reader expects the evidence to be about; every field given must match the signed statements. */
export interface ExpectedOutput {
  readonly clusterId?: string
  readonly client?: ClientId
  readonly seq?: number
  readonly incarnation?: number
  readonly position?: number
}

/** The verdict of {@link verifyEvidence}. */
export type EvidenceCheck<V = unknown> =
  | {
      readonly ok: true
      readonly value: V
      /** The statement t+1 replicas signed, without a signer. */
      readonly statement: Omit<OutputStatement, 'replicaId'>
      /** The distinct known replicas whose valid signatures vouch for it, in the order the evidence lists them. */
      readonly signers: readonly ReplicaId[]
    }
  | { readonly ok: false; readonly reason: string }

/** Domain separation: these signatures are never valid for anything else signed with the same key. */
const statementContext = 'lockstep/output-digest/v1'

/** The statement's fields that every replica signs identically (no `replicaId`), normalised. */
type Subject = Omit<OutputStatement, 'replicaId'>

function invalid(message: string): LockstepError {
  return new LockstepError(ErrorCodes.INVALID_ARGUMENT, `signOutputDigest: ${message}`)
}

/** Checks a statement's shape; returns what is wrong, or undefined. */
function statementProblem(statement: unknown): string | undefined {
  if (typeof statement !== 'object' || statement === null) return 'the statement is not an object'
  const s = statement as Record<string, unknown>
  if (typeof s.clusterId !== 'string' || s.clusterId === '') return 'clusterId must be a non-empty string'
  if (typeof s.replicaId !== 'string' || s.replicaId === '') return 'replicaId must be a non-empty string'
  if (!isDigest(s.digest)) return 'digest must be a SHA-256 digest in 64 lowercase hex digits (digestOf(value))'
  const hasClient = s.client !== undefined
  const hasSeq = s.seq !== undefined
  if (hasClient !== hasSeq) return 'client and seq name a request together: give both or neither'
  if (hasClient && (typeof s.client !== 'string' || s.client === '')) return 'client must be a non-empty string'
  if (hasSeq && !isNonNegativeInteger(s.seq)) return 'seq must be a non-negative integer'
  if (s.incarnation !== undefined && (!hasClient || !isNonNegativeInteger(s.incarnation))) return 'incarnation must be a non-negative integer, with client and seq'
  if (s.position !== undefined && !isNonNegativeInteger(s.position)) return 'position must be a non-negative integer'
  if (!hasClient && s.position === undefined) return 'the statement names no output: give client and seq, or position, or both'
  return undefined
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

/** The signed part of a (checked) statement, normalised: a named client without an incarnation is incarnation 0. */
function subjectOf(statement: OutputStatement): Subject {
  return {
    clusterId: statement.clusterId,
    ...(statement.client === undefined ? {} : { client: statement.client, seq: statement.seq, incarnation: statement.incarnation ?? 0 }),
    ...(statement.position === undefined ? {} : { position: statement.position }),
    digest: statement.digest,
  }
}

/** The bytes a replica signs: the context, the signer and the subject, canonically encoded. */
function signedBytes(replicaId: ReplicaId, subject: Subject): Uint8Array {
  return canonicalEncode([statementContext, replicaId, subject])
}

/**
 * A replica's signed statement that an output has a digest, for external readers (see {@link verifyEvidence}).
 * `privateKey` is the replica's own (`generateReplicaKeys().privateKey`, or a KeyObject). Throws `INVALID_ARGUMENT`
 * for a statement that names no output or whose digest is not SHA-256 hex, `INVALID_CONFIG` for a key that is not
 * an Ed25519 private key.
 */
export function signOutputDigest(statement: OutputStatement, privateKey: KeyInput): SignedOutputStatement {
  const problem = statementProblem(statement)
  if (problem !== undefined) throw invalid(problem)
  const key = privateKeyObject(privateKey, `the private key given for replica '${statement.replicaId}'`)
  const subject = subjectOf(statement)
  const signature = sign(null, signedBytes(statement.replicaId, subject), key).toString('base64')
  return { statement: { ...subject, replicaId: statement.replicaId }, signature }
}

/** Why one signed statement does not count, or undefined if it does. */
function verifyOne(signed: unknown, keys: ReadonlyMap<ReplicaId, ReturnType<typeof publicKeyObject>>): { replicaId?: string; problem?: string; subject?: Subject } {
  if (typeof signed !== 'object' || signed === null) return { problem: 'not a signed statement' }
  const { statement, signature } = signed as { statement?: unknown; signature?: unknown }
  const problem = statementProblem(statement)
  if (problem !== undefined) return { problem }
  const checked = statement as OutputStatement
  const key = keys.get(checked.replicaId)
  if (key === undefined) return { replicaId: checked.replicaId, problem: 'not a replica with a known public key' }
  if (typeof signature !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(signature)) return { replicaId: checked.replicaId, problem: 'the signature is not base64' }
  const subject = subjectOf(checked)
  if (!verify(null, signedBytes(checked.replicaId, subject), key, Buffer.from(signature, 'base64'))) {
    return { replicaId: checked.replicaId, problem: 'bad signature' }
  }
  return { replicaId: checked.replicaId, subject }
}

function describeSubject(subject: Subject): string {
  const parts = [`cluster '${subject.clusterId}'`]
  if (subject.client !== undefined) parts.push(`request (${subject.client}, ${String(subject.seq)}, incarnation ${String(subject.incarnation)})`)
  if (subject.position !== undefined) parts.push(`position ${subject.position}`)
  return parts.join(', ')
}

/** What in `subject` differs from `expected`, or undefined. */
function mismatch(subject: Subject, expected: ExpectedOutput): string | undefined {
  for (const field of ['clusterId', 'client', 'seq', 'incarnation', 'position'] as const) {
    const want = expected[field]
    if (want !== undefined && subject[field] !== want) return `it is about ${field} ${JSON.stringify(subject[field] ?? null)}, expected ${JSON.stringify(want)}`
  }
  return undefined
}

/**
 * An external reader's check of a served output. Accepts only when at least t+1 distinct replicas with a key in
 * `publicKeys` validly signed the same statement (same cluster, same request or position, same digest) and the
 * served value's digest is that digest. A statement with a bad signature, from a replica not in `publicKeys`, about
 * another cluster or output than `expected`, or with another digest does not count; two from one replica count
 * once. Pass `expected` (at least the cluster and the request or position you asked about) so evidence for another
 * output cannot be replayed to you; without it, check `statement` in the result yourself.
 * Untrusted evidence never throws: it gives `{ ok: false, reason }`. Throws `INVALID_CONFIG` for a `t` that is not
 * a non-negative integer or a public key that is not Ed25519.
 */
export function verifyEvidence<V = unknown>(
  evidence: OutputEvidence<V>,
  publicKeys: Readonly<Record<ReplicaId, KeyInput>>,
  t: number,
  expected: ExpectedOutput = {},
): EvidenceCheck<V> {
  if (!Number.isSafeInteger(t) || t < 0) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `verifyEvidence: t (the number of faulty replicas tolerated) must be a non-negative integer, got ${String(t)}`)
  }
  const keys = new Map(Object.entries(publicKeys).map(([replica, key]) => [replica, publicKeyObject(key, `the public key of replica '${replica}'`)]))
  const needed = t + 1
  if (typeof evidence !== 'object' || evidence === null || !Array.isArray(evidence.statements)) {
    return { ok: false, reason: 'the evidence is not an object with a value and a list of signed statements' }
  }
  let digest: string
  try {
    digest = digestOf(evidence.value)
  } catch (error) {
    return { ok: false, reason: `the served value has no canonical encoding: ${(error as Error).message}` }
  }
  const ignored: string[] = []
  // Signers per subject (encoded canonically, so equal subjects meet whatever their key order).
  const bySubject = new Map<string, { subject: Subject; signers: ReplicaId[] }>()
  for (const [index, signed] of evidence.statements.entries()) {
    const { replicaId, problem, subject } = verifyOne(signed, keys)
    const who = replicaId === undefined ? `statement ${index}` : `statement ${index} (replica '${replicaId}')`
    if (subject === undefined || replicaId === undefined) {
      ignored.push(`${who}: ${problem ?? 'unreadable'}`)
      continue
    }
    const wrongOutput = mismatch(subject, expected)
    if (wrongOutput !== undefined) {
      ignored.push(`${who}: ${wrongOutput}`)
      continue
    }
    if (subject.digest !== digest) {
      ignored.push(`${who}: signs digest ${subject.digest.slice(0, 12)}…, not the served value's ${digest.slice(0, 12)}…`)
      continue
    }
    const key = Buffer.from(canonicalEncode(subject)).toString('base64')
    let entry = bySubject.get(key)
    if (entry === undefined) {
      entry = { subject, signers: [] }
      bySubject.set(key, entry)
    }
    if (entry.signers.includes(replicaId)) {
      ignored.push(`${who}: a second statement from this replica (counted once)`)
      continue
    }
    entry.signers.push(replicaId)
    if (entry.signers.length >= needed) return { ok: true, value: evidence.value, statement: entry.subject, signers: [...entry.signers] }
  }
  const best = Math.max(0, ...[...bySubject.values()].map((entry) => entry.signers.length))
  return {
    ok: false,
    reason:
      `only ${best} distinct known replica${best === 1 ? '' : 's'} validly signed one statement for the served value's digest ${digest.slice(0, 12)}…; ` +
      `t+1 = ${needed} are needed (t = ${t})` +
      (ignored.length === 0 ? '' : `. Not counted: ${ignored.join('; ')}`) +
      ([...bySubject.values()].length > 1 ? `. Statements about different outputs: ${[...bySubject.values()].map((entry) => describeSubject(entry.subject)).join(' / ')}` : ''),
  }
}
