import {
  ErrorCodes,
  LockstepError,
  isLockstepError,
  realScheduler,
  silentLogger,
  type ClientConfiguration,
  type ClientId,
  type ClientTransport,
  type ClientTransportFactory,
  type ErrorCode,
  type Logger,
  type NumberedOutput,
  type OutputNotice,
  type ReplicaId,
  type ReplicaToClient,
  type Reply,
  type Scheduler,
  type TimerHandle,
} from '@lockstep/interface'
import type { OutputEvidence, Tally, Voter, VoterFactory, VoteOutcome } from '@lockstep/voting'
import { EvidenceAsks, verifyReplyEvidence, type EvidenceOptions, type RequestRef, type VerifiedReply, type VerifyOptions } from './evidence'

/** Options of {@link LockstepClient}. */
export interface ClientOptions {
  readonly id: ClientId
  /**
   * Builds the client's transport, e.g. `tcpClient(options)` or `memoryClientTransport(options)`; the client passes
   * it `{ self: id, scheduler, log }`.
   */
  readonly transport: ClientTransportFactory
  /** Replicas to talk to, in order of preference. */
  readonly replicas: readonly ReplicaId[]
  /** Clock and timers of the client and its transport; default: the real ones. The simulator passes virtual time. */
  readonly scheduler?: Scheduler
  /** Where the client's transport logs. Default: discards. */
  readonly log?: Logger
  /**
   * A request without a reply after this long is sent again, to the next replica (skipping replicas that refuse
   * connections now, such as a crashed one, unless every replica does; the next one answers it once only, from its
   * session table, if it was executed already). Default 300 ms: about when the replicas have gone on without a
   * stopped one (their `suspectAfterMs` is 300 ms by default).
   */
  readonly retryAfterMs?: number
  /** Give up (reject with TIMEOUT) after this many attempts. Default: never give up. */
  readonly maxAttempts?: number
  /** Told of every request as it is submitted and as its reply arrives (recorders, metrics). */
  readonly observer?: ClientObserver
  /**
   * This run of the client: a process that restarts under the same id must use a higher number, so the
   * replicas start its session afresh instead of answering from the previous run's replies. Default: the
   * scheduler's clock at construction, in whole milliseconds (virtual time starts at 0).
   */
  readonly incarnation?: number
  /**
   * How the client decides a request's result and each output addressed to it, from the replicas' answers (see
   * `@lockstep/voting`): `first()` (the default: fail-stop, the first answer wins), `majority()`, or
   * `byzantine(t)` (t+1 identical answers from distinct replicas, for replicas that may compute wrong outputs).
   * With a voter other than `first()`, every replica that executes a request answers this client (it connects to
   * every replica listed in `replicas`, which must be the whole cluster), the client waits for the voter to
   * decide, and reports replicas whose answers differ ({@link LockstepClient.onDissent}).
   */
  readonly voter?: VoterFactory
}

/** Replicas whose answer differed from the one a client's voter decided (or that sent two different answers). */
export interface DissentEvent {
  /** A request's reply (`seq`), or an output addressed to the client (`outputSeq`). */
  readonly kind: 'reply' | 'output'
  readonly seq?: number
  readonly outputSeq?: number
  /** The voter's rule, e.g. `byzantine(1)`. */
  readonly rule: string
  /** The replicas that sent the decided answer. */
  readonly agreeing: readonly ReplicaId[]
  /** The replicas newly found to dissent with this event. */
  readonly dissenting: readonly ReplicaId[]
}

/** Dissent a client has seen so far: events, and how often each replica dissented. */
export interface DissentCounts {
  readonly events: number
  readonly byReplica: Readonly<Record<ReplicaId, number>>
}

/** Options of one request ({@link LockstepClient.submit}, {@link LockstepClient.call}). */
export interface RequestOptions {
  /**
   * Settle with TIMEOUT when no reply came within this long after the call, however many attempts `maxAttempts`
   * still allows. Default: no limit of its own. A request that timed out may still execute.
   */
  readonly timeoutMs?: number
  /**
   * Abandons the request when it aborts: it settles with ABORTED (the signal's reason as the error's `cause`) and is
   * not sent again. A request already sent may still execute.
   */
  readonly signal?: AbortSignal
}

/** Watches a client's requests. */
export interface ClientObserver {
  submitted?(seq: number, command: unknown): void
  replied?(seq: number, reply: Reply): void
}

interface PendingRequest {
  readonly seq: number
  readonly command: unknown
  readonly resolve: (reply: Reply) => void
  readonly reject: (error: Error) => void
  attempts: number
  /** The retry timer. */
  timer: TimerHandle | undefined
  /** The timeoutMs deadline, if any. */
  deadline: TimerHandle | undefined
  /** Removes the abort listener, if any. */
  forgetSignal: (() => void) | undefined
  /** With a voter other than `first()`: the replicas' replies from the order (with a position) so far. */
  tally: Tally<Reply> | undefined
  /**
   * And their refusals before ordering (no position: an invalid command, an expired session): each replica gives
   * its own, which may differ among correct replicas with timing (a late retry of a request acknowledged since),
   * so they decide among themselves and a differing one is no dissent.
   */
  refusals: Tally<Reply> | undefined
  /** Sent to every replica already (a retry, or a refusal before ordering that each replica must give itself). */
  fannedOut: boolean
}

