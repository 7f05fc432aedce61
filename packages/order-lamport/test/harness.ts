import type { OrdererContext, Request } from '@lockstep/interface'
import { silentLogger } from '@lockstep/interface'
import { LamportOrderer, type LamportOptions } from '../src/index'

/** A message in flight between two orderers, held until the test delivers it. */
export interface InFlight {
  readonly from: string
  readonly to: string
  readonly message: unknown
}

/** N Lamport orderers whose messages wait in per-link FIFO queues until the test delivers them. */
export function cluster(ids: string[], options: LamportOptions = {}) {
  let now = 0
  const links = new Map<string, InFlight[]>()
  const delivered = new Map<string, Request[]>()
  const orderers = new Map<string, LamportOrderer>()
  for (const id of ids) {
    delivered.set(id, [])
    const ctx: OrdererContext = {
      clock: { now: () => now },
      self: id,
      log: silentLogger,
      view: () => ({ id: 1, members: ids }),
      send: (to, message) => {
        const key = `${id}>${to}`
        if (!links.has(key)) links.set(key, [])
        links.get(key)!.push({ from: id, to, message })
      },
      broadcast: () => {
        throw new Error('not used by the Lamport orderer')
      },
      deliver: (request) => delivered.get(id)!.push(request),
    }
    orderers.set(id, new LamportOrderer(ctx, options))
  }
  const api = {
    orderers,
    delivered,
    links,
    get: (id: string) => orderers.get(id)!,
    advance: (ms: number) => (now += ms),
    /** Delivers the oldest message on link from→to; false if none. */
    deliverOne(from: string, to: string): boolean {
      const queue = links.get(`${from}>${to}`)
      const next = queue?.shift()
      if (!next) return false
      orderers.get(to)!.receive(from, next.message)
      return true
    },
    /** Delivers everything on link from→to. */
    deliverAll(from: string, to: string) {
      while (api.deliverOne(from, to));
    },
    flushAll() {
      for (const o of orderers.values()) o.flush()
    },
    /** Links with messages waiting. */
    busyLinks(): string[][] {
      return [...links.entries()].filter(([, q]) => q.length > 0).map(([key]) => key.split('>'))
    },
    keys: (id: string) => delivered.get(id)!.map((r) => `${r.client}#${r.seq}`),
  }
  return api
}

/** A request for tests. */
export function req(client: string, seq: number): Request {
  return { client, seq, command: { name: 'noop' } }
}
