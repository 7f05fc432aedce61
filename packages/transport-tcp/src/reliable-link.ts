import { randomUUID } from 'node:crypto'
import { LockstepError } from '@lockstep/interface'
import type { Logger, Scheduler } from '@lockstep/interface'
import type { Connection, ConnectionHandler } from './connection'
import { FrameType, encodeAckFrame, encodeDataFrame, encodeResumeFrame } from './envelope'
import type { Envelope } from './envelope'

/** How a link is set up. */
export interface ReliableLinkOptions {
  /** For log lines and errors, e.g. `r1 -> r2`. */
  readonly label: string
  /** Encoded bytes of unacknowledged messages this link may hold. */
  readonly maxBufferedBytes: number
  readonly logger: Logger
  readonly scheduler: Scheduler
  /** Hands one received message up, in order. */
  deliver(message: unknown): void
  /** Called when a connection finished resuming (both RESUMEs exchanged). */
  onOpen?(connection: Connection): void
}

/** Bytes written to the socket per write call at most (many frames coalesced). */
const WRITE_BATCH_BYTES = 256 * 1024

/**
 * One reliable FIFO link to one remote node, surviving reconnects.
 *
 * Sending: every message gets the next sequence number and is encoded into
 * its frame at once; the frame stays buffered until the peer acknowledges it
 * (cumulative ACK). After a reconnect the two RESUME frames tell each side
 * what the other received, and the sender rewrites exactly the frames after
 * that point, byte for byte.
 *
 * Receiving: a DATA frame is delivered only if its seq is the next expected
 * one; lower seqs are duplicates (dropped); a higher seq means a gap, which
 * cannot happen on a correct peer, so the connection is closed and the
 * resume repairs it.
 *
 * Each link state has a random incarnation. A peer that restarted (or lost
 * this link's state) does not know our incarnation; it then accepts our
 * messages from the oldest one we still hold.
 */
export class ReliableLink {
  /** Random id of this link state; a new one means a fresh sequence space. */
  readonly incarnation: string = randomUUID()

  // Outgoing: frames[head + i] has seq firstSeq + i.
  private frames: (Buffer | undefined)[] = []
  private head = 0
  private firstSeq = 1
  private nextSeq = 1
  private bufferedBytesTotal = 0
  /** Highest seq written to the current connection. */
  private writtenUpTo = 0
  private flushScheduled = false

  // Incoming.
  private peerIncarnation: string | null = null
  private receivedUpTo = 0
  private ackedToPeerUpTo = 0

  private current: Connection | undefined
  private readonly handler: ConnectionHandler
  private closedForGood = false

  constructor(private readonly options: ReliableLinkOptions) {
    this.handler = {
      onFrame: (connection, envelope) => this.onFrame(connection, envelope),
      onChunkEnd: (connection) => this.sendAck(connection),
      onDrain: (connection) => {
        if (connection === this.current) this.flush()
      },
    }
  }

  /** Encoded bytes of messages not yet acknowledged. */
  get bufferedBytes(): number {
    return this.bufferedBytesTotal
  }

  /** Messages not yet acknowledged. */
  get bufferedMessages(): number {
    return this.nextSeq - this.firstSeq
  }

  /** Whether a connection is attached and resumed. */
  get isOpen(): boolean {
    return this.current?.isOpen === true
  }

  /** The attached connection, if any. */
  get connection(): Connection | undefined {
    return this.current
  }

  /**
   * Queues a message. Throws MALFORMED_MESSAGE if it cannot be encoded and
   * BACKPRESSURE if the unacknowledged buffer is full; in both cases nothing was queued.
   */
  send(message: unknown): void {
    if (this.closedForGood) throw new LockstepError('STOPPED', `Link ${this.options.label} is closed; nothing more can be sent on it.`)
    const frame = encodeDataFrame(this.nextSeq, message)
    if (this.bufferedBytesTotal + frame.length > this.options.maxBufferedBytes) {
      throw new LockstepError(
        'BACKPRESSURE',
        `Link ${this.options.label} holds ${this.bufferedBytesTotal} bytes of unacknowledged messages ` +
          `(${this.bufferedMessages} messages); adding ${frame.length} more would pass the limit of ${this.options.maxBufferedBytes}. ` +
          'The peer is slow, stalled or unreachable: slow down, or treat it as failed; raise limits.maxBufferedBytesPerPeer if bursts are expected.',
        { bufferedBytes: this.bufferedBytesTotal, maxBufferedBytes: this.options.maxBufferedBytes },
      )
    }
    this.frames.push(frame)
    this.nextSeq += 1
    this.bufferedBytesTotal += frame.length
    this.scheduleFlush()
  }

  /**
   * Takes over an authenticated connection (closing any previous one) and
   * starts the resume exchange by sending this side's RESUME.
   */
  attach(connection: Connection): void {
    if (this.closedForGood) {
      connection.close(`link ${this.options.label} is closed`, 'debug')
      return
    }
    const previous = this.current
    this.current = connection
    if (previous !== undefined && previous !== connection) previous.close('replaced by a newer connection', 'info')
    connection.setHandler(this.handler)
    connection.write(
      encodeResumeFrame({
        incarnation: this.incarnation,
        oldestSeq: this.firstSeq,
        peerIncarnation: this.peerIncarnation,
        receivedUpTo: this.receivedUpTo,
      }),
    )
    this.ackedToPeerUpTo = this.receivedUpTo
    void connection.closed.then(() => {
      if (this.current === connection) this.current = undefined
    })
  }

