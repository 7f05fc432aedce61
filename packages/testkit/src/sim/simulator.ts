import { ErrorCodes, LockstepError, type OrdererFactory, type OutputNotice, type RandomSource, type Reply } from '@lockstep/interface'
import type { Trace, TraceRecorder } from '@lockstep/trace'
import { describeHolders } from '@lockstep/core'
import { byzantine, digestOf, first, majority, type VoterFactory } from '@lockstep/voting'
import type { Operation } from '../lincheck/operation'
import { checkAgreedTime, checkAgreement, checkOrder } from './checkers/agreement-order'
import { checkCompleteness } from './checkers/completeness'
import { ConfigurationReports } from './checkers/configuration-reports'
import { checkDivergedReplies, type SentReply } from './checkers/diverged-replies'
import { DiskHoldings } from './checkers/disk-holdings'
import { checkExactlyOnce } from './checkers/exactly-once'
import { isTentative, type Delivery, type IncarnationRecord, type MajorityDurable } from './checkers/incarnation-record'
import { checkLiveness, describeStall } from './checkers/liveness'
import { checkStaysSettled } from './checkers/stays-settled'
import { checkStateDigests } from './checkers/state-digests'
import { ClientFleet, outputKey, requestKey } from './client-fleet'
import { FaultInjector, failoverTimes, type InstalledView } from './fault-injector'
import { DEFAULT_DELAY_SPIKE_MAX_MS, DEFAULT_SKEW_BEYOND_MS, drawFaultSchedule, overlapOnlyFaultKinds, shuffle, type FaultEvent, type FaultKind } from './faults'
import type { LieOptions } from './lying-replica'
import { checkVotedAnswers } from './checkers/voted-answers'
import type { ViolationLocations } from './checkers/violation-locations'
import { OverlappingFaultInjector } from './overlapping-fault-injector'
import { SeededRandom } from './prng'
import type { ClockOptions } from './replica-clock'
import { RunTracer } from './run-tracer'
import { describeDiskLoss, SimCluster } from './sim-cluster'
import { workloads, type Workload } from './workloads'

/**
 * An ordering strategy as the simulator runs it: a name (for the rerun
 * command) and a factory that may draw its parameters (heartbeat interval,
 * batch size) from the seed.
 */
export interface OrdererSpec {
  readonly name: string
  /** `world` says what the run's timing assumptions must cover (an orderer that rests on none may ignore it). */
  create(random: RandomSource, world?: SimulatedWorld): OrdererFactory
}

/** What a simulated run's world does, for an orderer with timing assumptions to cover (see `OrdererSpec.create`). */
export interface SimulatedWorld {
  /**
   * The most two replicas' clocks differ during the run, outside clock faults: twice the drawn offset bound, plus
   * twice the drift bound over the run's horizon (`clocks`). 0 when every clock reads the virtual time. A clock
   * beyond it is the `skew` fault's.
   */
  readonly clockDifferenceMaxMs: number
}

/** One simulated run's configuration. Everything random is drawn from `seed`. */
export interface SimulationOptions {
  readonly seed: number
  readonly workload: Workload
  /** The ordering strategy under test. */
  readonly orderer: OrdererSpec
  /** Number of replicas (2F+1). Default 3. */
  readonly replicas?: number
  /** Number of concurrent clients. Default 3. */
  readonly clients?: number
  /** Total requests across all clients. Default 100. */
  readonly ops?: number
  /**
   * Requests each client keeps in flight, from 1 to 1,000: each client runs this many workload loops at once on its
   * one `LockstepClient` (one id, one incarnation, one request numbering; the replicas' session table sees a client
   * that pipelines, acknowledging below its lowest pending request), and the history names each loop as a process
   * of its own (`c1.1` … `c1.K`). A client restart abandons every request in flight. `ops` stays the total over all
   * clients. Workloads that need one request in flight per client (the mutex: see `singleRequestInFlight`) refuse
   * more. Default 1.
   */
  readonly inFlight?: number
  /** Faults to inject (drawn from the seed). Default none. Any fault turns on failure detection and view changes. */
  readonly faults?: readonly FaultKind[]
  /**
   * Overlapping faults in a modelled world (default for fault runs): faults strike at any moment while the
   * workload runs, under a strict budget of at most F faulty replicas at once (see `FaultBudget`); blackouts
   * restart the replicas one by one; restarts use each replica's usual options (no join flag); disks take
   * virtual time to sync; clients may restart (`client-restart`); and a request that waits longer than
   * `stallBoundMs` while at most F replicas are faulty is a liveness violation. `false`: one fault at a time,
   * each waiting until the cluster recovered from the last, during `faultWindowMs`.
   */
  readonly overlap?: boolean
  /**
   * Most messages a link between replicas holds on their way before sends on it are refused (BACKPRESSURE), as
   * a TCP link refuses them past its buffer while the peer is stalled or cut off: the sender suspects the peer,
   * and the peer misses the refused messages. 0: no bound. Default: with overlapping faults, drawn from the seed
   * (no bound, 16 or 64 messages, a third of the runs each); otherwise no bound.
   */
  readonly linkCapacity?: number
  /**
   * Links between replicas hold what was on its way to a crashed replica (and what is sent to it while it is down)
   * for its next run, as TCP links do (see `SimClusterOptions.heldForRestart`). Default false.
   */
  readonly heldForRestart?: boolean
  /**
   * Links between replicas first connect at a time drawn between 0 and this many ms (see
   * `SimClusterOptions.connectDelayMaxMs`), as TCP connections may take a while to set up: with `heldForRestart`,
   * what was sent meanwhile may reach a peer's next run. Default 0.
   */
  readonly connectDelayMaxMs?: number
  /**
   * Give every replica a disk that loses what was not synced when it crashes: replies wait for the sync,
   * and crashed replicas restart from their disks. Needed for the `blackout` fault. Default false.
   */
  readonly durable?: boolean
  /**
   * Faults happen during this much virtual time from the start. Default: 3,000 ms one at a time; with
   * overlapping faults, until the clients have done nine tenths of their requests.
   */
  readonly faultWindowMs?: number
  /** Liveness bound: once faults stop (and, overlapping, the last one healed), every client must finish within this much virtual time. Default 30,000 ms. */
  readonly recoveryBoundMs?: number
  /** Overlapping faults: no request may wait longer than this while at most F replicas are faulty. Default 10,000 ms. */
  readonly stallBoundMs?: number
  /** Give up (a liveness violation) after this much virtual time: without faults, or with overlapping faults. Default 600,000 ms. */
  readonly maxTimeMs?: number
  /**
   * Give each replica its own clock, offset and drift drawn from the seed (see `ClockOptions`). Default none:
   * every replica reads the virtual time. Keep them within the orderer's skew bound: beyond it is a `skew` fault.
   */
  readonly clocks?: ClockOptions
  /**
   * A `skew` fault sets one replica's clock off by between this and three times this (ms), ahead or behind.
   * Choose it above the orderer's skew bound. Default 50 (ten times the simulator orderers' largest bound).
   */
  readonly skewBeyondMs?: number
  /** A `delay` fault adds between 20 ms and this much to every link (ms); above the orderer's Δ, requests arrive late. Default 100. */
  readonly delaySpikeMaxMs?: number
  /**
   * What the rerun command passes as `--machine`: for a custom machine, the path of a module exporting
   * `machine` and `randomCommand` (`'./counter.mjs'`), which `lockstep sim --machine` loads. Default: the
   * built-in machine's name for the testkit's own workloads; for any other workload a placeholder that says
   * this option is missing (the simulator cannot know which module holds the machine).
   */
  readonly machineArg?: string
  /** Receives every replica's log lines, stamped with virtual time (for debugging a seed), and every fault. */
  readonly trace?: (line: string) => void
  /**
   * How every client votes on the replicas' answers: `first` (the default: the first answer wins), `majority`, or
   * `byzantine` (t+1 identical answers, t = F). See `@lockstep/voting`.
   */
  readonly voter?: VoterName
  /** With the `lie` fault: how many replicas lie, from 1 (the default) to F; drawn from the seed. */
  readonly liars?: number
  /** With the `lie` fault: how they lie (see `LieOptions`). Default `outputs`. */
  readonly lieMode?: 'outputs' | 'state'
  /**
   * Record the run's trace (`@lockstep/trace`) into this recorder: every message, delivery, view, status change,
   * fault and client request; the result's `trace` holds it, with the violations and the deliveries they name.
   */
  readonly record?: TraceRecorder
}