/** A decided vote, kept a while so that late answers that differ are still reported. */
interface DecidedVote {
  readonly tally: Tally<unknown>
  readonly reported: Set<ReplicaId>
}

/** The default of {@link ClientOptions.retryAfterMs}. */
export const DEFAULT_RETRY_AFTER_MS = 300

/** Decided votes kept for late dissent, per kind. */
const DECIDED_KEPT = 1_000
/** Outputs further than this ahead of the next expected one are not tallied (a lying replica could flood them). */
const OUTPUT_WINDOW = 10_000

/** setTimeout's longest delay: a longer one fires at once. */
const MAX_TIMER_MS = 2_147_483_647

/** The refusals that say most about a misconfigured client come first: they name what to fix. */
const refusalRank: Partial<Record<ErrorCode, number>> = { AUTH_FAILED: 0, CLUSTER_MISMATCH: 1, UNREACHABLE: 2 }

/** What to check, by refusal. */
const refusalAdvice: Partial<Record<ErrorCode, string>> = {
  AUTH_FAILED: 'check the client secret or certificate',
  CLUSTER_MISMATCH: 'check the cluster id (clusterId)',
  UNREACHABLE: 'check that the cluster is running and that its addresses are right',
}

/**
 * A client of a replicated service. It numbers its requests `(id, seq)`, sends
 * each to one replica and, after a silence, again to the next (the replicas'
 * session tables keep retries exactly-once), and receives outputs addressed to
 * it in the order the cluster produced them, without duplicates.
 * It votes on the replicas' answers with its `voter`: by default fail-stop voting (the first reply wins); with
 * `byzantine(t)`, t+1 identical answers decide, so t replicas computing wrong outputs cannot fool it.
 */
export class LockstepClient {
  readonly id: ClientId
  private readonly transport: ClientTransport
  private readonly replicas: readonly ReplicaId[]
  private readonly log: Logger
  /** The latest refusal of each replica since it last accepted this client (fail fast once every one refused). */
  private readonly refusals = new Map<ReplicaId, LockstepError>()
  private readonly scheduler: Scheduler
  private readonly retryAfterMs: number
  private readonly maxAttempts: number
  private readonly observer: ClientObserver | undefined
  private incarnation: number
  private nextSeq = 1
  private preferred = 0
  private readonly pending = new Map<number, PendingRequest>()
  /** Output numbers below this were all received. */
  private outputWatermark = 1
  private readonly outputsAhead = new Map<number, OutputNotice | NumberedOutput>()
  private readonly notices: OutputNotice[] = []
  private readonly noticeWaiters: { accept: (notice: OutputNotice) => boolean; resolve: (notice: OutputNotice) => void; reject: (error: LockstepError) => void }[] = []
  private readonly listeners = new Set<(notice: OutputNotice) => void>()
  private started = false
  private outputSyncTimer: TimerHandle | undefined
  /** The replica the last ask for missed outputs went to, and whether anything came from it since. */
  private outputAsk: { readonly replica: ReplicaId; answered: boolean } | undefined
  /**
   * Replicas that were asked for missed outputs and stayed silent, and sent nothing since: a rotation (the asks', and
   * the retries' of requests) passes them over while another replica may answer (a crashed machine, or one not
   * serving, would cost a retry interval each time its turn came). Any message from one takes it off, and a
   * request's retry that finds every replica but the one it left marked forgets them all (see `send`).
   */
  private readonly silent = new Set<ReplicaId>()
  /**
   * The cluster's configuration as the newest reply carried it (see `ClientConfiguration`): requests and asks go to
   * its replicas first. The other replicas of this client's list (machines replaced since, spares not admitted) may
   * never answer, and nothing bounds how many of them there are; among the configured ones at most F are down. (Found
   * by the simulator's `replace` fault, seed 25800257: with 10 of a client's 14 replicas gone for good, its requests
   * went round the dead ones, a retry interval each.) Until a reply says, every replica of the list is a candidate;
   * a voting client never takes one (see `onMessage`).
   */
  private configured: { readonly view: number; readonly replicas: ReadonlySet<ReplicaId> } | undefined
  /** The voter, unless it is `first()` (then the first answer is taken as it comes). */
  private readonly voter: Voter | undefined
  /** Outputs addressed to this client, being voted on, by output number. */
  private readonly outputTallies = new Map<number, Tally<OutputNotice>>()
  /** Recently decided votes, for late dissent: `r<seq>` and `o<outputSeq>`. */
  private readonly decidedVotes = new Map<string, DecidedVote>()
  private dissentEvents = 0
  private readonly dissentByReplica = new Map<ReplicaId, number>()
  private readonly dissentListeners = new Set<(event: DissentEvent) => void>()
  /** Open asks for evidence (see {@link evidence}). */
  private readonly evidenceAsks: EvidenceAsks

