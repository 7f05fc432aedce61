import type { ClientId, EvidenceAnswer, Logger, ReplicaId, Reply, Request, SignedReplyStatement } from '@lockstep/interface'
import type { PeerMessage, ReplySignature } from './peer-messages'

/**
 * How a replica signs the digests of its replies, built by the host from the replica's private key (the engine
 * does no cryptography itself): `digest` is SHA-256 of a value's canonical encoding in hex (`digestOf` of
 * `@lockstep/voting`), `sign` the replica's Ed25519 signature (base64) of a statement (`signOutputDigest`).
 */
export interface OutputSigner {
  /** The cluster's id: part of every statement, so a signature is never valid for another cluster. */
  readonly clusterId: string
  /** The digest of a value; throws for a value with no canonical encoding. */
  digest(value: unknown): string
  /** This replica's signature of `statement`. */
  sign(statement: SignedReplyStatement['statement']): string
}

/** What the evidence store needs from the engine around it. */
export interface OutputEvidenceHost {
  readonly self: ReplicaId
  readonly log: Logger
  readonly signer: OutputSigner
  /** Keep the evidence of the last this many positions of the order. */
  readonly window: number
  /** The members of the current view: this replica's signatures go to them. */
  members(): readonly ReplicaId[]
  /** The number of configured replicas n: evidence is served once t+1 = ⌊(n-1)/2⌋ + 1 replicas signed. */
  configurationSize(): number
  send(to: ReplicaId, message: PeerMessage): void
}

/** One position of the order: this replica's own signed reply, and the other replicas' signatures. */
interface PositionEvidence {
  own?: { readonly request: RequestName; readonly reply: Reply; readonly digest: string; readonly signature: string }
  /** Each other replica's statement about this position (the last one it sent). */
  readonly peers: Map<ReplicaId, ReplySignature>
}

interface RequestName {
  readonly client: ClientId
  readonly seq: number
  readonly incarnation: number
}

/** The longest list of signatures a replica accepts in one message. */
export const MAX_SIGNATURES_PER_MESSAGE = 100_000

/**
 * Signed output digests for external readers (issue 13, item 3). After executing a request, a replica signs the
 * statement {cluster, replica, client, seq, incarnation, position, digest of the reply} and sends the signature
 * to the members of its view (one message per event). It keeps, for the last `window` positions of the order,
 * its own reply and signature and the other replicas' statements, and serves a reader the reply with every
 * statement that matches its own (same request, same position, same digest) once there are at least t+1 of them.
 * Memory: O(window × replicas) statements and `window` replies; statements about positions more than `window`
 * beyond this replica's own are dropped.
 */
export class OutputEvidence {
  private readonly host: OutputEvidenceHost
  private readonly positions = new Map<number, PositionEvidence>()
  /** Position of each request this replica signed, among those kept. */
  private readonly byRequest = new Map<string, number>()
  /** This replica's signatures not yet sent. */
  private outgoing: ReplySignature[] = []
  /** The highest position this replica executed and signed. */
  private executedUpTo = 0
  /** Every position at or below this was forgotten. */
  private evictedUpTo = 0

  constructor(host: OutputEvidenceHost) {
    this.host = host
  }

  /** This replica executed `request` at `position` with `reply`: sign its digest, keep it, send it with the next batch. */
  executed(position: number, request: Request, reply: Reply): void {
    const { signer, self } = this.host
    const name: RequestName = { client: request.client, seq: request.seq, incarnation: request.incarnation ?? 0 }
    let digest: string
    let signature: string
    try {
      digest = signer.digest(reply)
      signature = signer.sign({ clusterId: signer.clusterId, replicaId: self, ...name, position, digest })
    } catch (error) {
      this.host.log.error(`replica '${self}' cannot sign the reply to ${name.client}#${name.seq} at position ${position}: ${(error as Error).message}; readers get no evidence for it`)
      return
    }
    // The order rolled back (a transferred state replaced this replica's): evict by looking at every position kept.
    if (position <= this.executedUpTo) this.evictedUpTo = 0
    this.evictBelow(position - this.host.window)
    const entry = this.entry(position)
    if (entry.own) this.byRequest.delete(keyOf(entry.own.request))
    entry.own = { request: name, reply, digest, signature }
    this.byRequest.set(keyOf(name), position)
    this.executedUpTo = position
    this.outgoing.push({ ...name, position, digest, signature })
  }