/** The voters the simulator (and `lockstep sim --voter`) knows by name. */
export const voterNames = ['first', 'majority', 'byzantine'] as const
export type VoterName = (typeof voterNames)[number]

/** The voter named, for a cluster of `replicas`: `byzantine` tolerates t = F lying replicas. */
export function voterByName(name: VoterName, replicas: number): VoterFactory {
  if (name === 'majority') return majority()
  if (name === 'byzantine') return byzantine(Math.floor((replicas - 1) / 2))
  return first()
}

/** The rerun command's `--machine`: `machineArg`, a built-in machine's name, or a placeholder the CLI rejects with its meaning. */
function machineArgument(options: SimulationOptions): string {
  if (options.machineArg !== undefined) return options.machineArg
  if (workloads[options.workload.name] === options.workload) return options.workload.name
  // A machine's name alone is not something `lockstep sim` can load (it once printed `--machine counter`).
  return "'<a module exporting machine and randomCommand: give simulate() its path as machineArg>'"
}

/** The most requests a simulated client keeps in flight (`inFlight`), as `lockstep bench --in-flight` allows. */
export const MAX_IN_FLIGHT = 1_000

/** Faults overlap unless a run says otherwise. */
export const OVERLAP_BY_DEFAULT = true

/** The outcome of one run. */
export interface SimulationResult {
  readonly seed: number
  readonly ok: boolean
  /** What went wrong; empty when every check passed. */
  readonly violations: readonly string[]
  /** Requests the clients completed. */
  readonly operations: number
  /** Virtual time the run took. */
  readonly virtualTimeMs: number
  /** Messages sent on the simulated network. */
  readonly messages: number
  /** Events the scheduler ran. */
  readonly events: number
  /** The exact command that reruns this seed. */
  readonly rerun: string
  /** The network's delay model drawn for this seed. */
  readonly delay: { readonly minMs: number; readonly maxMs: number }
  /** With durable overlapping runs: the most a disk's sync took (each sync draws between 0 and this). */
  readonly syncLatencyMaxMs: number
  /** The faults injected, at the virtual time they struck. */
  readonly faults: readonly FaultEvent[]
  /**
   * Overlapping faults: F, the most replicas seen faulty at once outside blackouts (never above F), and
   * whether a blackout left more than F replicas without their state until the end (no liveness is owed then);
   * `stateMayBeLostAtEnd`: without disks, the replicas holding the state failed while the others took it, and the
   * run ended so (no liveness is owed then either; see `OverlappingFaultInjector.stateMayBeLost`).
   */
  readonly faultBudget?: { readonly limit: number; readonly peak: number; readonly exceededByBlackoutAtEnd: boolean; readonly stateMayBeLostAtEnd: boolean }
  /**
   * With the `replace` fault: the replacements that took effect (the spare `by` serves in a view that has it in its
   * configuration, in place of `replaced`), when the operator saw it, and the replicas the operator means to be the
   * configuration at the end.
   */
  readonly replacements?: { readonly done: readonly { readonly replaced: string; readonly by: string; readonly atMs: number }[]; readonly membersAtEnd: readonly string[] }
  /**
   * With the `full` fault: how many disks filled up, and how many of those stopped their replica (a write refused)
   * before the operator made room (each was then started again from its disk).
   */
  readonly diskFull?: { readonly struck: number; readonly stopped: number }
  /**
   * With `lost-tail` faults: how many struck, how many synced records their disks lost in all, and what the replicas
   * said of it (`ReplicaEngine.diskLosses`: `r1 saw r3's disk at 30 after 41`): a loss is seen only when a peer heard
   * the replica report more than a majority held before, and its report after the restart.
   */
  readonly lostTail?: { readonly struck: number; readonly records: number; readonly said: readonly string[] }
  /**
   * What the replicas reported as their views' configurations (what `lockstep status` shows), read every
   * millisecond: how many views had a serving member report one, and how many reports of replicas not serving in
   * the view they named (joining it, or naming their older view once left out) were checked against those.
   */
  readonly configurationReports: { readonly views: number; readonly reportsChecked: number }
  /**
   * With liars or a voter other than `first`: the voter, the lying replicas and how they lied, how often each
   * replica's answers were outvoted (over every client), and how many answers the clients took that no correct
   * replica gave (each is also a violation).
   */
  readonly voting?: {
    readonly voter: VoterName
    readonly liars: readonly string[]
    readonly lieMode: 'outputs' | 'state'
    readonly dissent: Readonly<Record<string, number>>
    readonly wrongAnswers: number
    /**
     * `state` mode: the correct replicas that hold a state taken whole from a liar (or from a replica that took
     * one) at the end, each said as "r3 took the state at position 110 from r1" (every source of it a liar or a
     * holder of a liar's state), and those that take none because a liar's state disputes the right one ("r3
     * takes no state in view 15: …"). Such a replica answers from a wrong state or not at all, and then fewer
     * than t + 1 correct replicas may serve: no liveness is owed (`livenessOwed` false; docs/voting.md,
     * "Limits"), and a holder of a liar's state is not compared with the others.
     */
    readonly stateFromLiars?: readonly string[]
    /** False when the run ended with clients unfinished while a correct replica held a liar's state. */
    readonly livenessOwed?: boolean
  }
  /** Views installed (by any replica), beyond the first. */
  readonly viewChanges: number
  /**
   * Overlapping runs whose replicas all served again at one position after every fault ended: when that was, and
   * how many view installations (by any replica) came after it. The check that a settled cluster stops changing views allows a view
   * change a grace period after settling (one under way may finish late); a seed that once made one for nothing can
   * demand none.
   */
  readonly settled?: { readonly atMs: number; readonly viewsAfter: number }
  /** Virtual time from the start of each crash or partition to the next view installed without the victims. */
  readonly failoverMs: readonly number[]
  /** The client-visible history (register and kv workloads). */
  readonly history: readonly Operation[]
  /** With `inFlight` above 1: the requests each client was to keep in flight, and the most one client run had at once. */
  readonly pipelining?: { readonly inFlight: number; readonly peak: number }
  /**
   * Timing faults the orderers detected, over every incarnation: `timingViolations` (a request after its
   * deadline) and `skewViolations` (a clock beyond the skew bound), from orderers with `stats()` (the real-time
   * orderer; 0 otherwise), and `divergences`: how many times a replica's orderer lost its guarantee and the
   * engine stopped it serving (`OrdererContext.diverged`), with the replicas it happened to; of them,
   * `divergencesOutsideConfiguration` struck a replica outside its own configuration at that moment (a spare not
   * admitted yet, or a replica removed: see the `spare-clock` fault).
   */
  readonly timing: { readonly timingViolations: number; readonly skewViolations: number; readonly divergences: number; readonly divergedReplicas: readonly string[]; readonly divergencesOutsideConfiguration: number }
  /** With `record`: the run's trace. */
  readonly trace?: Trace
}

