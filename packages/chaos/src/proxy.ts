import { createConnection, createServer, type Server, type Socket } from 'node:net'

/** What a link proxy does to the bytes it forwards. */
export type LinkMode =
  | { readonly kind: 'pass' }
  /** No connection gets through; those open are cut. */
  | { readonly kind: 'down' }
  /** Bytes from the dialer (`forward`) or to it (`backward`) are swallowed; the other way passes. */
  | { readonly kind: 'drop'; readonly direction: 'forward' | 'backward' }
  /** Every chunk waits this long before it is passed on (in order). */
  | { readonly kind: 'delay'; readonly ms: number }

/**
 * A TCP proxy in front of one replica, for the connections one other replica dials to it: the nemesis
 * partitions, delays, drops one way or resets that link without touching the processes.
 */
export class LinkProxy {
  readonly from: string
  readonly to: string
  private readonly target: () => number
  private server: Server | undefined
  private readonly pairs = new Set<{ readonly inbound: Socket; readonly outbound: Socket }>()
  private mode: LinkMode = { kind: 'pass' }
  /** Connections cut by `reset` and `down`, for the report. */
  resets = 0

  /** `target()`: the port the replica `to` listens on now (it may change across restarts). */
  constructor(from: string, to: string, target: () => number) {
    this.from = from
    this.to = to
    this.target = target
  }

  /** Listens on a free port of 127.0.0.1; resolves with it. */
  async listen(): Promise<number> {
    const server = createServer((inbound) => this.accept(inbound))
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    return (server.address() as { port: number }).port
  }

  /** Changes what the link does from now on; `down` also cuts the connections open. */
  set(mode: LinkMode): void {
    this.mode = mode
    if (mode.kind === 'down') this.reset()
  }

  get current(): LinkMode {
    return this.mode
  }

  /** Cuts every open connection of this link (both ends see a reset). */
  reset(): void {
    for (const pair of this.pairs) {
      this.resets++
      pair.inbound.destroy()
      pair.outbound.destroy()
    }
    this.pairs.clear()
  }

  async close(): Promise<void> {
    this.reset()
    const server = this.server
    this.server = undefined
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  private accept(inbound: Socket): void {
    if (this.mode.kind === 'down') {
      inbound.destroy()
      return
    }
    const outbound = createConnection({ host: '127.0.0.1', port: this.target() })
    const pair = { inbound, outbound }
    this.pairs.add(pair)
    const end = () => {
      this.pairs.delete(pair)
      inbound.destroy()
      outbound.destroy()
    }
    inbound.on('error', end).on('close', end)
    outbound.on('error', end).on('close', end)
    this.pipe(inbound, outbound, 'forward')
    this.pipe(outbound, inbound, 'backward')
  }

  private pipe(source: Socket, sink: Socket, direction: 'forward' | 'backward'): void {
    source.on('data', (chunk: Buffer) => {
      const mode = this.mode
      if (mode.kind === 'down') return
      if (mode.kind === 'drop' && mode.direction === direction) return
      if (mode.kind === 'delay') {
        source.pause()
        setTimeout(() => {
          if (!sink.destroyed) sink.write(chunk)
          if (!source.destroyed) source.resume()
        }, mode.ms)
        return
      }
      if (!sink.destroyed) sink.write(chunk)
    })
  }
}
