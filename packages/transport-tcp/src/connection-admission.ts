import type { ResolvedLimits } from './options'

/**
 * A handshake younger than this is never closed to make room for a new connection: a burst of legitimate
 * dialers (many clients behind one address connecting at once) finishes in milliseconds, while a connection
 * that sits idle without authenticating gets older than this long before its handshake deadline.
 */
export const EVICTABLE_HANDSHAKE_AGE_MS = 1000

/** One inbound connection counted by {@link ConnectionAdmission}, from accept to close. */
export interface AdmissionTicket {
  readonly address: string
  /** The handshake finished: it no longer counts as pending and can no longer be closed to make room. */
  authenticated(): void
  /** The connection closed (idempotent). */
  release(): void
}

/** Why a new connection was refused (or an old one closed to make room): one of the four limits. */
export type AdmissionLimit = 'maxPendingHandshakesPerAddress' | 'maxPendingHandshakes' | 'maxConnectionsPerAddress' | 'maxConnections'

/** The outcome of {@link ConnectionAdmission.admit}. */
export type Admission =
  | { readonly admitted: true; readonly ticket: AdmissionTicket; readonly evicted: readonly Eviction[] }
  | { readonly admitted: false; readonly limit: AdmissionLimit; readonly reason: string; readonly evicted: readonly Eviction[] }

/** An unfinished handshake closed to make room for a newer connection. */
export interface Eviction {
  readonly address: string
  readonly limit: AdmissionLimit
}

interface Entry {
  readonly address: string
  readonly since: number
  readonly evict: () => void
  pending: boolean
  released: boolean
}

/**
 * Counts inbound connections against the transport's connection limits: per address and in total, and
 * separately the unfinished (unauthenticated) handshakes among them. A connection that would pass a limit
 * takes the place of the oldest unfinished handshake within that limit, if that one is at least
 * {@link EVICTABLE_HANDSHAKE_AGE_MS} old; otherwise it is refused. Authenticated connections are never closed
 * to make room. Pure bookkeeping: closing sockets is the caller's (`evict`).
 */
export class ConnectionAdmission {
  /** Unfinished handshakes, oldest first, in total and per address. */
  private readonly pending = new Set<Entry>()
  private readonly pendingByAddress = new Map<string, Set<Entry>>()
  private readonly countByAddress = new Map<string, number>()
  private total = 0

  constructor(
    private readonly limits: ResolvedLimits,
    private readonly now: () => number,
  ) {}

  /** Inbound connections counted now (pending and authenticated). */
  get connections(): number {
    return this.total
  }

  /** Unfinished handshakes counted now. */
  get pendingHandshakes(): number {
    return this.pending.size
  }

  /**
   * Decides about a new connection from `address`. `evict` closes it later, should it be chosen to make room
   * while still unauthenticated.
   */
  admit(address: string, evict: () => void): Admission {
    const evicted: Eviction[] = []
    const checks: [AdmissionLimit, () => number, () => Set<Entry> | undefined, string][] = [
      ['maxPendingHandshakesPerAddress', () => this.pendingByAddress.get(address)?.size ?? 0, () => this.pendingByAddress.get(address), `unfinished handshakes from ${address}`],
      ['maxPendingHandshakes', () => this.pending.size, () => this.pending, 'unfinished handshakes from all addresses'],
      ['maxConnectionsPerAddress', () => this.countByAddress.get(address) ?? 0, () => this.pendingByAddress.get(address), `connections from ${address}`],
      ['maxConnections', () => this.total, () => this.pending, 'connections from all addresses'],
    ]
    for (const [limit, count, candidates, what] of checks) {
      if (count() < this.limits[limit]) continue
      const oldest = first(candidates())
      if (oldest === undefined || this.now() - oldest.since < EVICTABLE_HANDSHAKE_AGE_MS) {
        const why = oldest === undefined ? 'all of them authenticated' : `none unauthenticated for ${EVICTABLE_HANDSHAKE_AGE_MS} ms yet`
        return { admitted: false, limit, reason: `too many ${what}: already ${count()} (limits.${limit} = ${this.limits[limit]}; ${why})`, evicted }
      }
      this.remove(oldest)
      evicted.push({ address: oldest.address, limit })
      oldest.evict()
    }
    const entry: Entry = { address, since: this.now(), evict, pending: true, released: false }
    this.pending.add(entry)
    let byAddress = this.pendingByAddress.get(address)
    if (byAddress === undefined) this.pendingByAddress.set(address, (byAddress = new Set()))
    byAddress.add(entry)
    this.countByAddress.set(address, (this.countByAddress.get(address) ?? 0) + 1)
    this.total += 1
    return {
      admitted: true,
      evicted,
      ticket: {
        address,
        authenticated: () => this.unpend(entry),
        release: () => this.remove(entry),
      },
    }
  }

  private unpend(entry: Entry): void {
    if (!entry.pending) return
    entry.pending = false
    this.pending.delete(entry)
    const byAddress = this.pendingByAddress.get(entry.address)
    byAddress?.delete(entry)
    if (byAddress?.size === 0) this.pendingByAddress.delete(entry.address)
  }

  private remove(entry: Entry): void {
    if (entry.released) return
    entry.released = true
    this.unpend(entry)
    const remaining = (this.countByAddress.get(entry.address) ?? 1) - 1
    if (remaining <= 0) this.countByAddress.delete(entry.address)
    else this.countByAddress.set(entry.address, remaining)
    this.total -= 1
  }
}

function first<T>(set: Set<T> | undefined): T | undefined {
  if (set === undefined) return undefined
  for (const value of set) return value
  return undefined
}