/**
 * Why a run with overlapping faults ended owing no liveness, or undefined if it owed it: a blackout left more
 * than F replicas without their state, or, without disks, the replicas holding the state failed while the others
 * took it. Such a run's unfinished requests are not checked, so a stall at that moment passes unseen: callers
 * count these runs (the compliance suite allows none by default).
 */
export function noLivenessOwed(result: SimulationResult): string | undefined {
  if (result.faultBudget?.exceededByBlackoutAtEnd) return 'a blackout left more than F replicas without their state'
  if (result.faultBudget?.stateMayBeLostAtEnd) return 'without disks, the replicas holding the state failed while the others took it'
  if (result.voting?.livenessOwed === false) return `a correct replica holds a lying replica's state, or takes none because a liar's disputes the right one (${result.voting.stateFromLiars!.join('; ')}): docs/voting.md, "Limits"`
  return undefined
}

/** One delivery as the run records it: rolled back later, or held by the incarnation's disk. */
interface RecordedDelivery extends Delivery {
  superseded?: boolean
  afterWholeStateTransfer?: boolean
  durable?: boolean
  inTransferredState?: boolean
  answered?: boolean
  /** The replica's digest of the whole order up to this delivery (see `ReplicaEngine.orderDigest`). */
  readonly orderDigest?: string
}

/** What one incarnation delivered, filled in while the run goes. */
interface LiveIncarnation {
  readonly replica: string
  readonly number: number
  readonly deliveries: RecordedDelivery[]
  /** Its state's deliveries by position (not rolled back), and the first position its disk may not hold. */
  readonly current: Map<number, RecordedDelivery>
  notDurableFrom: number
  /** It took a whole transferred state since its last delivery (see `Delivery.afterWholeStateTransfer`). */
  tookWholeState: boolean
  alive: boolean
  lostWithMajority?: boolean
  /** The highest position it reported its disk held (`onDurable`), since it last took a whole state. */
  reportedDurable: number
  /** How many times its orderer had lost its guarantee (`ReplicaEngine.divergences`) when it last took a transferred state. */
  divergencesAtLastTransfer?: number
}

/**
 * Records one incarnation's deliveries: a delivery at or below its last position means it took a transferred
 * state that rolled the later ones back; its disk's progress marks which ones a majority may hold.
 */
function recordDelivery(incarnation: LiveIncarnation, delivery: RecordedDelivery): void {
  rollBack(incarnation, delivery.position)
  if (incarnation.tookWholeState) delivery.afterWholeStateTransfer = true
  incarnation.tookWholeState = false
  incarnation.deliveries.push(delivery)
  incarnation.current.set(delivery.position, delivery)
}

/** The incarnation's deliveries from `from` on are no longer its state's (it took a transferred state). */
function rollBack(incarnation: LiveIncarnation, from: number): void {
  for (const [position, earlier] of incarnation.current) {
    if (position < from) continue
    earlier.superseded = true
    incarnation.current.delete(position)
  }
  incarnation.notDurableFrom = Math.min(incarnation.notDurableFrom, from)
}

function recordDurable(incarnation: LiveIncarnation, upTo: number, disks: DiskHoldings): void {
  for (; incarnation.notDurableFrom <= upTo; incarnation.notDurableFrom++) {
    const delivery = incarnation.current.get(incarnation.notDurableFrom)
    if (!delivery || delivery.durable) continue
    delivery.durable = true
    disks.held(incarnation.replica, delivery)
  }
}

/** Overlapping faults stop striking once the clients completed this share of their requests (without `faultWindowMs`)… */
const FAULTS_UNTIL_SHARE_DONE = 0.9
/** …or after this much virtual time. */
const FAULT_WINDOW_CAP_MS = 20_000
/** How often (virtual ms) the simulator looks for a request stuck beyond the stall bound. */
const STALL_CHECK_EVERY_MS = 100
/** How often (virtual time) the replicas' reported configurations are read (see `ConfigurationReports`). */
const CONFIGURATION_SAMPLE_EVERY_MS = 1
/** After the clients finished and every fault ended, the replicas must all serve again within this. */
const SETTLE_BOUND_MS = 10_000

/**
 * Runs a whole cluster in one process on virtual time: N replicas over the memory network with seeded delays
 * (messages on different links overtake each other), C clients running the workload (each with `inFlight`
 * requests in flight), and optionally faults drawn from the seed (crashes, restarts with and without state,
 * partitions, slow replicas, delay spikes, blackouts, client restarts). Then checks the run: no two replicas
 * delivered different requests at the same position, no request executed twice, every submitted and every
 * acknowledged request executed, equal state digests on the live replicas, liveness within bounds, and the
 * workload's own checks.
 */
