import {
  ErrorCodes,
  LockstepError,
  isLockstepError,
  silentLogger,
  type ClientId,
  type Clock,
  type ErrorInfo,
  type Logger,
  type NumberedOutput,
  type Orderer,
  type OrdererContext,
  type OrdererFactory,
  type ReplicaId,
  type ReplicaToClient,
  type Reply,
  type Request,
  type StateMachine,
  type View,
} from '@lockstep/interface'
import { createCommandValidator, type CommandValidator } from './command-validator'
import { fnv1a64 } from './digest'
import { parseClientMessage, type PeerEnvelope } from './messages'
import { SessionTable } from './session-table'

/** Where the engine's effects go. The host turns them into I/O; tests record them. */
export interface EngineEffects {
  /** Send to another replica (reliable FIFO link). */
  sendToPeer(to: ReplicaId, message: PeerEnvelope): void
  /** Send to a client (dropped if the client is not connected to this replica). */
  sendToClient(to: ClientId, message: ReplicaToClient): void
  /** A request was delivered at `position` (1-based) of the total order; `executed` is false for a duplicate. */
  delivered?(position: number, request: Request, executed: boolean): void
}

/** Options of {@link ReplicaEngine}. */
export interface EngineOptions<S> {
  readonly self: ReplicaId
  readonly machine: StateMachine<S>
  readonly orderer: OrdererFactory
  readonly clock: Clock
  /** The initial view: every replica of the cluster. */
  readonly view: View
  readonly effects: EngineEffects
  readonly log?: Logger
}

/**
 * The deterministic replica engine: events in (client requests, peer messages,
 * ticks), effects out (sends, replies, deliveries). It reads time only through
 * the injected clock and does no I/O, so the same engine runs in the simulator
 * and behind TCP.
 */
export class ReplicaEngine<S = unknown> {
  readonly self: ReplicaId
  readonly machine: StateMachine<S>
  private state: S
  private readonly orderer: Orderer
  private readonly sessions = new SessionTable()
  private readonly validator: CommandValidator
  private readonly effects: EngineEffects
  private readonly log: Logger
  private currentView: View
  private members: Set<ReplicaId>
  /** Requests submitted here and not yet delivered: a retry of one is not ordered twice. */
  private readonly inFlight = new Set<string>()
  private deliveredCount = 0
  private executedCount = 0