  /** Another replica's signatures (statements about positions far outside the window are dropped). */
  onSignatures(from: ReplicaId, signatures: readonly ReplySignature[]): void {
    const lowest = this.executedUpTo - this.host.window
    const highest = this.executedUpTo + this.host.window
    for (const signature of signatures) {
      if (signature.position <= lowest || signature.position > highest) continue
      this.entry(signature.position).peers.set(from, signature)
    }
  }

  /** Sends this replica's signatures made since the last call, one message per member. */
  sendBatch(): void {
    if (this.outgoing.length === 0) return
    const signatures = this.outgoing
    this.outgoing = []
    for (const member of this.host.members()) if (member !== this.host.self) this.host.send(member, { kind: 'replySignatures', signatures })
  }

  /** This replica gave up its state: what it signed from it is void, and it serves no evidence until it executes again. */
  clear(): void {
    this.positions.clear()
    this.byRequest.clear()
    this.outgoing = []
    this.executedUpTo = 0
    this.evictedUpTo = 0
  }

  /** The answer to a reader asking for the evidence of a request's reply. */
  answer(client: ClientId, seq: number, incarnation: number): EvidenceAnswer {
    const name = { client, seq, incarnation }
    const position = this.byRequest.get(keyOf(name))
    const own = position === undefined ? undefined : this.positions.get(position)
    if (position === undefined || !own?.own) {
      return { status: 'unavailable', ...name, reason: `replica '${this.host.self}' holds no signed reply for ${client}#${seq} (incarnation ${incarnation}): it did not execute it, or it is older than the last ${this.host.window} positions it keeps` }
    }
    const mine = own.own
    const { clusterId } = this.host.signer
    const statements: SignedReplyStatement[] = [{ statement: { clusterId, replicaId: this.host.self, ...name, position, digest: mine.digest }, signature: mine.signature }]
    for (const [replica, peer] of own.peers) {
      if (peer.client !== client || peer.seq !== seq || peer.incarnation !== incarnation || peer.digest !== mine.digest) continue
      statements.push({ statement: { clusterId, replicaId: replica, ...name, position, digest: peer.digest }, signature: peer.signature })
    }
    const needed = Math.floor((this.host.configurationSize() - 1) / 2) + 1
    if (statements.length < needed) {
      return { status: 'pending', ...name, reason: `replica '${this.host.self}' holds ${statements.length} matching signature(s) for ${client}#${seq}; ${needed} (t+1) are needed: ask again` }
    }
    return { status: 'ok', ...name, evidence: { value: mine.reply, statements } }
  }

  /** Positions with evidence kept (tests of the bound). */
  get size(): number {
    return this.positions.size
  }

  private entry(position: number): PositionEvidence {
    let entry = this.positions.get(position)
    if (!entry) {
      entry = { peers: new Map() }
      this.positions.set(position, entry)
    }
    return entry
  }

  /** Forgets every position at or below `floor`: in O(positions forgotten) as the order advances one by one. */
  private evictBelow(floor: number): void {
    if (floor <= this.evictedUpTo) return
    if (floor - this.evictedUpTo <= this.positions.size) {
      for (let position = this.evictedUpTo + 1; position <= floor; position++) this.forget(position)
    } else {
      for (const position of [...this.positions.keys()]) if (position <= floor) this.forget(position)
    }
    this.evictedUpTo = floor
  }

  private forget(position: number): void {
    const entry = this.positions.get(position)
    if (!entry) return
    if (entry.own) this.byRequest.delete(keyOf(entry.own.request))
    this.positions.delete(position)
  }
}

function keyOf(name: RequestName): string {
  return `${name.client}\u0000${name.seq}\u0000${name.incarnation}`
}