export async function simulate(options: SimulationOptions): Promise<SimulationResult> {
  const replicaCount = options.replicas ?? 3
  const clientCount = options.clients ?? 3
  const ops = options.ops ?? 100
  const faultKinds = options.faults ?? []
  const overlap = faultKinds.length > 0 && (options.overlap ?? OVERLAP_BY_DEFAULT)
  const durable = options.durable === true
  const recoveryBoundMs = options.recoveryBoundMs ?? 30_000
  const stallBoundMs = options.stallBoundMs ?? 10_000
  const faultWindowMs = options.faultWindowMs ?? 3_000
  const maxTimeMs = faultKinds.length > 0 && !overlap ? faultWindowMs + recoveryBoundMs : (options.maxTimeMs ?? 600_000)
  if (faultKinds.includes('blackout') && !durable) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, "the 'blackout' fault needs durable replicas (durable: true, --durable): without disks nothing survives it")
  }
  if (faultKinds.includes('lost-tail') && !durable) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, "the 'lost-tail' fault needs durable replicas (durable: true, --durable): it makes a replica's disk lose records it had synced")
  }
  if (faultKinds.includes('full') && !durable) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, "the 'full' fault needs durable replicas (durable: true, --durable): it fills a replica's disk")
  }
  const overlapOnly = faultKinds.find((kind) => overlapOnlyFaultKinds.includes(kind))
  if (overlapOnly && !overlap) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `the '${overlapOnly}' fault needs overlapping faults (overlap: true, --overlap)`)
  if (faultKinds.includes('spare-clock') && !faultKinds.includes('replace')) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, "the 'spare-clock' fault sets the clocks of spares an operator brings in: it needs the 'replace' fault too (faults: [..., 'replace', 'spare-clock'], --faults replace,spare-clock)", { path: 'faults' })
  }
  const inFlight = options.inFlight ?? 1
  if (!(Number.isInteger(inFlight) && inFlight >= 1 && inFlight <= MAX_IN_FLIGHT)) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `simulate: inFlight must be a whole number of requests per client from 1 to ${MAX_IN_FLIGHT} (got ${String(inFlight)})`, { path: 'inFlight' })
  }
  if (inFlight > 1 && options.workload.singleRequestInFlight !== undefined) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `simulate: inFlight ${inFlight} with the ${options.workload.name} workload (--in-flight ${inFlight}): ${options.workload.singleRequestInFlight}`, { path: 'inFlight' })
  }
  const faultsArg = faultKinds.length > 0 ? ` --faults ${faultKinds.join(',')}${overlap ? ' --overlap' : ' --no-overlap'}` : ''
  const f = Math.floor((replicaCount - 1) / 2)
  const voterName = options.voter ?? 'first'
  if (!(voterNames as readonly string[]).includes(voterName)) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `simulate: unknown voter '${String(voterName)}': choose from ${voterNames.join(', ')}`, { path: 'voter' })
  const lying = faultKinds.includes('lie')
  const liarCount = lying ? (options.liars ?? 1) : 0
  if (!lying && options.liars) throw new LockstepError(ErrorCodes.INVALID_CONFIG, "simulate: liars need the 'lie' fault (faults: [..., 'lie'], --faults lie)", { path: 'liars' })
  if (lying && !(Number.isInteger(liarCount) && liarCount >= 1 && liarCount <= f)) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `simulate: ${String(liarCount)} liars among ${replicaCount} replicas: choose from 1 to F = ${f} (more could outvote the correct replicas)`, { path: 'liars' })
  }
  const lieMode = options.lieMode ?? 'outputs'
  const votingArgs = `${voterName === 'first' ? '' : ` --voter ${voterName}`}${lying ? ` --liars ${liarCount}${lieMode === 'outputs' ? '' : ` --lie-mode ${lieMode}`}` : ''}`
  const { clocks, skewBeyondMs = DEFAULT_SKEW_BEYOND_MS, delaySpikeMaxMs = DEFAULT_DELAY_SPIKE_MAX_MS } = options
  for (const [name, value, least] of [['skewBeyondMs', skewBeyondMs, 0], ['delaySpikeMaxMs', delaySpikeMaxMs, 20]] as const) {
    if (!(Number.isFinite(value) && value >= least)) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `simulate: ${name} must be a number >= ${least} (got ${value})`, { path: name })
  }
  const timingArgs = [
    clocks?.maxOffsetMs ? ` --clock-offset-ms ${clocks.maxOffsetMs}` : '',
    clocks?.maxDriftPpm ? ` --clock-drift-ppm ${clocks.maxDriftPpm}` : '',
    (faultKinds.includes('skew') || faultKinds.includes('drift') || faultKinds.includes('spare-clock')) && skewBeyondMs !== DEFAULT_SKEW_BEYOND_MS ? ` --skew-beyond-ms ${skewBeyondMs}` : '',
    faultKinds.includes('delay') && delaySpikeMaxMs !== DEFAULT_DELAY_SPIKE_MAX_MS ? ` --delay-spike-ms ${delaySpikeMaxMs}` : '',
  ].join('')
  const rerun = `npx lockstep sim --machine ${machineArgument(options)} --replicas ${replicaCount} --order ${options.orderer.name} --clients ${clientCount}${inFlight > 1 ? ` --in-flight ${inFlight}` : ''} --ops ${ops}${faultsArg}${durable ? ' --durable' : ''}${timingArgs}${votingArgs}${options.linkCapacity !== undefined ? ` --link-capacity ${options.linkCapacity}` : ''}${options.heldForRestart === true ? ' --held-for-restart' : ''}${(options.connectDelayMaxMs ?? 0) > 0 ? ` --connect-delay-ms ${options.connectDelayMaxMs}` : ''} --seed ${options.seed}`

  // Every draw comes from the seed, in a fixed order: the delay model, the network's own source, the
  // orderer's parameters, (overlapping faults) the disks' sync latency and the clients' pace, the fault
  // schedule, the retry interval, then one source per client.
  const random = new SeededRandom(options.seed)
  const maxDelay = random.pick([0, 1, 2, 5, 10, 20])
  const delay = { minMs: maxDelay === 0 ? 0 : random.int(0, Math.floor(maxDelay / 2)), maxMs: maxDelay }
  const networkRandom = random.fork()
  const clockDifferenceMaxMs = clocks ? 2 * (clocks.maxOffsetMs ?? 0) + (2 * (clocks.maxDriftPpm ?? 0) * maxTimeMs) / 1e6 : 0
  const ordererFactory = options.orderer.create(random.fork(), { clockDifferenceMaxMs })
  const world = overlap ? random.fork() : undefined
  const diskRandom = world?.fork()
  const syncLatencyMaxMs = world && durable ? world.pick([0, 0.5, 1, 2, 5]) : 0
  const syncLatencyMs = syncLatencyMaxMs > 0 ? () => diskRandom!.next() * syncLatencyMaxMs : undefined
  // With overlapping faults the workload paces itself to last about `paceMs`, so that faults strike while it
  // runs: each client loop thinks a while between requests (with more loops per client, each issues fewer).
  const paceRandom = world?.fork()
  const paceMs = world ? world.pick([300, 1_000, 2_000, 4_000]) : 0
  const thinkMeanMs = (paceMs * clientCount * inFlight) / Math.max(1, ops)
  const thinkMs = paceRandom && thinkMeanMs > 0 ? () => paceRandom.next() * 2 * thinkMeanMs : undefined

  // Drawn from a source of its own, so that the rest of the run draws exactly what it did before links had one.
  const drawnCapacity = overlap ? new SeededRandom((options.seed ^ 0x6c696e6b) >>> 0).pick([0, 16, 64]) : 0
  const linkCapacity = (options.linkCapacity ?? drawnCapacity) || undefined
  const connectDelayMaxMs = options.connectDelayMaxMs ?? 0

  const incarnations: LiveIncarnation[] = []
  /** The replicas whose disk held each delivery. */
  const disks = new DiskHoldings()
  /** Replicas that reported their disk held more of the order than they found on it when they started again (see `onStarted`). */
  const durabilityClaims: string[] = []
  /**
   * Replicas whose disk lost synced records (`lost-tail`) since they last started: the next start from that disk may
   * hold less than they reported, by the fault's design (see `onStarted`).
   */
  const lostTails = new Set<string>()
  /** Every replica a `lost-tail` fault hit: the only ones a replica may say lost what its disk had synced. */
  const lostTailVictims = new Set<string>()
  /** Each crashed replica's last report of how far its disk held the order, with that disk. */
  const lastClaims = new Map<string, { readonly run: number; readonly position: number; readonly disk: object; readonly atMs: number }>()
  // A blackout (more than F replicas down at once) loses a majority's memory: every incarnation that died
  // since the cluster was last whole may have lost deliveries nobody acknowledged.
  let diedSinceAllUp: LiveIncarnation[] = []
  const viewsInstalled: InstalledView[] = []
  // What each replica reports as its view's configuration, read every millisecond of virtual time (see `ConfigurationReports`).
  const configurationReports = new ConfigurationReports()
  let configurationSampledAtMs = -Infinity
  /** The last reply each replica sent for each `key position`, with the state it came from. */
  const sentReplies = new Map<string, { readonly incarnation: LiveIncarnation; readonly state: [number, string][] }>()
  // The liars, drawn from a source of their own (runs without them draw exactly what they always did).
  const liars = lying ? shuffle(new SeededRandom((options.seed ^ 0x6c696521) >>> 0), [...Array.from({ length: replicaCount }, (_, i) => `r${i + 1}`)]).slice(0, liarCount).sort() : []
  const liarOptions: Record<string, LieOptions> = Object.fromEntries(liars.map((id, i) => [id, { seed: (options.seed * 31 + i) >>> 0, mode: lieMode }]))
  /** `state` mode: the correct replicas holding a state taken whole from a liar (or from one of these), and how they got it. */
  const stateFromLiars = new Map<string, string>()
  /** A replica that answers from a wrong state by design: a liar in `state` mode, or a correct replica holding one's state. */
  const wrongStateByDesign = (replica: string) => lieMode === 'state' && (liars.includes(replica) || stateFromLiars.has(replica))
  /** Correct replicas that take no state because a liar's state disputes the right one (see `StateTransfer.confirm`). */
  const refusedForLiars = new Map<string, string>()
  /**
   * A correct replica holds a liar's state, or takes none because a liar's disputes the right one: then fewer than
   * t + 1 correct replicas may serve, and no liveness is owed (docs/voting.md, "Limits").
   */
  const stuckOnLiarsState = (): boolean => {
    for (const host of cluster.running()) {
      const refusal = host.engine.transferRefused
      const replica = host.engine.self
      if (refusal === undefined || wrongStateByDesign(replica)) continue
      const holders = Object.entries(refusal.holders)
      if (!holders.some(([, h]) => h.some(wrongStateByDesign))) continue
      refusedForLiars.set(replica, `${replica} takes no state in view ${refusal.view}: ${describeHolders(holders)}`)
    }
    return stateFromLiars.size > 0 || refusedForLiars.size > 0
  }
  /** With voting checks: the digests of the answers correct replicas sent, by request key and by output key. */
  const voting = liars.length > 0 || voterName !== 'first'
  const correctAnswers = new Map<string, Set<string>>()
  const noteCorrect = (key: string, value: unknown) => {
    const digests = correctAnswers.get(key) ?? new Set<string>()
    digests.add(answerDigest(value))
    correctAnswers.set(key, digests)
  }
  // `replace` brings in new machines: spares rN+1… (as many as replicas), listed in every replica's configuration.
  const spareCount = faultKinds.includes('replace') ? replicaCount : 0
  const tracer = options.record ? new RunTracer(options.record, () => cluster.scheduler.now(), Array.from({ length: replicaCount + spareCount }, (_, i) => `r${i + 1}`)) : undefined
  const cluster: SimCluster = new SimCluster({
    // A replica that stops on an unexpected error (a machine's method that throws, a bug) is a failed run with its
    // rerun command, not an exception out of `simulate`: the others go on without it, as in a real cluster.
    engineFailures: 'keep',
    network: tracer?.network,
    afterEvent: () => {
      tracer?.afterEvent(cluster)
      const now = cluster.scheduler.now()
      // Once per millisecond of virtual time: a report lasts as long as the replica's view or status (milliseconds at least).
      if (now < configurationSampledAtMs + CONFIGURATION_SAMPLE_EVERY_MS) return
      configurationSampledAtMs = now
      for (const host of cluster.running()) configurationReports.sample(host.engine, now)
    },
    machine: options.workload.machine,
    orderer: ordererFactory,
    replicas: replicaCount,
    ...(spareCount > 0 && { spares: spareCount }),
    random: networkRandom,
    delay,
    ...(linkCapacity !== undefined && { linkCapacity }),
    ...(options.heldForRestart === true && { heldForRestart: true }),
    ...(connectDelayMaxMs > 0 && { connectDelayMaxMs, connectRandom: new SeededRandom((options.seed ^ 0x636f6e6e) >>> 0) }),
    // Failure detection and view changes (SimCluster's defaults) only in runs where something can fail.
    membership: faultKinds.length > 0 || durable ? undefined : false,
    durable,
    syncLatencyMs,
    trace: options.trace,
    // Drawn from a source of their own, so that runs without clocks draw exactly what they always did.
    clocks,
    clockRandom: clocks ? new SeededRandom((options.seed ^ 0x2545f491) >>> 0) : undefined,
    incarnationRandom: new SeededRandom((options.seed ^ 0x1b873593) >>> 0),
    liars: liarOptions,
    observeReplica: (replica, number) => {
      const incarnation: LiveIncarnation = { replica, number, deliveries: [], current: new Map(), notDurableFrom: 1, tookWholeState: false, alive: true, reportedDurable: 0 }
      incarnations.push(incarnation)
      return {
        onDeliver: (position, request, executed, time, orderDigest) => {
          tracer?.delivered(replica, number, position, request, executed)
          recordDelivery(incarnation, { position, key: requestKey(request.client, request.incarnation, request.seq), executed, time, orderDigest })
        },
        // Whatever a replica reported its disk held, the others counted toward a majority (replies, view changes):
        // started again from the same disk, it must hold at least that much of the order (a wiped disk is a new one).
        onStarted: (position) => {
          const claim = lastClaims.get(replica)
          lastClaims.delete(replica)
          if (lostTails.delete(replica)) {
            // Its disk lost what it had synced past `position` (a `lost-tail` fault): it no longer holds those deliveries,
            // and one that a majority's disks held with it may now be held by fewer.
            disks.lost(replica, position)
            return
          }
          if (!claim || claim.disk !== cluster.disks.get(replica) || position >= claim.position) return
          durabilityClaims.push(`durability: ${replica} (run ${claim.run}) reported that its disk held the order up to position ${claim.position}, but started again from that disk (run ${number}, after a crash at ${claim.atMs.toFixed(1)} ms) it held the order up to ${position} and no further: the others may have counted what it lost toward a majority`)
        },
        onDurable: (position) => {
          incarnation.reportedDurable = Math.max(incarnation.reportedDurable, position)
          recordDurable(incarnation, position, disks)
        },
        // The whole state replaced its own: what it delivered before is not its state any more (its disk's
        // snapshot holds the transferred state, whose deliveries other incarnations recorded). But when its own
        // order up to that position was the state's (equal digests of the order there), the requests it delivered
        // up to there are still executed in the state it took, at the same positions (their agreed times may
        // differ: a request retried after a loss enters again with a new time): the others may never have
        // recorded them, as replicas that took them as a suffix or from their disks record no delivery.
        // Likewise for every other incarnation whose order up to that position is the one transferred (a suffix
        // taken from a replica that delivered it in a view change's flush): the requests it delivered up to there
        // are in the state this replica now holds, even if that incarnation later loses its own.
        onStateTransferred: (position, wholeState, orderDigest, sources) => {
          incarnation.divergencesAtLastTransfer = cluster.host(replica).engine.divergences
          if (wholeState && lieMode === 'state' && !liars.includes(replica)) {
            // `sources` hold the state taken (they served it or said its digest): one correct replica among them
            // vouches for it (a liar that has not drifted yet holds the right state too).
            if (sources.length > 0 && sources.every(wrongStateByDesign)) stateFromLiars.set(replica, `${replica} took the state at position ${position} from ${sources.join(', ')}`)
            else stateFromLiars.delete(replica)
          }
          if (orderDigest !== undefined && orderDigest !== '') {
            for (const other of incarnations) {
              if (other.current.get(position)?.orderDigest !== orderDigest) continue
              for (const [at, delivery] of other.current) if (at <= position) delivery.inTransferredState = true
            }
          }
          if (!wholeState) return
          rollBack(incarnation, 1)
          incarnation.notDurableFrom = position + 1
          incarnation.tookWholeState = true
          incarnation.reportedDurable = 0
        },
        onViewInstalled: (view, position) => {
          tracer?.viewInstalled(replica, view, position)
          viewsInstalled.push({ atMs: cluster.scheduler.now(), members: view.members })
        },
        // A reply at a position: remember the state it came from (the requests this incarnation holds up to there).
        onClientMessage: (_client, message) => {
          // What a correct replica answers (a liar's engine computes correctly in mode `outputs`: it lies on the way
          // out; in mode `state` neither a liar nor a replica holding a liar's state answers correctly).
          if (voting && !wrongStateByDesign(replica)) {
            const m = message as { type?: unknown; reply?: Reply; output?: OutputNotice }
            if (m.type === 'reply' && m.reply) noteCorrect(requestKey(m.reply.client, m.reply.incarnation, m.reply.seq), m.reply)
            if (m.type === 'output' && m.output) noteCorrect(outputKey(m.output.to, m.output.incarnation, m.output.outputSeq), m.output)
          }
          const reply = (message as { type?: unknown; reply?: { client: string; incarnation?: number; seq: number; position?: number } }).reply
          if ((message as { type?: unknown }).type !== 'reply' || reply?.position === undefined) return
          const key = requestKey(reply.client, reply.incarnation, reply.seq)
          const answered = incarnation.current.get(reply.position)
          if (answered?.key === key) answered.answered = true
          const state: [number, string][] = []
          for (const [position, delivery] of incarnation.current) if (position <= reply.position) state.push([position, delivery.key])
          sentReplies.set(`${replica} ${key} ${reply.position}`, { incarnation, state })
        },
        onCrash: () => {
          tracer?.crashed(replica)
          incarnation.alive = false
          // What it reported its disk held must come back when it restarts from that disk (see `onStarted`).
          const disk = cluster.disks.get(replica)
          if (disk && incarnation.reportedDurable > 0) lastClaims.set(replica, { run: number, position: incarnation.reportedDurable, disk, atMs: cluster.scheduler.now() })
          else lastClaims.delete(replica)
          const down = cluster.members.filter((id) => !cluster.isRunning(id)).length
          // One at a time, the cluster was whole if this was the only replica down; overlapping, if every other one serves.
          const wasWhole = overlap ? cluster.members.every((id) => id === replica || cluster.isServing(id)) : down <= 1
          diedSinceAllUp = wasWhole ? [incarnation] : [...diedSinceAllUp, incarnation]
          if (down > f) for (const lost of diedSinceAllUp) lost.lostWithMajority = true
        },
      }
    },
  })
  const { scheduler, network, replicaIds } = cluster
  await cluster.start()

  const violations: string[] = []
  let gated: FaultInjector | undefined
  let overBudgetAtEnd = false
  let liarsStateAtEnd = false
  let stateMayBeLostAtEnd = false
  let settledAtMs: number | undefined
  let overlapping: OverlappingFaultInjector | undefined
  if (overlap) {
    const striking = options.faultWindowMs !== undefined
      ? () => scheduler.now() < faultWindowMs
      : () => fleet.operations < FAULTS_UNTIL_SHARE_DONE * ops && !fleet.allFinished && scheduler.now() < FAULT_WINDOW_CAP_MS
    overlapping = new OverlappingFaultInjector(cluster, {
      kinds: faultKinds.filter((kind) => kind !== 'lie'),
      liars,
      blackoutSpacingMs: stallBoundMs + 2_000,
      delay,
      random: random.fork(),
      striking,
      restartClient: (r, downtimeMs) => fleet.restart(r, downtimeMs),
      skewBeyondMs,
      delaySpikeMaxMs,
      onFault: (fault) => {
        if (fault.kind === 'lost-tail') {
          for (const victim of fault.replicas) {
            lostTails.add(victim)
            lostTailVictims.add(victim)
          }
        }
        options.trace?.(`${scheduler.now().toFixed(1).padStart(8)} FAULT ${describeFault(fault)}`)
      },
    })
  } else {
    gated = new FaultInjector(cluster, { kinds: faultKinds, windowMs: faultWindowMs, delay })
    gated.schedule(drawFaultSchedule(random.fork(), faultKinds, replicaIds, faultWindowMs, { skewBeyondMs, delaySpikeMaxMs }))
  }
  const retryAfterMs = faultKinds.length > 0 ? random.pick([50, 100, 300]) : random.pick([15, 40, 200, 5_000])
  const fleet = new ClientFleet({ cluster, workload: options.workload, clients: clientCount, ops, inFlight, retryAfterMs, violations, thinkMs, voter: voterByName(voterName, replicaCount), recordAccepted: voting })
  for (let c = 0; c < clientCount; c++) await fleet.start(c, random.fork())
  overlapping?.start()

  if (overlapping) {
    const injector = overlapping
    // Run until every client finished; stop early at a stall, or when the clients overran the bound after the last fault.
    let stall: string | undefined
    let nextStallCheck = 0
    let deferredCancelled = false
    const quietAt = () => {
      if (injector.quietSinceMs === undefined) return undefined
      if (!deferredCancelled) {
        // No fault strikes any more, client restarts included.
        fleet.cancelDeferredRestarts()
        deferredCancelled = true
      }
      return fleet.restartsPending > 0 ? undefined : Math.max(injector.quietSinceMs, fleet.lastRestartAtMs)
    }
    await cluster.runWhile(() => {
      if (fleet.allFinished) return false
      const now = scheduler.now()
      const blackout = injector.blackoutInForce()
      if (now >= nextStallCheck) {
        const stateMayBeLost = injector.stateMayBeLost()
        nextStallCheck = now + STALL_CHECK_EVERY_MS
        const breach = injector.checkBudget()
        if (breach && !violations.includes(breach)) violations.push(breach)
        const oldest = blackout || stateMayBeLost ? undefined : fleet.oldestInFlight()
        if (oldest) {
          const [key, sentAtMs] = oldest
          const waitingSinceMs = Math.max(sentAtMs, injector.blackoutEndedAtMs)
          if (now - waitingSinceMs > stallBoundMs) {
            stall = describeStall({ key, sentAtMs, waitingSinceMs, nowMs: now, boundMs: stallBoundMs, f, faulty: injector.describeFaulty(), replicas: cluster.describe() })
            return false
          }
        }
      }
      const quiet = quietAt()
      if (quiet !== undefined && now > quiet + recoveryBoundMs) return false
      return now <= maxTimeMs
    })
    // A blackout that left more than F replicas without their state (disks that had not synced yet) takes the
    // cluster beyond what any protocol recovers from: no liveness is owed then (the safety checks still apply).
    overBudgetAtEnd = !fleet.allFinished && injector.blackoutInForce()
    // So does a run without disks whose replicas holding the state failed while the others took it (see
    // `stateMayBeLost`).
    stateMayBeLostAtEnd = !fleet.allFinished && !overBudgetAtEnd && injector.stateMayBeLost()
    // So does a correct replica holding a lying replica's state (see `SimulationResult.voting.stateFromLiars`).
    liarsStateAtEnd = !fleet.allFinished && stuckOnLiarsState()
    if (stall && !liarsStateAtEnd) violations.push(stall)
    else if (!fleet.allFinished && !overBudgetAtEnd && !stateMayBeLostAtEnd && !liarsStateAtEnd) {
      const quiet = quietAt()
      const bound = quiet === undefined ? `${maxTimeMs}ms (faults were still striking or healing)` : `${recoveryBoundMs}ms after the last fault healed (at ${Math.round(quiet)}ms)`
      violations.push(...checkLiveness({ clients: clientCount, finished: fleet.finished, operations: fleet.operations, bound, replicas: cluster.describe() }))
    }
    // End every fault, bring back the replicas that were to come back, and let them all catch up.
    await injector.endAll()
    // A replacement the operator still works on changes the view once more: the cluster has not settled before it is done.
    const settled = await cluster.runUntil(() => caughtUp(cluster, 'every replica serves') && !injector.replacing(), SETTLE_BOUND_MS)
    if (!settled && fleet.allFinished && violations.length === 0 && !injector.blackoutInForce() && !injector.stateMayBeLost()) {
      const pending = injector.replacementsPending()
      violations.push(pending.length > 0
        ? `liveness: ${SETTLE_BOUND_MS}ms after every fault ended, the operator's replacement of ${pending.join(', ')} had not taken effect (each admission sent through the serving members of the newest view): ${cluster.describe()}`
        : `liveness: ${SETTLE_BOUND_MS}ms after every fault ended, the replicas did not all serve again at one position: ${cluster.describe()}`)
    }
    if (settled) {
      settledAtMs = scheduler.now()
      violations.push(...(await checkStaysSettled(cluster, () => viewsInstalled.length)))
    }
    violations.push(...injector.membershipAnomalies)
  } else {
    // Run until every client finished (within the liveness bound).
    await cluster.runWhile(() => !fleet.allFinished && scheduler.now() <= maxTimeMs)
    const bound = faultKinds.length > 0 ? `${recoveryBoundMs}ms after the faults stopped (at ${faultWindowMs}ms)` : `${maxTimeMs}ms`
    liarsStateAtEnd = !fleet.allFinished && stuckOnLiarsState()
    if (!liarsStateAtEnd) violations.push(...checkLiveness({ clients: clientCount, finished: fleet.finished, operations: fleet.operations, bound }))
    // Heal everything, bring crashed replicas back, and let every live replica catch up.
    await gated?.endAll()
    const settleBy = scheduler.now() + 10_000
    await cluster.runWhile(() => !caughtUp(cluster, gated?.restarts ? 'every replica runs' : 'the running ones') && scheduler.now() <= settleBy)
  }

  // The checks. A divergent order makes the other delivery checks meaningless, so it stands alone.
  const { acknowledgedAt } = fleet
  const records = incarnations.map((incarnation) => incarnationRecord(incarnation, cluster, durable))
  const majorityDurable = durable ? disks.majorityDurable(f + 1) : undefined
  const locations: ViolationLocations = new Map()
  const order = checkOrder(records, acknowledgedAt, majorityDurable, locations)
  violations.push(...order)
  if (order.length === 0) {
    violations.push(
      ...checkExactlyOnce(records, acknowledgedAt, majorityDurable, locations),
      ...checkCompleteness(records, { submitted: fleet.submitted, acknowledged: fleet.acknowledged, allFinished: fleet.allFinished, abandoned: fleet.abandoned }),
      ...checkAgreement(records),
      ...checkAgreedTime(records, acknowledgedAt, majorityDurable, locations),
    )
    const recordOf = new Map(incarnations.map((incarnation, i) => [incarnation, records[i]!]))
    const sent = (replica: string, key: string, position: number): SentReply | undefined => {
      // A liar whose machine computes a wrong state (or a replica that took one's state) sends replies from it:
      // only the vote may stop them.
      if (wrongStateByDesign(replica)) return undefined
      const reply = sentReplies.get(`${replica} ${key} ${position}`)
      return reply && { incarnation: recordOf.get(reply.incarnation)!, state: reply.state }
    }
    violations.push(...checkDivergedReplies(records, { acknowledgedAt, acknowledgedFrom: fleet.acknowledgedFrom, sent, majorityDurable }))
  }
  // A liar whose machine computes a wrong state has its own digest, by design; so has a replica that took its state.
  // A replica an operator replaced (`replace`) is nobody's concern any more: it may hold an old state.
  const serving = cluster.running().filter((host) => host.engine.status === 'normal' && !wrongStateByDesign(host.engine.self) && cluster.members.includes(host.engine.self))
  const wrong = voting ? checkVotedAnswers(fleet.accepted, correctAnswers, answerDigest) : []
  violations.push(...wrong)
  if (violations.length === 0) {
    violations.push(...checkStateDigests(serving.map((host) => ({ replica: host.engine.self, position: host.engine.position, digest: host.engine.stateDigest() }))))
  }
  if (fleet.allFinished) {
    const positionOf = executedPositions(records, acknowledgedAt, majorityDurable, fleet.operationRequests)
    violations.push(...options.workload.check({ history: fleet.history, events: fleet.events, positionOf }))
  }

  violations.push(...configurationReports.violations())
  violations.push(...durabilityClaims)
  // Only the `lost-tail` fault makes a disk lose what it synced: a replica that says another replica's disk did is
  // wrong, and an operator told so at error level would look for a fault that is not there.
  const lossReports = cluster.diskLossReports()
  const falseLosses = lossReports.filter((loss) => !lostTailVictims.has(loss.replica))
  if (falseLosses.length > 0) {
    const said = falseLosses.map(describeDiskLoss).join('; ')
    const others = lostTailVictims.size > 0 ? ` (only the disks of ${[...lostTailVictims].sort().join(', ')} lost some, by the lost-tail fault)` : ''
    violations.push(`storage: a replica said a peer's disk lost records it had synced, but no disk lost any${others}: ${said}`)
  }
  // Replicas that stopped on an unexpected error come first: what follows from them (a stall) comes after. A replica
  // that stops again on the same error after its restarts is told once, with how often.
  const stopped = new Map<string, number>()
  for (const failure of cluster.stoppedOnErrors) stopped.set(failure, (stopped.get(failure) ?? 0) + 1)
  violations.unshift(...[...stopped].map(([failure, times]) => (times === 1 ? failure : `${failure} (${times} times)`)))
  violations.push(...cluster.failures.filter((failure) => !stopped.has(failure)).map((failure) => `simulator: ${failure}`))
  violations.push(...cluster.sentAfterStop.map((breach) => `fail-stop: ${breach}`))
  const injected = overlapping?.injected ?? gated?.injected ?? []
  const failoverMs = overlapping ? failoverTimes(injected.filter((fault) => fault.kind === 'crash' || fault.kind === 'partition').map((fault) => ({ atMs: fault.atMs, victims: fault.replicas })), viewsInstalled) : (gated?.failoverMs(viewsInstalled) ?? [])
  const ordererStats = cluster.ordererStats()
  const divergedBy = cluster.divergences()
  const timing = {
    timingViolations: ordererStats.timingViolations ?? 0,
    skewViolations: ordererStats.skewViolations ?? 0,
    divergences: Object.values(divergedBy).reduce((sum, count) => sum + count, 0),
    divergedReplicas: Object.keys(divergedBy).sort(),
    divergencesOutsideConfiguration: Object.values(cluster.divergencesOutsideConfiguration()).reduce((sum, count) => sum + count, 0),
  }
  const endMs = scheduler.now()
  fleet.close()
  await cluster.stop()
  // Clients that never finished wait on virtual time that no longer runs: do not wait for them.
  if (fleet.allFinished) await Promise.all(fleet.loops)

  return {
    seed: options.seed,
    ok: violations.length === 0,
    violations,
    operations: fleet.operations,
    virtualTimeMs: scheduler.now(),
    messages: network.stats.sent,
    events: scheduler.eventsRun,
    rerun,
    delay,
    syncLatencyMaxMs,
    faults: injected,
    ...(overlapping ? { faultBudget: { limit: overlapping.budget.limit, peak: overlapping.peakFaulty, exceededByBlackoutAtEnd: overBudgetAtEnd, stateMayBeLostAtEnd } } : {}),
    ...(overlapping && spareCount > 0 ? { replacements: { done: overlapping.replacements, membersAtEnd: [...cluster.members] } } : {}),
    configurationReports: configurationReports.counts(),
    ...(overlapping && faultKinds.includes('full') ? { diskFull: { struck: injected.filter((fault) => fault.kind === 'full').length, stopped: overlapping.diskFullStops } } : {}),
    ...(overlapping && faultKinds.includes('lost-tail') ? { lostTail: lostTailStats(injected, lossReports.map(describeDiskLoss)) } : {}),
    ...(voting
      ? {
          voting: {
            voter: voterName,
            liars,
            lieMode,
            dissent: Object.fromEntries([...fleet.dissent].sort()),
            wrongAnswers: wrong.length,
            ...(lieMode === 'state' ? { stateFromLiars: [...stateFromLiars.values(), ...refusedForLiars.values()].sort(), livenessOwed: !liarsStateAtEnd } : {}),
          },
        }
      : {}),
    viewChanges: viewsInstalled.length,
    ...(settledAtMs === undefined ? {} : { settled: { atMs: settledAtMs, viewsAfter: viewsInstalled.filter((view) => view.atMs > settledAtMs!).length } }),
    failoverMs,
    history: fleet.history,
    ...(inFlight > 1 ? { pipelining: { inFlight, peak: fleet.peakInFlight } } : {}),
    timing,
    ...(tracer ? { trace: finishTrace(tracer, injected, { seed: options.seed, rerun, violations, locations, clients: clientCount, endMs }) } : {}),
  }
}

