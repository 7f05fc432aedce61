/**
 * A Lamport logical clock (Lamport 1978; Schneider §3.2.1).
 * LC1: T is incremented between any two successive events of a process.
 * LC2: on receipt of a message stamped τ, T := max(T, τ) + 1.
 */
export class LamportClock {
  private value = 0

  /** The current reading. */
  get now(): number {
    return this.value
  }

  /** LC1: a local event (a request stamped, a message sent). Returns the new reading. */
  tick(): number {
    return ++this.value
  }

  /** LC2: a message stamped `stamp` was received. */
  witness(stamp: number): void {
    this.value = Math.max(this.value, stamp) + 1
  }
}

/** A unique stamp `(time, replica)`: ties on time are broken by replica id. */
export interface Stamp {
  readonly time: number
  readonly replica: string
}

/** Total order on stamps: by time, then by replica id. */
export function compareStamps(aTime: number, aReplica: string, bTime: number, bReplica: string): number {
  if (aTime !== bTime) return aTime - bTime
  return aReplica < bReplica ? -1 : aReplica > bReplica ? 1 : 0
}
