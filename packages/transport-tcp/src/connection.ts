import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { isLockstepError } from '@lockstep/interface'
import type { Logger, Scheduler, TimerHandle } from '@lockstep/interface'
import { FrameDecoder } from './frame-codec'
import { decodeEnvelope, encodePingFrame, encodeRefuseFrame } from './envelope'
import type { Envelope, RefusalCode } from './envelope'
import type { ResolvedLimits } from './options'

/** Receives what arrives on a connection. Swapped as the connection moves from handshake to link. */
export interface ConnectionHandler {
  /** One validated envelope. */
  onFrame(connection: Connection, envelope: Envelope): void
  /** Called after all frames of one received chunk were handled (acks are sent here, batched). */
  onChunkEnd?(connection: Connection): void
  /** The socket drained: more may be written. */
  onDrain?(connection: Connection): void
}

/** Log levels used for closing reasons. */
export type CloseLevel = 'debug' | 'info' | 'warn' | 'error'

const noHandler: ConnectionHandler = { onFrame: () => {} }

/** Frames an authenticated connection may send while it waits for the transport to start (a dialer sends one RESUME). */
const MAX_HELD_FRAMES = 8

/** Optional behaviour of a {@link Connection}. */
export interface ConnectionOptions {
  /**
   * Called instead of logging at `warn` when the handshake deadline passes (the close is logged at debug): a
   * listener that sums such closes up in one line per interval.
   */
  readonly onHandshakeTimeout?: (connection: Connection) => void
  /** Called when this side refuses the connection (`refuse`): a listener counts its refusals. */
  readonly onRefuse?: (connection: Connection) => void
}

/**
 * One TCP or TLS socket carrying frames: decoding with limits, coalesced
 * writes with backpressure, handshake and idle timeouts, and one logged
 * reason when it closes. It never throws into socket callbacks: every
 * problem closes this connection only.
 */
export class Connection {
  /** Resolves once the socket is fully closed. */
  readonly closed: Promise<void>
  /** Why it closed (set when closing starts). */
  closeReason: string | undefined
  /** Whether the link on it is established (handshake and resume done). */
  isOpen = false
  /** Whether the link on it was ever established. */
  everOpened = false
  private handler: ConnectionHandler = noHandler
  private readonly decoder: FrameDecoder
  private resolveClosed!: () => void
  private handshakeTimer: TimerHandle | undefined
  private idleTimer: TimerHandle | undefined
  private lingerTimer: TimerHandle | undefined
  private lastReceivedAt: number
  private lastSentAt: number
  private closing = false
  private socketClosed = false
  private held: Envelope[] | undefined

