import type { TimerHandle } from '@lockstep/interface'
import type { CrashOptions } from '@lockstep/storage-file'
import type { LinkDelay } from '@lockstep/transport-memory'
import { FaultBudget } from './fault-budget'
import { drawSkewOffset, DEFAULT_DELAY_SPIKE_MAX_MS, shuffle, type FaultEvent, type FaultKind } from './faults'
import type { SeededRandom } from './prng'
import type { SimCluster } from './sim-cluster'

/** A `cut` fault in force: the link between `victim` and `peer`, stopped `both` ways, `out` of the victim or `in`to it. */
interface LinkCut {
  readonly victim: string
  readonly peer: string
  readonly way: 'both' | 'out' | 'in'
}

/** Options of {@link OverlappingFaultInjector}. */
export interface OverlappingFaultOptions {
  /** The fault kinds of the run. */
  readonly kinds: readonly FaultKind[]
  /** The network's delay model, restored when the last delay spike ends. */
  readonly delay: LinkDelay
  /** Draws every fault: kind, victims, durations, the gaps between them. */
  readonly random: SeededRandom
  /** Faults keep striking while this holds (asked before each one); once it fails, no new fault strikes. */
  readonly striking: () => boolean
  /**
   * The least virtual time between the end of a blackout (once no more than F replicas are faulty) and the
   * next one, so that the liveness bound between them can catch a stall. Default 12,000 ms.
   */
  readonly blackoutSpacingMs?: number
  /**
   * Stops one client process and starts the next run of its id `downtimeMs` later (`client-restart`).
   * Returns the client's id, or undefined when no client can be restarted now. (The client restarts are the
   * caller's to track: they are not counted among the faults that must heal before the run is quiet.)
   */
  readonly restartClient?: (random: SeededRandom, downtimeMs: number) => string | undefined
  /** A `skew` fault sets a clock off by between this and three times this (ms). Default 50. */
  readonly skewBeyondMs?: number
  /** A `delay` spike adds between 20 ms and this much (ms). Default 100. */
  readonly delaySpikeMaxMs?: number
  /** Sees every fault as it strikes (tracing). */
  readonly onFault?: (fault: FaultEvent) => void
  /** Replicas that lie for the whole run (`lie`): faulty from the start, in the budget. */
  readonly liars?: readonly string[]
}

/**
 * A replica an operator removed (the `membership` and `replace` faults), from the removal until it serves again or,
 * replaced, until its replacement serves.
 */
interface Removal {
  /** `removing`: waiting to see it out of the configuration; `out`: out for the fault's duration; `admitting`: being added back. */
  phase: 'removing' | 'out' | 'admitting'
  readonly via: string
  readonly durationMs: number
  /** When the current phase began. */
  since: number
  /** Admissions sent so far (each through the next serving member). */
  attempts: number
  /** The newest view the operator saw without the replica (-1 if the removal never showed): only a later view can admit it. */
  outView: number
  /** The replica came back into a view or the configuration while out, before any admission (reported once; see `checkStaysOut`). */
  backWithoutAdmission?: boolean
  /**
   * `replace`: the spare the operator brings in instead, started `spareAfterMs` into the replica's time out (its
   * admission is then the spare's). Dropped when the removal never shows: the operator admits the replica back.
   */
  replacement?: string
  readonly spareAfterMs?: number
}

/** How a replica that is down comes back. */
interface PlannedRestart {
  readonly handle: TimerHandle
  /** `disk`: with its usual options (its disk, if it has one); `amnesia`: with a wiped disk. */
  readonly mode: 'disk' | 'amnesia'
}

/** Time from one fault to the next (ms): often shorter than the faults last, so they overlap. */
const GAP_MS = { min: 20, max: 600 }
/** When the budget leaves no room for the fault drawn, another is drawn this much later (ms). */
const RETRY_MS = { min: 10, max: 100 }
/** A blackout is drawn this rarely (a share of the draws that pick it), and never sooner than this after the last one ended. */
const BLACKOUT_CHANCE = 0.25
/** How often the operator looks at the cluster while it removes or admits a replica (ms), as `lockstep member` polls. */
const OPERATOR_POLL_MS = 250
/** How often a drifting clock's offset moves on (see `drift`). */
const DRIFT_STEP_MS = 10
/** The operator stops waiting for a removal to show after this long (ms), and admits the replica back. */
const REMOVAL_TIMEOUT_MS = 3_000

/**
 * Injects overlapping faults into a {@link SimCluster}, drawn one by one from the seed while the workload
 * runs: crashes, restarts from disk and with amnesia, partitions, slow replicas, delay spikes, clock skews,
 * client restarts, and blackouts. A fault strikes at any moment (during a view change, a state transfer, a
 * recovery, between a write, its sync and the reply) as long as the {@link FaultBudget} allows it: at most
 * F replicas faulty at once. A blackout kills every replica regardless, and brings them back from their
 * disks one by one, each at its own drawn time (some stay down a while).
 */
