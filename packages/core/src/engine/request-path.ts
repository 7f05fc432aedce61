import { ErrorCodes, type ClientConfiguration, type ClientId, type ErrorInfo, type EvidenceAnswer, type Logger, type ReplicaId, type Reply, type Request, type StateMachine } from '@lockstep/interface'
import type { OrderDigestVersion } from './digest'
import { parseClientMessage } from './client-messages'
import { createCommandValidator, type CommandValidator } from './command-validator'
import type { EngineEffects, EngineStatus } from './engine-types'
import { RequestKeys } from './request-keys'
import { ReplicatedState } from './replicated-state'
import type { SessionLimits } from './session-table'

/** What the request path needs from the engine around it. */
export interface RequestPathEnvironment {
  readonly self: ReplicaId
  readonly effects: EngineEffects
  readonly log: Logger
  /** Where the replica stands: only a `normal` replica orders new requests. */
  status(): EngineStatus
  /** Hands a request to the orderer. */
  order(request: Request): void
  /** True while a replica outside any view is about to start a new cluster: requests wait for it instead of being dropped. */
  startingCluster(): boolean
  /** The replica's clock (epoch milliseconds): a request entering here is stamped with it (`Request.time`). */
  now(): number
  /** A request was executed (or answered as a duplicate) at `position`, also while replaying. */
  executed?(position: number, request: Request): void
  /**
   * A request was executed at `position` (not a duplicate, not replaying a log), before its reply goes out:
   * `reply` is what its client gets.
   */
  executedLive?(position: number, request: Request, reply: Reply | undefined): void
  /** A reader asks for the evidence of a request's reply (see `OutputEvidence`). */
  evidence?(client: ClientId, seq: number, incarnation: number): EvidenceAnswer
  /**
   * The cluster's configuration as this replica knows it (see `ClientConfiguration`), the same object while it holds:
   * a client's first reply from here in each configuration carries it.
   */
  configuration?(): ClientConfiguration
}

/**
 * A request's path through one replica: a client's message is checked, a
 * known `(client, seq)` is answered from the session table, a schema-invalid
 * command is refused before ordering, and the rest goes to the orderer; once
 * delivered, it executes against the replicated state and its reply and
 * outputs go out. Requests that arrive during a view change wait for the next
 * view.
 */
export class RequestPath<S> {
  readonly replicated: ReplicatedState<S>
  private readonly env: RequestPathEnvironment
  /** The clients told the configuration the last reply carried (see `toldConfiguration`). */
  private told: { configuration: ClientConfiguration | undefined; clients: Map<ClientId, number> } = { configuration: undefined, clients: new Map() }
  private readonly validator: CommandValidator
  /** Requests submitted here and not yet delivered: a retry of one is not ordered twice. */
  private inFlight = new RequestKeys()
  /**
   * Requests that entered the order here and have not executed yet: this replica answers them. Unlike `inFlight`
   * it outlives a view change (the new view's flush may deliver them); bounded by {@link MAX_ENTERED}.
   */
  private entered = new RequestKeys()
  /** Requests that arrived during a view change: submitted once the next view starts. */
  private held: Request[] = []
  /** Requests executed while replaying a disk's log answer no client (they were answered before, or will be on retry). */
  private replaying = false

  constructor(machine: StateMachine<S>, env: RequestPathEnvironment, limits: SessionLimits = {}, orderDigestVersion?: OrderDigestVersion) {
    this.replicated = new ReplicatedState(machine, limits, orderDigestVersion)
    this.env = env
    this.validator = createCommandValidator(machine.name, machine.commandSchema)
  }

  /** A message from a client. Bad messages are logged and dropped; bad commands get an error reply. */
  onClientMessage(client: ClientId, message: unknown): void {
    let parsed
    try {
      parsed = parseClientMessage(client, message)
    } catch (error) {
      this.env.log.warn(`dropped a message from client '${client}': ${(error as Error).message}`)
      return
    }
    // The time it entered the cluster is this replica's to say, not the client's. (Not `{ ...request, time }`:
    // V8 gives the copy of a spread a hidden class of its own, and adding `time` to it then takes the runtime and
    // a new hidden class per request, 1–2 µs each; `Object.assign` copies the same fields in the same order.)
    if (parsed.type === 'request') return this.submit(Object.assign({}, parsed.request, { time: Math.floor(this.env.now()) }))
    if (parsed.type === 'evidence') return this.answerEvidence(client, parsed.client, parsed.seq, parsed.incarnation)
    // A replica that does not serve stays silent: the client asks another. One that serves always answers, with
    // nothing to re-send too, so that a client can tell it from a dead one (it keeps asking a replica that answers).
    if (this.env.status() !== 'normal') return
    const outputs = this.replicated.outputsFrom(client, parsed.from)
    if (outputs.length === 0) return this.env.effects.sendToClient(client, { type: 'no-outputs', from: this.env.self, since: parsed.from })
    for (const output of outputs) this.env.effects.sendToClient(client, { type: 'output', from: this.env.self, output })
  }

