/**
 * The world a scenario runs in: replica engines on a virtual clock, a network of
 * FIFO links whose messages move only when the scenario says so, partitions,
 * crashes and restarts, in-memory disks, and clients. It drives the engines only
 * through their public surface (constructor, `onClientMessage`, `onPeerMessage`,
 * `tick`, `flush`, `recover`, `snapshotData`, operator commands and getters), and
 * feeds every observation to the invariant checker.
 */
import type { ClientId, ReplicaToClient, Reply, Request, StateMachine } from '@lockstep/interface'
import { lamport } from '@lockstep/order-lamport'
import { realtime } from '@lockstep/order-realtime'
import { ReplicaEngine, decodePeerMessage, encodePeerMessage, type EngineSnapshot, type MembershipOptions, type PeerMessage, type RecoveredEntry } from '../../src/index'
import { formatClientMessage, formatCommand, formatMessage, formatRequest, formatView, isRoutine, messageKind, requestName } from './format'
import { InvariantChecker, label, type Incarnation, type Violation } from './invariants'

/** The ordering a scenario runs under. */
export type ScenarioOrderer = 'lamport' | 'realtime'

/**
 * The real-time orderer's bound Δ in scenarios: messages move only when the scenario says, so Test I
 * (the clock passed stamp + Δ) holds only after `run`/`tick` moved time by Δ; Test II and the flush work as
 * for Lamport. The replicas share the scenario's clock: no skew.
 */
export const SCENARIO_REALTIME_BOUNDS = { maxDelayMs: 20, maxSkewMs: 0 } as const

/** How the cluster is set up (`add-replicas`). */
export interface ClusterOptions {
  readonly replicas: number
  readonly spares: number
  readonly machine: StateMachine
  /** Failure detection and view changes; undefined runs the engines without them. */
  readonly membership: Required<MembershipOptions> | undefined
  /** Every replica keeps a disk (in memory) and restarts from it. */
  readonly durable: boolean
  /** The Lamport orderer's idle heartbeat interval. */
  readonly orderHeartbeatMs: number
  /** The engine's `transfer.suffixWindow` (its default when absent): 0 makes every transfer a whole state in chunks. */
  readonly suffixWindow?: number
}

/**
 * One line of output. `routine` lines (heartbeats, bare acknowledgements) are printed only in detail
 * `all`; `send` lines (messages sent) are left out in detail `outcomes`, which keeps what changed at the
 * replicas: deliveries, views, states, statuses, replies, warnings.
 */
interface Line {
  readonly text: string
  readonly routine: boolean
  readonly send?: boolean
}

/** How much a command prints: everything, all but routine messages, or only what changed at the replicas. */
export type Detail = 'all' | 'brief' | 'outcomes'

/** Something handed to one replica (a message, a tick, a request) and what it caused. */
interface EngineEvent {
  readonly header: Line | undefined
  readonly effects: Line[]
}

/** What a durable replica has on its disk: the host's write-ahead log, kept in memory. */
interface Disk {
  snapshot: EngineSnapshot | undefined
  /** What the disk holds synced: a crash keeps it. */
  log: RecoveredEntry[]
  /**
   * `hold-disk`: the disk stops syncing, as a slow fsync does. What is written waits in `unsynced` (a crash loses
   * it) until `sync-disk`, or until a vote is written (the host syncs a vote before it goes out, and with it
   * everything before it); the engine hears only of the deliveries synced (`durableUpTo`).
   */
  held: boolean
  unsynced: { readonly entry: RecoveredEntry; readonly delivery?: { readonly position: number; readonly request: string } }[]
  /** The position the disk holds synced (the engine's position while the disk does not lag). */
  syncedPosition: number
}

/** One run of a replica, from a start to its crash. */
interface Run extends Incarnation {
  readonly engine: ReplicaEngine
}

interface ReplicaSlot {
  readonly id: string
  /** The live run; undefined while down (or never started). */
  run: Run | undefined
  /** Number of starts so far. */
  starts: number
  disk: Disk | undefined
}

interface QueuedMessage {
  readonly from: string
  readonly to: string
  readonly message: unknown
}

interface ClientState {
  readonly id: ClientId
  seq: number
  readonly requests: Map<number, Request>
  /** Replies by seq: the first one received, and every replica that answered. */
  readonly replies: Map<number, { reply: Reply; from: string[] }>
  readonly outputs: { text: string; from: string }[]
  /** Replicas this client has a connection to (it submitted there since their last start). */
  readonly connected: Set<string>
}

/** Selects queued messages: a link (`r1->r2`), a sender (`r1->*`), a receiver (`r2`, `*->r2`), or everything. */
export interface MessageSelector {
  readonly from: string | undefined
  readonly to: string | undefined
}

/** A scenario command went wrong (bad arguments, an unknown replica): the message says what and what to do. */
export class ScenarioError extends Error {
  override readonly name = 'ScenarioError'
}

/** How many rounds `stabilize` runs before it gives up (something keeps sending). */
const MAX_ROUNDS = 500

