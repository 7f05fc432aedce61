import {
  ErrorCodes,
  isLockstepError,
  LockstepError,
  type ChunkRestorer,
  type ClientId,
  type ErrorInfo,
  type JsonValue,
  type NumberedOutput,
  type OutputNotice,
  type Reply,
  type Request,
  type StateMachine,
} from '@lockstep/interface'
import { DigestChain, ORDER_DIGEST_VERSION, checkedDigestVersion, type OrderDigestVersion, type OrderDigestView } from './digest'
import { SessionTable, type SessionLimits, type SessionLookup } from './session-table'
import { captureMachine, checkChunkMethods, machineFailed, machinePieces, machineDigest, restoreMachine, type LazyImage, type StateImage } from './state-image'

/** What executing one delivered request produced (read it before the next one executes: see `execute`). */
export interface Execution {
  /** Its position in the total order. */
  readonly position: number
  /** False for a request executed before (ordered twice after a retry elsewhere): the state did not change. */
  readonly executed: boolean
  /** The reply to the requester (from the session table for a duplicate; none for an expired one). */
  readonly reply: Reply | undefined
  /** Outputs addressed to other clients, numbered and kept until they acknowledge them. */
  readonly notices: readonly OutputNotice[]
  /** Agreed time at its position (`ApplyContext.time`). */
  readonly time: number
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** The notices of an execution that addressed no other client (most of them): one frozen empty list. */
const NO_NOTICES: readonly OutputNotice[] = Object.freeze([])

/**
 * The state every replica holds identically: the machine's state, the client
 * session table (exactly-once execution, Schneider §3) and the number of
 * requests delivered. It changes only by executing the next request of the
 * total order, or by being replaced wholesale by a transferred image.
 */
export class ReplicatedState<S> {
  readonly machine: StateMachine<S>
  private state: S
  private readonly sessions: SessionTable
  private delivered = 0
  private executedCount = 0
  /** The digest of the order: a chain over `|client|seq|incarnation@time` of each delivery, so equal digests at a position mean equal orders (and agreed times) up to it. */
  private readonly orderChain: DigestChain
  /** The order digest version a new history starts with (see `EngineOptions.orderDigestVersion`). */
  private readonly newHistoryVersion: OrderDigestVersion
  /** Agreed time after the last delivered request (see `ApplyContext.time`). */
  private agreedTime = 0
  /** What `execute` returns, filled in anew by each call (one object per replica instead of one per delivery). */
  private readonly lastExecution: Mutable<Execution> = { position: 0, executed: false, reply: undefined, notices: NO_NOTICES, time: 0 }

  constructor(machine: StateMachine<S>, limits: SessionLimits = {}, orderDigestVersion: OrderDigestVersion = ORDER_DIGEST_VERSION) {
    checkChunkMethods(machine)
    this.newHistoryVersion = checkedDigestVersion(orderDigestVersion, `machine '${machine.name}': orderDigestVersion`)
    this.orderChain = new DigestChain('', this.newHistoryVersion)
    this.machine = machine
    try {
      this.state = machine.init()
    } catch (cause) {
      throw machineFailed(machine, 'init', cause)
    }
    this.sessions = new SessionTable(limits)
  }

  /** Number of requests delivered: the position of the last one. */
  get position(): number {
    return this.delivered
  }

  /** Requests executed by this process (delivered and not duplicates; not counting images taken in). */
  get executed(): number {
    return this.executedCount
  }

  /** What the session table knows of a request. */
  lookup(request: Request): SessionLookup {
    return this.sessions.lookup(request.client, request.seq, request.incarnation)
  }

  /** Kept outputs of `client` numbered `from` or above. */
  outputsFrom(client: ClientId, from: number): OutputNotice[] {
    return this.sessions.outputsFrom(client, from)
  }

  /**
   * A digest of every request delivered so far, in order: replicas whose digests are equal at a position have
   * delivered the same requests up to it, so one can catch the other up with the suffix of the order alone.
   */
  get orderDigest(): string {
    return this.orderChain.digest
  }