  /** Closes the current connection and refuses further use; buffered messages are dropped. */
  close(reason: string): void {
    this.closedForGood = true
    this.current?.close(reason, 'debug')
    this.current = undefined
    this.frames = []
    this.head = 0
    this.bufferedBytesTotal = 0
  }

  private onFrame(connection: Connection, envelope: Envelope): void {
    if (connection !== this.current) return
    switch (envelope.type) {
      case FrameType.RESUME: {
        if (connection.isOpen) return this.violation(connection, 'a second RESUME on an open link')
        // Receiving side: a new peer incarnation starts at its oldest held message.
        if (envelope.incarnation !== this.peerIncarnation) {
          if (this.peerIncarnation !== null) {
            this.options.logger.info(`lockstep tcp: ${this.options.label}: peer link state is new (restarted or reset); accepting from seq ${envelope.oldestSeq}`)
          }
          this.peerIncarnation = envelope.incarnation
          this.receivedUpTo = envelope.oldestSeq - 1
          this.ackedToPeerUpTo = this.receivedUpTo
        } else if (envelope.oldestSeq - 1 > this.receivedUpTo) {
          return this.violation(connection, `peer dropped messages ${this.receivedUpTo + 1}..${envelope.oldestSeq - 1} that were never acknowledged`)
        }
        // Sending side: resend exactly what the peer lacks.
        if (envelope.peerIncarnation === this.incarnation) {
          const upTo = envelope.receivedUpTo
          if (upTo < this.firstSeq - 1 || upTo > this.nextSeq - 1) {
            return this.violation(connection, `peer claims to have received up to ${upTo}, outside ${this.firstSeq - 1}..${this.nextSeq - 1}`)
          }
          this.trim(upTo)
          this.writtenUpTo = upTo
        } else {
          this.writtenUpTo = this.firstSeq - 1
        }
        connection.markOpen()
        this.options.onOpen?.(connection)
        this.flush()
        return
      }
      case FrameType.DATA: {
        if (!connection.isOpen) return this.violation(connection, 'DATA before RESUME')
        if (envelope.seq <= this.receivedUpTo) return // duplicate
        if (envelope.seq !== this.receivedUpTo + 1) {
          return this.violation(connection, `DATA seq ${envelope.seq} after ${this.receivedUpTo} (a gap)`)
        }
        this.receivedUpTo = envelope.seq
        try {
          this.options.deliver(envelope.message)
        } catch (error) {
          this.options.logger.error(`lockstep tcp: ${this.options.label}: the message handler threw; the message counts as delivered`, {
            error: error instanceof Error ? error.message : String(error),
          })
        }
        return
      }
      case FrameType.ACK: {
        if (!connection.isOpen) return this.violation(connection, 'ACK before RESUME')
        if (envelope.upTo > this.writtenUpTo) {
          return this.violation(connection, `ACK of seq ${envelope.upTo}, but only ${this.writtenUpTo} was sent`)
        }
        this.trim(envelope.upTo)
        return
      }
      case FrameType.PING:
        return
      case FrameType.REFUSE:
        return connection.close(`refused by the other end: ${envelope.reason}`, 'warn')
      default:
        return this.violation(connection, `unexpected frame type ${envelope.type} on an established link`)
    }
  }

  private violation(connection: Connection, problem: string): void {
    connection.close(`protocol violation: ${problem}`, 'warn')
  }

  private sendAck(connection: Connection): void {
    if (connection !== this.current || !connection.isOpen) return
    if (this.receivedUpTo > this.ackedToPeerUpTo) {
      this.ackedToPeerUpTo = this.receivedUpTo
      connection.write(encodeAckFrame(this.receivedUpTo))
    }
  }

  private trim(upTo: number): void {
    while (this.firstSeq <= upTo) {
      const frame = this.frames[this.head]!
      this.bufferedBytesTotal -= frame.length
      this.frames[this.head] = undefined
      this.head += 1
      this.firstSeq += 1
    }
    if (this.head > 4096 && this.head * 2 > this.frames.length) {
      this.frames = this.frames.slice(this.head)
      this.head = 0
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    this.options.scheduler.defer(() => {
      this.flushScheduled = false
      this.flush()
    })
  }

  /** Writes buffered frames the peer has not been sent on this connection, while the socket accepts more. */
  private flush(): void {
    const connection = this.current
    if (connection === undefined || !connection.isOpen) return
    while (this.writtenUpTo < this.nextSeq - 1 && connection.writable) {
      const batch: Buffer[] = []
      let batchBytes = 0
      let index = this.head + (this.writtenUpTo + 1 - this.firstSeq)
      const end = this.head + (this.nextSeq - this.firstSeq)
      while (index < end && batchBytes < WRITE_BATCH_BYTES) {
        const frame = this.frames[index]!
        batch.push(frame)
        batchBytes += frame.length
        index += 1
      }
      this.writtenUpTo += batch.length
      connection.write(batch.length === 1 ? batch[0]! : Buffer.concat(batch, batchBytes))
    }
  }
}
