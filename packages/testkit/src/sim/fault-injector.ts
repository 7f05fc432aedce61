import type { LinkDelay } from '@lockstep/transport-memory'
import type { FaultEvent, FaultKind } from './faults'
import type { SimCluster } from './sim-cluster'

/** How often a fault that found the cluster still recovering from the last one looks again. */
const RETRY_STRIKE_MS = 50

/** Options of {@link FaultInjector}. */
export interface FaultInjectorOptions {
  /** The fault kinds of the run: with `restart` (or `blackout`) crashed replicas come back. */
  readonly kinds: readonly FaultKind[]
  /** Faults strike only during this much virtual time from the start; one still waiting then is dropped. */
  readonly windowMs: number
  /** The network's delay model, restored when a delay spike ends. */
  readonly delay: LinkDelay
}

/** A view installed somewhere, for measuring failover. */
export interface InstalledView {
  readonly atMs: number
  readonly members: readonly string[]
}

/** Virtual time from each fault's start to the next view installed without its victims (none if there was no such view). */
export function failoverTimes(starts: readonly { atMs: number; victims: readonly string[] }[], views: readonly InstalledView[]): number[] {
  return starts.flatMap((start) => {
    const next = views.find((v) => v.atMs >= start.atMs && start.victims.every((victim) => !v.members.includes(victim)))
    return next ? [next.atMs - start.atMs] : []
  })
}

/**
 * Injects a drawn fault schedule into a {@link SimCluster} on virtual time: crashes (and the restarts
 * that follow them), partitions, slow replicas, delay spikes, clock skews and blackouts, each undone after its
 * duration. A fault strikes only a cluster that has recovered from the last one (every live replica
 * serving in one view of all of them); otherwise it waits. So at most F replicas are ever out at once,
 * counting those still rejoining.
 */
export class FaultInjector {
  /** The faults that struck, stamped with the virtual time they did. */
  readonly injected: FaultEvent[] = []
  /** When each crash or partition began, and whom it cut off. */
  private readonly failoverStarts: { atMs: number; victims: readonly string[] }[] = []
  private readonly cluster: SimCluster
  private readonly options: FaultInjectorOptions
  /** Crashed replicas come back: the run has `restart` or `blackout` faults. */
  readonly restarts: boolean
  /** Clocks a `skew` fault set off, with the offset each goes back to. */
  private readonly skewed = new Map<string, number>()

  constructor(cluster: SimCluster, options: FaultInjectorOptions) {
    this.cluster = cluster
    this.options = options
    this.restarts = options.kinds.includes('restart') || options.kinds.includes('blackout')
  }

  /** Sets a timer for each fault of `schedule`. */
  schedule(schedule: readonly FaultEvent[]): void {
    for (const fault of schedule) this.cluster.scheduler.setTimer(fault.atMs, () => this.strike(fault))
  }

  /** Ends every fault still in force: heals the network, resets its delays, and (with restarts) brings crashed replicas back. */
  async endAll(): Promise<void> {
    const { network } = this.cluster
    network.heal()
    network.setDelay(this.options.delay)
    for (const id of this.cluster.replicaIds) network.setSlow(id, 0)
    for (const [id, offsetMs] of this.skewed) this.cluster.clock(id).setOffset(offsetMs)
    this.skewed.clear()
    for (const id of this.cluster.replicaIds) this.cluster.resume(id)
    if (this.restarts) for (const id of this.cluster.replicaIds) if (!this.cluster.isRunning(id)) await this.cluster.rejoin(id)
  }

  /** Virtual time from the start of each crash or partition to the next view installed without its victims. */
  failoverMs(views: readonly InstalledView[]): number[] {
    return failoverTimes(this.failoverStarts, views)
  }

  /** True when the cluster has recovered from the last fault (and, with restarts, every replica is back). */
  private healthy(): boolean {
    const up = this.cluster.running()
    if (this.restarts && up.length < this.cluster.replicaIds.length) return false
    const views = new Set(up.map((host) => host.engine.view.id))
    return views.size === 1 && up.every((host) => host.engine.status === 'normal' && host.engine.view.members.length === up.length)
  }

  private strike(fault: FaultEvent): void {
    const { scheduler } = this.cluster
    if (!this.healthy()) {
      if (scheduler.now() < this.options.windowMs) scheduler.setTimer(RETRY_STRIKE_MS, () => this.strike(fault))
      return
    }
    this.inject(fault)
  }

  private inject(fault: FaultEvent): void {
    const { cluster } = this
    const { scheduler, network } = cluster
    this.injected.push({ ...fault, atMs: scheduler.now() })
    const restartVictims = () => {
      for (const id of fault.replicas) if (!cluster.isRunning(id)) cluster.background(`restarting ${id}`, cluster.rejoin(id))
    }
    switch (fault.kind) {
      case 'crash':
      case 'blackout':
        if (fault.kind === 'crash') this.failoverStarts.push({ atMs: scheduler.now(), victims: fault.replicas })
        for (const id of fault.replicas) cluster.crashNow(id)
        if (fault.kind === 'blackout' || this.restarts) scheduler.setTimer(fault.durationMs, restartVictims)
        break
      case 'partition':
        this.failoverStarts.push({ atMs: scheduler.now(), victims: fault.replicas })
        cluster.partition(fault.replicas)
        scheduler.setTimer(fault.durationMs, () => network.heal())
        break
      case 'pause':
        for (const id of fault.replicas) cluster.pause(id)
        scheduler.setTimer(fault.durationMs, () => {
          for (const id of fault.replicas) cluster.resume(id)
        })
        break
      case 'slow':
        network.setSlow(fault.replicas[0]!, fault.extraMs)
        scheduler.setTimer(fault.durationMs, () => network.setSlow(fault.replicas[0]!, 0))
        break
      case 'delay': {
        const { delay } = this.options
        network.setDelay({ minMs: delay.minMs, maxMs: delay.maxMs + fault.extraMs })
        scheduler.setTimer(fault.durationMs, () => network.setDelay(delay))
        break
      }
      case 'skew': {
        // The clock runs off by the drawn offset for the fault's duration, then back to where it was.
        const id = fault.replicas[0]!
        const clock = cluster.clock(id)
        const backTo = this.skewed.get(id) ?? clock.offsetMs
        this.skewed.set(id, backTo)
        clock.setOffset(backTo + (fault.offsetMs ?? 0))
        scheduler.setTimer(fault.durationMs, () => {
          if (this.skewed.get(id) !== backTo) return // ended by endAll
          this.skewed.delete(id)
          clock.setOffset(backTo)
        })
        break
      }
    }
  }
}