export class OverlappingFaultInjector {
  /** The faults that struck, stamped with the virtual time they did. */
  readonly injected: FaultEvent[] = []
  readonly budget: FaultBudget
  private readonly cluster: SimCluster
  private readonly options: OverlappingFaultOptions
  private readonly random: SeededRandom
  private readonly restarts = new Map<string, PlannedRestart>()
  private partitions: (readonly string[])[] = []
  /** Links between two replicas cut (`cut`), one way or both. */
  private cuts: LinkCut[] = []
  private slowdowns: { readonly id: string; readonly extraMs: number }[] = []
  /** Pauses in force (a replica is paused until its last one ends). */
  private pauses: { readonly id: string }[] = []
  private spikes: number[] = []
  /**
   * Clock skews in force, oldest first; each replica's clock goes back to `backTo` once its last one ends. A drift's
   * offset grows while it ramps (see `drift`).
   */
  private skews: { readonly id: string; offsetMs: number }[] = []
  private readonly skewBackTo = new Map<string, number>()
  /**
   * Clocks whose skew ended but that still read ahead: a clock set back holds still until it catches up (it
   * never runs backwards), so after a skew ahead it stays off by what it was ahead, shrinking, for as long. Each
   * stays in the budget as skewed until it caught up (`timer`, ended early by `endAll`).
   */
  private catchingUp: { readonly id: string; readonly timer: unknown }[] = []
  /** Full disks (`full`), each with the timer of the moment the operator makes room on it. */
  private readonly fullDisks = new Map<string, TimerHandle>()
  /** How many `full` faults stopped their replica (a write refused) before the operator made room: each was started again from its disk. */
  diskFullStops = 0
  /** Replicas an operator removed and that do not serve again yet (`membership`, `replace`). */
  private readonly removals = new Map<string, Removal>()
  /**
   * Replicas an operator replaced (`replace`), with their removals: gone for good, each must stay out of every view
   * and configuration for the rest of the run (see `checkStaysOut`), whether it comes back or not.
   */
  private readonly retired = new Map<string, Removal>()
  /** The replacements that took effect (`replace`), as the operator saw them. */
  readonly replacements: { readonly replaced: string; readonly by: string; readonly atMs: number }[] = []
  /**
   * Replicas an operator removed once and admitted back, with the view the operator saw admit it: no later view may
   * leave it out of its configuration (see `membershipAnomalies`).
   */
  private readonly readmitted = new Map<string, number>()
  /**
   * What went wrong with the operator's commands: a replica taken out of the configuration after the operator's
   * admission took effect (with no removal of the operator's in force). Only operators change the configuration, so
   * each is a bug the simulator reports.
   */
  readonly membershipAnomalies: string[] = []
  private operatorTimer: TimerHandle | undefined
  private nextStrike: TimerHandle | undefined
  private striking = false
  /** A blackout struck and more than F replicas have been faulty since. */
  private overBudget = false
  /** When the budget was last exceeded (a blackout in force); -Infinity if never. */
  private lastOverBudgetAtMs = -Infinity
  /** When the last fault ended, once no new fault strikes. */
  private quietAtMs: number | undefined
  /** The most replicas seen faulty at once outside blackouts (checked after every fault and by `checkBudget`). */
  peakFaulty = 0
  /** Crashed replicas come back after their downtime (the run has `restart`). */
  private readonly crashesRestart: boolean

  constructor(cluster: SimCluster, options: OverlappingFaultOptions) {
    this.cluster = cluster
    this.options = options
    this.random = options.random
    this.budget = new FaultBudget(cluster, options.liars)
    this.crashesRestart = options.kinds.includes('restart')
  }

  /** Starts drawing faults. */
  start(): void {
    this.striking = this.options.kinds.length > 0
    if (this.striking) this.scheduleStrike(this.random.int(10, 100))
    else this.quietAtMs = this.cluster.scheduler.now()
  }

  /** True while a blackout keeps more than F replicas faulty: the liveness bound for single requests is off. */
  blackoutInForce(): boolean {
    if (!this.overBudget) return false
    if (this.budget.count() > this.budget.limit) {
      this.lastOverBudgetAtMs = this.cluster.scheduler.now()
      return true
    }
    this.overBudget = false
    return false
  }

  /**
   * True while, in a run without disks, more than F replicas are faulty or taking the state again (see
   * `FaultBudget.faulty`): the replicas holding the state may be fewer than a majority, and if they failed the
   * state is gone; the cluster then rightly waits for ever. Like a blackout, it suspends the liveness bound for
   * single requests (from its end, requests get the whole bound again). Found with links that refuse sends
   * (`--link-capacity 16 --seed 66`, mutex, 3 replicas): r1 and r2 took the state at once while r3, the only one
   * with it, crashed.
   */
  stateMayBeLost(): boolean {
    if (this.cluster.durable || this.budget.count({ takingState: true }) <= this.budget.limit) return false
    this.lastOverBudgetAtMs = this.cluster.scheduler.now()
    return true
  }

  /** The last moment a blackout was in force, or the state may have been lost (-Infinity if never). */
  get blackoutEndedAtMs(): number {
    return this.lastOverBudgetAtMs
  }

  /** When the last fault healed after faults stopped striking; undefined while faults still strike or last. */
  get quietSinceMs(): number | undefined {
    return this.quietAtMs
  }

