import type { ClientId, OutputNotice, Reply } from '@lockstep/interface'

/** One client's session: which requests executed, their replies, and the client's outputs. */
interface Session {
  readonly client: ClientId
  /** Every seq below this executed or was abandoned, and its reply may be forgotten. */
  floor: number
  /** Replies of executed requests at or above the floor. */
  readonly replies: Replies
  /** Number of outputs addressed to this client so far. */
  outputSeq: number
  /** Outputs the client has not acknowledged yet, by number: re-sent on request. */
  readonly outputs: Map<number, OutputNotice>
  /** The client's current incarnation, and the first output number that belongs to it. */
  incarnation: number
  outputsFrom: number
  /** The position of the last request the client executed or output it was sent: the table is kept in this order. */
  lastActive: number
  /** The next less and more recently active sessions (the table's order, kept as a list: see `SessionTable.oldest`). */
  older: Session | undefined
  newer: Session | undefined
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
  /** Sessions by client. Their order (least to most recently active) is the list from `oldest` to `newest`. */
  private sessions = new Map<ClientId, Session>()
  /**
   * The least and the most recently active sessions, the ends of a list linked through `Session.older` and
   * `newer`: activity moves a session to the `newest` end without touching the Map (deleting and re-inserting a
   * Map entry per delivery made V8 rehash the table every few dozen deliveries).
   */
  private oldest: Session | undefined
  private newest: Session | undefined
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
    // The acknowledged replies go before this one is kept (the same as keeping it first, without moving the
    // previous one aside only to drop it).
    const forgets = ackedBelow > session.floor
    if (forgets) {
      session.floor = ackedBelow
      session.replies.dropBelow(ackedBelow)
    }
    if (!forgets || seq >= ackedBelow) session.replies.add(seq, reply)
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
    session.lastActive = position
    if (session === this.newest) return
    this.unlink(session)
    this.append(session)
  }

  /**
   * Drops sessions, least recently active first, while the table is over capacity or a session has been idle
   * for longer than the expiry, at `position`. A session with outputs the client has not acknowledged is kept
   * (a waiting lock holder's grant must not vanish). The same on every replica: it depends only on the order.
   */
  dropIdle(position: number): void {
    if (this.sessions.size <= this.capacity) {
      // The usual case, answered from the least recently active session alone.
      const oldest = this.oldest
      if (oldest === undefined || position - oldest.lastActive <= this.expireAfter) return
    }
    let scanned = 0
    for (let session = this.oldest; session; ) {
      const next = session.newer
      const over = this.sessions.size > this.capacity
      const expired = position - session.lastActive > this.expireAfter
      if (!over && !expired) return
      if (++scanned > 64) return // bounded work per delivery; the next ones continue
      if (session.outputs.size === 0) {
        this.sessions.delete(session.client)
        this.unlink(session)
        this.droppedUpTo = Math.max(this.droppedUpTo, session.incarnation)
      }
      session = next
    }
  }

  /** Plain data, for snapshots and state transfer, in the table's order (equal tables give equal data). */
  toJSON(): unknown {
    const sessions: unknown[] = []
    for (let s = this.oldest; s; s = s.newer) sessions.push([s.client, s.floor, s.outputSeq, s.replies.values(), [...s.outputs.values()], s.incarnation, s.outputsFrom, s.lastActive])
    return { droppedUpTo: this.droppedUpTo, sessions }
  }

  /** Replaces the table with one from {@link toJSON} (also of earlier versions: a plain list, clients sorted). */
  restore(data: unknown): void {
    const { droppedUpTo, sessions } = Array.isArray(data) ? { droppedUpTo: -1, sessions: data } : (data as { droppedUpTo: number; sessions: unknown[] })
    this.droppedUpTo = droppedUpTo
    this.sessions = new Map()
    this.oldest = this.newest = undefined
    for (const [client, floor, outputSeq, replies, outputs, incarnation, outputsFrom, lastActive] of sessions as [ClientId, number, number, Reply[], OutputNotice[], number, number, number?][]) {
      const replaced = this.sessions.get(client)
      const session: Session = {
        client,
        floor,
        outputSeq,
        incarnation,
        outputsFrom,
        lastActive: lastActive ?? 0,
        replies: Replies.from(replies),
        outputs: new Map(outputs.map((o) => [o.outputSeq, o])),
        older: undefined,
        newer: undefined,
      }
      this.sessions.set(client, session)
      // A client listed twice: the later entry wins, in the earlier one's place (as a Map's set did).
      if (replaced) this.replaceInList(replaced, session)
      else this.append(session)
    }
  }

  private session(client: ClientId): Session {
    let session = this.sessions.get(client)
    if (!session) {
      session = { client, floor: 0, replies: new Replies(), outputSeq: 0, outputs: new Map(), incarnation: 0, outputsFrom: 1, lastActive: 0, older: undefined, newer: undefined }
      this.sessions.set(client, session)
      this.append(session)
    }
    return session
  }

  /** Puts `session` (in no list) at the most recent end. */
  private append(session: Session): void {
    session.older = this.newest
    session.newer = undefined
    if (this.newest) this.newest.newer = session
    else this.oldest = session
    this.newest = session
  }

  /** Puts `session` (in no list) where `replaced` is, and takes `replaced` out. */
  private replaceInList(replaced: Session, session: Session): void {
    session.older = replaced.older
    session.newer = replaced.newer
    if (replaced.older) replaced.older.newer = session
    else this.oldest = session
    if (replaced.newer) replaced.newer.older = session
    else this.newest = session
    replaced.older = replaced.newer = undefined
  }

  /** Takes `session` out of the list. */
  private unlink(session: Session): void {
    if (session.older) session.older.newer = session.newer
    else this.oldest = session.newer
    if (session.newer) session.newer.older = session.older
    else this.newest = session.older
    session.older = session.newer = undefined
  }
}