export class InteractionEnv {
  private now = 0
  private options: ClusterOptions | undefined
  private readonly slots = new Map<string, ReplicaSlot>()
  /** Replicas configured for the cluster (members of the first view and spares). */
  private configured: string[] = []
  private initialMembers: string[] = []
  /** Queued messages per link `from->to`, in FIFO order. */
  private readonly links = new Map<string, QueuedMessage[]>()
  private readonly blocked = new Set<string>()
  /** Links whose sender's host refuses every send (a full link) until healed: `unreachable rN PEER full`. */
  private readonly full = new Set<string>()
  private readonly clients = new Map<ClientId, ClientState>()
  readonly checker = new InvariantChecker()
  /** The replicas whose disks held each delivery synced (`position|request`). */
  private readonly syncedHolders = new Map<string, Set<string>>()
  /** Print violations in the output instead of failing (`invariants record`, for scenarios that show a bug). */
  recordViolations = false
  private current: EngineEvent | undefined
  /**
   * The replicas' clock. Under Lamport ordering it is the scenario's time. Under the real-time orderer every
   * message delivered also moves it on by 1 µs, as messages take time in the world (else no replica's clock
   * would ever pass a stamp between two `run`s, and Test II could never hold); timers still fire only on
   * `tick` and `run`, and the printed times are the scenario's.
   */
  private readonly clock = { now: () => (this.orderer === 'lamport' ? this.now : this.now + this.messagesMoved / 1000) }
  private messagesMoved = 0

  /**
   * `orderer`: the ordering every replica of the scenario uses. The scenarios are written (and their
   * comments tell the story) under Lamport ordering; each also runs under the real-time orderer, whose
   * transcripts are kept in `test/scenarios/realtime/`.
   */
  constructor(readonly orderer: ScenarioOrderer = 'lamport') {}

  // ------------------------------------------------------------ setup

  /** Creates and starts replicas r1…rN (and configures spares rN+1…, not started). */
  addReplicas(options: ClusterOptions): string[] {
    if (this.options) throw new ScenarioError('add-replicas: the cluster is already set up (use it once per file)')
    this.options = options
    const total = options.replicas + options.spares
    this.configured = Array.from({ length: total }, (_, i) => `r${i + 1}`)
    this.initialMembers = this.configured.slice(0, options.replicas)
    for (const id of this.configured) this.slots.set(id, { id, run: undefined, starts: 0, disk: undefined })
    const majority = Math.floor(this.initialMembers.length / 2) + 1
    // With disks, a delivery fewer than a majority's disks synced is tentative, as the simulator's checkers hold
    // (`isTentative`): once every run that made it crashed or took another state, the cluster may resume from a
    // majority's disks without it. Without disks nothing may be lost (a view change carries what any member held).
    const durable = options.durable
    this.checker.disks((position, request) => durable && (this.syncedHolders.get(`${position}|${request}`)?.size ?? 0) < majority)
    const events: EngineEvent[] = []
    for (const id of this.initialMembers) events.push(...this.start(id, 'initial'))
    const lines = [`replicas ${this.initialMembers.join(' ')} in view ${formatView({ id: 1, members: this.initialMembers })}`]
    if (options.spares > 0) lines.push(`spares ${this.configured.slice(options.replicas).join(' ')} (not started)`)
    const m = options.membership
    lines.push(m ? `membership on: heartbeat ${m.heartbeatMs} ms, suspect after ${m.suspectAfterMs} ms, view-change timeout ${m.viewChangeTimeoutMs} ms` : 'membership off')
    const ordering = this.orderer === 'lamport' ? '' : `, real-time order (Δ = ${SCENARIO_REALTIME_BOUNDS.maxDelayMs} + ${SCENARIO_REALTIME_BOUNDS.maxSkewMs} ms)`
    const suffixes = options.suffixWindow === undefined ? '' : `, state transfers send at most ${options.suffixWindow} requests (else the whole state in chunks)`
    lines.push(`machine ${options.machine.name}, ${options.durable ? 'durable disks' : 'no disks'}, order heartbeat ${options.orderHeartbeatMs} ms${ordering}${suffixes}`)
    return [...lines, ...render(events, 'all')]
  }

  /** Starts a replica that is down: a configured spare (or a replica an operator admitted) asks to join. */
  startReplica(id: string): string[] {
    const slot = this.slot(id, { allowUnknown: true })
    if (slot.run) throw new ScenarioError(`start: ${id} is already running`)
    if (slot.starts > 0) throw new ScenarioError(`start: ${id} ran before; use 'restart ${id}'`)
    return [`${id} starts and asks to join`, ...render(this.start(id, 'join'), 'all')]
  }

  // ---------------------------------------------------------- clients

  /** A client sends a new request to a replica. It is not flushed: a burst ends at the next flush, tick or delivery. */
  submit(replica: string, client: ClientId, command: unknown, detail: Detail): string[] {
    const state = this.client(client)
    const seq = ++state.seq
    // Like the client library: every reply below the lowest unanswered request has arrived.
    let ackedBelow = seq
    for (const s of state.requests.keys()) if (!state.replies.has(s) && s < ackedBelow) ackedBelow = s
    const request: Request = { client, seq, command, ackedBelow }
    state.requests.set(seq, request)
    return this.sendRequest(replica, state, request, detail)
  }

  /** A client sends one of its earlier requests again, to any replica. */
  retry(replica: string, client: ClientId, seq: number | undefined, detail: Detail): string[] {
    const state = this.clients.get(client)
    if (!state || state.seq === 0) throw new ScenarioError(`retry: client ${client} has sent no request yet`)
    const which = seq ?? state.seq
    const request = state.requests.get(which)
    if (!request) throw new ScenarioError(`retry: client ${client} has no request #${which} (it sent #1…#${state.seq})`)
    return this.sendRequest(replica, state, request, detail)
  }