  constructor(options: ClientOptions) {
    if (options.replicas.length === 0) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `client '${options.id}': no replicas given`)
    this.id = options.id
    this.scheduler = options.scheduler ?? realScheduler()
    this.log = options.log ?? silentLogger
    this.transport = options.transport({ self: options.id, scheduler: this.scheduler, log: this.log })
    if (this.transport.self !== options.id) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `client '${options.id}' was given the transport of '${this.transport.self}'`)
    }
    this.replicas = options.replicas
    this.retryAfterMs = options.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS
    this.maxAttempts = options.maxAttempts ?? Infinity
    this.observer = options.observer
    this.incarnation = options.incarnation ?? Math.max(0, Math.floor(this.scheduler.now()))
    const voter = options.voter?.([...new Set(options.replicas)])
    this.voter = voter && voter.needed > 1 ? voter : undefined
    this.evidenceAsks = new EvidenceAsks({ self: this.id, scheduler: this.scheduler, retryAfterMs: this.retryAfterMs, send: (replica, message) => this.transport.send(replica, message) })
  }

  /**
   * Asks ONE replica (`options.replica`, default the first) for the evidence of a request's reply: the reply and
   * the signed digests of t+1 or more replicas (see {@link verifiedReply}). Any request may be asked about, also
   * another client's. Asks again while the replica has too few signatures yet; rejects with EVIDENCE_UNAVAILABLE when
   * it holds none for that request, TIMEOUT after `timeoutMs`. The evidence is not checked: see {@link verifiedReply}.
   */
  evidence(request: RequestRef, options: EvidenceOptions = {}): Promise<OutputEvidence<Reply>> {
    if (!this.started) return Promise.reject(new LockstepError(ErrorCodes.STOPPED, `client '${this.id}' is not started`))
    const replica = options.replica ?? this.replicas[0]!
    return this.evidenceAsks.ask(replica, this.requestName(request), options.timeoutMs ?? 10_000)
  }

  /**
   * The reply to a request as an external reader can trust it: asks one replica for the evidence ({@link evidence})
   * and verifies it with the replicas' public keys. Resolves with the reply and the replicas that signed it; rejects
   * with EVIDENCE_INVALID when the evidence does not verify (the replica asked lies, or is wrong): ask another.
   */
  async verifiedReply(request: RequestRef, options: VerifyOptions): Promise<VerifiedReply> {
    const name = this.requestName(request)
    const replica = options.replica ?? this.replicas[0]!
    const evidence = await this.evidence(name, { ...options, replica })
    return verifyReplyEvidence(evidence, name, options, replica)
  }

  private requestName(request: RequestRef): { client: ClientId; seq: number; incarnation: number } {
    const client = request.client ?? this.id
    return { client, seq: request.seq, incarnation: request.incarnation ?? (client === this.id ? this.incarnation : 0) }
  }

  /** The voter's rule: `first`, `majority`, `byzantine(t)`. */
  get voting(): string {
    return this.voter?.rule ?? 'first'
  }

  /** Calls `listener` whenever replicas are found to dissent from a decided answer; returns a function that stops it. */
  onDissent(listener: (event: DissentEvent) => void): () => void {
    this.dissentListeners.add(listener)
    return () => this.dissentListeners.delete(listener)
  }

  /** The dissent seen so far. */
  get dissent(): DissentCounts {
    return { events: this.dissentEvents, byReplica: Object.fromEntries(this.dissentByReplica) }
  }

  /** Connects. */
  async start(): Promise<void> {
    if (this.started) return
    this.started = true
    await this.transport.start((from, message) => this.onMessage(from, message), {
      refused: (replica, error) => this.onRefused(replica, error),
      connected: (replica) => void this.refusals.delete(replica),
    })
    // A voting client needs every replica's answers: it makes itself known to each at once (asking for outputs it
    // may have missed), so that each can answer it, over transports where a replica knows only clients that spoke.
    if (this.voter) for (const replica of new Set(this.replicas)) this.askForOutputs(replica)
  }

  /** Asks `replica` for the outputs numbered from the watermark on; a failed send is logged, never thrown. */
  private askForOutputs(replica: ReplicaId): void {
    try {
      this.transport.send(replica, { type: 'outputs', from: this.outputWatermark })
    } catch (error) {
      // A full or closed link (BACKPRESSURE, STOPPED): the next round asks again. Anything else is a transport's
      // bug; it is said, and the next round asks again too. Nothing is thrown from a timer.
      if (!isLockstepError(error)) {
        this.log.error(`client '${this.id}': asking ${replica} for missed outputs failed: ${describeError(error)}; asking again in ${this.retryAfterMs} ms`)
      }
    }
  }

  /** Disconnects; pending requests are rejected with STOPPED. */
  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    for (const request of [...this.pending.values()]) {
      this.settle(request, new LockstepError(ErrorCodes.STOPPED, `client '${this.id}' stopped before request #${request.seq} was answered`))
    }
    for (const waiter of this.noticeWaiters.splice(0)) waiter.reject(new LockstepError(ErrorCodes.STOPPED, `client '${this.id}' stopped while waiting for an output`))
    this.evidenceAsks.rejectAll(new LockstepError(ErrorCodes.STOPPED, `client '${this.id}' stopped while waiting for evidence`))
    this.refusals.clear()
    this.silent.clear()
    this.outputAsk = undefined
    if (this.outputSyncTimer !== undefined) this.scheduler.clearTimer(this.outputSyncTimer)
    this.outputSyncTimer = undefined
    await this.transport.stop()
  }

  /**
   * Submits a command; resolves with its reply (which may be an error reply). Every request settles: with its reply,
   * or rejected with TIMEOUT (`timeoutMs`, `maxAttempts`), ABORTED (`signal`), STOPPED, an error that keeps it from
   * being sent (FRAME_TOO_LARGE), or the refusal of every replica (AUTH_FAILED, CLUSTER_MISMATCH, UNREACHABLE).
   */
  submit(command: unknown, options: RequestOptions = {}): Promise<Reply> {
    if (!this.started) return Promise.reject(new LockstepError(ErrorCodes.STOPPED, `client '${this.id}' is not started`))
    const { timeoutMs, signal } = options
    if (timeoutMs !== undefined && timeoutMs !== Infinity && !(timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS)) {
      return Promise.reject(
        new LockstepError(ErrorCodes.INVALID_CONFIG, `client '${this.id}': timeoutMs must be a number of milliseconds from 1 to ${MAX_TIMER_MS} (or Infinity), not ${String(timeoutMs)}`),
      )
    }
    if (signal?.aborted) {
      return Promise.reject(new LockstepError(ErrorCodes.ABORTED, `client '${this.id}': a request was abandoned before it was sent (its signal had aborted)`, undefined, { cause: signal.reason }))
    }
    const refusedByAll = this.refusedByAll()
    if (refusedByAll !== undefined) return Promise.reject(refusedByAll)
    const seq = this.nextSeq++
    this.observer?.submitted?.(seq, command)
    return new Promise<Reply>((resolve, reject) => {
      const request: PendingRequest = { seq, command, resolve, reject, attempts: 0, timer: undefined, deadline: undefined, forgetSignal: undefined, tally: this.voter?.tally<Reply>(), refusals: this.voter?.tally<Reply>(), fannedOut: false }
      this.pending.set(seq, request)
      if (timeoutMs !== undefined && timeoutMs !== Infinity) {
        request.deadline = this.scheduler.setTimer(timeoutMs, () => {
          request.deadline = undefined
          this.settle(request, new LockstepError(ErrorCodes.TIMEOUT, `client '${this.id}': request #${seq} got no reply within ${timeoutMs} ms (timeoutMs; ${request.attempts} attempts)`))
        })
      }
      if (signal !== undefined) {
        const onAbort = () =>
          this.settle(
            request,
            new LockstepError(ErrorCodes.ABORTED, `client '${this.id}': request #${seq} was abandoned (its signal aborted) after ${request.attempts} attempts; it may still execute`, undefined, {
              cause: signal.reason,
            }),
          )
        signal.addEventListener('abort', onAbort, { once: true })
        request.forgetSignal = () => signal.removeEventListener('abort', onAbort)
      }
      this.send(request)
    })
  }

  /** Submits a command; resolves with the values it addressed to this client, or throws its error (see {@link submit}). */
  async call<O = unknown>(command: unknown, options: RequestOptions = {}): Promise<O[]> {
    const reply = await this.submit(command, options)
    if (!reply.ok) throw new LockstepError(reply.error.code, reply.error.message, reply.error.path === undefined ? undefined : { path: reply.error.path })
    return reply.outputs.map((o) => o.value as O)
  }

  /**
   * The next output produced by another request and addressed to this client
   * (a queued `acquire` granted by someone's `release`) that `accept` takes.
   * Outputs are handed out once, in the order the cluster produced them.
   * Rejects with `STOPPED` when the client stops first.
   */
  nextNotice(accept: (notice: OutputNotice) => boolean = () => true): Promise<OutputNotice> {
    const index = this.notices.findIndex(accept)
    if (index >= 0) return Promise.resolve(this.notices.splice(index, 1)[0]!)
    if (!this.started) return Promise.reject(new LockstepError(ErrorCodes.STOPPED, `client '${this.id}' is not started`))
    const waiting = new Promise<OutputNotice>((resolve, reject) => this.noticeWaiters.push({ accept, resolve, reject }))
    this.scheduleOutputSync()
    return waiting
  }

  /**
   * While someone waits for a notice, ask a replica now and then for outputs this client may have missed (the
   * replica that would have sent them may have crashed). Replicas keep outputs until the client acknowledges them.
   * The replica asked is the preferred one, as long as it answers (a serving replica answers every ask, with
   * `no-outputs` when it has nothing to re-send); one that stayed silent since the last ask is passed over for the
   * next that may answer. (Asking the next replica every time, dead or not, found by the simulator's `replace`
   * fault: with most replicas of a client's list crashed for good, a waiting client asked dead ones most of the time,
   * and its requests went where the asks had moved: a lock's clients made no progress for 30 s.)
   */
  private scheduleOutputSync(): void {
    if (this.outputSyncTimer !== undefined) return
    this.outputSyncTimer = this.scheduler.setTimer(this.retryAfterMs, () => {
      this.outputSyncTimer = undefined
      if (!this.started || this.noticeWaiters.length === 0) {
        this.outputAsk = undefined
        return
      }
      const last = this.outputAsk
      if (last !== undefined && !last.answered) {
        this.silent.add(last.replica)
        if (this.replicas[this.preferred] === last.replica) this.rotatePreferred()
      }
      this.preferred = this.reachableFrom(this.preferred)
      const replica = this.replicas[this.preferred]!
      this.outputAsk = { replica, answered: false }
      // Voting needs the missed outputs from enough replicas to decide them: ask every one.
      const asked = this.voter ? [...new Set(this.replicas)] : [replica]
      for (const each of asked) this.askForOutputs(each)
      this.scheduleOutputSync()
    })
  }

  /** Calls `listener` for every notice as it arrives (notices are still queued for {@link nextNotice}). */
  onNotice(listener: (notice: OutputNotice) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size
  }

  private send(request: PendingRequest): void {
    if (request.attempts >= this.maxAttempts) {
      this.settle(request, new LockstepError(ErrorCodes.TIMEOUT, `client '${this.id}': request #${request.seq} got no reply after ${request.attempts} attempts`))
      return
    }
    // A retry goes to the next replica; the first attempt too when the preferred one refuses connections now. (A
    // retry does not mark the replica tried as silent: it may be busy with a view change, and runs without clients
    // waiting for notices keep their schedules, as the simulator's pinned runs replay them.) A request goes to
    // configured replicas (see `configured`) for as many attempts as there are of them; past that, to any replica of
    // the list in turn: a configuration that names only replicas that do not answer (one heard of before they failed
    // or were replaced) must not keep the client from the others, which would tell it the new one.
    const configuredOnly = request.attempts < (this.configured?.replicas.size ?? 0)
    if (request.attempts > 0) {
      const last = this.preferred
      this.rotatePreferred(configuredOnly)
      // Back at the replica that just left this request unanswered, every other one passed over as silent: the marks
      // are stale (one lasts until its replica speaks, and a marked replica is sent nothing while another is
      // unmarked), so they are forgotten and the rotation goes on as if there were none. (Found by the simulator's
      // `replace` fault, seed 24002999: asks went unanswered during a blackout and marked every replica but one, which
      // was stuck joining and took every retry of a request for 10 s.)
      if (this.preferred === last && this.silent.size > 0) {
        this.silent.clear()
        this.rotatePreferred(configuredOnly)
      }
    } else this.preferred = this.reachableFrom(this.preferred, configuredOnly)
    // A voting client's retry goes to every replica: those that executed it answer from their session tables,
    // and one that lies or stays silent cannot hold the vote up.
    if (request.attempts > 0 && this.voter) request.fannedOut = true
    request.attempts++
    try {
      for (const replica of request.fannedOut ? [...new Set(this.replicas)] : [this.replicas[this.preferred]!]) this.sendRequest(replica, request)
    } catch (error) {
      // A request that can never be sent (too large for a frame, not encodable) fails now, settled and
      // forgotten; a full or closed link is a failed attempt like a lost message: the timer retries.
      const transient = isLockstepError(error) && (error.code === ErrorCodes.BACKPRESSURE || error.code === ErrorCodes.STOPPED || error.code === ErrorCodes.UNKNOWN_PEER)
      if (!transient) {
        this.settle(
          request,
          isLockstepError(error) ? error : new LockstepError(ErrorCodes.MALFORMED_MESSAGE, `client '${this.id}': request #${request.seq} could not be sent: ${describeError(error)}`, undefined, { cause: error }),
        )
        return
      }
    }
    request.timer = this.scheduler.setTimer(this.retryAfterMs, () => {
      request.timer = undefined
      if (this.pending.get(request.seq) === request) this.send(request)
    })
  }

  /** Moves `preferred` on to the next replica that does not refuse connections now (see {@link reachableFrom}). */
  private rotatePreferred(configuredFirst = true): void {
    this.preferred = this.reachableFrom((this.preferred + 1) % this.replicas.length, configuredFirst)
  }

  /**
   * The index of the first replica from `index` on, cyclically, that has not refused a connection since it last
   * accepted one (a crashed replica refuses them: asking it would cost a whole retry interval), did not stay silent
   * when last asked, and is configured (see `configured`; any replica when `configuredFirst` is false or no
   * configuration is known); failing that, the first that neither refuses nor was silent; then the first that does not
   * refuse; `index` itself when every replica refuses. One pass: the usual answer is the first replica looked at.
   */
  private reachableFrom(index: number, configuredFirst = true): number {
    const count = this.replicas.length
    const configured = configuredFirst ? this.configured?.replicas : undefined
    let notSilent = -1
    let notRefused = -1
    for (let step = 0; step < count; step++) {
      const candidate = (index + step) % count
      const replica = this.replicas[candidate]!
      if (this.refusals.has(replica)) continue
      if (!this.silent.has(replica)) {
        if (configured === undefined || configured.has(replica)) return candidate
        if (notSilent < 0) notSilent = candidate
      }
      if (notRefused < 0) notRefused = candidate
    }
    return notSilent >= 0 ? notSilent : notRefused >= 0 ? notRefused : index
  }

  private sendRequest(replica: ReplicaId, request: PendingRequest): void {
    // The lowest pending seq: the first key, since requests are added in seq order and never re-added.
    const ackedBelow: number = this.pending.keys().next().value ?? this.nextSeq
    this.transport.send(replica, {
      type: 'request',
      request: {
        client: this.id,
        seq: request.seq,
        command: request.command,
        ackedBelow,
        outputsAckedBelow: this.outputWatermark,
        incarnation: this.incarnation,
        // A voting client needs answers from several replicas; otherwise the one it asked answers.
        ...(this.voter && { replyFromAll: true }),
      },
    })
  }

  /** Forgets a pending request (its timers, its abort listener) and settles it with `outcome`. */
  private settle(request: PendingRequest, outcome: Reply | Error): void {
    if (this.pending.get(request.seq) !== request) return // settled already
    this.pending.delete(request.seq)
    if (request.timer !== undefined) this.scheduler.clearTimer(request.timer)
    if (request.deadline !== undefined) this.scheduler.clearTimer(request.deadline)
    request.timer = request.deadline = undefined
    request.forgetSignal?.()
    if (outcome instanceof Error) request.reject(outcome)
    else request.resolve(outcome)
  }

  /** A replica refused this client: once every replica has, the pending requests fail with the reasons. */
  private onRefused(replica: ReplicaId, error: LockstepError): void {
    if (!this.replicas.includes(replica)) return
    this.refusals.set(replica, error)
    const refusedByAll = this.refusedByAll()
    if (refusedByAll === undefined) return
    for (const request of [...this.pending.values()]) this.settle(request, refusedByAll)
  }

  /** The error of a client every replica refused (each at least once, and none accepted it since), or undefined. */
  private refusedByAll(): LockstepError | undefined {
    if (this.refusals.size === 0) return undefined // the usual case, asked at every submit: no list made
    const replicas = [...new Set(this.replicas)]
    const refusals = replicas.map((replica) => this.refusals.get(replica))
    if (refusals.some((refusal) => refusal === undefined)) return undefined
    const all = refusals as LockstepError[]
    const rank = (error: LockstepError) => refusalRank[error.code] ?? Object.keys(refusalRank).length
    const code = all.reduce((best, error) => (rank(error) < rank(best) ? error : best)).code
    const advice = refusalAdvice[code]
    return new LockstepError(
      code,
      `client '${this.id}': every replica refused it: ${all.map((error) => error.message).join('; ')}${advice === undefined ? '' : `. ${advice[0]!.toUpperCase()}${advice.slice(1)}`}`,
      { refusals: Object.fromEntries(replicas.map((replica, i) => [replica, { code: all[i]!.code, message: all[i]!.message }])) },
    )
  }

  private onMessage(from: ReplicaId, raw: unknown): void {
    const message = raw as ReplicaToClient
    if (typeof message !== 'object' || message === null) return
    if (this.outputAsk !== undefined && this.outputAsk.replica === from) this.outputAsk.answered = true
    if (this.silent.size > 0) this.silent.delete(from)
    if (message.type === 'reply') {
      // A voting client takes no configuration: one lying replica could name itself alone, under a high view, and
      // have every first attempt sent to it (its retries go to every replica anyway).
      if (message.configuration !== undefined && !this.voter) this.noteConfiguration(message.configuration)
      const reply = message.reply
      // A reply names the run of this id that sent the request: a previous run's late reply is not this run's answer.
      if (reply?.client !== this.id || (reply.incarnation ?? 0) !== this.incarnation) return
      if (this.voter) this.voteOnReply(from, reply)
      else this.takeReply(reply)
    } else if (message.type === 'output') {
      if (message.output?.to !== this.id || (message.output.incarnation ?? 0) !== this.incarnation) return
      if (this.voter) this.voteOnOutput(from, message.output)
      else this.acceptOutput(message.output, true)
    } else if (message.type === 'evidence') {
      this.evidenceAsks.onAnswer(from, message.answer)
    }
  }

  /**
   * Keeps a configuration a reply carried if it is newer than the one kept (a higher view) and names at least one
   * replica of this client's list; anything malformed is ignored (an older or a faulty replica).
   */
  private noteConfiguration(configuration: ClientConfiguration): void {
    if (typeof configuration !== 'object' || configuration === null) return
    const { view, replicas } = configuration
    if (typeof view !== 'number' || !(view > (this.configured?.view ?? -Infinity)) || !Array.isArray(replicas)) return
    const known = new Set(replicas.filter((replica) => typeof replica === 'string' && this.replicas.includes(replica)))
    if (known.size > 0) this.configured = { view, replicas: known }
  }

  /** A replica's reply, with a voter: it counts as that replica's ballot; the decided reply is taken. */
  private voteOnReply(from: ReplicaId, reply: Reply): void {
    const request = this.pending.get(reply.seq)
    const refused = reply.position === undefined
    if (!request?.tally || !request.refusals) {
      if (!refused) this.lateBallot(`r${reply.seq}`, from, reply, { kind: 'reply', seq: reply.seq })
      return
    }
    if (refused) {
      // Refused before ordering: only the replica asked saw it, and each replica must say so itself.
      if (!request.fannedOut) {
        request.fannedOut = true
        for (const replica of new Set(this.replicas)) if (replica !== from) this.trySend(replica, request)
      }
      const outcome = this.cast(request.refusals, from, reply)
      if (outcome?.status === 'decided') this.takeReply(outcome.value)
      return
    }
    const outcome = this.cast(request.tally, from, reply)
    if (!outcome || outcome.status === 'undecided') return
    if (outcome.status === 'impossible') {
      this.settle(request, new LockstepError(ErrorCodes.VOTE_FAILED, `client '${this.id}': the replicas' replies to request #${reply.seq} cannot be decided by ${this.voter!.rule}: ${outcome.reason}`))
      return
    }
    this.decided(`r${reply.seq}`, request.tally, outcome.dissenting, { kind: 'reply', seq: reply.seq, agreeing: outcome.agreeing })
    this.takeReply(outcome.value)
  }

  /** An output addressed to this client, with a voter: the decided output is accepted, in order. */
  private voteOnOutput(from: ReplicaId, output: OutputNotice): void {
    const { outputSeq } = output
    if (!Number.isSafeInteger(outputSeq)) return
    if (outputSeq < this.outputWatermark || this.outputsAhead.has(outputSeq)) return this.lateBallot(`o${outputSeq}`, from, output, { kind: 'output', outputSeq })
    if (outputSeq >= this.outputWatermark + OUTPUT_WINDOW) return
    let tally = this.outputTallies.get(outputSeq)
    if (!tally) this.outputTallies.set(outputSeq, (tally = this.voter!.tally<OutputNotice>()))
    const outcome = this.cast(tally, from, output)
    if (!outcome || outcome.status === 'undecided') return
    this.outputTallies.delete(outputSeq)
    if (outcome.status === 'impossible') {
      this.log.error(`client '${this.id}': output #${outputSeq} cannot be decided by ${this.voter!.rule}: ${outcome.reason}; it is asked for again`)
      this.scheduleOutputSync()
      return
    }
    this.decided(`o${outputSeq}`, tally, outcome.dissenting, { kind: 'output', outputSeq, agreeing: outcome.agreeing })
    this.acceptOutput(outcome.value, true)
  }

  /** Casts a ballot; a replica the voter does not know, or a value with no canonical encoding, is logged and ignored. */
  private cast<V>(tally: Tally<V>, from: ReplicaId, value: V): VoteOutcome<V> | undefined {
    try {
      return tally.cast(from, value)
    } catch (error) {
      this.log.warn(`client '${this.id}': ignored an answer from '${from}': ${describeError(error)}`)
      return undefined
    }
  }

  /** An answer to a vote decided already: a replica that sent another value is reported (once). */
  private lateBallot(key: string, from: ReplicaId, value: unknown, what: Pick<DissentEvent, 'kind' | 'seq' | 'outputSeq'>): void {
    const vote = this.decidedVotes.get(key)
    if (!vote) return
    const outcome = this.cast(vote.tally, from, value)
    if (outcome?.status !== 'decided') return
    const fresh = outcome.dissenting.filter((replica) => !vote.reported.has(replica))
    if (fresh.length > 0) this.reportDissent({ ...what, rule: this.voter!.rule, agreeing: outcome.agreeing, dissenting: fresh }, vote.reported)
  }

  /** Keeps a decided vote for late answers, and reports its dissenters so far. */
  private decided(key: string, tally: Tally<unknown>, dissenting: readonly ReplicaId[], what: Omit<DissentEvent, 'rule' | 'dissenting'>): void {
    const reported = new Set<ReplicaId>()
    this.decidedVotes.set(key, { tally, reported })
    if (this.decidedVotes.size > 2 * DECIDED_KEPT) {
      for (const old of [...this.decidedVotes.keys()].slice(0, DECIDED_KEPT)) this.decidedVotes.delete(old)
    }
    if (dissenting.length > 0) this.reportDissent({ ...what, rule: this.voter!.rule, dissenting }, reported)
  }

  private reportDissent(event: DissentEvent, reported: Set<ReplicaId>): void {
    for (const replica of event.dissenting) {
      reported.add(replica)
      this.dissentByReplica.set(replica, (this.dissentByReplica.get(replica) ?? 0) + 1)
    }
    this.dissentEvents++
    const what = event.kind === 'reply' ? `the reply to request #${String(event.seq)}` : `output #${String(event.outputSeq)}`
    this.log.warn(`client '${this.id}': ${event.dissenting.join(', ')} answered ${what} differently from ${event.agreeing.join(', ')} (voter ${event.rule})`)
    for (const listener of this.dissentListeners) {
      try {
        listener(event)
      } catch (error) {
        this.log.error(`client '${this.id}': a dissent listener threw: ${describeError(error)}`)
      }
    }
  }

  /** Sends a request to one more replica; a full or closed link is like a lost message (the retry timer covers it). */
  private trySend(replica: ReplicaId, request: PendingRequest): void {
    try {
      this.sendRequest(replica, request)
    } catch (error) {
      if (!isLockstepError(error)) this.log.error(`client '${this.id}': sending request #${request.seq} to ${replica} failed: ${describeError(error)}`)
    }
  }

  /** The reply decided for a request (the first one, without a voter): its outputs, then the caller. */
  private takeReply(reply: Reply): void {
    if (reply.ok && reply.outputsFrom !== undefined) this.skipOutputsBelow(reply.outputsFrom)
    if (reply.ok) for (const output of reply.outputs) this.acceptOutput(output, false)
    const request = this.pending.get(reply.seq)
    if (!reply.ok && reply.error.code === ErrorCodes.SESSION_EXPIRED && reply.error.resumeAbove !== undefined) {
      // The replicas dropped this client's session (or one of an earlier client with its id): go on under an
      // incarnation above theirs. A request sent once and refused so was never ordered: it goes again, under
      // the new incarnation (and a new vote). One sent more than once may have executed before the session was
      // dropped; its caller decides.
      this.incarnation = Math.max(this.incarnation + 1, reply.error.resumeAbove + 1)
      if (request?.attempts === 1) {
        if (request.timer !== undefined) this.scheduler.clearTimer(request.timer)
        request.timer = undefined
        request.attempts = 0
        request.tally = this.voter?.tally<Reply>()
        request.refusals = this.voter?.tally<Reply>()
        request.fannedOut = false
        this.send(request)
        return
      }
    }
    if (!request) return // a duplicate reply
    this.observer?.replied?.(reply.seq, reply)
    this.settle(request, reply)
  }

  /** Outputs numbered below `from` were for an earlier run of this client id: drop them and go on from there. */
  private skipOutputsBelow(from: number): void {
    if (from <= this.outputWatermark) return
    for (const seq of [...this.outputsAhead.keys()]) if (seq < from) this.outputsAhead.delete(seq)
    this.outputWatermark = from
    this.drainOutputs()
  }

  /** Puts outputs in cluster order and drops duplicates; notices then go to waiters or the queue. */
  private acceptOutput(output: NumberedOutput | OutputNotice, isNotice: boolean): void {
    if (output.outputSeq < this.outputWatermark || this.outputsAhead.has(output.outputSeq)) return
    if (!isNotice && output.outputSeq === this.outputWatermark && this.outputsAhead.size === 0) {
      this.outputWatermark++ // the common case: the next output, already handed over with its reply
      return
    }
    if (isNotice) this.outputsAhead.set(output.outputSeq, output)
    else this.outputsAhead.set(output.outputSeq, { outputSeq: output.outputSeq, value: output.value })
    this.drainOutputs()
  }

  /** Hands over the outputs that are next in order. */
  private drainOutputs(): void {
    while (this.outputsAhead.has(this.outputWatermark)) {
      const next = this.outputsAhead.get(this.outputWatermark)!
      this.outputsAhead.delete(this.outputWatermark)
      this.outputWatermark++
      if ('to' in next) this.handNotice(next)
    }
  }

  private handNotice(notice: OutputNotice): void {
    for (const listener of this.listeners) listener(notice)
    const index = this.noticeWaiters.findIndex((w) => w.accept(notice))
    if (index >= 0) this.noticeWaiters.splice(index, 1)[0]!.resolve(notice)
    else this.notices.push(notice)
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
