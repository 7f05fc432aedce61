import {
  ErrorCodes,
  LockstepError,
  isLockstepError,
  type ClientId,
  type ClientToReplica,
  type EvidenceAnswer,
  type ReplicaId,
  type Reply,
  type Scheduler,
  type TimerHandle,
} from '@lockstep/interface'
import { verifyEvidence, type KeyInput, type OutputEvidence } from '@lockstep/voting'

/** The request whose reply's evidence is asked for: a `Reply` fits (client, seq, incarnation). */
export interface RequestRef {
  /** Default: the asking client's own id. */
  readonly client?: ClientId
  readonly seq: number
  /** Default: the asking client's own incarnation when `client` is omitted, else 0. */
  readonly incarnation?: number
}

/** Options of {@link LockstepClient.evidence}. */
export interface EvidenceOptions {
  /** The one replica to ask. Default: the client's first replica. */
  readonly replica?: ReplicaId
  /** Reject with TIMEOUT when the replica has not served the evidence within this long. Default 10,000 ms. */
  readonly timeoutMs?: number
}

/** Options of {@link LockstepClient.verifiedReply}: whom to ask, and what to verify against. */
export interface VerifyOptions extends EvidenceOptions {
  /** Every replica's Ed25519 public key (base64 of the raw 32 bytes, as in the cluster configuration). */
  readonly publicKeys: Readonly<Record<ReplicaId, KeyInput>>
  /** The cluster's id, signed with every statement. */
  readonly clusterId: string
  /** Replicas that may lie: t+1 signatures are needed. Default ⌊(n-1)/2⌋ for the n replicas of `publicKeys`. */
  readonly t?: number
}

/** A reply an external reader verified: t+1 replicas signed its digest. */
export interface VerifiedReply {
  readonly reply: Reply
  /** The replicas whose valid signatures vouch for it. */
  readonly signers: readonly ReplicaId[]
  /** The replica that served it. */
  readonly servedBy: ReplicaId
  /** The threshold used. */
  readonly t: number
}

/**
 * Checks the evidence a replica served for the reply to `request` (pure; no network): it holds when at least t+1
 * distinct replicas with a key in `publicKeys` validly signed the same statement (this cluster, this request) and
 * the served reply's digest is the signed one. Throws `EVIDENCE_INVALID` saying why otherwise; a lying replica can
 * not make it pass without the private keys of t other replicas.
 */
export function verifyReplyEvidence(
  evidence: OutputEvidence<Reply>,
  request: { readonly client: ClientId; readonly seq: number; readonly incarnation: number },
  options: Pick<VerifyOptions, 'publicKeys' | 'clusterId' | 't'>,
  servedBy: ReplicaId,
): VerifiedReply {
  const n = Object.keys(options.publicKeys).length
  const t = options.t ?? Math.floor((n - 1) / 2)
  const check = verifyEvidence(evidence, options.publicKeys, t, { clusterId: options.clusterId, client: request.client, seq: request.seq, incarnation: request.incarnation })
  if (!check.ok) {
    throw new LockstepError(ErrorCodes.EVIDENCE_INVALID, `the evidence replica '${servedBy}' served for ${request.client}#${request.seq} does not verify: ${check.reason}. Ask another replica`, {
      replica: servedBy,
    })
  }
  const reply = check.value
  if (typeof reply !== 'object' || reply === null || reply.client !== request.client || reply.seq !== request.seq) {
    throw new LockstepError(ErrorCodes.EVIDENCE_INVALID, `the evidence replica '${servedBy}' served for ${request.client}#${request.seq} holds the reply to another request`, { replica: servedBy })
  }
  return { reply, signers: check.signers, servedBy, t }
}

interface Ask {
  readonly replica: ReplicaId
  readonly request: { readonly client: ClientId; readonly seq: number; readonly incarnation: number }
  readonly resolve: (evidence: OutputEvidence<Reply>) => void
  readonly reject: (error: Error) => void
  retry: TimerHandle | undefined
  deadline: TimerHandle | undefined
}

/** What the asks need from the client around them. */
export interface EvidenceAsksHost {
  readonly self: ClientId
  readonly scheduler: Scheduler
  /** Asks again this often while the replica answers `pending` (or not at all). */
  readonly retryAfterMs: number
  send(replica: ReplicaId, message: ClientToReplica): void
}

