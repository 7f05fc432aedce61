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

/** One position of the order: this replica's own reply (signed when first needed), and the other replicas' signatures. */
interface PositionEvidence {
  /** The position this slot of the ring holds now (a slot is reused for the position 2 × window above). */
  position: number
  own?: OwnReply
  /** Each other replica's statement about this position (the last one it sent); made with the first one. */
  peers?: Map<ReplicaId, ReplySignature>
}

interface OwnReply {
  readonly request: RequestName
  readonly reply: Reply
  /** Its digest and this replica's signature, made the first time a reader or a peer needs them. */
  signed?: { readonly digest: string; readonly signature: string }
  /** Signing failed (the reply has no canonical encoding): said once, never tried again. */
  unsignable?: true
}

interface RequestName {
  readonly client: ClientId
  readonly seq: number
  readonly incarnation: number
}

/** The longest list of signatures a replica accepts in one message. */
export const MAX_SIGNATURES_PER_MESSAGE = 100_000

/**
 * Signed output digests for external readers (issue 13, item 3). A replica keeps, for the last `window` positions
 * of the order, its own reply to the request executed there and the other replicas' statements about it. When a
 * reader asks for the evidence of a reply, the replica signs the statement {cluster, replica, client, seq,
 * incarnation, position, digest of the reply} (once: the signature is kept), and serves the reply with every
 * statement that matches its own (same request, same position, same digest) once there are at least t+1 of
 * them; until then it answers `pending` and asks the members of its view to sign theirs (`signatureRequest`,
 * answered with `replySignatures`), and the reader asks again. Signing on demand, not after every execution,
 * keeps the digest, the Ed25519 signature and a message per peer off the path of every request (they were a
 * quarter of a replica's CPU under load). Memory: O(window × replicas) statements and `window` replies;
 * statements about positions more than `window` beyond this replica's own are dropped.
 */
export class OutputEvidence {
  private readonly host: OutputEvidenceHost
  /**
   * The positions kept, in a ring of 2 × window slots: position p in slot p mod 2 × window. The positions that
   * count, (executedUpTo − window, executedUpTo + window], are 2 × window consecutive ones, so they never share
   * a slot; a slot whose `position` is outside that range is stale and is reused in place (no map, no eviction
   * pass: recording a delivery allocates one object). A slot is made on first use.
   */
  private readonly ring: (PositionEvidence | undefined)[] = []
  /**
   * Position of each request this replica executed, for the readers' asks: built when a reader first asks, from
   * the positions executed since the last ask (`indexedUpTo`), not on every delivery. Entries may be stale (the
   * position left the window or was executed again): `answer` checks the slot.
   */
  private byRequest = new Map<string, number>()
  /** Positions at or below this are in `byRequest`. */
  private indexedUpTo = 0
  /** The highest position this replica executed. */
  private executedUpTo = 0

  constructor(host: OutputEvidenceHost) {
    this.host = host
  }

  /** This replica executed `request` at `position` with `reply`: keep it, to sign when evidence of it is asked for. */
  executed(position: number, request: Request, reply: Reply): void {
    const name: RequestName = { client: request.client, seq: request.seq, incarnation: request.incarnation ?? 0 }
    // The order rolled back (a transferred state replaced this replica's): what it executed above is void, and
    // the index is rebuilt from the window at the next ask.
    if (position <= this.executedUpTo) {
      for (const slot of this.ring) if (slot && slot.position >= position) slot.own = undefined
      this.byRequest = new Map()
      this.indexedUpTo = 0
    }
    const slot = this.slot(position)
    slot.own = { request: name, reply }
    this.executedUpTo = position
  }

  /** Another replica's signatures (statements about positions far outside the window are dropped). */
  onSignatures(from: ReplicaId, signatures: readonly ReplySignature[]): void {
    const lowest = this.executedUpTo - this.host.window
    const highest = this.executedUpTo + this.host.window
    for (const signature of signatures) {
      if (signature.position <= lowest || signature.position > highest) continue
      const slot = this.slot(signature.position)
      ;(slot.peers ??= new Map()).set(from, signature)
    }
  }

  /** A member serving a reader asks for this replica's signatures at `positions`: those it holds a reply for go back to it. */
  onSignatureRequest(from: ReplicaId, positions: readonly number[]): void {
    const signatures: ReplySignature[] = []
    for (const position of positions) {
      const own = this.kept(position)?.own
      const signed = own && this.sign(position, own)
      if (signed) signatures.push({ ...own.request, position, digest: signed.digest, signature: signed.signature })
    }
    if (signatures.length > 0) this.host.send(from, { kind: 'replySignatures', signatures })
  }