  /** A client asks a replica to send again the outputs numbered `from` on (the mutex grants it may have missed). */
  fetchOutputs(replica: string, client: ClientId, from: number): string[] {
    const state = this.client(client)
    const run = this.slot(replica).run
    if (!run) return [`${replica} is down: ${client} cannot reach it`]
    state.connected.add(replica)
    return render([this.handle(run, { text: `${client}->${replica} outputs from #${from}`, routine: false }, () => run.engine.onClientMessage(client, { type: 'outputs', from }), false)], 'all')
  }

  private sendRequest(replica: string, state: ClientState, request: Request, detail: Detail): string[] {
    const run = this.slot(replica).run
    const header = `${state.id}->${replica} ${formatRequest(request)}`
    if (!run) return [`${header} (lost: ${replica} is down)`]
    state.connected.add(replica)
    return render([this.handle(run, { text: header, routine: false }, () => run.engine.onClientMessage(state.id, { type: 'request', request }), false)], detail)
  }

  // ---------------------------------------------------------- network

  /** Delivers the queued messages `selectors` pick (all when empty), each link in FIFO order. */
  deliver(selectors: readonly MessageSelector[], kinds: readonly string[] | undefined, count: number | undefined, detail: Detail): string[] {
    const picked = this.pick(selectors, kinds, true).slice(0, count ?? Infinity)
    const events: EngineEvent[] = []
    for (const message of picked) {
      const event = this.deliverOne(message)
      if (event) events.push(event)
    }
    return render(events, detail)
  }

  /** Drops the queued messages `selectors` pick (held ones too). */
  drop(selectors: readonly MessageSelector[], kinds: readonly string[] | undefined): string[] {
    const picked = this.pick(selectors, kinds, false)
    for (const message of picked) this.unqueue(message)
    return picked.map((m) => `dropped ${m.from}->${m.to} ${formatMessage(m.message)}`)
  }

  /** Lists the queued messages, marking those a partition holds. */
  messages(selectors: readonly MessageSelector[], detail: Detail): string[] {
    const lines: string[] = []
    for (const message of this.pick(selectors, undefined, false)) {
      if (detail !== 'all' && isRoutine(message.message)) continue
      const held = this.blocked.has(linkKey(message.from, message.to)) ? ' (held by a partition)' : ''
      lines.push(`${message.from}->${message.to} ${formatMessage(message.message)}${held}`)
    }
    return lines
  }

  /** Cuts every link between the groups (a single group: between it and everyone else). Messages wait. */
  partition(groups: readonly (readonly string[])[]): string[] {
    const all = [...new Set([...this.slots.keys()])]
    const sides = groups.length === 1 ? [groups[0]!, all.filter((r) => !groups[0]!.includes(r))] : groups
    for (const group of sides) for (const id of group) this.slot(id)
    for (let i = 0; i < sides.length; i++) {
      for (let j = 0; j < sides.length; j++) {
        if (i === j) continue
        for (const a of sides[i]!) for (const b of sides[j]!) this.blocked.add(linkKey(a, b))
      }
    }
    return [`partitioned ${sides.map((s) => s.join(' ')).join(' | ')}`]
  }

  /** Cuts the link from `from` to `to` only (the other way goes on): what `from` sends `to` waits until `heal`. */
  cut(from: string, to: string): string[] {
    this.slot(from)
    this.slot(to)
    if (from === to) throw new Error(`cut: a replica has no link to itself ('${from}')`)
    this.blocked.add(linkKey(from, to))
    return [`cut ${from} -> ${to}`]
  }

  /** Restores every link, or the link from `from` to `to` only: held messages go on, in order. */
  heal(from?: string, to?: string): string[] {
    if (from !== undefined && to !== undefined) {
      this.slot(from)
      this.slot(to)
      const key = linkKey(from, to)
      if (!this.blocked.has(key) && !this.full.has(key)) throw new Error(`heal: the link ${from} -> ${to} is not cut`)
      const held = this.pick([], undefined, false).filter((m) => linkKey(m.from, m.to) === key).length
      this.blocked.delete(key)
      this.full.delete(key)
      return [`healed ${from} -> ${to} (${held} held message${held === 1 ? '' : 's'} can move again)`]
    }
    const held = this.pick([], undefined, false).filter((m) => this.blocked.has(linkKey(m.from, m.to))).length
    this.blocked.clear()
    this.full.clear()
    return [`healed (${held} held message${held === 1 ? '' : 's'} can move again)`]
  }

  /** Delivers everything until no message is in flight, round by round. */
  stabilize(detail: Detail): string[] {
    const lines: string[] = []
    const flushes = this.liveRuns().map((run) => this.handle(run, undefined, () => {}, true))
    const flushed = render(flushes, detail)
    if (flushed.length > 0) lines.push(...(detail === 'outcomes' ? flushed : ['> flush', ...flushed]))
    for (let round = 1; ; round++) {
      const inFlight = this.pick([], undefined, true)
      if (inFlight.length === 0) break
      if (round > MAX_ROUNDS) throw new ScenarioError(`stabilize: messages still in flight after ${MAX_ROUNDS} rounds (something keeps sending)`)
      const events: EngineEvent[] = []
      for (const message of inFlight) {
        const event = this.deliverOne(message)
        if (event) events.push(event)
      }
      const printed = render(events, detail)
      if (printed.length > 0) lines.push(...(detail === 'outcomes' ? printed : [`> round ${round}`, ...printed]))
    }
    return lines
  }

