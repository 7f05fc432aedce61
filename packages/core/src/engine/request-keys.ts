import type { ClientId } from '@lockstep/interface'

/** A client's entry when it has no request here (kept, not deleted: a Map deleting and adding per request rehashes). */
const NONE = null

/** Entries of clients with no request kept before they are swept, at least (and at least as many as requests). */
const SWEEP_AFTER = 1024

/**
 * A set of requests by `(client, seq)`, without a string per request: a client's one request is its number,
 * several are a list (a pipelining client). Every replica asks it at every delivery; a key made of the client id
 * and the number was two strings per ask (made, then flattened to be hashed).
 */
export class RequestKeys {
  private readonly byClient = new Map<ClientId, number | number[] | typeof NONE>()
  private count = 0
  /** Clients whose entry is NONE. */
  private empty = 0

  get size(): number {
    return this.count
  }

  has(client: ClientId, seq: number): boolean {
    const held = this.byClient.get(client)
    if (held === undefined || held === NONE) return false
    return typeof held === 'number' ? held === seq : held.includes(seq)
  }

  add(client: ClientId, seq: number): void {
    const held = this.byClient.get(client)
    if (held === undefined || held === NONE) {
      if (held === NONE) this.empty--
      this.byClient.set(client, seq)
    } else if (typeof held === 'number') {
      if (held === seq) return
      this.byClient.set(client, [held, seq])
    } else {
      if (held.includes(seq)) return
      held.push(seq)
    }
    this.count++
  }

  /** Removes the request; true if it was there. */
  delete(client: ClientId, seq: number): boolean {
    const held = this.byClient.get(client)
    if (held === undefined || held === NONE) return false
    if (typeof held === 'number') {
      if (held !== seq) return false
      this.byClient.set(client, NONE)
      if (++this.empty > SWEEP_AFTER && this.empty > this.count) this.sweep()
    } else {
      const at = held.indexOf(seq)
      if (at < 0) return false
      held.splice(at, 1)
      if (held.length === 1) this.byClient.set(client, held[0]!)
    }
    this.count--
    return true
  }

  clear(): void {
    this.byClient.clear()
    this.count = 0
    this.empty = 0
  }

  /** Forgets the clients with no request here. */
  private sweep(): void {
    for (const [client, held] of this.byClient) if (held === NONE) this.byClient.delete(client)
    this.empty = 0
  }
}