  /** True while faults strike or some fault has not healed yet. */
  get active(): boolean {
    return this.quietAtMs === undefined
  }

  /** Stops striking and ends every fault now: heals the network, restores delays, restarts replicas that were to come back. */
  async endAll(): Promise<void> {
    this.striking = false
    if (this.nextStrike !== undefined) this.cluster.scheduler.clearTimer(this.nextStrike)
    for (const side of this.partitions) this.budget.partitionEnded(side)
    for (const { victim } of this.cuts) this.budget.partitionEnded([victim])
    this.cuts = []
    for (const { id } of this.slowdowns) this.budget.slowEnded(id)
    for (const { id } of this.skews) this.budget.skewEnded(id)
    for (const { id, timer } of this.catchingUp) {
      this.cluster.scheduler.clearTimer(timer)
      this.budget.skewEnded(id)
    }
    this.catchingUp = []
    for (const [id, offsetMs] of this.skewBackTo) this.cluster.clock(id).setOffset(offsetMs)
    this.partitions = []
    this.slowdowns = []
    for (const { id } of this.pauses) this.cluster.resume(id)
    this.pauses = []
    this.spikes = []
    this.skews = []
    this.skewBackTo.clear()
    const { network } = this.cluster
    network.heal()
    network.setDelay(this.options.delay)
    for (const id of this.cluster.replicaIds) network.setSlow(id, 0)
    for (const [id, planned] of [...this.restarts]) {
      this.cluster.scheduler.clearTimer(planned.handle)
      await this.restartNow(id, planned.mode)
    }
    for (const [id, handle] of [...this.fullDisks]) {
      this.cluster.scheduler.clearTimer(handle)
      await this.makeRoom(id)
    }
    // Every replica out is admitted back now (the operator keeps at it until it serves, see `operate`).
    for (const removal of this.removals.values()) if (removal.phase !== 'admitting') this.beginAdmitting(removal)
    this.checkQuiet()
  }

  /**
   * Checks the budget now: outside a blackout, at most F replicas may be faulty. Returns a description of the
   * breach (a simulator bug), or undefined.
   */
  checkBudget(): string | undefined {
    if (this.blackoutInForce()) return undefined
    const count = this.budget.count()
    this.peakFaulty = Math.max(this.peakFaulty, count)
    if (count <= this.budget.limit) return undefined
    return `simulator: the fault budget was exceeded: ${count} replicas faulty outside a blackout, F=${this.budget.limit} (${this.describeFaulty()})`
  }

  /** True while the operator has a replacement to finish (`replace`): asked after every event while the cluster settles. */
  replacing(): boolean {
    for (const removal of this.removals.values()) if (removal.replacement !== undefined) return true
    return false
  }

  /** The replacements the operator has not finished (`replace`), as `'r2 by r4'`, for violation messages. */
  replacementsPending(): string[] {
    return [...this.removals].filter(([, removal]) => removal.replacement !== undefined).map(([id, removal]) => `'${id}' by '${removal.replacement!}'`)
  }

  /** Describes what is faulty now, for violation messages. */
  describeFaulty(): string {
    const faulty = this.budget.faulty({ takingState: true })
    return faulty.size === 0 ? 'none' : [...faulty].map(([id, why]) => `${id} ${why}`).join('; ')
  }

  private scheduleStrike(ms: number): void {
    this.nextStrike = this.cluster.scheduler.setTimer(ms, () => this.strike())
  }

  private strike(): void {
    this.nextStrike = undefined
    if (!this.striking) return
    if (!this.options.striking()) {
      this.striking = false
      this.checkQuiet()
      return
    }
    const struck = this.drawAndInject()
    if (struck) this.afterStrike()
    this.scheduleStrike(struck ? this.random.int(GAP_MS.min, GAP_MS.max) : this.random.int(RETRY_MS.min, RETRY_MS.max))
  }