  /**
   * @param socket connected (or connecting) socket; the connection owns it from now on
   * @param label  who is talking to whom, for log lines (`r1 -> r2 at 127.0.0.1:4001`)
   */
  constructor(
    readonly socket: Socket | TLSSocket,
    public label: string,
    private readonly limits: ResolvedLimits,
    private readonly logger: Logger,
    private readonly scheduler: Scheduler,
    private readonly options: ConnectionOptions = {},
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve))
    this.decoder = new FrameDecoder(limits.maxHandshakeFrameBytes)
    this.lastReceivedAt = this.lastSentAt = scheduler.now()
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('drain', () => {
      if (!this.closing) this.handler.onDrain?.(this)
    })
    socket.on('error', (error: Error & { code?: string }) => {
      const expected = error.code === 'ECONNREFUSED' || error.code === 'ECONNRESET' || error.code === 'EPIPE'
      this.close(`socket error: ${error.code ?? ''} ${error.message}`.trim(), expected ? 'debug' : 'warn')
    })
    socket.on('end', () => this.close('closed by the other end', 'debug'))
    socket.on('close', () => this.onSocketClose())
    this.handshakeTimer = scheduler.setTimer(limits.handshakeTimeoutMs, () => {
      this.handshakeTimer = undefined
      if (this.isOpen) return
      if (options.onHandshakeTimeout === undefined) return this.close(`handshake did not finish within ${limits.handshakeTimeoutMs} ms`, 'warn')
      this.close(`handshake did not finish within ${limits.handshakeTimeoutMs} ms`, 'debug')
      options.onHandshakeTimeout(this)
    })
  }

  /** The remote IP address, or `unknown`. */
  get remoteAddress(): string {
    return this.socket.remoteAddress ?? 'unknown'
  }

  /** Runs `listener` once the socket is fully closed; an error it throws is logged, never left unhandled. */
  whenClosed(listener: () => void): void {
    this.closed.then(listener).catch((error: unknown) => this.logger.error(`lockstep tcp: ${this.label}: a close listener failed: ${(error as Error).message}`))
  }

  /** Whether the connection is closing or closed. */
  get isClosed(): boolean {
    return this.closing
  }

  /** Whether more can be written without exceeding the socket high-water mark. */
  get writable(): boolean {
    return !this.closing && this.socket.writableLength < this.limits.socketHighWaterBytes
  }

  /** Routes future frames to `handler`. */
  setHandler(handler: ConnectionHandler): void {
    this.handler = handler
  }

  /** Writes bytes (one or more whole frames). Ignored once closing. */
  write(bytes: Buffer): void {
    if (this.closing) return
    this.lastSentAt = this.scheduler.now()
    this.socket.write(bytes)
  }

  /** Holds writes until `uncork`, which hands them to the socket as one write (`writev`). */
  cork(): void {
    if (!this.closing) this.socket.cork()
  }

  /** Writes what was held since `cork`. */
  uncork(): void {
    this.socket.uncork()
  }

  /** The handshake finished: lift the frame limit, stop the handshake clock, start idle checks. */
  markOpen(): void {
    if (this.closing || this.isOpen) return
    this.isOpen = true
    this.everOpened = true
    this.decoder.setMaxFrameBytes(this.limits.maxFrameBytes)
    if (this.handshakeTimer !== undefined) this.scheduler.clearTimer(this.handshakeTimer)
    this.handshakeTimer = undefined
    this.scheduleIdleCheck()
  }

  /**
   * The peer authenticated, but whoever takes the connection over is not ready (a transport not started yet):
   * stops the handshake clock and keeps the frames that arrive (at most {@link MAX_HELD_FRAMES}) until
   * {@link release}.
   */
  hold(): void {
    if (this.closing || this.held !== undefined) return
    if (this.handshakeTimer !== undefined) this.scheduler.clearTimer(this.handshakeTimer)
    this.handshakeTimer = undefined
    const held: Envelope[] = []
    this.held = held
    this.handler = {
      onFrame: (connection, envelope) => {
        if (held.length >= MAX_HELD_FRAMES) {
          return connection.close(`protocol violation: more than ${MAX_HELD_FRAMES} frames before the link was resumed`, 'warn')
        }
        held.push(envelope)
      },
    }
  }

  /** Hands the frames kept since {@link hold} to the current handler, in order. */
  release(): void {
    const held = this.held
    this.held = undefined
    if (held === undefined || this.closing) return
    for (const envelope of held) if (!this.handFrame(envelope)) return
    this.handChunkEnd()
  }

  /** Sends a REFUSE frame with `reason` (and the error `code` the other side reports), logs it, and closes once the frame is flushed. */
  refuse(reason: string, code?: RefusalCode): void {
    if (this.closing) return
    this.options.onRefuse?.(this)
    this.logger.warn(`lockstep tcp: refused ${this.label}: ${reason}`, { remoteAddress: this.remoteAddress })
    this.closeReason = `refused: ${reason}`
    this.beginClose()
    // end() flushes the REFUSE frame, then sends FIN; destroy anyway if the peer never closes.
    this.socket.end(encodeRefuseFrame(reason, code))
    this.lingerTimer = this.scheduler.setTimer(1000, () => this.socket.destroy())
  }

  /** Closes the connection (once), logging `reason` at `level`. */
  close(reason: string, level: CloseLevel = 'info'): void {
    if (this.closing) {
      // Already closing (a refusal flushing its last frame): now close for good.
      this.socket.destroy()
      return
    }
    const partial = this.decoder.bufferedBytes
    if (partial > 0 && level === 'debug') {
      // The peer went away in the middle of a frame: a truncated frame is worth more than a debug line.
      reason = `${reason}; discarded ${partial} bytes of an incomplete frame`
      level = 'info'
    }
    this.closeReason = reason
    this.logger[level](`lockstep tcp: closed ${this.label}: ${reason}`, { remoteAddress: this.remoteAddress })
    this.beginClose()
    this.socket.destroy()
  }

  private beginClose(): void {
    this.closing = true
    this.isOpen = false
    this.handler = noHandler
    if (this.handshakeTimer !== undefined) this.scheduler.clearTimer(this.handshakeTimer)
    if (this.idleTimer !== undefined) this.scheduler.clearTimer(this.idleTimer)
    this.handshakeTimer = this.idleTimer = undefined
  }

  private onSocketClose(): void {
    if (this.socketClosed) return
    this.socketClosed = true
    if (!this.closing) this.close('socket closed', 'debug')
    if (this.lingerTimer !== undefined) this.scheduler.clearTimer(this.lingerTimer)
    this.lingerTimer = undefined
    this.resolveClosed()
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return
    this.lastReceivedAt = this.scheduler.now()
    this.decoder.push(chunk)
    // One frame at a time: a frame may change how the next is read (the end of the handshake lifts the size limit).
    for (let payload = this.decoder.next(); payload !== undefined; payload = this.decoder.next()) {
      let envelope: Envelope
      try {
        envelope = decodeEnvelope(payload)
      } catch (decodeError) {
        this.closeForError(decodeError)
        return
      }
      if (!this.handFrame(envelope)) return
    }
    if (this.decoder.error) {
      this.closeForError(this.decoder.error)
      return
    }
    if (!this.closing) this.handChunkEnd()
  }

  /** Hands one frame to the handler; false once the connection is closing (the handler threw, or closed it). */
  private handFrame(envelope: Envelope): boolean {
    try {
      this.handler.onFrame(this, envelope)
    } catch (handlerError) {
      this.closeForError(handlerError)
      return false
    }
    return !this.closing
  }

  /** Tells the handler a chunk of the socket was handled (it acknowledges then); closes if it throws. */
  private handChunkEnd(): void {
    try {
      this.handler.onChunkEnd?.(this)
    } catch (handlerError) {
      this.closeForError(handlerError)
    }
  }

  private closeForError(error: unknown): void {
    if (isLockstepError(error)) {
      this.close(`${error.code}: ${error.message}`, 'warn')
    } else {
      const message = error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : String(error)
      this.close(`INTERNAL: unexpected error while handling a frame: ${message}`, 'error')
    }
  }

  private scheduleIdleCheck(): void {
    const periodMs = Math.max(1, Math.floor(this.limits.idleTimeoutMs / 3))
    this.idleTimer = this.scheduler.setTimer(periodMs, () => {
      this.idleTimer = undefined
      if (this.closing) return
      const now = this.scheduler.now()
      if (now - this.lastReceivedAt >= this.limits.idleTimeoutMs) {
        this.close(`nothing received for ${this.limits.idleTimeoutMs} ms (idle timeout)`, 'warn')
        return
      }
      if (now - this.lastSentAt >= periodMs) this.write(encodePingFrame())
      this.scheduleIdleCheck()
    })
  }
}
