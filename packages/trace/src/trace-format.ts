/**
 * The trace of one simulated run (`lockstep sim --seed N --trace FILE.json`): what every replica and client did,
 * on the run's virtual time. Documented in docs/simulation.md, section "Trace files". A reader checks `version`
 * first: a change that removes or renames a field raises it; new optional fields do not.
 */
export const TRACE_FORMAT_VERSION = 1

/** The most events a trace keeps by default; later ones are counted in `truncated`, not kept. */
export const DEFAULT_MAX_TRACE_EVENTS = 200_000

/** One simulated run: its parameters, its events in order of virtual time, and what its checks found. */
export interface Trace {
  readonly version: typeof TRACE_FORMAT_VERSION
  readonly seed: number
  /** The command that reruns this seed. */
  readonly rerun: string
  /** True when every check passed. */
  readonly ok: boolean
  /** Every configured replica (`r1`…), one lane each. */
  readonly replicas: readonly string[]
  /** Every client (`c1`…), one lane each. */
  readonly clients: readonly string[]
  /** Virtual time at the end of the run, in ms. */
  readonly endMs: number
  /** Every event, by virtual time (`t`, ms); events at the same time in the order they happened. */
  readonly events: readonly TraceEvent[]
  /** What the run's checks found, with the deliveries and requests each one is about. */
  readonly violations: readonly TraceViolation[]
  /** Set when the run had more events than the trace keeps: events from `fromMs` on were counted, not kept. */
  readonly truncated?: TraceTruncation
}

/** The part of a run a bounded trace left out. */
export interface TraceTruncation {
  /** The most events the trace keeps. */
  readonly maxEvents: number
  /** Events not kept. */
  readonly dropped: number
  /** Virtual time of the first event not kept. */
  readonly fromMs: number
}

/** A message put on the network. `id` names it in its `receive` or `drop`. */
export interface SendEvent {
  readonly type: 'send'
  readonly t: number
  readonly id: number
  readonly from: string
  readonly to: string
  /** The message's kind: a peer message's (`orderer`, `heartbeat`, `prepare`, …), or `request`, `reply`, `output`, `outputs` between clients and replicas. */
  readonly kind: string
  /** A short description of its contents (`lamport c=12 a={r1:3,r2:4} +c1#4`). */
  readonly summary: string
  /** The requests it carries, as `client#seq` (absent when none). */
  readonly requests?: readonly string[]
}

/** A message handed to its receiver. */
export interface ReceiveEvent {
  readonly type: 'receive'
  readonly t: number
  readonly id: number
  readonly from: string
  readonly to: string
  readonly kind: string
}

/** A message the network lost: its receiver was down (crashed) or restarted, or was never there. */
export interface DropEvent {
  readonly type: 'drop'
  readonly t: number
  readonly id: number
  readonly from: string
  readonly to: string
  readonly kind: string
  readonly reason: 'receiver-down' | 'link-reset'
}

/** A replica delivered a request at a position of the total order. */
export interface DeliverEvent {
  readonly type: 'deliver'
  readonly t: number
  readonly replica: string
  /** 0 for the replica's first run, then 1, 2, … for each restart. */
  readonly incarnation: number
  readonly position: number
  /** The request, as `client#seq` (`client~incarnation#seq` for a restarted client). */
  readonly key: string
  /** False for a duplicate the session table answered without executing it again. */
  readonly executed: boolean
}

/** A replica installed a view. */
export interface ViewEvent {
  readonly type: 'view'
  readonly t: number
  readonly replica: string
  readonly view: number
  readonly members: readonly string[]
  /** Its position when it installed the view. */
  readonly position: number
}

/** A fault the simulator injected. */
export interface FaultTraceEvent {
  readonly type: 'fault'
  readonly t: number
  /** The simulator's fault kind (`FaultKind` of `@lockstep/testkit`): `crash`, `restart`, `amnesia`, `partition`, `blackout`, `lost-tail`, … */
  readonly kind: string
  /** The replicas it hits (every one for a blackout; none for a network-wide delay). */
  readonly replicas: readonly string[]
  readonly durationMs: number
  /** For `client-restart`: the client. */
  readonly client?: string
  /** A short description (`slow r2 +30ms for 400ms`). */
  readonly summary: string
}

/** A client submitted a request (its first send; retries are further `send` events). */
export interface ClientRequestEvent {
  readonly type: 'client-request'
  readonly t: number
  readonly client: string
  readonly key: string
  /** The replica it sent it to first. */
  readonly to: string
}

/** The first reply to a request reached its client. */
export interface ClientReplyEvent {
  readonly type: 'client-reply'
  readonly t: number
  readonly client: string
  readonly key: string
  readonly from: string
  /** The position the reply names, when it names one. */
  readonly position?: number
}

/** A replica's status changed (`normal`, `frozen`, `joining`, `transferring`, `recovering`, …, or `down`). */
export interface StatusEvent {
  readonly type: 'status'
  readonly t: number
  readonly replica: string
  readonly status: string
}

/** One event of a trace. */
export type TraceEvent = SendEvent | ReceiveEvent | DropEvent | DeliverEvent | ViewEvent | FaultTraceEvent | ClientRequestEvent | ClientReplyEvent | StatusEvent

/** A delivery a violation is about. */
export interface ViolationDelivery {
  readonly replica: string
  /** The incarnation that made it, when the check knows it. */
  readonly incarnation?: number
  readonly position: number
  readonly key?: string
}

/** What a check found, and where. */
export interface TraceViolation {
  readonly message: string
  /** The deliveries it names (the page highlights them). */
  readonly deliveries: readonly ViolationDelivery[]
  /** The requests it names, as `client#seq`. */
  readonly requests: readonly string[]
}
