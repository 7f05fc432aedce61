import type { ClientId, Reply } from '@lockstep/interface'

/** One client's session: which requests executed, their replies, and the client's output numbering. */
interface Session {
  /** Every seq below this executed or was abandoned, and its reply may be forgotten. */
  floor: number
  /** Replies of executed requests at or above the floor. */
  readonly replies: Map<number, Reply>
  /** Number of outputs addressed to this client so far. */
  outputSeq: number
}

/** What the session table knows of a request. */
export type SessionLookup =
  | { readonly kind: 'new' }
  | { readonly kind: 'executed'; readonly reply: Reply }
  | { readonly kind: 'expired' }

/**
 * Exactly-once execution (Schneider §3, client sessions): the engine executes
 * each `(client, seq)` once and answers retries from here. The table is
 * replicated state: it changes only on delivery, identically everywhere.
 */
export class SessionTable {
  private readonly sessions = new Map<ClientId, Session>()

  /** What the table knows of `(client, seq)`. */
  lookup(client: ClientId, seq: number): SessionLookup {
    const session = this.sessions.get(client)
    if (!session) return { kind: 'new' }
    const reply = session.replies.get(seq)
    if (reply) return { kind: 'executed', reply }
    if (seq < session.floor) return { kind: 'expired' }
    return { kind: 'new' }
  }

  /** Records an executed request's reply and forgets replies the client acknowledged (below `ackedBelow`). */
  record(client: ClientId, seq: number, ackedBelow: number, reply: Reply): void {
    const session = this.session(client)
    session.replies.set(seq, reply)
    if (ackedBelow > session.floor) {
      session.floor = ackedBelow
      for (const old of session.replies.keys()) if (old < ackedBelow) session.replies.delete(old)
    }
  }

  /** The next output number for `client` (outputs are numbered per destination, from 1). */
  nextOutputSeq(client: ClientId): number {
    return ++this.session(client).outputSeq
  }

  /** Number of clients with a session. */
  get size(): number {
    return this.sessions.size
  }

  /** Plain data, for snapshots. */
  toJSON(): unknown {
    return [...this.sessions.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([client, s]) => [client, s.floor, s.outputSeq, [...s.replies.values()]])
  }

  private session(client: ClientId): Session {
    let session = this.sessions.get(client)
    if (!session) {
      session = { floor: 0, replies: new Map(), outputSeq: 0 }
      this.sessions.set(client, session)
    }
    return session
  }
}