  /** Draws a fault and injects it if the budget allows; false if it could not strike now. */
  private drawAndInject(): boolean {
    const { cluster, random, budget } = this
    const now = cluster.scheduler.now()
    const drawn = random.pick(this.options.kinds)
    // `lie` is no event: its liars lie for the whole run (the simulator sets them up, the budget counts them).
    if (drawn === 'lie') return false
    const kind = drawn
    const running = cluster.members.filter((id) => cluster.isRunning(id))
    const f = budget.limit
    const fault = (durationMs: number, replicas: readonly string[], extra: Partial<FaultEvent> = {}): FaultEvent => ({ atMs: now, durationMs, kind, replicas, extraMs: 0, ...extra })
    switch (kind) {
      case 'crash':
      case 'restart':
      case 'amnesia':
      case 'partition': {
        const count = f === 0 ? 0 : random.int(1, f)
        const victims = budget.pick(shuffle(random, running), count)
        const durationMs = kind === 'crash' || kind === 'partition' ? random.int(30, 1500) : random.int(1, 300)
        if (victims.length === 0) return false
        this.record(fault(durationMs, victims))
        if (kind === 'partition') this.partition(victims, durationMs)
        else for (const id of victims) this.kill(id, kind === 'crash' && !this.crashesRestart ? undefined : { afterMs: durationMs, mode: kind === 'amnesia' ? 'amnesia' : 'disk' })
        return true
      }
      case 'pause': {
        const count = f === 0 ? 0 : random.int(1, f)
        const victims = budget.pick(shuffle(random, running), count)
        // From a GC pause to a process stopped for seconds: past the failure detector's timeouts, or not.
        const durationMs = random.chance(0.5) ? random.int(5, 200) : random.int(200, 3000)
        if (victims.length === 0) return false
        this.record(fault(durationMs, victims))
        for (const id of victims) this.pause(id, durationMs)
        return true
      }
      case 'slow': {
        const victims = budget.pick(shuffle(random, running), 1)
        const durationMs = random.int(50, 1500)
        const extraMs = random.int(20, 200)
        if (victims.length === 0) return false
        this.record(fault(durationMs, victims, { extraMs }))
        this.slow(victims[0]!, extraMs, durationMs)
        return true
      }
      case 'delay': {
        const durationMs = random.int(30, 800)
        const extraMs = random.int(20, this.options.delaySpikeMaxMs ?? DEFAULT_DELAY_SPIKE_MAX_MS)
        this.record(fault(durationMs, [], { extraMs }))
        this.spike(extraMs, durationMs)
        return true
      }
      case 'skew': {
        const victims = budget.pick(shuffle(random, running), 1)
        const durationMs = random.int(50, 1500)
        const offsetMs = drawSkewOffset(random, this.options.skewBeyondMs)
        if (victims.length === 0) return false
        this.record(fault(durationMs, victims, { offsetMs }))
        this.skew(victims[0]!, offsetMs, durationMs)
        return true
      }
      case 'drift': {
        const victims = budget.pick(shuffle(random, running), 1)
        const durationMs = random.int(300, 3000)
        const offsetMs = drawSkewOffset(random, this.options.skewBeyondMs)
        const rampMs = random.int(Math.floor(durationMs / 3), durationMs)
        if (victims.length === 0) return false
        this.record(fault(durationMs, victims, { offsetMs, rampMs }))
        this.drift(victims[0]!, offsetMs, rampMs, durationMs)
        return true
      }
      case 'cut': {
        // A link between two replicas stops, one way or both; both still reach every other replica (see `FaultKind`).
        const victims = budget.pick(shuffle(random, running), 1)
        if (victims.length === 0) return false
        const victim = victims[0]!
        const peer = random.pick(cluster.replicaIds.filter((id) => id !== victim && cluster.hasStarted(id)))
        const way = random.pick(['both', 'out', 'in'] as const)
        const durationMs = random.int(50, 3000)
        this.record(fault(durationMs, victims, { peer, way }))
        this.cut({ victim, peer, way }, durationMs)
        return true
      }
      case 'spare-clock': {
        // A new machine started for a replacement, its clock unchecked: running in the view, outside the configuration,
        // until the operator's admission takes effect. Outside the budget (see `FaultKind`): the configuration does not
        // count it; admitted while still off, it is a skewed member in the slot of the replica it replaces.
        const spares = [...this.removals.values()].flatMap((r) => (r.replacement !== undefined && cluster.isRunning(r.replacement) && !cluster.members.includes(r.replacement) ? [r.replacement] : []))
        if (spares.length === 0) return false
        const victim = random.pick(spares)
        const offsetMs = drawSkewOffset(random, this.options.skewBeyondMs)
        if (random.chance(0.5)) {
          const durationMs = random.int(50, 3000)
          this.record(fault(durationMs, [victim], { offsetMs }))
          this.skew(victim, offsetMs, durationMs)
        } else {
          const durationMs = random.int(300, 3000)
          const rampMs = random.int(Math.floor(durationMs / 3), durationMs)
          this.record(fault(durationMs, [victim], { offsetMs, rampMs }))
          this.drift(victim, offsetMs, rampMs, durationMs)
        }
        return true
      }
      case 'blackout': {
        if (!random.chance(BLACKOUT_CHANCE) || this.blackoutInForce()) return false
        // Resuming from a majority's disks needs each to hold what it reported: one that lost synced records must first
        // hold them again (see `lost-tail`).
        if (budget.disksShort()) return false
        if (now < this.lastOverBudgetAtMs + (this.options.blackoutSpacingMs ?? 12_000)) return false
        const restartsAfterMs: Record<string, number> = {}
        // Each replica comes back at its own time; now and then one stays down a while.
        for (const id of running) restartsAfterMs[id] = random.chance(0.25) ? random.int(500, 3000) : random.int(1, 400)
        this.record(fault(Math.max(0, ...Object.values(restartsAfterMs)), running, { restartsAfterMs }))
        for (const id of running) this.kill(id, { afterMs: restartsAfterMs[id]!, mode: 'disk' })
        this.overBudget = true
        this.lastOverBudgetAtMs = now
        return true
      }
      case 'membership':
      case 'replace': {
        // An operator removes a serving member through another one (`lockstep member remove`); see `operate`. When
        // the budget has no room for one (F replicas faulty already), a member that is down is removed instead, as
        // operators give up a dead machine (free in the budget: it is faulty already; it stays faulty, as removed,
        // after it restarts, until it serves again after its admission, or its replacement serves).
        const spare = kind === 'replace' ? cluster.unstartedSpares().find((id) => ![...this.removals.values()].some((r) => r.replacement === id)) : undefined
        if (kind === 'replace' && spare === undefined) return false // every spare is in use: no new machine to bring in
        const serving = cluster.members.filter((id) => cluster.isServing(id) && !this.removals.has(id))
        let victims = budget.pick(shuffle(random, serving), 1)
        const durationMs = random.int(100, 3000)
        if (victims.length === 0) {
          const down = cluster.members.filter((id) => !cluster.isRunning(id) && !this.removals.has(id))
          if (down.length > 0) victims = [random.pick(down)]
        }
        const via = serving.filter((id) => !victims.includes(id))
        if (victims.length === 0 || via.length === 0) return false
        const victim = victims[0]!
        const through = random.pick(via)
        // The new machine starts (`lockstep replica`) at a drawn moment of the replica's time out, before its `member add`.
        const spareAfterMs = spare === undefined ? undefined : random.int(0, durationMs)
        try {
          cluster.host(through).removeReplica(victim)
        } catch {
          return false // refused (no longer a member, or the last one): the operator's command did nothing
        }
        this.record(fault(durationMs, victims, { via: through, ...(!cluster.isRunning(victim) && { down: true }), ...(spare !== undefined && { spare }) }))
        this.removals.set(victim, { phase: 'removing', via: through, durationMs, since: now, attempts: 0, outView: -1, ...(spare !== undefined && { replacement: spare, spareAfterMs }) })
        this.readmitted.delete(victim)
        budget.removalStarted(victim)
        this.watchMembership()
        return true
      }
      case 'full': {
        // A disk fills up (logs, a runaway file, a volume shared with something else): the replica finds out at its next
        // write, an append (a write behind it failed) or the sync that writes what it appended.
        const victims = budget.pick(shuffle(random, running.filter((id) => !this.fullDisks.has(id))), 1)
        const durationMs = random.int(50, 2000)
        const failsFirst = random.chance(0.5) ? 'append' : 'write'
        if (victims.length === 0) return false
        this.record(fault(durationMs, victims))
        this.fill(victims[0]!, durationMs, failsFirst)
        return true
      }
      case 'lost-tail': {
        // The disk acknowledged syncs it did not keep (a lying cache), or the machine came back from an older copy: the
        // replica is killed, and its disk holds a few records fewer than it had synced when it starts again.
        // Only while a majority serves: their memory then holds the whole order, and the view change that takes the
        // victim back trusts no disk. While the cluster resumes from disks after a blackout, a disk that lost what
        // it synced may be the only one of a majority to hold an acknowledged write (found: kv, 5 replicas, seed 24:
        // c1#84 was on the disks of r1, r4 and r5; after a blackout r4 stayed down, r5's disk lost its tail, and
        // r2, r3 and r5 resumed the cluster from r5's disk without it). Disks are trusted there, as in every
        // Paxos-style protocol (docs/fault-tolerance.md, "Limits").
        const serving = cluster.members.filter((id) => cluster.isServing(id)).length
        const victims = budget.pick(shuffle(random, running), 1)
        const lostRecords = random.int(1, 20)
        const durationMs = random.int(1, 300)
        if (victims.length === 0 || budget.disksShort() || serving < Math.floor(cluster.members.length / 2) + 1) return false
        const victim = victims[0]!
        this.record(fault(durationMs, victims, { lostRecords }))
        budget.tailLost(victim, cluster.diskPosition(victim))
        this.kill(victim, { afterMs: durationMs, mode: 'disk' }, { loseSynced: lostRecords })
        return true
      }
      case 'client-restart': {
        const downtimeMs = random.int(1, 50)
        const client = this.options.restartClient?.(random, downtimeMs)
        if (client === undefined) return false
        this.record(fault(downtimeMs, [], { client }))
        return true
      }
    }
  }

