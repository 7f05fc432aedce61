import type { ClientId, OutputNotice, Reply } from '@lockstep/interface'

/** One client's session: which requests executed, their replies, and the client's outputs. */
interface Session {
  /** Every seq below this executed or was abandoned, and its reply may be forgotten. */
  floor: number
  /** Replies of executed requests at or above the floor. */
  readonly replies: Map<number, Reply>
  /** Number of outputs addressed to this client so far. */
  outputSeq: number
  /** Outputs the client has not acknowledged yet, by number: re-sent on request. */
  readonly outputs: Map<number, OutputNotice>
  /** The client's current incarnation, and the first output number that belongs to it. */
  incarnation: number
  outputsFrom: number
}

/** What the session table knows of a request. */
export type SessionLookup =
  | { readonly kind: 'new' }
  | { readonly kind: 'executed'; readonly reply: Reply }
  | { readonly kind: 'expired' }

/** Most unacknowledged outputs kept per client; older ones are dropped first. */
const MAX_RETAINED_OUTPUTS = 1024

/**
 * Exactly-once execution (Schneider §3, client sessions): the engine executes
 * each `(client, seq)` once and answers retries from here. Outputs are kept
 * until the client acknowledges them, so a client whose replica crashed can
 * fetch them from another. The table is replicated state: it changes only on
 * delivery, identically everywhere, and travels in state transfers.
 */
export class SessionTable {
  private sessions = new Map<ClientId, Session>()

  /** What the table knows of `(client, seq)` sent by the client's incarnation `incarnation`. */
  lookup(client: ClientId, seq: number, incarnation = 0): SessionLookup {
    const session = this.sessions.get(client)
    if (!session) return { kind: 'new' }
    if (incarnation > session.incarnation) return { kind: 'new' } // a restarted client: its numbering starts again
    if (incarnation < session.incarnation) return { kind: 'expired' }
    const reply = session.replies.get(seq)
    if (reply) return { kind: 'executed', reply }
    if (seq < session.floor) return { kind: 'expired' }
    return { kind: 'new' }
  }

  /** Records an executed request's reply and forgets what the client acknowledged. */
  record(client: ClientId, seq: number, ackedBelow: number, outputsAckedBelow: number | undefined, reply: Reply): void {
    const session = this.session(client)
    session.replies.set(seq, reply)
    if (ackedBelow > session.floor) {
      session.floor = ackedBelow
      for (const old of session.replies.keys()) if (old < ackedBelow) session.replies.delete(old)
    }
    if (outputsAckedBelow !== undefined && session.outputs.size > 0) {
      for (const old of session.outputs.keys()) if (old < outputsAckedBelow) session.outputs.delete(old)
    }
  }

  /**
   * A newer incarnation of `client` executes its first request: its request numbering starts afresh (the
   * previous run's replies are dropped) and its outputs start at the next number. Returns that number.
   */
  beginIncarnation(client: ClientId, incarnation: number): number {
    const session = this.session(client)
    if (incarnation > session.incarnation) {
      session.incarnation = incarnation
      session.replies.clear()
      session.floor = 0
      session.outputsFrom = session.outputSeq + 1
    }
    return session.outputsFrom
  }

  /** Numbers an output for `client` that travels in its own reply (kept with the reply, not separately). */
  nextOutputSeq(client: ClientId): number {
    return ++this.session(client).outputSeq
  }

  /** Numbers an output for `client` (from 1) caused by another request, and keeps it until acknowledged; `make` also gets the client's incarnation. */
  addOutput(client: ClientId, make: (outputSeq: number, incarnation: number) => OutputNotice): OutputNotice {
    const session = this.session(client)
    const notice = make(++session.outputSeq, session.incarnation)
    session.outputs.set(notice.outputSeq, notice)
    if (session.outputs.size > MAX_RETAINED_OUTPUTS) session.outputs.delete(session.outputs.keys().next().value!)
    return notice
  }

  /** The kept outputs of `client` numbered `from` or above, in order. */
  outputsFrom(client: ClientId, from: number): OutputNotice[] {
    const session = this.sessions.get(client)
    if (!session) return []
    const first = Math.max(from, session.outputsFrom) // never an earlier run's outputs
    return [...session.outputs.values()].filter((o) => o.outputSeq >= first)
  }

  /** Number of clients with a session. */
  get size(): number {
    return this.sessions.size
  }

  /** Plain data, for snapshots and state transfer (clients sorted, so equal tables give equal data). */
  toJSON(): unknown {
    return [...this.sessions.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([client, s]) => [client, s.floor, s.outputSeq, [...s.replies.values()], [...s.outputs.values()], s.incarnation, s.outputsFrom])
  }

  /** Replaces the table with one from {@link toJSON}. */
  restore(data: unknown): void {
    this.sessions = new Map()
    for (const [client, floor, outputSeq, replies, outputs, incarnation, outputsFrom] of data as [ClientId, number, number, Reply[], OutputNotice[], number, number][]) {
      this.sessions.set(client, {
        floor,
        outputSeq,
        incarnation,
        outputsFrom,
        replies: new Map(replies.map((r) => [r.seq, r])),
        outputs: new Map(outputs.map((o) => [o.outputSeq, o])),
      })
    }
  }

  private session(client: ClientId): Session {
    let session = this.sessions.get(client)
    if (!session) {
      session = { floor: 0, replies: new Map(), outputSeq: 0, outputs: new Map(), incarnation: 0, outputsFrom: 1 }
      this.sessions.set(client, session)
    }
    return session
  }
}