/** The run's trace: its faults added (the injectors list them with their times), then the violations. */
function finishTrace(tracer: RunTracer, injected: readonly FaultEvent[], run: Parameters<RunTracer['finish']>[0]): Trace {
  tracer.faults(injected, describeFault)
  return tracer.finish(run)
}

/**
 * True when the replicas caught up: the ones in status normal are at one position with nothing pending, and
 * they are every replica (`every replica runs`), or every running replica serves in a view that includes it
 * (`every replica serves`: a replica crashed for good stays down).
 */
function caughtUp(cluster: SimCluster, who: 'the running ones' | 'every replica runs' | 'every replica serves'): boolean {
  const hosts = cluster.running().filter((host) => host.engine.status === 'normal')
  if (hosts.length === 0) return false
  const positions = new Set(hosts.map((host) => host.engine.position))
  if (positions.size !== 1 || !hosts.every((host) => host.engine.pending === 0)) return false
  if (who === 'every replica runs') return hosts.length === cluster.replicaIds.length
  return who === 'the running ones' || cluster.members.every((id) => !cluster.isRunning(id) || cluster.isServing(id))
}

/** `SimulationResult.lostTail`. */
function lostTailStats(injected: readonly FaultEvent[], said: readonly string[]): NonNullable<SimulationResult['lostTail']> {
  const struck = injected.filter((fault) => fault.kind === 'lost-tail')
  return { struck: struck.length, records: struck.reduce((sum, fault) => sum + (fault.lostRecords ?? 0), 0), said }
}

