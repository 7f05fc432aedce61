import type { ClientId } from '@lockstep/interface'

/**
 * A set of requests by `(client, seq)`, without a string per request: a client's one request is its number,
 * several are a list (a pipelining client). Every replica asks it at every delivery; a key made of the client id
 * and the number was two strings per ask (made, then flattened to be hashed).
 */
export class RequestKeys {
  private readonly byClient = new Map<ClientId, number | number[]>()
  private count = 0

  get size(): number {
    return this.count
  }

  has(client: ClientId, seq: number): boolean {
    const held = this.byClient.get(client)
    return held === undefined ? false : typeof held === 'number' ? held === seq : held.includes(seq)
  }

  add(client: ClientId, seq: number): void {
    const held = this.byClient.get(client)
    if (held === undefined) this.byClient.set(client, seq)
    else if (typeof held === 'number') {
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
    if (held === undefined) return false
    if (typeof held === 'number') {
      if (held !== seq) return false
      this.byClient.delete(client)
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
  }
}
