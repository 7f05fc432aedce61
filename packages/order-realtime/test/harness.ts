import type { Logger, OrdererContext, Request } from '@lockstep/interface'
import { RealtimeOrderer, type RealtimeOptions } from '../src/index'

/** A message in flight between two orderers, held until the test delivers it. */
export interface InFlight {
  readonly from: string
  readonly to: string
  readonly message: unknown
}

/** Options of a test cluster: orderer options, and per-replica clock offsets (ms added to the shared time). */
export interface ClusterOptions extends RealtimeOptions {
  readonly clockOffsetMs?: Readonly<Record<string, number>>
  /**
   * Start every orderer as if probes had already put its clock within the bound of a majority's
   * (`RealtimeStats.clockChecked`), so that a story can use Test I from its first step. Default true; the
   * tests of that check itself pass false.
   */
  readonly clocksChecked?: boolean
  /** The configuration's size the orderers are told (`OrdererContext.configurationSize`); default: not told (the view's). */
  readonly configurationSize?: number
  /** The configured replicas the orderers are told (`OrdererContext.configuration`); default: not told. */
  readonly configuration?: readonly string[]
}

/**
 * N real-time orderers on one manual clock (plus optional per-replica offsets), whose messages wait in
 * per-link FIFO queues until the test delivers them. Records deliveries, `diverged` calls and error logs.
 */
export function cluster(ids: string[], options: ClusterOptions = {}) {
  let now = 1_000
  const links = new Map<string, InFlight[]>()
  const delivered = new Map<string, Request[]>()
  const diverged = new Map<string, string[]>()
  const errors = new Map<string, string[]>()
  const orderers = new Map<string, RealtimeOrderer>()
  for (const id of ids) {
    delivered.set(id, [])
    diverged.set(id, [])
    errors.set(id, [])
    const log: Logger = { debug() {}, info() {}, warn() {}, error: (message) => errors.get(id)!.push(message) }
    const ctx: OrdererContext = {
      clock: { now: () => now + (options.clockOffsetMs?.[id] ?? 0) },
      self: id,
      log,
      view: () => ({ id: 1, members: ids }),
      send: (to, message) => {
        const key = `${id}>${to}`
        if (!links.has(key)) links.set(key, [])
        links.get(key)!.push({ from: id, to, message })
      },
      broadcast: () => {
        throw new Error('not used by the real-time orderer')
      },
      deliver: (request) => delivered.get(id)!.push(request),
      diverged: (reason) => diverged.get(id)!.push(reason),
      ...(options.configurationSize === undefined ? {} : { configurationSize: () => options.configurationSize! }),
      ...(options.configuration === undefined ? {} : { configuration: () => options.configuration! }),
    }
    const orderer = new RealtimeOrderer(ctx, options)
    if (options.clocksChecked !== false) (orderer as unknown as { clockChecked: boolean }).clockChecked = true
    orderers.set(id, orderer)
  }
  const api = {
    orderers,
    delivered,
    diverged,
    errors,
    links,
    get: (id: string) => orderers.get(id)!,
    now: () => now,
    /**
     * Time passes, and each replica reads its clock at least every heartbeat as an engine's tick would (without
     * the tick's sends and deliveries): readings further apart are a stall of the replica (see `stall`).
     */
    advance: (ms: number) => {
      const every = Math.min(options.heartbeatMs ?? 20, options.maxDelayMs ?? 100)
      for (let left = ms; left > 0; left -= every) {
        now += Math.min(left, every)
        for (const orderer of orderers.values()) (orderer as unknown as { readClock(): number }).readClock()
      }
      return now
    },
    /** Time passes while no replica runs (a GC pause or SIGSTOP of every process): no clock is read. */
    stall: (ms: number) => (now += ms),
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
    /** Drops everything waiting on links from `id` (it crashed with its last sends lost). */
    dropFrom(id: string) {
      for (const [key, queue] of links) if (key.startsWith(`${id}>`)) queue.length = 0
    },
    /**
     * `origin` stamps `request` and sends it to every other member; `acknowledger` then acknowledges it (with its
     * floor) to the members other than the origin. The opening of the stories where a member's floor lags.
     */
    stampAndAcknowledge(origin: string, request: Request, acknowledger: string) {
      orderers.get(origin)!.submit(request)
      orderers.get(origin)!.flush()
      for (const id of ids) if (id !== origin) api.deliverAll(origin, id)
      orderers.get(acknowledger)!.flush()
      for (const id of ids) if (id !== origin && id !== acknowledger) api.deliverAll(acknowledger, id)
    },
    flushAll() {
      for (const o of orderers.values()) o.flush()
    },
    tickAll() {
      for (const o of orderers.values()) o.tick()
    },
    /** Flushes and delivers everything until the network is quiet, skipping the listed replicas. */
    settle(skip: readonly string[] = []) {
      for (let round = 0; round < 20; round++) {
        for (const [id, o] of orderers) if (!skip.includes(id)) o.flush()
        const busy = api.busyLinks().filter(([from, to]) => !skip.includes(from!) && !skip.includes(to!))
        if (busy.length === 0) return
        for (const [from, to] of busy) api.deliverAll(from!, to!)
      }
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