  private record(fault: FaultEvent): void {
    this.injected.push(fault)
    this.options.onFault?.(fault)
  }

  /** After a fault struck: what it made faulty counts toward the peak (checked once it took effect). */
  private afterStrike(): void {
    if (!this.overBudget) this.peakFaulty = Math.max(this.peakFaulty, this.budget.count())
  }

  /** Kills a replica; with `restart`, it comes back after `afterMs` (with its disk, or with amnesia). */
  private kill(id: string, restart: { afterMs: number; mode: 'disk' | 'amnesia' } | undefined, disk?: CrashOptions): void {
    this.cluster.crashNow(id, disk)
    if (!restart || this.restarts.has(id)) return
    const handle = this.cluster.scheduler.setTimer(restart.afterMs, () => {
      this.restarts.delete(id)
      this.cluster.background(`restarting ${id}`, this.restartNow(id, restart.mode).then(() => this.checkQuiet()))
    })
    this.restarts.set(id, { handle, mode: restart.mode })
  }

  private async restartNow(id: string, mode: 'disk' | 'amnesia'): Promise<void> {
    this.restarts.delete(id)
    if (this.cluster.isRunning(id)) return
    const started = mode === 'amnesia' ? this.cluster.restartWithAmnesia(id) : this.cluster.restartFromDisk(id)
    // The replica is registered (and its disk read) before the start's first await.
    this.budget.restarted(id, this.cluster.startedFromDisk(id))
    await started
  }