  constructor(options: EngineOptions<S>) {
    this.self = options.self
    this.machine = options.machine
    this.state = options.machine.init()
    this.effects = options.effects
    this.log = options.log ?? silentLogger
    this.currentView = options.view
    this.members = new Set(options.view.members)
    if (!this.members.has(this.self)) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `replica '${this.self}' is not a member of its initial view (${options.view.members.join(', ')})`)
    }
    this.validator = createCommandValidator(options.machine.name, options.machine.commandSchema)
    const ctx: OrdererContext = {
      clock: options.clock,
      self: this.self,
      log: this.log,
      view: () => this.currentView,
      send: (to, message) => this.effects.sendToPeer(to, { k: 'o', m: message }),
      broadcast: (message) => {
        const envelope: PeerEnvelope = { k: 'o', m: message }
        for (const member of this.currentView.members) if (member !== this.self) this.effects.sendToPeer(member, envelope)
      },
      deliver: (request) => this.deliver(request),
    }
    this.orderer = options.orderer(ctx)
  }

  /** A message from a client. Bad messages are logged and dropped; bad commands get an error reply. */
  onClientMessage(client: ClientId, message: unknown): void {
    let request: Request
    try {
      request = parseClientMessage(client, message)
    } catch (error) {
      this.log.warn(`dropped a message from client '${client}': ${(error as Error).message}`)
      return
    }
    this.submit(request)
  }

  /** A request entering at this replica (already shape-checked). */
  submit(request: Request): void {
    const known = this.sessions.lookup(request.client, request.seq)
    if (known.kind === 'executed') {
      this.replyTo(request.client, known.reply)
      return
    }
    if (known.kind === 'expired') {
      this.replyError(request, {
        code: ErrorCodes.SESSION_EXPIRED,
        message: `request ${request.client}#${request.seq} is older than what client '${request.client}' acknowledged; its reply was forgotten`,
      })
      return
    }
    const key = requestKey(request)
    if (this.inFlight.has(key)) return // a retry of a request being ordered: the reply comes when it is delivered
    const invalid = this.validator.validate(request.command)
    if (invalid) {
      this.replyError(request, invalid.toInfo())
      return
    }
    this.inFlight.add(key)
    this.orderer.submit(request)
  }

  /** A message from another replica. Unknown peers and malformed messages are logged and dropped. */
  onPeerMessage(from: ReplicaId, message: unknown): void {
    if (!this.members.has(from)) {
      this.log.warn(`dropped a message from '${from}': not a member of view ${this.currentView.id}`)
      return
    }
    if (typeof message !== 'object' || message === null || (message as PeerEnvelope).k !== 'o') {
      this.log.warn(`dropped a malformed message from replica '${from}': unknown envelope`)
      return
    }
    try {
      this.orderer.receive(from, (message as PeerEnvelope).m)
    } catch (error) {
      if (!isLockstepError(error)) throw error
      this.log.warn(`dropped a message from replica '${from}': ${error.message}`, { code: error.code })
    }
  }

  /** Time passed: heartbeats and timeouts. */
  tick(): void {
    this.orderer.tick()
  }

  /** The end of a burst of events: the orderer sends what it batched. */
  flush(): void {
    this.orderer.flush()
  }

  /** The current view. */
  get view(): View {
    return this.currentView
  }

  /** Number of requests delivered (the position of the last one). */
  get position(): number {
    return this.deliveredCount
  }

  /** Number of requests executed (delivered and not duplicates). */
  get executed(): number {
    return this.executedCount
  }

  /** Requests this replica holds that are not delivered yet. */
  get pending(): number {
    return this.orderer.pendingCount()
  }

  /** The state machine's state as JSON (or its snapshot bytes' digest when it has no toJSON). */
  stateJSON(): unknown {
    return this.machine.toJSON ? this.machine.toJSON(this.state) : { digest: this.stateDigest() }
  }

  /** Digest of the machine state: equal on replicas that executed the same sequence. */
  stateDigest(): string {
    return fnv1a64(this.machine.snapshot(this.state))
  }

  private deliver(request: Request): void {
    const position = ++this.deliveredCount
    this.inFlight.delete(requestKey(request))
    const known = this.sessions.lookup(request.client, request.seq)
    if (known.kind !== 'new') {
      // Ordered twice (the client retried at another replica): execute once, answer from the table.
      this.effects.delivered?.(position, request, false)
      if (known.kind === 'executed') this.replyTo(request.client, known.reply)
      return
    }
    this.executedCount++
    this.effects.delivered?.(position, request, true)
    let reply: Reply
    try {
      const outputs = this.machine.apply(this.state, request.command, { client: request.client, position })
      const own: NumberedOutput[] = []
      for (const output of outputs) {
        const numbered = { outputSeq: this.sessions.nextOutputSeq(output.to), value: output.value }
        if (output.to === request.client) own.push(numbered)
        else {
          this.effects.sendToClient(output.to, {
            type: 'output',
            from: this.self,
            output: { ...numbered, to: output.to, cause: { client: request.client, seq: request.seq }, position },
          })
        }
      }
      reply = { client: request.client, seq: request.seq, ok: true, outputs: own, position }
    } catch (error) {
      const info: ErrorInfo = isLockstepError(error)
        ? error.toInfo()
        : { code: ErrorCodes.COMMAND_FAILED, message: `machine '${this.machine.name}' failed: ${(error as Error)?.message ?? String(error)}` }
      reply = { client: request.client, seq: request.seq, ok: false, error: info, position }
    }
    this.sessions.record(request.client, request.seq, request.ackedBelow ?? request.seq, reply)
    this.replyTo(request.client, reply)
  }

  private replyError(request: Request, error: ErrorInfo): void {
    this.replyTo(request.client, { client: request.client, seq: request.seq, ok: false, error })
  }

  private replyTo(client: ClientId, reply: Reply): void {
    this.effects.sendToClient(client, { type: 'reply', from: this.self, reply })
  }
}

function requestKey(request: Request): string {
  return `${request.client}\u0000${request.seq}`
}