/**
 * A session's kept replies by seq, in the order they were recorded. The latest one sits apart from the others:
 * a closed-loop client (one request in flight) keeps one reply at a time, replaced at every request, and a Map
 * with an entry added and one deleted per request is rehashed (reallocated) every few requests.
 */
class Replies {
  /** Every kept reply but the latest, by seq, in the order recorded. */
  private earlier: Map<number, Reply> | undefined
  private latestSeq = 0
  private latest: Reply | undefined

  /** Replies in the order recorded. */
  static from(replies: readonly Reply[]): Replies {
    const kept = new Replies()
    for (const reply of replies) kept.add(reply.seq, reply)
    return kept
  }

  get(seq: number): Reply | undefined {
    if (this.latest !== undefined && this.latestSeq === seq) return this.latest
    return this.earlier?.get(seq)
  }

  /** Keeps `reply` as the reply of `seq`; a seq kept already keeps its place (as a Map's set does). */
  add(seq: number, reply: Reply): void {
    if (this.latest !== undefined) {
      if (this.latestSeq === seq) {
        this.latest = reply
        return
      }
      if (this.earlier?.has(seq)) {
        this.earlier.set(seq, reply)
        return
      }
      ;(this.earlier ??= new Map()).set(this.latestSeq, this.latest)
    }
    this.latestSeq = seq
    this.latest = reply
  }

  /** Forgets the replies below `floor`. */
  dropBelow(floor: number): void {
    if (this.earlier !== undefined && this.earlier.size > 0) for (const seq of this.earlier.keys()) if (seq < floor) this.earlier.delete(seq)
    if (this.latest !== undefined && this.latestSeq < floor) this.latest = undefined
  }

  clear(): void {
    this.earlier = undefined
    this.latest = undefined
  }

  /** The kept replies, in the order recorded. */
  values(): Reply[] {
    const values = this.earlier === undefined ? [] : [...this.earlier.values()]
    if (this.latest !== undefined) values.push(this.latest)
    return values
  }
}
