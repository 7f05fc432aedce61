import { ErrorCodes, LockstepError } from '@lockstep/interface'
import type { SeededRandom } from './prng'

/** The kinds of fault the simulator can inject. */
export const faultKinds = ['crash', 'restart', 'amnesia', 'partition', 'slow', 'delay', 'skew', 'blackout', 'client-restart', 'lie', 'pause', 'membership', 'replace', 'drift', 'full', 'spare-clock', 'cut', 'lost-tail'] as const

/**
 * One kind of fault. `crash` stops replicas (they come back after a while, with their usual options, when
 * the run also has `restart`). `restart` stops replicas and starts them again with their usual options: from
 * their disks in a durable run, without state otherwise. `amnesia` (overlapping faults) restarts replicas
 * without memory or disk, exactly as they were first started. `blackout` (durable runs only) kills every
 * replica at once and restarts them from their disks. `client-restart` (overlapping faults) stops a client
 * process and starts a new run of it under the same id. `skew` sets one replica's clock off by more than
 * the orderer's skew bound (at least `skewBeyondMs`, ahead or behind) for a while, then back: a skewed replica
 * is faulty (it counts toward F). `delay` adds a spike to every link's delay (up to `delaySpikeMaxMs`, which
 * may exceed the orderer's Δ). `lie` (overlapping faults) makes `liars` replicas lie to clients for the whole run
 * (see `LieOptions`): they count toward F from the start, so the other faults strike only within what is left.
 * `pause` stops replicas' processes for a while, as `kill -STOP`, a long stop-the-world pause or an event loop
 * blocked for seconds would: none of their code runs, what reaches them waits, and on resuming they handle it all at
 * once, finding their clocks moved on (`SimCluster.pause`). A paused replica is faulty. `membership` (overlapping
 * faults) is an operator's work: it removes a serving member through another serving member (`lockstep member
 * remove`, `host.removeReplica`), and after a while admits it back (`member add`, `host.admitReplica`, repeated
 * through serving members until a view takes it in and it serves again). The removed replica keeps running and
 * counts as faulty until it serves again: with it out, the configuration is one smaller. `replace` (overlapping
 * faults) is an operator replacing a machine: it removes a member (serving, or down: a dead machine given up) as
 * `membership` does, starts a configured spare (a new replica id every replica's configuration lists, in no view
 * yet), which joins the view as a member outside the configuration, and admits the spare (`member add`) until a view
 * has it in its configuration and it serves; the spare then stands for the replaced replica in the fault budget.
 * The replaced replica is gone for good: if it comes back (a restart from its disk, older than its removal), a view
 * that has it as a member or in its configuration again is a violation. Runs with `replace` configure as many spares
 * as replicas. `drift` (overlapping faults) makes one replica's clock run fast or slow, so that it wanders off
 * gradually, past the orderer's skew bound, to the offset a `skew` would set at once (reached over part of the fault,
 * then kept), and is set back when the fault ends (as NTP steps a clock it finds off): between two of the orderer's
 * clock probes a drifting clock is off by more than the last probe saw. A drifting replica is faulty from the start.
 * `full` (overlapping faults, durable runs) fills one replica's disk: its next write is refused (ENOSPC), and the
 * replica stops at once and says so, as it must when it cannot keep what it is asked to (what its disk had not synced
 * is lost with the process). When the fault ends the operator has made room: a replica that stopped is started again
 * from its disk (a supervisor's restart); one that wrote nothing meanwhile never noticed. A replica whose disk is full
 * is faulty from the start of the fault. `spare-clock` (overlapping faults, with `replace`) sets the clock of a spare
 * the operator started and has not admitted yet off beyond the orderer's bound, at once (as `skew`) or gradually (as
 * `drift`): a new machine whose clock nobody checked. The spare is in the view, outside the configuration, so its
 * fault is outside the budget (it is no replica the configuration counts); once admitted it stands for the replica it
 * replaces, and counts as skewed until its clock is back, in the slot the removed replica held. `cut` (overlapping
 * faults) stops the link between two replicas, one way or both (a firewall rule, a route gone, a network card that
 * drops what it sends or what it receives), while both still reach every other replica: the partitions that are not
 * a clean split (with both ways cut, the third replica of three is a bridge between two that cannot talk; with one
 * way, one of them hears the other and is not heard). Held messages go on when it heals, as a partition's do. One
 * end, the victim, counts as partitioned in the budget: every other replica is connected to all.
 * `lost-tail` (overlapping faults, durable runs) kills a replica whose disk then loses the last records it had synced
 * (1 to 20 of them: a disk or a virtual machine's cache that acknowledged a flush it never made, a restore from a
 * slightly older copy), and starts it again from that disk after a while: it finds a shorter log and believes it
 * whole. It is faulty from the kill until it serves again and its disk holds as many records again as before the
 * loss (its peers counted those records toward a majority); no blackout strikes meanwhile, since recovering from the
 * disks of a majority that includes it could miss what it lost.
 */
