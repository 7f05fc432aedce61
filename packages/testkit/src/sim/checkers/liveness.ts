/** How far the clients got by the liveness bound. */
export interface ClientProgress {
  readonly clients: number
  readonly finished: number
  /** Requests the clients completed. */
  readonly operations: number
  /** The bound, as the violation states it (`30000ms after the faults stopped (at 3000ms)`). */
  readonly bound: string
}

/** Liveness: every client finished its work within the bound of virtual time. */
export function checkLiveness(progress: ClientProgress): string[] {
  if (progress.finished >= progress.clients) return []
  return [`liveness: ${progress.clients - progress.finished} of ${progress.clients} clients did not finish within ${progress.bound} of virtual time (${progress.operations} requests completed)`]
}