  // ------------------------------------------------------------- time

  /** Advances the clock by `ms`, then ticks (and flushes) every live engine. */
  tick(ms: number, detail: Detail): string[] {
    this.now += ms
    const events = this.liveRuns().map((run) => this.handle(run, undefined, () => run.engine.tick(), true))
    return [`t=${this.now}`, ...render(events, detail)]
  }

  /** Runs `ms` of time in steps: each step ticks every engine, then delivers until nothing is in flight. */
  runFor(ms: number, stepMs: number, detail: Detail): string[] {
    const steps: { time: number; lines: string[] }[] = []
    const until = this.now + ms
    while (this.now < until) {
      const step = Math.min(stepMs, until - this.now)
      const ticked = this.tick(step, detail).slice(1)
      const delivered = this.stabilize(detail)
      steps.push({ time: this.now, lines: [...ticked, ...delivered].map(indent) })
    }
    const lines = printSteps(steps)
    if (lines.length === 0) lines.push(`t=${this.now} (${detail === 'outcomes' ? 'no delivery, no view, no status change' : 'nothing but heartbeats'})`)
    return lines
  }

  /** Ends the current burst at replicas (all when empty): orderers send what they batched. */
  flush(replicas: readonly string[], detail: Detail): string[] {
    const runs = replicas.length === 0 ? this.liveRuns() : replicas.map((id) => this.liveRun(id, 'flush'))
    return render(runs.map((run) => this.handle(run, undefined, () => {}, true)), detail)
  }

  // ----------------------------------------------------------- faults

  /** Kills a replica: its memory and every message in flight to or from it are lost (its disk stays). */
  crash(id: string): string[] {
    const slot = this.slot(id)
    if (!slot.run) throw new ScenarioError(`crash: ${id} is not running`)
    this.checker.dropped(slot.run)
    slot.run = undefined
    const disk = slot.disk
    const unsynced = disk?.unsynced.flatMap((w) => (w.delivery ? [w.delivery] : [])) ?? []
    if (disk) {
      // The next run's disk syncs again until told otherwise.
      disk.unsynced = []
      disk.held = false
    }
    const lost = this.pick([{ from: id, to: undefined }, { from: undefined, to: id }], undefined, false)
    for (const message of lost) this.unqueue(message)
    for (const client of this.clients.values()) client.connected.delete(id)
    const notable = lost.filter((m) => !isRoutine(m.message))
    const routine = lost.length - notable.length
    const lines = [`${id} crashed${unsynced.length > 0 ? `; its disk lost the deliveries it had not synced (${positionsText(unsynced[0]!.position, unsynced[unsynced.length - 1]!.position)})` : ''}${notable.length > 0 ? '; lost in flight:' : ''}`]
    for (const m of notable) lines.push(`  ${m.from}->${m.to} ${formatMessage(m.message)}`)
    if (routine > 0) lines.push(`  (and ${routine} heartbeat${routine === 1 ? '' : 's'} or bare acknowledgement${routine === 1 ? '' : 's'})`)
    return lines
  }

  /** Starts a crashed replica again: from its disk (durable replicas' default) or with amnesia (empty, asks to join). */
  restart(id: string, mode: 'from-disk' | 'amnesia' | undefined): string[] {
    const slot = this.slot(id)
    if (slot.run) throw new ScenarioError(`restart: ${id} is running; crash it first`)
    if (slot.starts === 0) throw new ScenarioError(`restart: ${id} never ran; use 'start ${id}'`)
    const how = mode ?? (slot.disk ? 'from-disk' : 'amnesia')
    if (how === 'from-disk' && !slot.disk) throw new ScenarioError(`restart ${id} from-disk: ${id} has no disk (set up the cluster with durable=on)`)
    const events = this.start(id, how === 'from-disk' ? 'disk' : 'join')
    const run = slot.run!
    const where = how === 'from-disk' ? `from its disk` : 'with amnesia (empty state, asks to join)'
    return [`${label(run)} starts ${where}: ${run.engine.status} in view ${formatView(run.engine.view)} at position ${run.engine.position}`, ...render(events, 'all')]
  }

  /** The host could not send from `replica` to `peer` (with `full`: nor can it until `heal`, every send refused). */
  unreachable(replica: string, peer: string, full = false): string[] {
    const run = this.liveRun(replica, 'unreachable')
    this.slot(peer)
    if (full) this.full.add(linkKey(replica, peer))
    return render([this.handle(run, { text: `${replica} cannot send to ${peer}${full ? ' (its link stays full until healed)' : ''}`, routine: false }, () => run.engine.peerUnreachable(peer), true)], 'all')
  }

  // -------------------------------------------------------- operators

  /** Operator command at `via`: remove `replica`. */
  remove(replica: string, via: string): string[] {
    const run = this.liveRun(via, 'remove')
    return render([this.handle(run, { text: `operator at ${via}: remove ${replica}`, routine: false }, () => this.operator(() => run.engine.removeReplica(replica)), true)], 'all')
  }

