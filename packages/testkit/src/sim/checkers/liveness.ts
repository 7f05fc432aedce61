/** How far the clients got by the liveness bound. */
export interface ClientProgress {
  readonly clients: number
  readonly finished: number
  /** Requests the clients completed. */
  readonly operations: number
  /** The bound, as the violation states it (`30000ms after the faults stopped (at 3000ms)`). */
  readonly bound: string
  /** What the replicas were doing when the bound passed (see `SimCluster.describe`). */
  readonly replicas?: string
}

/** Liveness: every client finished its work within the bound of virtual time. */
export function checkLiveness(progress: ClientProgress): string[] {
  if (progress.finished >= progress.clients) return []
  const replicas = progress.replicas === undefined ? '' : `; replicas: ${progress.replicas}`
  return [`liveness: ${progress.clients - progress.finished} of ${progress.clients} clients did not finish within ${progress.bound} of virtual time (${progress.operations} requests completed)${replicas}`]
}

/** A request that waited too long while at most F replicas were faulty. */
export interface Stall {
  /** The request, `client#seq`. */
  readonly key: string
  readonly sentAtMs: number
  /** When the bound began for it: when it was sent, or when the last blackout stopped being in force. */
  readonly waitingSinceMs: number
  readonly nowMs: number
  readonly boundMs: number
  readonly f: number
  /** The faulty replicas now, and why. */
  readonly faulty: string
  /** What the replicas are doing (see `SimCluster.describe`). */
  readonly replicas: string
}

/**
 * Liveness under the fault budget: while at most F replicas are faulty, a majority is up, connected and has
 * its state, so no request may wait longer than the bound. The violation names the request and what each
 * replica was doing.
 */
export function describeStall(stall: Stall): string {
  const since = stall.waitingSinceMs > stall.sentAtMs ? ` (sent at ${fmt(stall.sentAtMs)}ms, before a blackout that ended at ${fmt(stall.waitingSinceMs)}ms)` : ` (sent at ${fmt(stall.sentAtMs)}ms)`
  return `liveness: request ${stall.key} got no reply for ${fmt(stall.nowMs - stall.waitingSinceMs)}ms${since} while at most F=${stall.f} replicas were faulty (bound ${stall.boundMs}ms); faulty now: ${stall.faulty}; replicas: ${stall.replicas}`
}

function fmt(ms: number): string {
  return String(Math.round(ms))
}