  /** The order digest as the chain holds it (its halves, without making its text: see `OrderDigestView`). */
  get orderDigestView(): OrderDigestView {
    return this.orderChain
  }

  /**
   * How the order digest is extended (see `OrderDigestVersion`): the version of the history this state continues
   * (its image, its log, the order a peer sent), the current one for a replica that holds no order yet.
   */
  get orderDigestVersion(): OrderDigestVersion {
    return this.orderChain.version
  }

  /**
   * Replays a history that holds no image (a log from position 0, the order from a peer from position 0) with
   * the order digest version it was made with, which replicas holding it compare with. Only before the first
   * delivery: a chain never changes its version midway.
   */
  continueOrderOf(version: OrderDigestVersion): void {
    if (this.delivered !== 0) throw new LockstepError(ErrorCodes.INTERNAL, `the order digest's version can change only at position 0, not at ${this.delivered}`)
    this.orderChain.reset(this.orderChain.digest, version)
  }

  /** Agreed time after the last delivered request: the same on every replica at a position, never decreasing. */
  get time(): number {
    return this.agreedTime
  }

  /**
   * Executes the next request of the total order (once per `(client, seq)`; a duplicate is answered from the
   * table). The result is overwritten by the next call: read what is needed before executing another request.
   */
  execute(request: Request): Execution {
    const position = ++this.delivered
    const { client, seq } = request
    const incarnation = request.incarnation ?? 0
    // The time it entered is part of what was delivered (a retry enters again with another): see `extendDelivery`.
    this.orderChain.extendDelivery(client, seq, incarnation, request.time)
    // Every position moves agreed time (duplicates too), so it depends on the order alone.
    if (request.time !== undefined && request.time > this.agreedTime) this.agreedTime = request.time
    const time = this.agreedTime
    const known = this.lookup(request)
    if (known.kind !== 'new') return this.executionResult(position, false, known.kind === 'executed' ? known.reply : undefined, NO_NOTICES, time)
    this.executedCount++
    const outputsFrom = this.sessions.beginIncarnation(client, incarnation)
    let notices: OutputNotice[] | undefined
    let reply: Reply
    try {
      const outputs = this.machine.apply(this.state, request.command, { client, position, time })
      if (!Array.isArray(outputs)) throw new LockstepError(ErrorCodes.COMMAND_FAILED, `machine '${this.machine.name}': apply returned ${described(outputs)}, not a list of outputs ({ to, value }); return [] for none`)
      let own: NumberedOutput[]
      if (outputs.length === 1 && outputs[0]?.to === client) {
        // One output, to the requester (most commands): a list of exactly one (a list grown by a push reserves 17).
        own = [{ outputSeq: this.sessions.nextOutputSeq(client), value: outputs[0]!.value }]
      } else {
        own = []
        // Checked before any is kept: a command whose outputs cannot all go anywhere leaves none behind.
        for (let index = 0; index < outputs.length; index++) {
          const to: unknown = (outputs[index] as { to?: unknown } | undefined)?.to
          if (typeof to !== 'string' || to === '') throw new LockstepError(ErrorCodes.COMMAND_FAILED, `machine '${this.machine.name}': apply returned output ${index} without a client in 'to' (${described(to)})`)
        }
        for (const output of outputs) {
          if (output.to === client) {
            // The requester's own outputs travel (and are kept) in its reply.
            own.push({ outputSeq: this.sessions.nextOutputSeq(client), value: output.value })
            continue
          }
          const cause = { client, seq }
          ;(notices ??= []).push(this.sessions.addOutput(output.to, (outputSeq, to) => ({ outputSeq, value: output.value, to: output.to, cause, position, incarnation: to })))
        }
      }
      reply = outputsFrom > 1 ? { client, seq, ok: true, outputs: own, position, incarnation, outputsFrom } : { client, seq, ok: true, outputs: own, position, incarnation }
    } catch (error) {
      const info: ErrorInfo = isLockstepError(error)
        ? error.toInfo()
        : { code: ErrorCodes.COMMAND_FAILED, message: `machine '${this.machine.name}' failed: ${(error as Error)?.message ?? String(error)}` }
      reply = { client, seq, ok: false, error: info, position, incarnation }
    }
    this.sessions.record(client, seq, request.ackedBelow ?? seq, request.outputsAckedBelow, reply)
    if (notices) for (const notice of notices) this.sessions.touch(notice.to, position)
    this.sessions.touch(client, position)
    this.sessions.dropIdle(position)
    return this.executionResult(position, true, reply, notices ?? NO_NOTICES, time)
  }