  /** Operator command at `via`: admit `replica`. */
  admit(replica: string, via: string): string[] {
    const run = this.liveRun(via, 'admit')
    if (!this.slots.has(replica)) this.slots.set(replica, { id: replica, run: undefined, starts: 0, disk: undefined })
    return render([this.handle(run, { text: `operator at ${via}: admit ${replica}`, routine: false }, () => this.operator(() => run.engine.admitReplica(replica)), true)], 'all')
  }

  private operator(command: () => void): void {
    try {
      command()
    } catch (error) {
      const code = (error as { code?: string }).code
      this.current?.effects.push({ text: `refused: ${code ? `${code}: ` : ''}${(error as Error).message}`, routine: false })
    }
  }

  // ------------------------------------------------------ inspection

  /** Status of replicas (all when empty). */
  status(replicas: readonly string[], digest: boolean): string[] {
    const ids = replicas.length === 0 ? [...this.slots.keys()] : replicas
    return ids.map((id) => {
      const slot = this.slot(id)
      if (!slot.run) return `${id}: ${slot.starts === 0 ? 'not started' : 'down'}`
      const e = slot.run.engine
      const state = digest ? `digest=${e.stateDigest()}` : `state=${JSON.stringify(e.stateJSON())}`
      return `${label(slot.run)}: ${e.status} view=${formatView(e.view)} position=${e.position} pending=${e.pending} ${state}`
    })
  }

  /** What clients got: each request's reply (or that none came), then outputs caused by others. */
  replies(clients: readonly string[]): string[] {
    const ids = clients.length === 0 ? [...this.clients.keys()].sort() : clients
    const lines: string[] = []
    for (const id of ids) {
      const state = this.clients.get(id)
      if (!state) throw new ScenarioError(`replies: no client ${id} (clients: ${[...this.clients.keys()].sort().join(', ') || 'none'})`)
      for (const [seq, request] of state.requests) {
        const got = state.replies.get(seq)
        const name = `${requestName(request)} ${formatCommand(request.command)}`
        if (!got) lines.push(`${name}: no reply`)
        else lines.push(`${name}: ${formatClientMessage({ type: 'reply', from: '', reply: got.reply }).replace(/^reply \S+ /, '')} (from ${got.from.join(', ')})`)
      }
      for (const output of state.outputs) lines.push(`${id} ${output.text} (from ${output.from})`)
    }
    return lines
  }

  /** What a durable replica has on its disk. */
  disk(id: string): string[] {
    const slot = this.slot(id)
    if (!slot.disk) return [`${id}: no disk`]
    const lines: string[] = []
    const s = slot.disk.snapshot
    lines.push(s ? `snapshot: view ${formatView(s.view)} position ${s.position}` : 'snapshot: none')
    for (const entry of slot.disk.log) {
      if ('view' in entry) lines.push(`view ${formatView(entry.view)}`)
      else if ('votes' in entry) lines.push(`votes in view change ${entry.votes.instance}: promised ${entry.votes.promised ? `(${entry.votes.promised.round},${entry.votes.promised.coordinator})` : 'none'}${entry.votes.accepted ? `, accepted view ${formatView(entry.votes.accepted.value.view)}` : ''}`)
      else lines.push(`request ${formatRequest(entry.request)}`)
    }
    for (const { entry } of slot.disk.unsynced) lines.push(`not synced: ${'request' in entry ? `request ${formatRequest(entry.request)}` : 'view' in entry ? `view ${formatView(entry.view)}` : 'votes'}`)
    return lines
  }

  /** `hold-disk rN`: its disk stops syncing until `sync-disk rN` (see `Disk.held`). */
  holdDisk(id: string): string[] {
    const { disk, run } = this.runningDisk('hold-disk', id)
    disk.held = true
    disk.syncedPosition = run.engine.position
    return [`${id}'s disk holds position ${disk.syncedPosition} synced; what it writes next waits for sync-disk ${id}`]
  }

  /**
   * `lose-disk-tail rN requests=K`: the disk of a crashed replica loses the last K requests it had synced and every
   * record after them, leaving no trace (a disk that acknowledged an fsync and did not keep the writes; zeros where
   * they were read as the end of the log). Its next run starts from the shorter log, believing it whole.
   */
  loseDiskTail(id: string, requests: number): string[] {
    const slot = this.slot(id)
    if (slot.run) throw new ScenarioError(`lose-disk-tail: ${id} is running; crash it first`)
    if (!slot.disk) throw new ScenarioError(`lose-disk-tail: ${id} has no disk (set up the cluster with durable=on)`)
    if (requests < 1) throw new ScenarioError(`lose-disk-tail: requests must be at least 1, got ${requests}`)
    const log = slot.disk.log
    let cut = log.length
    for (let found = 0; found < requests; ) {
      cut--
      if (cut < 0) throw new ScenarioError(`lose-disk-tail: ${id}'s log holds fewer than ${requests} requests`)
      if ('request' in log[cut]!) found++
    }
    const lost = log.splice(cut)
    return [`${id}'s disk lost its last ${lost.length} record${lost.length === 1 ? '' : 's'} (${requests} request${requests === 1 ? '' : 's'}), with no trace`]
  }

