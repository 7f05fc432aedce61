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
  /** The position of the last request the client executed or output it was sent: the table is kept in this order. */
  lastActive: number
}

/** Bounds of the session table. */
export interface SessionLimits {
  /** Most sessions kept; beyond it the least recently active idle ones are dropped. Default 100,000. */
  readonly capacity?: number
  /** A session idle for this many positions of the total order is dropped. Default 1,000,000. */
  readonly expireAfterPositions?: number
}

/** What the session table knows of a request. */
export type SessionLookup =
  | { readonly kind: 'new' }
  | { readonly kind: 'executed'; readonly reply: Reply }
  /** The request belongs to a session that is gone; a new incarnation of the client must be above `resumeAbove`. */
  | { readonly kind: 'expired'; readonly resumeAbove?: number }

// The answers that carry nothing else, made once (a lookup runs for every request at every replica).
const NEW: SessionLookup = Object.freeze({ kind: 'new' })
const EXPIRED: SessionLookup = Object.freeze({ kind: 'expired' })

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
  /** Sessions from the least to the most recently active (a Map keeps insertion order; activity re-inserts). */
  private sessions = new Map<ClientId, Session>()
  /**
   * The highest incarnation of a dropped session: a request without a session from an incarnation at or below
   * it may belong to a dropped one (its retry could have executed already), so it is refused with
   * SESSION_EXPIRED instead of starting a session; the client resumes above it.
   */
  private droppedUpTo = -1
  private readonly capacity: number
  private readonly expireAfter: number

  constructor(limits: SessionLimits = {}) {
    this.capacity = limits.capacity ?? 100_000
    this.expireAfter = limits.expireAfterPositions ?? 1_000_000
  }

  /** What the table knows of `(client, seq)` sent by the client's incarnation `incarnation`. */
  lookup(client: ClientId, seq: number, incarnation = 0): SessionLookup {
    const session = this.sessions.get(client)
    if (!session) return incarnation <= this.droppedUpTo ? { kind: 'expired', resumeAbove: this.droppedUpTo } : NEW
    if (incarnation > session.incarnation) return NEW // a restarted client: its numbering starts again
    if (incarnation < session.incarnation) return EXPIRED
    const reply = session.replies.get(seq)
    if (reply) return { kind: 'executed', reply }
    if (seq < session.floor) return EXPIRED
    return NEW
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

  /** `client` was active at `position` (it executed a request, or was sent an output): it becomes the most recent. */
  touch(client: ClientId, position: number): void {
    const session = this.sessions.get(client)
    if (!session) return
    this.sessions.delete(client)
    session.lastActive = position
    this.sessions.set(client, session)
  }

  /**
   * Drops sessions, least recently active first, while the table is over capacity or a session has been idle
   * for longer than the expiry, at `position`. A session with outputs the client has not acknowledged is kept
   * (a waiting lock holder's grant must not vanish). The same on every replica: it depends only on the order.
   */
  dropIdle(position: number): void {
    if (this.sessions.size <= this.capacity) {
      // The usual case, answered from the least recently active session alone.
      const oldest = this.sessions.values().next().value
      if (oldest === undefined || position - oldest.lastActive <= this.expireAfter) return
    }
    let scanned = 0
    for (const [client, session] of this.sessions) {
      const over = this.sessions.size > this.capacity
      const expired = position - session.lastActive > this.expireAfter
      if (!over && !expired) return
      if (++scanned > 64) return // bounded work per delivery; the next ones continue
      if (session.outputs.size > 0) continue
      this.sessions.delete(client)
      this.droppedUpTo = Math.max(this.droppedUpTo, session.incarnation)
    }
  }

  /** Plain data, for snapshots and state transfer, in the table's order (equal tables give equal data). */
  toJSON(): unknown {
    const sessions = [...this.sessions.entries()].map(([client, s]) => [client, s.floor, s.outputSeq, [...s.replies.values()], [...s.outputs.values()], s.incarnation, s.outputsFrom, s.lastActive])
    return { droppedUpTo: this.droppedUpTo, sessions }
  }

  /** Replaces the table with one from {@link toJSON} (also of earlier versions: a plain list, clients sorted). */
  restore(data: unknown): void {
    const { droppedUpTo, sessions } = Array.isArray(data) ? { droppedUpTo: -1, sessions: data } : (data as { droppedUpTo: number; sessions: unknown[] })
    this.droppedUpTo = droppedUpTo
    this.sessions = new Map()
    for (const [client, floor, outputSeq, replies, outputs, incarnation, outputsFrom, lastActive] of sessions as [ClientId, number, number, Reply[], OutputNotice[], number, number, number?][]) {
      this.sessions.set(client, {
        floor,
        outputSeq,
        incarnation,
        outputsFrom,
        lastActive: lastActive ?? 0,
        replies: new Map(replies.map((r) => [r.seq, r])),
        outputs: new Map(outputs.map((o) => [o.outputSeq, o])),
      })
    }
  }

  private session(client: ClientId): Session {
    let session = this.sessions.get(client)
    if (!session) {
      session = { floor: 0, replies: new Map(), outputSeq: 0, outputs: new Map(), incarnation: 0, outputsFrom: 1, lastActive: 0 }
      this.sessions.set(client, session)
    }
    return session
  }
}