export type FaultKind = (typeof faultKinds)[number]

/** The fault kinds that only the overlapping (world) model injects. */
export const overlapOnlyFaultKinds: readonly FaultKind[] = ['amnesia', 'client-restart', 'lie', 'membership', 'replace', 'drift', 'full', 'spare-clock', 'cut', 'lost-tail']

/** One scheduled fault: it starts at `atMs` and ends (heals, restarts) `durationMs` later. */
export interface FaultEvent {
  readonly atMs: number
  readonly durationMs: number
  readonly kind: Exclude<FaultKind, 'lie'>
  /** The replicas it hits (crash, restart, amnesia, partition, slow, pause; every one for a blackout). */
  readonly replicas: readonly string[]
  /** For `slow` and `delay`: the extra delay in ms. */
  readonly extraMs: number
  /** For `skew`: the clock offset set on the replica during the fault, in ms (negative: behind); for `drift`, the one it drifts to (and for `spare-clock`, either). */
  readonly offsetMs?: number
  /** For `drift` (and a drifting `spare-clock`): how long the clock takes to drift to `offsetMs`, in ms (it stays there for the rest of the fault). */
  readonly rampMs?: number
  /** For `client-restart`: the client id. */
  readonly client?: string
  /** For `membership` and `replace`: the serving member the operator sent the removal through. */
  readonly via?: string
  /** For `membership` and `replace`: true when the removed replica was down (a dead machine given up), not serving. */
  readonly down?: boolean
  /** For `cut`: the other end of the link cut (the victim is `replicas[0]`). */
  readonly peer?: string
  /** For `cut`: which way the link stops: `both`, `out` (the victim's messages to `peer` are held), `in` (`peer`'s to the victim). */
  readonly way?: 'both' | 'out' | 'in'
  /** For `replace`: the spare the operator brings in for the removed replica. */
  readonly spare?: string
  /** For `lost-tail`: how many of its last synced records the victim's disk loses. */
  readonly lostRecords?: number
  /** For a `blackout` with overlapping faults: when each replica comes back, in ms after the blackout. */
  readonly restartsAfterMs?: Readonly<Record<string, number>>
}

/** How far a `skew` fault sets a clock at least, by default (ms): ten times the simulator orderers' largest skew bound. */
export const DEFAULT_SKEW_BEYOND_MS = 50
/** A delay spike adds up to this much to every link's delay, by default (ms). */
export const DEFAULT_DELAY_SPIKE_MAX_MS = 100

/** Options of the drawn faults. */
export interface FaultDrawOptions {
  /** A `skew` fault sets a clock off by between this and three times this, ahead or behind. Default 50 ms. */
  readonly skewBeyondMs?: number
  /** A `delay` spike adds between 20 ms and this much. Default 100 ms. */
  readonly delaySpikeMaxMs?: number
}