  /** `sync-disk rN`: its disk syncs what waited, and syncs again at once from then on. */
  syncDisk(id: string): string[] {
    const { disk, run } = this.runningDisk('sync-disk', id)
    const waited = disk.unsynced.length
    const event = this.handle(run, undefined, () => {
      this.sync(id, disk)
      disk.held = false
    }, true)
    return [`${id}'s disk synced ${waited} record${waited === 1 ? '' : 's'}, up to position ${run.engine.position}`, ...render([event], 'all')]
  }

  /** A running durable replica's run and disk, for `command`; else a ScenarioError saying which is missing. */
  private runningDisk(command: string, id: string): { readonly run: Run; readonly disk: Disk } {
    const { run, disk } = this.slot(id)
    if (!run || !disk) throw new ScenarioError(`${command}: ${id} ${run ? 'has no disk (set up the cluster with durable=on)' : 'is not running'}`)
    return { run, disk }
  }

  /** Writes a record to a durable replica's disk: synced at once, or waiting while the disk is held. */
  private write(id: string, disk: Disk, entry: RecoveredEntry, delivery?: { readonly position: number; readonly request: string }): void {
    if (disk.held) {
      disk.unsynced.push(delivery ? { entry, delivery } : { entry })
      return
    }
    disk.log.push(entry)
    if (delivery) this.synced(id, disk, delivery)
  }

  /** Syncs what waited on a held disk (it stays held). */
  private sync(id: string, disk: Disk): void {
    for (const { entry, delivery } of disk.unsynced) {
      disk.log.push(entry)
      if (delivery) this.synced(id, disk, delivery)
    }
    disk.unsynced = []
  }

  private synced(id: string, disk: Disk, delivery: { readonly position: number; readonly request: string }): void {
    const key = `${delivery.position}|${delivery.request}`
    const holders = this.syncedHolders.get(key) ?? new Set<string>()
    holders.add(id)
    this.syncedHolders.set(key, holders)
    disk.syncedPosition = delivery.position
  }

  /** The machine the cluster runs. */
  get machine(): StateMachine {
    return this.requireCluster().machine
  }

  /** The current virtual time. */
  get time(): number {
    return this.now
  }

  /** After each command: polls every live replica's position and view, and returns the violations seen since the last call. */
  endStep(): Violation[] {
    for (const run of this.liveRuns()) {
      this.checker.position(run, run.engine.position)
      this.checker.view(run, run.engine.view)
    }
    return this.checker.take()
  }

  // -------------------------------------------------------- internals

  private start(id: string, mode: 'initial' | 'join' | 'disk' | 'amnesia'): EngineEvent[] {
    const options = this.requireCluster()
    const slot = this.slot(id, { allowUnknown: true })
    if (options.durable && (mode !== 'disk' || !slot.disk)) slot.disk = { snapshot: undefined, log: [], held: false, unsynced: [], syncedPosition: 0 }
    const disk = slot.disk
    const recovering = mode === 'disk' && disk !== undefined && (disk.snapshot !== undefined || disk.log.length > 0)
    const incarnation = ++slot.starts
    // The effects name this run, not the slot's current one (an old engine never speaks for a new run).
    const holder: { run?: Run } = {}
    const at = (): Run => holder.run!
    const engine: ReplicaEngine = new ReplicaEngine({
      self: id,
      machine: options.machine,
      orderer: this.orderer === 'lamport' ? lamport({ heartbeatMs: options.orderHeartbeatMs }) : realtime({ heartbeatMs: options.orderHeartbeatMs, ...SCENARIO_REALTIME_BOUNDS }),
      clock: this.clock,
      view: { id: 1, members: this.initialMembers },
      replicas: this.configured,
      membership: options.membership,
      ...(options.suffixWindow !== undefined && { transfer: { suffixWindow: options.suffixWindow } }),
      // Durable replicas answer only once a majority's disks hold a request (each disk here is written at once).
      durableReplies: options.durable && options.membership !== undefined,
      join: mode === 'join',
      // The cluster of `add-replicas` has started already; a replica restarted without its state starts fresh.
      startAs: mode === 'initial' ? 'member' : 'fresh',
      log: {
        debug: () => {},
        info: () => {},
        warn: (message) => this.effect(`${id} warns: ${message}`),
        error: (message) => this.effect(`${id} errs: ${message}`),
      },
      effects: {
        sendToPeer: (to, message) => this.send(id, to, message),
        sendToClient: (to, message) => this.toClient(at(), to, message),
        delivered: (position, request, executed) => {
          // as a replica host's log writes it: with the order digest's version when it is not 1
          const dv = at().engine.orderDigestVersion
          if (disk) this.write(id, disk, dv === 1 ? { request } : { request, dv }, { position, request: requestName(request) })
          this.checker.delivered(at(), position, requestName(request), executed, at().engine.status)
          this.effect(`${id} delivered ${position}: ${formatRequest(request)}${executed ? '' : ' (a duplicate: not executed again)'}`)
        },
        viewInstalled: (view, position, configuration, commit) => {
          if (disk) this.write(id, disk, commit ? { view, configuration, commit } : { view, configuration })
          this.checker.viewInstalled(at(), view, position)
          this.effect(`${id} installed view ${formatView(view)} at position ${position}`)
        },
        persistVotes: (votes) => {
          if (!disk) return
          // The vote goes out once it is synced, and the sync covers what was written before it.
          this.sync(id, disk)
          disk.log.push({ votes })
        },
        stateReplaced: (position) => {
          if (disk) {
            // Written at once (a lagging disk too): it replaces what the log held.
            disk.snapshot = at().engine.snapshotData()
            disk.log = []
            disk.unsynced = []
            disk.syncedPosition = position
          }
          this.checker.dropped(at())
          this.checker.position(at(), position)
          this.effect(`${id} took the state at position ${position}`)
        },
      },
    })
    const run: Run = { replica: id, incarnation, engine }
    holder.run = run
    slot.run = run
    const events: EngineEvent[] = []
    if (recovering) {
      events.push(this.handle(run, undefined, () => engine.recover(disk.snapshot, disk.log), false))
    } else if (disk && mode === 'initial') {
      // A cluster that has started: its initial view is on every disk, so a restart finds a non-empty disk.
      disk.log.push({ view: engine.view, configuration: this.configured.slice(0, this.initialMembers.length) })
    }
    this.checker.view(run, engine.view)
    return events
  }