  /** This replica gave up its state: what it executed from it is void, and it serves no evidence until it executes again. */
  clear(): void {
    this.ring.length = 0
    this.byRequest = new Map()
    this.indexedUpTo = 0
    this.executedUpTo = 0
  }

  /** The answer to a reader asking for the evidence of a request's reply (`pending` asks the members to sign theirs). */
  answer(client: ClientId, seq: number, incarnation: number): EvidenceAnswer {
    const name = { client, seq, incarnation }
    this.index()
    const position = this.byRequest.get(keyOf(name))
    const entry = position === undefined ? undefined : this.kept(position)
    const own = entry?.own
    const mine = own && this.sign(position!, own)
    if (position === undefined || !entry || !own || !mine) {
      const why = own?.unsignable ? 'its reply has no canonical encoding to sign' : `it did not execute it, or it is older than the last ${this.host.window} positions it keeps`
      return { status: 'unavailable', ...name, reason: `replica '${this.host.self}' holds no signed reply for ${client}#${seq} (incarnation ${incarnation}): ${why}` }
    }
    const { clusterId } = this.host.signer
    const statements: SignedReplyStatement[] = [{ statement: { clusterId, replicaId: this.host.self, ...name, position, digest: mine.digest }, signature: mine.signature }]
    for (const [replica, peer] of entry.peers ?? []) {
      if (peer.client !== client || peer.seq !== seq || peer.incarnation !== incarnation || peer.digest !== mine.digest) continue
      statements.push({ statement: { clusterId, replicaId: replica, ...name, position, digest: peer.digest }, signature: peer.signature })
    }
    const needed = Math.floor((this.host.configurationSize() - 1) / 2) + 1
    if (statements.length < needed) {
      for (const member of this.host.members()) if (member !== this.host.self && !entry.peers?.has(member)) this.host.send(member, { kind: 'signatureRequest', positions: [position] })
      return { status: 'pending', ...name, reason: `replica '${this.host.self}' holds ${statements.length} matching signature(s) for ${client}#${seq}; ${needed} (t+1) are needed: ask again` }
    }
    return { status: 'ok', ...name, evidence: { value: own.reply, statements } }
  }

  /** This replica's digest and signature of its reply at `position`, made once. */
  private sign(position: number, own: OwnReply): OwnReply['signed'] {
    if (own.signed || own.unsignable) return own.signed
    const { signer, self } = this.host
    try {
      const digest = signer.digest(own.reply)
      const signature = signer.sign({ clusterId: signer.clusterId, replicaId: self, ...own.request, position, digest })
      own.signed = { digest, signature }
      return own.signed
    } catch (error) {
      own.unsignable = true
      const { client, seq } = own.request
      this.host.log.error(`replica '${self}' cannot sign the reply to ${client}#${seq} at position ${position}: ${(error as Error).message}; readers get no evidence for it`)
      return undefined
    }
  }

  /** Positions with evidence kept (tests of the bound): this replica's reply or another replica's statement. */
  get size(): number {
    let size = 0
    for (const slot of this.ring) if (slot && this.inRange(slot.position) && (slot.own || slot.peers?.size)) size++
    return size
  }

  /** True for the positions that count: the last `window` executed here, and up to `window` ahead of them. */
  private inRange(position: number): boolean {
    return position > this.executedUpTo - this.host.window && position <= this.executedUpTo + this.host.window
  }

  /** The slot of `position` if it holds that position and the position counts. */
  private kept(position: number): PositionEvidence | undefined {
    const slot = this.ring[position % (2 * this.host.window)]
    return slot && slot.position === position && this.inRange(position) ? slot : undefined
  }

  /** The slot for `position`, taken over from the stale position it held (whose evidence is dropped). */
  private slot(position: number): PositionEvidence {
    const i = position % (2 * this.host.window)
    let slot = this.ring[i]
    if (!slot) {
      slot = { position }
      this.ring[i] = slot
    } else if (slot.position !== position) {
      slot.position = position
      slot.own = undefined
      slot.peers = undefined
    }
    return slot
  }

  /** Adds the positions executed since the last ask to `byRequest`; starts it over when stale entries outnumber the window. */
  private index(): void {
    const low = this.executedUpTo - this.host.window
    if (this.byRequest.size > 2 * this.host.window) {
      this.byRequest = new Map()
      this.indexedUpTo = 0
    }
    for (let position = Math.max(this.indexedUpTo, low) + 1; position <= this.executedUpTo; position++) {
      const own = this.kept(position)?.own
      if (own) this.byRequest.set(keyOf(own.request), position)
    }
    this.indexedUpTo = this.executedUpTo
  }
}

function keyOf(name: RequestName): string {
  return `${name.client}\u0000${name.seq}\u0000${name.incarnation}`
}