  /** Fills `id`'s disk; after `durationMs` the operator makes room (see `makeRoom`). */
  private fill(id: string, durationMs: number, failsFirst: 'append' | 'write'): void {
    this.cluster.disks.get(id)!.fill({ failsFirst })
    this.budget.diskFilled(id)
    const handle = this.cluster.scheduler.setTimer(durationMs, () => {
      this.cluster.background(`making room on the disk of ${id}`, this.makeRoom(id).then(() => this.checkQuiet()))
    })
    this.fullDisks.set(id, handle)
  }

  /**
   * The operator made room on `id`'s disk. A replica that stopped on it (a write refused: it must stop, since it
   * cannot keep what it is asked to) is started again from its disk, as a supervisor restarts an exited process; what
   * its disk had not synced went with the process. A replica that wrote nothing meanwhile goes on as it was. One that
   * crashed meanwhile came back, or will, with room (a crash reopens the disk).
   */
  private async makeRoom(id: string): Promise<void> {
    this.fullDisks.delete(id)
    this.budget.roomMade(id)
    if (!this.cluster.isRunning(id)) return
    if (this.cluster.host(id).failure === undefined) {
      this.cluster.disks.get(id)!.makeRoom()
      return
    }
    this.diskFullStops++
    this.cluster.crashNow(id)
    await this.restartNow(id, 'disk')
  }

  private partition(side: readonly string[], durationMs: number): void {
    this.partitions.push(side)
    this.budget.partitionStarted(side)
    this.cluster.partition(side)
    this.cluster.scheduler.setTimer(durationMs, () => {
      const index = this.partitions.indexOf(side)
      if (index < 0) return // ended by endAll
      this.partitions.splice(index, 1)
      this.budget.partitionEnded(side)
      this.relink()
      this.checkQuiet()
    })
  }

  /** Stops the link between `cut.victim` and `cut.peer` (one way or both) for `durationMs`; see the `cut` fault. */
  private cut(cut: LinkCut, durationMs: number): void {
    this.cuts.push(cut)
    this.budget.partitionStarted([cut.victim])
    this.applyCut(cut)
    this.cluster.scheduler.setTimer(durationMs, () => {
      const index = this.cuts.indexOf(cut)
      if (index < 0) return // ended by endAll
      this.cuts.splice(index, 1)
      this.budget.partitionEnded([cut.victim])
      this.relink()
      this.checkQuiet()
    })
  }

  private applyCut({ victim, peer, way }: LinkCut): void {
    if (way !== 'in') this.cluster.network.cutLink(victim, peer)
    if (way !== 'out') this.cluster.network.cutLink(peer, victim)
  }

  /** Heals every link, then cuts again what the partitions and link cuts still in force cut. */
  private relink(): void {
    this.cluster.network.heal()
    for (const side of this.partitions) this.cluster.partition(side)
    for (const cut of this.cuts) this.applyCut(cut)
  }

  private slow(id: string, extraMs: number, durationMs: number): void {
    const slowdown = { id, extraMs }
    this.slowdowns.push(slowdown)
    this.budget.slowStarted(id)
    this.applySlow(id)
    this.cluster.scheduler.setTimer(durationMs, () => {
      const index = this.slowdowns.indexOf(slowdown)
      if (index < 0) return
      this.slowdowns.splice(index, 1)
      this.budget.slowEnded(id)
      this.applySlow(id)
      this.checkQuiet()
    })
  }

  /** Pauses `id` for `durationMs` (see `SimCluster.pause`); it resumes once its last pause ends. */
  private pause(id: string, durationMs: number): void {
    const pause = { id }
    this.pauses.push(pause)
    this.cluster.pause(id)
    this.cluster.scheduler.setTimer(durationMs, () => {
      const index = this.pauses.indexOf(pause)
      if (index < 0) return // ended by endAll
      this.pauses.splice(index, 1)
      if (!this.pauses.some((p) => p.id === id)) this.cluster.resume(id)
      this.checkQuiet()
    })
  }

  private applySlow(id: string): void {
    this.cluster.network.setSlow(id, Math.max(0, ...this.slowdowns.filter((s) => s.id === id).map((s) => s.extraMs)))
  }

  /**
   * Makes `id`'s clock wander off to `offsetMs` over `rampMs` (a step of the offset every `DRIFT_STEP_MS`: a clock set
   * forward a little at a time runs fast, one set back a little at a time holds still a little each time, so runs
   * slow), keeps it there until `durationMs` ends, and sets it back as a skew's end does.
   */
  private drift(id: string, offsetMs: number, rampMs: number, durationMs: number): void {
    const skew = this.skew(id, 0, durationMs)
    const clock = this.cluster.clock(id)
    const startedAt = this.cluster.scheduler.now()
    const step = () => {
      if (!this.skews.includes(skew)) return // ended (its time, or endAll)
      const elapsed = this.cluster.scheduler.now() - startedAt
      skew.offsetMs = offsetMs * Math.min(1, elapsed / rampMs)
      // The latest skew of a replica sets its clock (see `skew`); a drift under a later skew only keeps its own offset.
      if (this.skews.filter((s) => s.id === id).at(-1) === skew) clock.setOffset(this.skewBackTo.get(id)! + skew.offsetMs)
      if (elapsed < rampMs) this.cluster.scheduler.setTimer(DRIFT_STEP_MS, step)
    }
    this.cluster.scheduler.setTimer(DRIFT_STEP_MS, step)
  }