/**
 * A client's open asks for evidence: each goes to one replica and is asked again while that replica has fewer
 * than t+1 matching signatures (`pending`), until it answers `ok` or `unavailable` or the ask times out.
 */
export class EvidenceAsks {
  private readonly host: EvidenceAsksHost
  private readonly asks = new Map<string, Ask[]>()

  constructor(host: EvidenceAsksHost) {
    this.host = host
  }

  /** Asks `replica` for the evidence of the reply to `request`. */
  ask(replica: ReplicaId, request: Ask['request'], timeoutMs: number): Promise<OutputEvidence<Reply>> {
    return new Promise((resolve, reject) => {
      const ask: Ask = { replica, request, resolve, reject, retry: undefined, deadline: undefined }
      const key = keyOf(replica, request)
      this.asks.set(key, [...(this.asks.get(key) ?? []), ask])
      ask.deadline = this.host.scheduler.setTimer(timeoutMs, () => {
        ask.deadline = undefined
        this.settle(key, ask, new LockstepError(ErrorCodes.TIMEOUT, `client '${this.host.self}': replica '${replica}' served no evidence for ${request.client}#${request.seq} within ${timeoutMs} ms`))
      })
      this.send(key, ask)
    })
  }

  /** A replica's answer. */
  onAnswer(from: ReplicaId, answer: EvidenceAnswer): void {
    if (typeof answer !== 'object' || answer === null) return
    const key = keyOf(from, { client: answer.client, seq: answer.seq, incarnation: answer.incarnation })
    const waiting = this.asks.get(key)
    if (!waiting) return
    if (answer.status === 'pending') return // asked again on the retry timer
    for (const ask of [...waiting]) {
      if (answer.status === 'ok' && typeof answer.evidence === 'object' && answer.evidence !== null) this.settle(key, ask, answer.evidence)
      else {
        const reason = answer.status === 'unavailable' ? answer.reason : `an answer of unknown status '${String((answer as { status?: unknown }).status)}'`
        this.settle(key, ask, new LockstepError(ErrorCodes.EVIDENCE_UNAVAILABLE, `replica '${from}' has no evidence for ${answer.client}#${answer.seq}: ${reason}`, { replica: from }))
      }
    }
  }

  /** Rejects every open ask with `error` (the client stops). */
  rejectAll(error: LockstepError): void {
    for (const [key, waiting] of [...this.asks]) for (const ask of waiting) this.settle(key, ask, error)
  }

  private send(key: string, ask: Ask): void {
    try {
      this.host.send(ask.replica, { type: 'evidence', ...ask.request })
    } catch (error) {
      // A full or closed link is like a lost message: the retry covers it. Anything else fails the ask.
      const transient = isLockstepError(error) && (error.code === ErrorCodes.BACKPRESSURE || error.code === ErrorCodes.STOPPED || error.code === ErrorCodes.UNKNOWN_PEER)
      if (!transient) {
        this.settle(key, ask, error instanceof Error ? error : new LockstepError(ErrorCodes.INTERNAL, String(error)))
        return
      }
    }
    ask.retry = this.host.scheduler.setTimer(this.host.retryAfterMs, () => {
      ask.retry = undefined
      if (this.asks.get(key)?.includes(ask)) this.send(key, ask)
    })
  }

  private settle(key: string, ask: Ask, outcome: OutputEvidence<Reply> | Error): void {
    const waiting = this.asks.get(key)
    if (!waiting?.includes(ask)) return
    const rest = waiting.filter((other) => other !== ask)
    if (rest.length === 0) this.asks.delete(key)
    else this.asks.set(key, rest)
    if (ask.retry !== undefined) this.host.scheduler.clearTimer(ask.retry)
    if (ask.deadline !== undefined) this.host.scheduler.clearTimer(ask.deadline)
    if (outcome instanceof Error) ask.reject(outcome)
    else ask.resolve(outcome)
  }
}

function keyOf(replica: ReplicaId, request: Ask['request']): string {
  return `${replica}\u0000${request.client}\u0000${request.seq}\u0000${request.incarnation}`
}
