import { realScheduler, silentLogger } from '@lockstep/interface'
import type { ClientTransport, Logger, Scheduler } from '@lockstep/interface'
import { encodeDataFrame, encodeMessage } from '../src/envelope'
import { tcp, tcpClient } from '../src/index'
import type { TcpTransport, TcpTransportOptions, TcpClientTransportOptions } from '../src/index'

/** What a test passes to build an endpoint: its options, plus the components a host would inject. */
export interface WithComponents {
  readonly self: string
  /** Default: silent. */
  readonly logger?: Logger
  /** Default: the real scheduler. */
  readonly scheduler?: Scheduler
}

/** Builds a replica endpoint the way a host does: `tcp(options)` with `{ self, scheduler, log }`. */
export function buildTcp(options: TcpTransportOptions & WithComponents): TcpTransport {
  const { self, logger, scheduler, ...init } = options
  return tcp(init)({ self, scheduler: scheduler ?? realScheduler(), log: logger ?? silentLogger })
}

/** Builds a client endpoint the way a client does: `tcpClient(options)` with `{ self, scheduler, log }`. */
export function buildTcpClient(options: TcpClientTransportOptions & WithComponents): ClientTransport {
  const { self, logger, scheduler, ...init } = options
  return tcpClient(init)({ self, scheduler: scheduler ?? realScheduler(), log: logger ?? silentLogger })
}

export const HOST = '127.0.0.1'
export const CLUSTER = 'test-cluster'
export const REPLICA_SECRET = 'replica-secret-0123456789abcdef'
export const CLIENT_SECRET = 'client-secret-0123456789abcdef!'

/** Fast reconnects for tests (still exponential, with jitter from a fixed sequence). */
export const FAST_RECONNECT = { initialDelayMs: 2, maxDelayMs: 50, multiplier: 2, jitter: 0.5 }

/** A deterministic jitter source. */
export function fixedRandom(seed = 1): { next(): number } {
  let state = seed >>> 0
  return {
    next() {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0
      return state / 4294967296
    },
  }
}

/**
 * The real scheduler with a clock that a test can move forward (`skip`), or stop (`frozen`: `now()` moves only
 * by `skip`, so nothing grows old on a slow machine), and a count of the timers it has running, to check that a
 * stopped transport leaves none behind. Timers run on real time either way.
 */
export function skewedScheduler(options: { frozen?: boolean } = {}): Scheduler & { skip(ms: number): void; readonly activeTimers: number } {
  const real = realScheduler()
  const frozenAt = real.now()
  let offsetMs = 0
  const active = new Set<unknown>()
  return {
    now: () => (options.frozen === true ? frozenAt : real.now()) + offsetMs,
    setTimer(delayMs, fn) {
      const handle: unknown = real.setTimer(delayMs, () => {
        active.delete(handle)
        fn()
      })
      active.add(handle)
      return handle as ReturnType<Scheduler['setTimer']>
    },
    clearTimer(handle) {
      active.delete(handle)
      real.clearTimer(handle)
    },
    defer: (fn) => real.defer(fn),
    skip(ms: number) {
      offsetMs += ms
    },
    get activeTimers() {
      return active.size
    },
  }
}

/** A logger that records lines, so tests can assert that a refusal was logged with its reason. */
export class RecordingLogger implements Logger {
  readonly lines: { level: string; message: string }[] = []
  private waiters: { pattern: RegExp; resolve: () => void }[] = []
  debug(message: string): void {
    this.record('debug', message)
  }
  info(message: string): void {
    this.record('info', message)
  }
  warn(message: string): void {
    this.record('warn', message)
  }
  error(message: string): void {
    this.record('error', message)
  }
  /** Resolves when a line matching `pattern` has been logged (now or later). */
  waitFor(pattern: RegExp): Promise<string> {
    const found = this.lines.find((l) => pattern.test(l.message))
    if (found) return Promise.resolve(found.message)
    return new Promise((resolve, reject) => {
      // A guard against hangs only: it turns a missing line into a readable failure.
      const guard = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.pattern !== pattern)
        reject(new Error(`no log line matched ${pattern}; lines so far:\n${this.lines.map((l) => `${l.level} ${l.message}`).join('\n')}`))
      }, 20_000)
      this.waiters.push({
        pattern,
        resolve: () => {
          clearTimeout(guard)
          resolve(this.lines.find((l) => pattern.test(l.message))!.message)
        },
      })
    })
  }
  has(pattern: RegExp): boolean {
    return this.lines.some((l) => pattern.test(l.message))
  }
  private record(level: string, message: string): void {
    this.lines.push({ level, message })
    const still = []
    for (const waiter of this.waiters) {
      if (waiter.pattern.test(message)) waiter.resolve()
      else still.push(waiter)
    }
    this.waiters = still
  }
}

/** Builds replicas listening on ephemeral ports, binds them and tells each the others' ports. */
export async function bindCluster(
  ids: string[],
  extra: (id: string) => Partial<TcpTransportOptions & WithComponents> = () => ({}),
): Promise<TcpTransport[]> {
  const transports = ids.map((id) =>
    buildTcp({
      self: id,
      clusterId: CLUSTER,
      listen: { host: HOST, port: 0 },
      peers: ids.map((peer) => ({ id: peer, host: HOST, port: 0 })),
      auth: { secret: REPLICA_SECRET },
      clients: { secret: CLIENT_SECRET },
      reconnect: FAST_RECONNECT,
      random: fixedRandom(),
      ...extra(id),
    }),
  )
  const addresses = await Promise.all(transports.map((t) => t.bind()))
  for (const transport of transports) {
    ids.forEach((id, index) => {
      if (id !== transport.self) transport.setPeerAddress(id, HOST, addresses[index]!.port)
    })
  }
  return transports
}

/** A client endpoint for replicas built by {@link bindCluster}. */
export function clientFor(id: string, transports: TcpTransport[], extra: Partial<TcpClientTransportOptions & WithComponents> = {}) {
  return buildTcpClient({
    self: id,
    clusterId: CLUSTER,
    replicas: transports.map((t) => ({ id: t.self, host: HOST, port: t.address()!.port })),
    auth: { secret: CLIENT_SECRET },
    reconnect: FAST_RECONNECT,
    random: fixedRandom(2),
    ...extra,
  })
}

/** A DATA frame carrying `messages` from sequence number `firstSeq`. */
export function dataFrame(firstSeq: number, ...messages: unknown[]): Buffer {
  return encodeDataFrame(firstSeq, messages.map(encodeMessage))
}