  /** Sets `id`'s clock off by `offsetMs` for `durationMs`; once its last skew ends, it goes back to its own offset. */
  private skew(id: string, offsetMs: number, durationMs: number): { readonly id: string; offsetMs: number } {
    const skew = { id, offsetMs }
    const clock = this.cluster.clock(id)
    if (!this.skewBackTo.has(id)) this.skewBackTo.set(id, clock.offsetMs)
    this.skews.push(skew)
    this.budget.skewStarted(id)
    clock.setOffset(this.skewBackTo.get(id)! + offsetMs)
    this.cluster.scheduler.setTimer(durationMs, () => {
      const index = this.skews.indexOf(skew)
      if (index < 0) return // ended by endAll
      this.skews.splice(index, 1)
      const backTo = this.skewBackTo.get(id)!
      const latest = this.skews.filter((s) => s.id === id).at(-1)
      clock.setOffset(backTo + (latest?.offsetMs ?? 0))
      if (!latest) this.skewBackTo.delete(id)
      // Set back, it holds still until it reads what its offset says: off (behind the clock it was) until then.
      const aheadMs = clock.skewMs() - clock.offsetMs
      if (aheadMs <= 0) {
        this.budget.skewEnded(id)
        this.checkQuiet()
        return
      }
      const entry = {
        id,
        timer: this.cluster.scheduler.setTimer(aheadMs, () => {
          const at = this.catchingUp.indexOf(entry)
          if (at < 0) return // ended by endAll
          this.catchingUp.splice(at, 1)
          this.budget.skewEnded(id)
          this.checkQuiet()
        }),
      }
      this.catchingUp.push(entry)
    })
    return skew
  }

  /** The operator's loop: every `OPERATOR_POLL_MS` while a replica is out or was admitted back, see `operate`. */
  private watchMembership(): void {
    if (this.operatorTimer !== undefined) return
    this.operatorTimer = this.cluster.scheduler.setTimer(OPERATOR_POLL_MS, () => {
      this.operatorTimer = undefined
      this.operate()
      if (this.removals.size > 0 || this.readmitted.size > 0 || this.retired.size > 0) this.watchMembership()
    })
  }

  /**
   * What the operator does on each look: a removal it waits for shows (a serving member's configuration lacks the
   * replica), or after `REMOVAL_TIMEOUT_MS` it gives up and admits the replica back; a replica out for its time is
   * admitted, through the next serving member each time, until a serving member's configuration has it again and it
   * serves (or is down: that is another fault's). A replica admitted back that drops out of the configuration again
   * is a membership anomaly.
   */
  private operate(): void {
    const { cluster } = this
    const now = cluster.scheduler.now()
    for (const [id, removal] of [...this.removals]) {
      if (removal.phase === 'removing') {
        if (this.outOfConfiguration(id)) {
          removal.phase = 'out'
          removal.since = now
          removal.outView = this.newestView(id)
        } else if (now - removal.since >= REMOVAL_TIMEOUT_MS) this.beginAdmitting(removal)
      }
      if (removal.phase === 'out') {
        this.checkStaysOut(id, removal, now)
        if (removal.replacement !== undefined && now - removal.since >= removal.spareAfterMs!) this.startSpare(removal.replacement)
      }
      if (removal.phase === 'out' && now - removal.since >= removal.durationMs) this.beginAdmitting(removal)
      if (removal.phase !== 'admitting') continue
      // The operator admits the replica back, or its replacement (started by now: see `beginAdmitting`).
      const admitted = removal.replacement ?? id
      // Done once an admission went out and took effect (one is sent even when the removal never showed: it
      // cancels the removal wherever the command still waits).
      if (removal.attempts > 0 && this.newestView(id) > removal.outView && this.inConfiguration(admitted, id) && (cluster.isServing(admitted) || !cluster.isRunning(admitted))) {
        this.removals.delete(id)
        this.readmitted.set(admitted, this.newestView(id))
        if (admitted !== id) {
          cluster.replaceMember(id, admitted)
          this.retired.set(id, removal)
          this.replacements.push({ replaced: id, by: admitted, atMs: now })
        }
        this.budget.removalEnded(id)
        this.checkQuiet()
        continue
      }
      const via = this.newestServing(id)
      if (via.length === 0) continue
      try {
        cluster.host(via[removal.attempts++ % via.length]!).admitReplica(admitted)
      } catch {
        // refused: the operator tries again on the next look
      }
    }
    for (const [id, removal] of this.retired) this.checkStaysOut(id, removal, now)
    for (const [id, admittedIn] of this.readmitted) {
      const later = cluster.members.filter((m) => m !== id && cluster.isServing(m) && cluster.host(m).engine.view.id > admittedIn)
      if (!later.some((m) => !cluster.host(m).engine.configuration.includes(id))) continue
      this.membershipAnomalies.push(`membership: '${id}' dropped out of the configuration at ${Math.round(now)} ms, after the operator's admission of it took effect, with no removal of the operator's in force (${cluster.describe()})`)
      this.readmitted.delete(id)
    }
  }