/** One line per fault for traces: `crash r2 for 340ms`, `client-restart c3 after 12ms`. */
function describeFault(fault: FaultEvent): string {
  if (fault.kind === 'client-restart') return `client-restart ${fault.client} after ${fault.durationMs}ms`
  if (fault.kind === 'skew') return `skew ${fault.replicas.join(',')} ${(fault.offsetMs ?? 0) > 0 ? '+' : ''}${fault.offsetMs ?? 0}ms for ${fault.durationMs}ms`
  if (fault.kind === 'drift') return `drift ${fault.replicas.join(',')} to ${(fault.offsetMs ?? 0) > 0 ? '+' : ''}${fault.offsetMs ?? 0}ms over ${fault.rampMs ?? 0}ms, for ${fault.durationMs}ms`
  if (fault.kind === 'cut') return `cut: the link ${fault.replicas.join(',')} ${fault.way === 'out' ? '->' : fault.way === 'in' ? '<-' : '<->'} ${fault.peer ?? '?'} stops for ${fault.durationMs}ms`
  if (fault.kind === 'spare-clock') {
    const how = fault.rampMs === undefined ? 'set' : `drifting over ${fault.rampMs}ms`
    return `spare-clock: the clock of the spare ${fault.replicas.join(',')} ${how} to ${(fault.offsetMs ?? 0) > 0 ? '+' : ''}${fault.offsetMs ?? 0}ms, for ${fault.durationMs}ms`
  }
  if (fault.kind === 'blackout') return `blackout; restarts after ${JSON.stringify(fault.restartsAfterMs)}`
  if (fault.kind === 'full') return `full: the disk of ${fault.replicas.join(',')} fills up; room again after ${fault.durationMs}ms`
  if (fault.kind === 'lost-tail') return `lost-tail: ${fault.replicas.join(',')} is killed, its disk loses its last ${fault.lostRecords ?? 0} synced records; restart after ${fault.durationMs}ms`
  if (fault.kind === 'membership') return `membership: an operator removes ${fault.replicas.join(',')}${fault.down ? ' (down)' : ''} through ${fault.via}, and admits it back after ${fault.durationMs}ms out`
  if (fault.kind === 'replace') return `replace: an operator removes ${fault.replicas.join(',')}${fault.down ? ' (down)' : ''} through ${fault.via}, starts the spare ${fault.spare ?? '?'} and admits it after ${fault.durationMs}ms`
  const extra = fault.extraMs > 0 ? ` +${fault.extraMs}ms` : ''
  return `${fault.kind} ${fault.replicas.join(',')}${extra} for ${fault.durationMs}ms`
}