  /** Hands one event to a replica, collecting what it caused; `flush` ends the burst as the host does. */
  private handle(run: Run, header: Line | undefined, fn: () => void, flush: boolean): EngineEvent {
    const outer = this.current
    const event: EngineEvent = { header, effects: [] }
    this.current = event
    const before = run.engine.status
    try {
      fn()
      // A disk here holds what it is given at once (unless held): tell the engine, as a host does after its sync.
      const slot = this.slots.get(run.replica)
      if (slot?.run === run && slot.disk) run.engine.durableUpTo(slot.disk.held ? slot.disk.syncedPosition : run.engine.position)
      if (flush && this.slots.get(run.replica)?.run === run) run.engine.flush()
    } finally {
      this.current = outer
    }
    const after = run.engine.status
    if (after !== before) event.effects.push({ text: `${run.replica} is now ${after}`, routine: false })
    this.checker.eventEnded(run)
    return event
  }

  private deliverOne(message: QueuedMessage): EngineEvent | undefined {
    this.unqueue(message)
    this.messagesMoved++
    const run = this.slots.get(message.to)?.run
    if (!run) return undefined
    const text = `${message.from}->${message.to} ${formatMessage(message.message)}`
    return this.handle(run, { text, routine: isRoutine(message.message) }, () => run.engine.onPeerMessage(message.from, decodePeerMessage(message.from, encodePeerMessage(message.message as PeerMessage))), true)
  }

  private send(from: string, to: string, message: unknown): void {
    const text = `${from}->${to} ${formatMessage(message)}`
    const routine = isRoutine(message)
    if (!this.slots.get(to)?.run) {
      this.effect(`${text} (lost: ${to} is down)`, routine, true)
      return
    }
    const key = linkKey(from, to)
    if (this.full.has(key)) {
      // The host's transport refuses it, and the host tells the engine at once (as ReplicaHost does).
      this.effect(`${text} (refused: the link is full)`, routine, true)
      this.slots.get(from)?.run?.engine.peerUnreachable(to)
      return
    }
    const queue = this.links.get(key) ?? []
    queue.push({ from, to, message })
    this.links.set(key, queue)
    this.effect(this.blocked.has(key) ? `${text} (held by a partition)` : text, routine, true)
  }

  private toClient(run: Run, to: ClientId, message: ReplicaToClient): void {
    const client = this.clients.get(to)
    if (!client || !client.connected.has(run.replica)) return // no connection: the transport drops it
    if (message.type === 'reply') {
      this.checker.reply(run.replica, message.reply)
      const known = client.replies.get(message.reply.seq)
      if (known && !known.from.includes(run.replica)) known.from.push(run.replica)
      else client.replies.set(message.reply.seq, { reply: message.reply, from: [run.replica] })
    } else {
      client.outputs.push({ text: formatClientMessage(message), from: run.replica })
    }
    this.effect(`${run.replica}->${to} ${formatClientMessage(message)}`)
  }

  private effect(text: string, routine = false, send = false): void {
    if (!this.current) throw new ScenarioError(`internal: an effect outside of any event: ${text}`)
    this.current.effects.push({ text, routine, send })
  }

  /** Queued messages matching the selectors (any of them; all when none) and kinds, links in sorted order. */
  private pick(selectors: readonly MessageSelector[], kinds: readonly string[] | undefined, deliverable: boolean): QueuedMessage[] {
    const picked: QueuedMessage[] = []
    for (const key of [...this.links.keys()].sort(compareLinks)) {
      if (deliverable && this.blocked.has(key)) continue
      for (const message of this.links.get(key)!) {
        const selected = selectors.length === 0 || selectors.some((s) => (s.from === undefined || s.from === message.from) && (s.to === undefined || s.to === message.to))
        if (selected && (!kinds || kinds.includes(messageKind(message.message)))) picked.push(message)
      }
    }
    return picked
  }

  private unqueue(message: QueuedMessage): void {
    const key = linkKey(message.from, message.to)
    const queue = this.links.get(key)
    const index = queue?.indexOf(message) ?? -1
    if (index >= 0) queue!.splice(index, 1)
    if (queue && queue.length === 0) this.links.delete(key)
  }

  private client(id: ClientId): ClientState {
    let state = this.clients.get(id)
    if (!state) {
      state = { id, seq: 0, requests: new Map(), replies: new Map(), outputs: [], connected: new Set() }
      this.clients.set(id, state)
    }
    return state
  }