  /**
   * A replica whose removal took effect stays out until the operator admits it: a serving member whose view is newer
   * than the one the operator saw it out in and that has it in its configuration or among the view's members again is
   * a membership anomaly (only operators change the configuration). Reported once per removal. Found wanting when a
   * replica restarted from its disk without the removal (core's `restoreChanges` skipped) took the removed replica's
   * join for a new one and added it back as a member outside the configuration: the runs passed, as only a drop after
   * an admission was checked.
   */
  private checkStaysOut(id: string, removal: Removal, now: number): void {
    if (removal.backWithoutAdmission) return
    const { cluster } = this
    const back = cluster.members.find((m) => {
      if (m === id || !cluster.isServing(m)) return false
      const { view, configuration } = cluster.host(m).engine
      return view.id > removal.outView && (configuration.includes(id) || view.members.includes(id))
    })
    if (back === undefined) return
    removal.backWithoutAdmission = true
    const { view } = cluster.host(back).engine
    const admission = this.retired.has(id) ? `replaced by '${removal.replacement!}' since, and never admitted again` : 'with no admission sent'
    this.membershipAnomalies.push(`membership: '${id}' came back ${view.members.includes(id) ? 'as a member of' : 'into the configuration of'} view ${view.id} (at '${back}', ${Math.round(now)} ms), after the operator's removal of it took effect in view ${removal.outView}, ${admission} (${cluster.describe()})`)
  }

  /**
   * The operator admits the removed replica back, or its replacement: a replacement whose removal never showed is
   * dropped (the replica is admitted back, as a `membership` fault's), one not started yet starts now.
   */
  private beginAdmitting(removal: Removal): void {
    if (removal.replacement !== undefined && removal.outView < 0) delete removal.replacement
    if (removal.replacement !== undefined) this.startSpare(removal.replacement)
    removal.phase = 'admitting'
    removal.since = this.cluster.scheduler.now()
    this.watchMembership()
  }

  /** Starts a replacement's spare unless it started already (`lockstep replica` on the new machine): it joins the view outside the configuration. */
  private startSpare(spare: string): void {
    if (this.cluster.hasStarted(spare)) return
    this.cluster.background(`starting the spare ${spare}`, this.cluster.startSpare(spare))
  }

  /**
   * The serving members other than `id` in the newest view any of them serves in: whom the operator asks and whose
   * configuration it reads, as `lockstep member` asks a serving replica of the highest view (a lagging one would
   * issue a command older than the view that carried out the last change, which replicas ignore as stale).
   */
  private newestServing(id: string): string[] {
    const newest = this.newestView(id)
    return this.cluster.members.filter((m) => m !== id && this.cluster.isServing(m) && this.cluster.host(m).engine.view.id === newest)
  }

  /** The newest view a serving member other than `id` serves in (-Infinity if none serves). */
  private newestView(id: string): number {
    return Math.max(...this.cluster.members.filter((m) => m !== id && this.cluster.isServing(m)).map((m) => this.cluster.host(m).engine.view.id))
  }

  /** True when the serving members of the newest view (see `newestServing`) have a configuration without `id`. */
  private outOfConfiguration(id: string): boolean {
    const serving = this.newestServing(id)
    return serving.length > 0 && serving.every((m) => !this.cluster.host(m).engine.configuration.includes(id))
  }

  /** True when the serving members of the newest view (`id` left out: see `newestServing`) have `admitted` in their configuration. */
  private inConfiguration(admitted: string, id = admitted): boolean {
    const serving = this.newestServing(id)
    return serving.length > 0 && serving.every((m) => this.cluster.host(m).engine.configuration.includes(admitted))
  }

  private spike(extraMs: number, durationMs: number): void {
    this.spikes.push(extraMs)
    this.applyDelay()
    this.cluster.scheduler.setTimer(durationMs, () => {
      const index = this.spikes.indexOf(extraMs)
      if (index < 0) return
      this.spikes.splice(index, 1)
      this.applyDelay()
      this.checkQuiet()
    })
  }

  private applyDelay(): void {
    const { delay } = this.options
    this.cluster.network.setDelay({ minMs: delay.minMs, maxMs: delay.maxMs + Math.max(0, ...this.spikes) })
  }

  /** Once no new fault strikes, notes when the last one healed. */
  private checkQuiet(): void {
    if (this.striking || this.quietAtMs !== undefined) return
    const lasting = this.partitions.length + this.cuts.length + this.slowdowns.length + this.pauses.length + this.spikes.length + this.skews.length + this.catchingUp.length + this.restarts.size + this.removals.size + this.fullDisks.size
    if (lasting === 0) this.quietAtMs = this.cluster.scheduler.now()
  }
}