/**
 * Where the cluster executed each operation's request: the position its reply named, or else (a request its client
 * abandoned) a position where it executed and that the cluster's order kept for it: every delivery there that the
 * cluster cannot have lost names it, or, where every delivery there could have been lost (their replicas crashed
 * before a majority's disks held them, yet one restarted from its disk with them), every delivery does. Built on
 * first use: only a linearizability check asks.
 */
function executedPositions(records: readonly IncarnationRecord[], acknowledgedAt: ReadonlyMap<string, number>, majorityDurable: MajorityDurable | undefined, requests: ReadonlyMap<Operation, string>): (operation: Operation) => number | undefined {
  let executedAt: Map<string, number[]> | undefined
  const atPosition = new Map<number, { readonly firm: Set<string>; readonly any: Set<string> }>()
  return (operation) => {
    const key = requests.get(operation)
    if (key === undefined) return undefined
    const acknowledged = acknowledgedAt.get(key)
    if (acknowledged !== undefined) return acknowledged
    if (!executedAt) {
      executedAt = new Map()
      for (const record of records) {
        for (const delivery of record.deliveries) {
          let there = atPosition.get(delivery.position)
          if (!there) atPosition.set(delivery.position, (there = { firm: new Set(), any: new Set() }))
          there.any.add(delivery.key)
          if (!isTentative(record, delivery, acknowledgedAt, majorityDurable)) there.firm.add(delivery.key)
          if (delivery.executed) executedAt.set(delivery.key, [...(executedAt.get(delivery.key) ?? []), delivery.position])
        }
      }
    }
    for (const position of executedAt.get(key) ?? []) {
      const there = atPosition.get(position)!
      const keys = there.firm.size > 0 ? there.firm : there.any
      if (keys.size === 1 && keys.has(key)) return position
    }
    return undefined
  }
}

/** What the checks see of an incarnation: its deliveries, and its position if it is the one serving now. */
function incarnationRecord(incarnation: LiveIncarnation, cluster: SimCluster, durable: boolean): IncarnationRecord {
  const host = incarnation.alive && cluster.isRunning(incarnation.replica) ? cluster.host(incarnation.replica) : undefined
  const servingAt = host && host.engine.status === 'normal' ? host.engine.position : undefined
  const crashed = (durable || cluster.ordersOnTiming()) && !incarnation.alive
  // Its orderer lost its guarantee since it last took a state, and it is still taking the cluster's: it dropped its own.
  const droppedState = host !== undefined && host.engine.divergences > (incarnation.divergencesAtLastTransfer ?? 0) && cluster.isTakingState(incarnation.replica)
  return { replica: incarnation.replica, number: incarnation.number, deliveries: incarnation.deliveries, servingAt, lostWithMajority: incarnation.lostWithMajority, crashed, droppedState }
}

/** An answer's digest as the voters compare it (canonical encoding), after the trip a message makes on the wire. */
function answerDigest(value: unknown): string {
  return digestOf(JSON.parse(JSON.stringify(value)) as unknown)
}