  private liveRuns(): Run[] {
    return [...this.slots.values()].sort((a, b) => compareIds(a.id, b.id)).flatMap((s) => (s.run ? [s.run] : []))
  }

  /** Throws unless `name` is one of the scenario's replicas or a client that sent something: what a message selector may name. */
  checkEndpoint(name: string): void {
    if (this.slots.has(name) || this.clients.has(name)) return
    const clients = [...this.clients.keys()]
    throw new ScenarioError(`no replica or client '${name}' (replicas: ${[...this.slots.keys()].join(', ')}; clients: ${clients.length > 0 ? clients.join(', ') : 'none yet'})`)
  }

  private liveRun(id: string, command: string): Run {
    const run = this.slot(id).run
    if (!run) throw new ScenarioError(`${command}: ${id} is down`)
    return run
  }

  private slot(id: string, { allowUnknown = false } = {}): ReplicaSlot {
    this.requireCluster()
    let slot = this.slots.get(id)
    if (!slot && allowUnknown && /^r\d+$/.test(id)) {
      slot = { id, run: undefined, starts: 0, disk: undefined }
      this.slots.set(id, slot)
    }
    if (!slot) throw new ScenarioError(`unknown replica '${id}' (replicas: ${[...this.slots.keys()].join(', ')})`)
    return slot
  }

  private requireCluster(): ClusterOptions {
    if (!this.options) throw new ScenarioError('no cluster yet: start the file with add-replicas')
    return this.options
  }
}

/** Prints events: each header, then what it caused indented under it (headerless events print flat). */
function render(events: readonly EngineEvent[], detail: Detail): string[] {
  // Runs of identical events (a backlog of heartbeats, each answered alike) print once, with a count.
  const runs: { lines: string[]; times: number }[] = []
  for (const event of events) {
    const effects = event.effects.filter((e) => (detail === 'all' || !e.routine) && (detail !== 'outcomes' || !e.send))
    let lines: string[]
    if (detail === 'outcomes' || !event.header) {
      lines = effects.map((e) => e.text)
    } else {
      if (detail === 'brief' && event.header.routine && effects.length === 0) continue
      lines = [event.header.text, ...effects.map((e) => indent(e.text))]
    }
    if (lines.length === 0) continue
    const last = runs.at(-1)
    if (event.header && detail !== 'outcomes' && last && last.lines.length === lines.length && last.lines.every((l, i) => l === lines[i])) last.times++
    else runs.push({ lines, times: 1 })
  }
  return runs.flatMap(({ lines, times }) => (times === 1 ? lines : [`${lines[0]} (${times} times)`, ...lines.slice(1)]))
}

/** The most steps a repeating cycle of `run` may span (heartbeats every step, joins every third…). */
const MAX_CYCLE_STEPS = 12

/**
 * Prints the steps of `run` that did something, each under its time. A cycle of steps that repeats
 * (a stalled cluster retrying the same thing) prints once, then one line says how often it repeated.
 */
function printSteps(steps: readonly { time: number; lines: string[] }[]): string[] {
  const out: string[] = []
  const same = (a: number, b: number) => steps[a]!.lines.length === steps[b]!.lines.length && steps[a]!.lines.every((l, i) => l === steps[b]!.lines[i])
  let i = 0
  while (i < steps.length) {
    // The cycle starting here that repeats at least twice more and covers the most steps.
    let best = { period: 0, repeats: 0 }
    for (let period = 1; period <= MAX_CYCLE_STEPS && i + 3 * period <= steps.length; period++) {
      let repeats = 0
      while (i + (repeats + 2) * period <= steps.length && Array.from({ length: period }, (_, k) => k).every((k) => same(i + k, i + (repeats + 1) * period + k))) repeats++
      const busy = steps.slice(i, i + period).some((step) => step.lines.length > 0)
      if (busy && repeats >= 2 && repeats * period > best.repeats * best.period) best = { period, repeats }
    }
    const period = best.period || 1
    for (const step of steps.slice(i, i + period)) if (step.lines.length > 0) out.push(`t=${step.time}`, ...step.lines)
    if (best.repeats > 0) {
      const last = steps[i + (best.repeats + 1) * period - 1]!.time
      out.push(`(the ${period === 1 ? 'step' : `${period} steps`} above repeat${period === 1 ? 's' : ''} ${best.repeats} more time${best.repeats === 1 ? '' : 's'}, until t=${last})`)
    }
    i += period * (best.repeats + 1)
  }
  return out
}

function indent(line: string): string {
  return `  ${line}`
}

function linkKey(from: string, to: string): string {
  return `${from}->${to}`
}

function compareIds(a: string, b: string): number {
  const na = Number(a.replace(/^\D+/, ''))
  const nb = Number(b.replace(/^\D+/, ''))
  return na !== nb && Number.isFinite(na) && Number.isFinite(nb) ? na - nb : a < b ? -1 : a > b ? 1 : 0
}

function compareLinks(a: string, b: string): number {
  const [af, at] = a.split('->') as [string, string]
  const [bf, bt] = b.split('->') as [string, string]
  return compareIds(af, bf) || compareIds(at, bt)
}

/** `position 3`, or `positions 2-3`. */
function positionsText(first: number, last: number): string {
  return first === last ? `position ${first}` : `positions ${first}-${last}`
}