  /** A request entering at this replica (already shape-checked). */
  submit(request: Request): void {
    const status = this.env.status()
    if (status === 'recovering' || (status === 'joining' && !this.env.startingCluster())) return // the client retries elsewhere
    if (status !== 'normal') {
      if (this.held.length < 100_000) this.held.push(request)
      return
    }
    const known = this.replicated.lookup(request)
    if (known.kind === 'executed') return this.replyTo(request.client, known.reply)
    if (known.kind === 'expired') {
      if (known.resumeAbove === undefined) {
        const message = `request ${request.client}#${request.seq} is older than what client '${request.client}' acknowledged; its reply was forgotten`
        return this.replyError(request, { code: ErrorCodes.SESSION_EXPIRED, message })
      }
      const message = `client '${request.client}''s session was dropped (idle, or the session table was full); request #${request.seq} may or may not have executed, and the client goes on under a new incarnation above ${known.resumeAbove}`
      return this.replyError(request, { code: ErrorCodes.SESSION_EXPIRED, message, resumeAbove: known.resumeAbove })
    }
    const { client, seq } = request
    if (this.inFlight.has(client, seq)) return // a retry of a request being ordered: the reply comes when it is delivered
    const invalid = this.validator.validate(request.command)
    if (invalid) return this.replyError(request, invalid.toInfo())
    this.inFlight.add(client, seq)
    if (this.entered.size >= MAX_ENTERED) this.entered.clear() // requests lost with a view, never retried here: their clients asked elsewhere
    this.entered.add(client, seq)
    this.env.order(request)
  }

  /** Executes a delivered request and answers its client if it entered here (unless replaying a log). */
  execute(request: Request, answerAnyway = false): void {
    const { client, seq } = request
    this.inFlight.delete(client, seq)
    // The replica the client sent it to answers, and every replica when the client votes on answers: the others
    // executing it silently keep a reply (an encoding, a write, a read at the client) per replica off every request.
    // After a failure (`answerAnyway`: a view change's flush, a catch-up) every replica answers, since the one the
    // client asked may be gone, and the client would otherwise wait for its retry.
    const answer = this.entered.delete(client, seq) || answerAnyway || request.replyFromAll === true
    const { position, executed, reply, notices, time } = this.replicated.execute(request)
    this.env.executed?.(position, request)
    if (this.replaying) return
    this.env.effects.delivered?.(position, request, executed, time)
    if (executed) this.env.executedLive?.(position, request, reply)
    for (const output of notices) this.env.effects.sendToClient(output.to, { type: 'output', from: this.env.self, output })
    if (reply && answer) this.replyTo(request.client, reply)
  }

  /** Executes a disk's log without answering anyone. */
  replay(requests: Iterable<Request>): void {
    this.replaying = true
    try {
      for (const request of requests) this.execute(request)
    } finally {
      this.replaying = false
    }
  }

  /** True while replaying a log. */
  get isReplaying(): boolean {
    return this.replaying
  }

  /** A new view started here: requests held during the view change are submitted in it. */
  resubmitHeld(): void {
    for (const request of this.held.splice(0)) this.submit(request)
  }

  /** A new view: requests in flight in the old one were delivered by its flush or are lost with it (clients retry). */
  forgetInFlight(): void {
    this.inFlight = new RequestKeys()
  }

  /** This replica left the view: nothing it holds will be ordered here. */
  dropAll(): void {
    this.held = []
    this.inFlight = new RequestKeys()
    this.entered = new RequestKeys()
  }

  private answerEvidence(reader: ClientId, client: ClientId, seq: number, incarnation: number): void {
    const answer: EvidenceAnswer = this.env.evidence?.(client, seq, incarnation) ?? {
      status: 'unavailable',
      client,
      seq,
      incarnation,
      reason: `replica '${this.env.self}' signs no output digests (it has no signing key)`,
    }
    this.env.effects.sendToClient(reader, { type: 'evidence', from: this.env.self, answer })
  }

  private replyError(request: Request, error: ErrorInfo): void {
    this.replyTo(request.client, { client: request.client, seq: request.seq, ok: false, error, incarnation: request.incarnation ?? 0 })
  }

  private replyTo(client: ClientId, reply: Reply): void {
    const configuration = this.env.configuration?.()
    if (configuration !== undefined && this.toldConfiguration(client, reply.incarnation ?? 0, configuration)) {
      this.env.effects.sendToClient(client, { type: 'reply', from: this.env.self, reply, configuration })
    } else this.env.effects.sendToClient(client, { type: 'reply', from: this.env.self, reply })
  }

  /**
   * True when `client` (this run of it: `incarnation`) is to be told `configuration` with this reply: its first
   * reply from here since the configuration changed (an encoded configuration on every reply cost a quarter of a
   * microsecond each, for nothing new). A client that lost that reply hears it from the other replicas, or tries its
   * whole list as before; the map is emptied when it reaches {@link MAX_TOLD_CLIENTS}, so that clients that went away
   * are not kept.
   */
  private toldConfiguration(client: ClientId, incarnation: number, configuration: ClientConfiguration): boolean {
    if (this.told.configuration !== configuration || this.told.clients.size >= MAX_TOLD_CLIENTS) this.told = { configuration, clients: new Map() }
    if (this.told.clients.get(client) === incarnation) return false
    this.told.clients.set(client, incarnation)
    return true
  }
}

/** Most clients remembered as told the current configuration (see `toldConfiguration`). */
const MAX_TOLD_CLIENTS = 10_000

/** Most requests remembered as entered here and not executed yet (see `entered`). */
const MAX_ENTERED = 100_000
