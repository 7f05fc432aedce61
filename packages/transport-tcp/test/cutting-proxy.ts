import { connect, createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'

/** What the proxy does to traffic. */
export interface CuttingProxyOptions {
  /** Uniform [0, 1) source (seeded in tests). */
  readonly random: () => number
  /** Cut each connection after a random number of bytes in [min, max] (both directions counted); absent: never cut. */
  readonly cutAfterBytes?: { readonly min: number; readonly max: number }
}

/**
 * A TCP forwarder on 127.0.0.1 for fault tests. It can cut every connection
 * at a random byte offset (the bytes before the offset are delivered, then
 * both sides see the connection end), and it can stall: stop reading from
 * the dialling side, as a peer that stopped reading would.
 */
export class CuttingProxy {
  /** Connections cut so far. */
  cuts = 0
  /** Connections accepted so far. */
  accepted = 0
  private readonly server: Server
  private readonly sockets = new Set<Socket>()
  private stalled = false
  private readonly downstreams = new Set<Socket>()

  constructor(
    private readonly target: { host: string; port: number },
    private readonly options: CuttingProxyOptions,
  ) {
    this.server = createServer((down) => this.onConnection(down))
  }

  /** Listens on an ephemeral port of 127.0.0.1; returns the port. */
  listen(): Promise<number> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as AddressInfo).port)))
  }

  /** Stops reading from dialling sides: their writes back up. */
  stall(): void {
    this.stalled = true
    for (const down of this.downstreams) down.pause()
  }

  /** Reads again. */
  resume(): void {
    this.stalled = false
    for (const down of this.downstreams) down.resume()
  }

  /** Closes the listener and every forwarded connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const socket of this.sockets) socket.destroy()
    await closed
  }

  private nextCut(): number {
    const range = this.options.cutAfterBytes
    if (range === undefined) return Number.POSITIVE_INFINITY
    return range.min + Math.floor(this.options.random() * (range.max - range.min + 1))
  }

  private onConnection(down: Socket): void {
    this.accepted += 1
    const up = connect(this.target.port, this.target.host)
    let budget = this.nextCut()
    let cut = false
    for (const socket of [down, up]) {
      this.sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => {
        this.sockets.delete(socket)
        this.downstreams.delete(socket)
        // After a cut the other side is ending on its own, flushing the bytes before the cut.
        if (!cut) {
          down.destroy()
          up.destroy()
        }
      })
    }
    this.downstreams.add(down)
    if (this.stalled) down.pause()
    const forward = (from: Socket, to: Socket) => {
      from.on('data', (chunk: Buffer) => {
        if (cut) return
        if (chunk.length >= budget) {
          // Deliver the bytes before the cut, then end both connections.
          cut = true
          this.cuts += 1
          to.end(chunk.subarray(0, budget), () => to.destroy())
          from.destroy()
          return
        }
        budget -= chunk.length
        if (!to.write(chunk)) {
          from.pause()
          to.once('drain', () => {
            if (!(from === down && this.stalled)) from.resume()
          })
        }
      })
    }
    forward(down, up)
    forward(up, down)
  }
}