  private executionResult(position: number, executed: boolean, reply: Reply | undefined, notices: readonly OutputNotice[], time: number): Execution {
    const result = this.lastExecution
    result.position = position
    result.executed = executed
    result.reply = reply
    result.notices = notices
    result.time = time
    return result
  }

  /** How many times the state was replaced by an image (see `restore`). */
  restores = 0

  /**
   * The state as it stands, for snapshots and state transfer: captured now, its bytes produced later (see
   * `LazyImage`). A machine with `snapshotChunks` is captured in O(entries), and the image stays the state
   * at this position while later requests execute; one without is serialized now (`snapshot`).
   */
  image(): LazyImage {
    return { position: this.delivered, machine: captureMachine(this.machine, this.state), sessions: this.sessions.toJSON(), orderDigest: this.orderChain.digest, orderDigestVersion: this.orderChain.version, time: this.agreedTime }
  }

  /** Replaces the state with an image taken elsewhere (a transfer) or earlier (a snapshot). */
  restore(image: StateImage): void {
    const state = image.restored ? (image.restored.state as S) : restoreMachine(this.machine, image.machine)
    this.restores++
    this.state = state
    this.sessions.restore(image.sessions)
    this.delivered = image.position
    // An image without a version was made by a version that knew only the first; at position 0 there is no order to continue.
    this.orderChain.reset(image.orderDigest ?? '', image.position === 0 ? this.newHistoryVersion : (image.orderDigestVersion ?? 1))
    this.agreedTime = image.time ?? 0
  }

  /** For tests only: replaces the machine's state outside the order (see `ReplicaEngine.corruptStateForTest`). */
  corruptForTest(corrupt: (state: S) => S): void {
    this.state = corrupt(this.state)
  }

  /** Number of client sessions kept. */
  get sessionCount(): number {
    return this.sessions.size
  }

  /** A restorer that rebuilds a state of this machine a chunk at a time, if the machine has one. */
  chunkRestorer(): ChunkRestorer<unknown> | undefined {
    return this.machine.snapshotChunks && this.machine.restoreChunks ? this.machine.chunkRestorer?.() : undefined
  }

  /** Digest of the machine state: equal on replicas that executed the same sequence. */
  digest(): string {
    return machineDigest(this.machine, this.state)
  }

  /**
   * The bytes whose hash is `digest()`, captured now (cheaply for a machine with `snapshotChunks`) and
   * produced as they are iterated, while requests go on executing: hash them a piece at a time.
   */
  digestLater(): { readonly position: number; readonly pieces: Iterable<Uint8Array> } {
    const image = captureMachine(this.machine, this.state)
    return { position: this.delivered, pieces: { [Symbol.iterator]: () => machinePieces(image) } }
  }

  /** The machine state as JSON (or its digest when the machine has no toJSON). */
  toJSON(): unknown {
    return this.machine.toJSON ? this.machine.toJSON(this.state) : { digest: this.digest() }
  }

  /** The machine's summary of its state (`StateMachine.summary`), or undefined when it has none. */
  summary(): JsonValue | undefined {
    return this.machine.summary?.(this.state)
  }
}

/** What a value is, for a message about what a machine returned. */
function described(value: unknown): string {
  if (value === null || value === undefined) return String(value)
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}