/** Draws a `skew` fault's clock offset: between `skewBeyondMs` and three times that, ahead or behind. */
export function drawSkewOffset(random: SeededRandom, skewBeyondMs = DEFAULT_SKEW_BEYOND_MS): number {
  const magnitude = random.int(Math.ceil(skewBeyondMs), Math.ceil(3 * skewBeyondMs))
  return random.chance(0.5) ? magnitude : -magnitude
}

/** Parses `--faults none|crash,restart,…`. */
export function parseFaults(spec: string): FaultKind[] {
  if (spec === 'none' || spec === '') return []
  const kinds = spec.split(',').map((s) => s.trim())
  for (const kind of kinds) {
    if (!(faultKinds as readonly string[]).includes(kind)) {
      throw new LockstepError(ErrorCodes.INVALID_CONFIG, `unknown fault '${kind}': choose from none, ${faultKinds.join(', ')}`)
    }
  }
  return kinds as FaultKind[]
}

/**
 * Draws a fault schedule from the seed: faults one after another during
 * `windowMs`, each hitting at most F = ⌊(n−1)/2⌋ replicas, so a majority stays
 * up and connected between faults and after the window. Without `restart`,
 * crashed replicas stay down, and at most F crash in the whole run. A `skew`
 * sets one replica's clock off (see {@link drawSkewOffset}).
 */
export function drawFaultSchedule(random: SeededRandom, kinds: readonly FaultKind[], replicaIds: readonly string[], windowMs: number, options: FaultDrawOptions = {}): FaultEvent[] {
  for (const kind of kinds) {
    if (overlapOnlyFaultKinds.includes(kind)) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `the '${kind}' fault needs overlapping faults (overlap: true, --overlap)`)
  }
  const active = kinds.filter((k) => k !== 'restart') as FaultEvent['kind'][]
  if (active.length === 0) return []
  const f = Math.floor((replicaIds.length - 1) / 2)
  const restart = kinds.includes('restart')
  const events: FaultEvent[] = []
  let crashedForGood = 0
  let at = random.int(10, 100)
  while (at < windowMs) {
    const kind = random.pick(active)
    const durationMs = random.int(30, 400)
    const count = f === 0 ? 0 : random.int(1, f)
    const shuffled = shuffle(random, replicaIds)
    if (kind === 'crash') {
      const budget = restart ? f : f - crashedForGood
      const victims = shuffled.slice(0, Math.min(count, budget))
      if (victims.length > 0) {
        events.push({ atMs: at, durationMs, kind, replicas: victims, extraMs: 0 })
        if (!restart) crashedForGood += victims.length
      }
    } else if ((kind === 'partition' || kind === 'pause') && count > 0) {
      events.push({ atMs: at, durationMs, kind, replicas: shuffled.slice(0, count), extraMs: 0 })
    } else if (kind === 'slow') {
      events.push({ atMs: at, durationMs, kind, replicas: shuffled.slice(0, 1), extraMs: random.int(20, 200) })
    } else if (kind === 'delay') {
      events.push({ atMs: at, durationMs, kind, replicas: [], extraMs: random.int(20, options.delaySpikeMaxMs ?? DEFAULT_DELAY_SPIKE_MAX_MS) })
    } else if (kind === 'skew' && f > 0) {
      events.push({ atMs: at, durationMs, kind, replicas: shuffled.slice(0, 1), extraMs: 0, offsetMs: drawSkewOffset(random, options.skewBeyondMs) })
    } else if (kind === 'blackout') {
      events.push({ atMs: at, durationMs, kind, replicas: [...replicaIds], extraMs: 0 })
    }
    at += durationMs + random.int(20, 200)
  }
  return events
}

/** A Fisher–Yates shuffle driven by the seeded source. */
export function shuffle<T>(random: SeededRandom, items: readonly T[]): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(0, i)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}
