/**
 * Stamps of the real-time orderer are integer microseconds of the stamping replica's clock, made strictly
 * increasing per replica: a stamp is the clock reading, or one microsecond above the replica's last stamp
 * or advertised floor when the clock did not advance that far. Integers keep the comparison exact on every
 * replica (no floating-point increments); a replica would have to stamp a thousand requests within one
 * millisecond before its stamps ran a millisecond ahead of its clock. Ties on time are broken by replica id.
 */
export function clockMicros(nowMs: number): number {
  return Math.floor(nowMs * 1000)
}

/** Total order on stamps `(time, replica)`: by time, then by replica id. */
export function compareStamps(aTime: number, aReplica: string, bTime: number, bReplica: string): number {
  if (aTime !== bTime) return aTime - bTime
  return aReplica < bReplica ? -1 : aReplica > bReplica ? 1 : 0
}

/**
 * One replica's stamp source. `floor` is the largest stamp it issued or advertised to its peers: every
 * later stamp is above it, which is what lets a peer apply Test II to the floors it receives.
 */
export class StampSource {
  private value = 0

  /** The largest stamp issued or advertised so far. */
  get floor(): number {
    return this.value
  }

  /** A stamp for a request received at clock reading `nowMs`: the clock in µs, kept strictly increasing. */
  next(nowMs: number): number {
    this.value = Math.max(this.value + 1, clockMicros(nowMs))
    return this.value
  }

  /** Raises the floor to `stamp`: every later stamp is above it. */
  raise(stamp: number): void {
    this.value = Math.max(this.value, stamp)
  }

  /** Advertises the clock: the floor rises to the reading (later stamps are above it). Returns the floor. */
  advance(nowMs: number): number {
    this.value = Math.max(this.value, clockMicros(nowMs))
    return this.value
  }
}
