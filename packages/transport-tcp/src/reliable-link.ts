import { randomUUID } from 'node:crypto'
import { LockstepError } from '@lockstep/interface'
import type { Logger, Scheduler } from '@lockstep/interface'
import type { Connection, ConnectionHandler } from './connection'
import { DATA_FRAME_OVERHEAD_BYTES, FrameType, PART_FRAME_OVERHEAD_BYTES, encodeAckFrame, encodeDataFrame, encodeMessage, encodePartFrame, encodeResumeFrame, unpackValue } from './envelope'
import type { Envelope, PartEnvelope } from './envelope'
import { BIG_STRING_CHARS, IncomingStrings, OutgoingStrings, mayHoldLargeString } from './big-strings'

/** How a link is set up. */
export interface ReliableLinkOptions {
  /** For log lines and errors, e.g. `r1 -> r2`. */
  readonly label: string
  /** Encoded bytes of unacknowledged messages this link may hold. */
  readonly maxBufferedBytes: number
  /** Largest frame payload. */
  readonly maxFrameBytes: number
  /**
   * Largest message sent or accepted, in encoded bytes. A message that does not fit in one frame goes in PART
   * frames of at most a mebibyte each; one larger than this is refused at send time (FRAME_TOO_LARGE), and a
   * peer announcing one is a protocol violation. Default: `maxFrameBytes` (every message fits in one frame).
   */
  readonly maxMessageBytes?: number
  readonly logger: Logger
  readonly scheduler: Scheduler
  /** Hands one received message up, in order. */
  deliver(message: unknown): void
  /** Called when a connection finished resuming (both RESUMEs exchanged). */
  onOpen?(connection: Connection): void
  /**
   * How long an acknowledgement may wait for a DATA frame of this link to ride on (written in the same socket
   * write), before it goes alone. Default {@link ACK_DELAY_MS}; 0 acknowledges at the end of every socket read.
   */
  readonly ackDelayMs?: number
  /**
   * Characters of large strings this end keeps from the peer's messages, so that the peer sends each one once
   * and refers to it afterwards (see `big-strings.ts`); announced in this end's RESUME. Default 0: none kept, and
   * the peer sends every string whole.
   */
  readonly sharedStringChars?: number
}

/**
 * Default wait of an acknowledgement for data going the other way: a closed-loop client's next request, or the
 * reply to a request, usually leaves within it, and so does an idle replica's next heartbeat (with the default
 * timeouts of `lockstep replica`, one to each peer every 50 ms, checked on ticks of 10 ms: at most 60 ms apart, plus
 * the timers' drift), so most acknowledgements cost no write of their own. Replica links take theirs from the
 * transport's `peerAckDelayMs`, which `lockstep replica` derives from its configured timeouts. Found: at 20 ms an
 * idle replica wrote an acknowledgement alone for most heartbeats it got: 45 timers and writes a second, of the ~525
 * wake-ups a second an idle replica made.
 */
export const ACK_DELAY_MS = 75
/** An acknowledgement owed for this many socket reads goes at once, whatever the delay (the sender's buffer frees). */
const ACK_AFTER_READS = 8

/** Message bytes per DATA frame at most (many messages coalesced into one frame and one write). */
const MAX_BATCH_BYTES = 64 * 1024
/** The smallest batch budget; a frame always carries at least one message whatever its size. */
const MIN_BATCH_BYTES = 512
/** Bytes of a large message per PART frame at most: other links' frames interleave between them. */
const MAX_PART_BYTES = 1024 * 1024

/**
 * One reliable FIFO link to one remote node, surviving reconnects.
 *
 * Sending: every message gets the next sequence number and is encoded at
 * once; its bytes stay buffered until the peer acknowledges it (cumulative
 * ACK). A flush packs every message not yet written on this connection into
 * DATA frames of up to 64 KiB of messages. After a reconnect the two RESUME frames tell
 * each side what the other received, and the sender writes again exactly the
 * messages after that point.
 *
 * Receiving: a DATA frame is delivered only if its seq is the next expected
 * one; lower seqs are duplicates (dropped); a higher seq means a gap, which
 * cannot happen on a correct peer, so the connection is closed and the
 * resume repairs it.
 *
 * Each link state has a random incarnation. A peer that restarted (or lost
 * this link's state) does not know our incarnation; it then accepts our
 * messages from the oldest one we still hold.
 *
 * A message larger than a frame (allowed up to `maxMessageBytes`) is written
 * in PART frames, in order; the receiver gathers them and delivers the message
 * once its last part arrived. After a reconnect its parts are written again
 * from the first; the receiver skips the bytes it already has.
 */
export class ReliableLink {
  /** Random id of this link state; a new one means a fresh sequence space. */
  readonly incarnation: string = randomUUID()

  // Outgoing: encoded[head + i] is the message with seq firstSeq + i.
  private encoded: (Buffer | undefined)[] = []
  /** originals[head + i]: the message itself, kept for a message that holds a large string (encoded again for a new peer). */
  private originals: unknown[] = []
  /** The mirror of the peer's table of large strings (its capacity from the peer's RESUME). */
  private outgoing = new OutgoingStrings(0)
  private head = 0
  private firstSeq = 1
  private nextSeq = 1
  private bufferedBytesTotal = 0
  /** Highest seq written to the current connection. */
  private writtenUpTo = 0
  /** Bytes of message `writtenUpTo + 1` written in PART frames to the current connection (a large message under way). */
  private writtenPartBytes = 0
  private flushScheduled = false
  /**
   * Current message bytes per frame. A connection that breaks before any
   * frame got through (a path that cuts long writes) quarters it, so the next
   * attempt sends smaller frames and makes progress; acknowledgements double
   * it back.
   */
  private batchBytes = MAX_BATCH_BYTES
  private ackedAtLastResume = 0
  private pendingAtLastResume = false
  /** RESUMEs this side sent (each connection attached sends one, numbered). */
  private resumesSent = 0

  // Incoming.
  private peerIncarnation: string | null = null
  /** The number of the newest RESUME taken from the peer's incarnation (0: none numbered). */
  private peerResumeNumber = 0
  private receivedUpTo = 0
  /** The parts received of message `receivedUpTo + 1`, when it is a large one. */
  private partial: { readonly bytes: Buffer; received: number } | undefined
  /** The large strings this end holds of the peer's messages. */
  private incoming: IncomingStrings
  private ackedToPeerUpTo = 0
  /** Socket reads since the last acknowledgement that brought messages not yet acknowledged. */
  private readsOwed = 0
  /** The timer that sends an owed acknowledgement alone, if no DATA frame took it first. */
  private ackTimer: unknown

  private current: Connection | undefined
  private readonly handler: ConnectionHandler
  private closedForGood = false

  constructor(private readonly options: ReliableLinkOptions) {
    this.incoming = new IncomingStrings(options.sharedStringChars ?? 0)
    this.handler = {
      onFrame: (connection, envelope) => this.onFrame(connection, envelope),
      onChunkEnd: (connection) => this.owe(connection),
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
   * Queues a message. Throws MALFORMED_MESSAGE if it cannot be encoded, FRAME_TOO_LARGE if it does not fit in
   * a frame, and BACKPRESSURE if the unacknowledged buffer cannot take it (a message larger than the whole
   * buffer is taken when the buffer is empty); in every case nothing was queued.
   */
  send(message: unknown): void {
    if (this.closedForGood) throw new LockstepError('STOPPED', `Link ${this.options.label} is closed; nothing more can be sent on it.`)
    // A message that may hold a large string: the ones the peer holds already go as references. Found: encoding
    // such a message whole first (only to learn its size) took 0.3–1.7 s per view-change message of 21–73 MB.
    const mayHoldLarge = mayHoldLargeString(message)
    const prepared = this.outgoing.capacityChars > 0 && mayHoldLarge ? this.outgoing.prepare(message) : undefined
    const referenced = prepared !== undefined && prepared.refs > 0
    const bytes = encodeMessage(referenced ? prepared.value : message)
    const maxMessageBytes = this.options.maxMessageBytes ?? this.options.maxFrameBytes - DATA_FRAME_OVERHEAD_BYTES
    // Checked whole: sent again to a peer that restarted, the message goes whole. With references, the whole size
    // is bounded from above first, and computed exactly only when the bound passes the limit.
    let wholeLength = referenced ? bytes.length + prepared.referencedBytes : bytes.length
    if (referenced && this.tooLarge(wholeLength, maxMessageBytes)) wholeLength = encodeMessage(message).length
    if (this.tooLarge(wholeLength, maxMessageBytes)) {
      throw new LockstepError(
        'FRAME_TOO_LARGE',
        this.options.maxMessageBytes === undefined
          ? `Link ${this.options.label}: a message of ${wholeLength} encoded bytes does not fit in one frame ` +
              `(limits.maxFrameBytes = ${this.options.maxFrameBytes}); split it, or raise the limit on every node.`
          : `Link ${this.options.label}: a message of ${wholeLength} encoded bytes is larger than the ${maxMessageBytes} bytes a message may have on this link; split it, or raise the limit on every node.`,
        { messageBytes: wholeLength, maxFrameBytes: this.options.maxFrameBytes, maxMessageBytes },
      )
    }
    // A message larger than the whole buffer (a large reply, within the frame limit) is let in alone, when
    // nothing else is waiting: otherwise it could never be sent, and a retry would hit the same wall forever.
    if (this.bufferedBytesTotal > 0 && this.bufferedBytesTotal + bytes.length > this.options.maxBufferedBytes) {
      throw new LockstepError(
        'BACKPRESSURE',
        `Link ${this.options.label} holds ${this.bufferedBytesTotal} bytes of unacknowledged messages ` +
          `(${this.bufferedMessages} messages); adding ${bytes.length} more would pass the limit of ${this.options.maxBufferedBytes}. ` +
          'The peer is slow, stalled or unreachable: slow down, or treat it as failed; raise limits.maxBufferedBytesPerPeer if bursts are expected.',
        { bufferedBytes: this.bufferedBytesTotal, maxBufferedBytes: this.options.maxBufferedBytes },
      )
    }
    // Only a message that may hold a large string is kept as sent by the caller: it is encoded again for a restarted
    // peer, and its whole strings join the mirror when the peer's table becomes known. Found (seeded fuzz): a message
    // queued before the first RESUME (no table known yet) was not kept; the peer added its large strings to its
    // table and the mirror did not, so later references named the wrong strings: a value of the right length and
    // the wrong content.
    this.encoded.push(bytes)
    this.originals.push(mayHoldLarge ? message : undefined)
    if (prepared !== undefined && (prepared.refs > 0 || prepared.added.length > 0)) this.outgoing.commit(prepared)
    this.nextSeq += 1
    this.bufferedBytesTotal += bytes.length
    this.scheduleFlush()
  }

  /** Whether a message of `length` encoded bytes is refused: larger than a frame, and than a message may be. */
  private tooLarge(length: number, maxMessageBytes: number): boolean {
    return length + DATA_FRAME_OVERHEAD_BYTES > this.options.maxFrameBytes && length > maxMessageBytes
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
        partBytes: this.partial?.received ?? 0,
        sharedStringChars: this.incoming.capacityChars,
        resumeNumber: ++this.resumesSent,
      }),
    )
    this.ackedToPeerUpTo = this.receivedUpTo
    connection.whenClosed(() => {
      if (this.current === connection) this.current = undefined
    })
  }

  /** Closes the current connection and refuses further use; buffered messages are dropped. */
  close(reason: string): void {
    // What arrived is acknowledged before going: a peer that stays does not send it again to our successor.
    if (this.current !== undefined) this.sendAck(this.current)
    this.closedForGood = true
    this.cancelAckTimer()
    this.current?.close(reason, 'debug')
    this.current = undefined
    this.encoded = []
    this.originals = []
    this.head = 0
    this.bufferedBytesTotal = 0
  }

  private onFrame(connection: Connection, envelope: Envelope): void {
    if (connection !== this.current) return
    switch (envelope.type) {
      case FrameType.RESUME: {
        if (connection.isOpen) return this.violation(connection, 'a second RESUME on an open link')
        // Receiving side: a new peer incarnation starts at its oldest held message.
        const peerIsNew = envelope.incarnation !== this.peerIncarnation
        if (!peerIsNew && envelope.resumeNumber !== undefined && envelope.resumeNumber <= this.peerResumeNumber) {
          // Found (seeded fuzz, racing connections): a RESUME the peer wrote on a connection it then replaced, taken
          // here after a newer one, said it did not know this side yet; this side started its copy of the peer's
          // table of large strings afresh while the peer's table held strings, and references named wrong strings.
          // Nothing the peer says in it is news: the connection is left.
          connection.close(`a stale RESUME (#${envelope.resumeNumber}, after #${this.peerResumeNumber}): the other side replaced this connection`, 'info')
          return
        }
        if (peerIsNew || envelope.resumeNumber !== undefined) this.peerResumeNumber = envelope.resumeNumber ?? 0
        if (peerIsNew) {
          if (this.peerIncarnation !== null) {
            this.options.logger.info(`lockstep tcp: ${this.options.label}: peer link state is new (restarted or reset); accepting from seq ${envelope.oldestSeq}`)
          }
          this.peerIncarnation = envelope.incarnation
          this.receivedUpTo = envelope.oldestSeq - 1
          this.partial = undefined
          this.ackedToPeerUpTo = this.receivedUpTo
          this.incoming = new IncomingStrings(this.options.sharedStringChars ?? 0)
        } else if (envelope.oldestSeq - 1 > this.receivedUpTo) {
          return this.violation(connection, `peer dropped messages ${this.receivedUpTo + 1}..${envelope.oldestSeq - 1} that were never acknowledged`)
        }
        // Sending side: resend exactly what the peer lacks.
        const knowsThisSide = envelope.peerIncarnation === this.incarnation
        if (knowsThisSide) {
          const upTo = envelope.receivedUpTo
          if (upTo < this.firstSeq - 1 || upTo > this.nextSeq - 1) {
            return this.violation(connection, `peer claims to have received up to ${upTo}, outside ${this.firstSeq - 1}..${this.nextSeq - 1}`)
          }
          this.trim(upTo)
        }
        if (knowsThisSide && !peerIsNew) {
          this.writtenUpTo = this.firstSeq - 1
          // A large message under way goes on from the bytes the peer already holds.
          const next = this.encoded[this.head]
          const large = next !== undefined && next.length + DATA_FRAME_OVERHEAD_BYTES > this.options.maxFrameBytes
          this.writtenPartBytes = large && (envelope.partBytes ?? 0) < next.length ? (envelope.partBytes ?? 0) : 0
        } else {
          // A peer new to this side has an empty table of large strings, even when it already knows this side's
          // incarnation. Found (seeded fuzz): a restarted peer learned it from a RESUME on a connection cut before
          // its own RESUME got here; on the next one it named this incarnation, the mirror was kept, and references
          // named strings the new peer never held. It has received nothing yet (this side sends only once resumed
          // with it): it takes the held messages from the oldest one it lacks, encoded for its empty table.
          this.writtenUpTo = this.firstSeq - 1
          this.writtenPartBytes = 0
          this.restartSharedStrings(envelope.sharedStringChars ?? 0)
        }
        if (this.pendingAtLastResume && this.firstSeq - 1 === this.ackedAtLastResume) {
          this.batchBytes = Math.max(MIN_BATCH_BYTES, this.batchBytes >> 2)
        }
        this.ackedAtLastResume = this.firstSeq - 1
        this.pendingAtLastResume = this.nextSeq > this.firstSeq
        connection.markOpen()
        this.options.onOpen?.(connection)
        this.flush()
        return
      }
      case FrameType.DATA: {
        if (!connection.isOpen) return this.violation(connection, 'DATA before RESUME')
        const { firstSeq, messages } = envelope
        if (firstSeq > this.receivedUpTo + 1) {
          return this.violation(connection, `DATA from seq ${firstSeq} after ${this.receivedUpTo} (a gap)`)
        }
        // Only a frame that decoded references, or one of a single message of at least a large string's size,
        // can hold either: a message larger than a batch goes in a frame of its own (see \`writeData\`), so full
        // frames of many small messages are not walked.
        const shared = envelope.payloadBytes === undefined || (envelope.refs ?? 1) > 0 || (messages.length === 1 && envelope.payloadBytes >= BIG_STRING_CHARS)
        // Messages up to receivedUpTo are duplicates of ones already delivered: skipped.
        for (let index = this.receivedUpTo + 1 - firstSeq; index < messages.length; index += 1) {
          let message = messages[index]
          if (shared) {
            try {
              message = this.incoming.receive(message)
            } catch (error) {
              return this.violation(connection, `message ${this.receivedUpTo + 1}: ${error instanceof Error ? error.message : String(error)}`)
            }
          }
          this.receivedUpTo += 1
          try {
            this.options.deliver(message)
          } catch (error) {
            this.options.logger.error(`lockstep tcp: ${this.options.label}: the message handler threw; the message counts as delivered`, {
              error: error instanceof Error ? error.message : String(error),
            })
          }
          // The handler may have stopped the transport or replaced this connection.
          if (connection !== this.current || connection.isClosed) return
        }
        return
      }
      case FrameType.PART:
        if (!connection.isOpen) return this.violation(connection, 'PART before RESUME')
        return this.onPart(connection, envelope)
      case FrameType.ACK: {
        if (!connection.isOpen) return this.violation(connection, 'ACK before RESUME')
        if (envelope.upTo > this.writtenUpTo) {
          return this.violation(connection, `ACK of seq ${envelope.upTo}, but only ${this.writtenUpTo} was sent`)
        }
        if (envelope.upTo >= this.firstSeq) {
          this.trim(envelope.upTo)
          this.batchBytes = Math.min(MAX_BATCH_BYTES, this.batchBytes * 2)
        }
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

  /** A part of a large message: gathered in order; the whole message is delivered with its last part. */
  private onPart(connection: Connection, part: PartEnvelope): void {
    if (part.seq <= this.receivedUpTo) return // a part of a message already delivered, written again after a reconnect
    if (part.seq !== this.receivedUpTo + 1) return this.violation(connection, `PART of seq ${part.seq} after ${this.receivedUpTo} (a gap)`)
    const limit = this.options.maxMessageBytes ?? 0
    if (part.totalBytes > limit) return this.violation(connection, `a message of ${part.totalBytes} bytes, more than the ${limit} this link accepts`)
    if (this.partial !== undefined && this.partial.bytes.length !== part.totalBytes) {
      return this.violation(connection, `PART of seq ${part.seq} says ${part.totalBytes} bytes, earlier parts ${this.partial.bytes.length}`)
    }
    const partial = (this.partial ??= { bytes: Buffer.allocUnsafe(part.totalBytes), received: 0 })
    if (part.offset > partial.received) return this.violation(connection, `PART of seq ${part.seq} at ${part.offset}, but only ${partial.received} bytes came before it (a gap)`)
    const end = part.offset + part.bytes.length
    if (end <= partial.received) return // written again after a reconnect: already here
    partial.bytes.set(part.bytes.subarray(partial.received - part.offset), partial.received)
    partial.received = end
    if (partial.received < partial.bytes.length) return
    this.partial = undefined
    let message: unknown
    try {
      message = unpackValue(partial.bytes)
    } catch (error) {
      return this.violation(connection, `the parts of message ${part.seq} are not one msgpack value (${error instanceof Error ? error.message : String(error)})`)
    }
    try {
      message = this.incoming.receive(message)
    } catch (error) {
      return this.violation(connection, `message ${part.seq}: ${error instanceof Error ? error.message : String(error)}`)
    }
    this.receivedUpTo += 1
    try {
      this.options.deliver(message)
    } catch (error) {
      this.options.logger.error(`lockstep tcp: ${this.options.label}: the message handler threw; the message counts as delivered`, {
        error: error instanceof Error ? error.message : String(error),
      })
    }
  }

  private violation(connection: Connection, problem: string): void {
    connection.close(`protocol violation: ${problem}`, 'warn')
  }

  /** A socket read ended: acknowledge what it brought now, or soon with data going the other way. */
  private owe(connection: Connection): void {
    if (connection !== this.current || !connection.isOpen || this.receivedUpTo <= this.ackedToPeerUpTo) return
    const delay = this.options.ackDelayMs ?? ACK_DELAY_MS
    if (delay <= 0 || ++this.readsOwed >= ACK_AFTER_READS) return this.sendAck(connection)
    // Data written before the timer fires takes the acknowledgement along (see `flush`).
    this.ackTimer ??= this.options.scheduler.setTimer(delay, () => {
      this.ackTimer = undefined
      const current = this.current
      if (current !== undefined) this.sendAck(current)
    })
  }

  private sendAck(connection: Connection): void {
    if (connection !== this.current || !connection.isOpen) return
    const ack = this.takeAck()
    if (ack !== undefined) connection.write(ack)
  }

  /** The ACK frame owed to the peer, if any (it is then no longer owed). */
  private takeAck(): Buffer | undefined {
    this.readsOwed = 0
    this.cancelAckTimer()
    if (this.receivedUpTo <= this.ackedToPeerUpTo) return undefined
    this.ackedToPeerUpTo = this.receivedUpTo
    return encodeAckFrame(this.receivedUpTo)
  }

  private cancelAckTimer(): void {
    if (this.ackTimer === undefined) return
    this.options.scheduler.clearTimer(this.ackTimer)
    this.ackTimer = undefined
  }

  private trim(upTo: number): void {
    while (this.firstSeq <= upTo) {
      this.bufferedBytesTotal -= this.encoded[this.head]!.length
      this.encoded[this.head] = undefined
      this.originals[this.head] = undefined
      this.head += 1
      this.firstSeq += 1
    }
    if (this.head > 4096 && this.head * 2 > this.encoded.length) {
      this.encoded = this.encoded.slice(this.head)
      this.originals = this.originals.slice(this.head)
      this.head = 0
    }
  }

  /**
   * The peer takes this link's messages from the oldest held one with an empty table of large strings (it is new,
   * or lost the link's state), announcing `capacityChars`: the mirror starts empty too, and every held message
   * that holds a large string is encoded again for it, in order, as it would be sent now.
   */
  private restartSharedStrings(capacityChars: number): void {
    const hadTable = this.outgoing.capacityChars > 0
    this.outgoing = new OutgoingStrings(capacityChars)
    if (!hadTable && capacityChars === 0) return // nothing was or will be a reference
    for (let index = this.head; index < this.encoded.length; index++) {
      const original = this.originals[index]
      if (original === undefined) continue
      const prepared = this.outgoing.prepare(original)
      // Encoded whole before and whole now: the bytes held are already right.
      if (hadTable || prepared.refs > 0) {
        const bytes = encodeMessage(prepared.value)
        this.bufferedBytesTotal += bytes.length - this.encoded[index]!.length
        this.encoded[index] = bytes
      }
      this.outgoing.commit(prepared)
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

  /**
   * Writes the buffered messages not yet sent on this connection, in DATA frames, while the socket accepts more,
   * with the acknowledgement owed to the peer in front: one socket write for all of them.
   */
  private flush(): void {
    const connection = this.current
    if (connection === undefined || !connection.isOpen) return
    if (this.writtenUpTo >= this.nextSeq - 1 || !connection.writable) return
    connection.cork()
    try {
      const ack = this.takeAck()
      if (ack !== undefined) connection.write(ack)
      this.writeData(connection)
    } finally {
      connection.uncork()
    }
  }

  private writeData(connection: Connection): void {
    const frameBudget = Math.min(this.batchBytes, this.options.maxFrameBytes - DATA_FRAME_OVERHEAD_BYTES)
    while (this.writtenUpTo < this.nextSeq - 1 && connection.writable) {
      const start = this.head + (this.writtenUpTo + 1 - this.firstSeq)
      const end = this.head + (this.nextSeq - this.firstSeq)
      const first = this.encoded[start]!
      if (first.length + DATA_FRAME_OVERHEAD_BYTES > this.options.maxFrameBytes) {
        this.writeParts(connection, first)
        continue
      }
      // Always at least one message; more while they fit in the frame budget.
      let index = start
      let bytes = first.length
      index += 1
      while (index < end && bytes + this.encoded[index]!.length <= frameBudget) {
        bytes += this.encoded[index]!.length
        index += 1
      }
      const firstSeq = this.writtenUpTo + 1
      this.writtenUpTo += index - start
      connection.write(encodeDataFrame(firstSeq, this.encoded.slice(start, index) as Buffer[]))
    }
  }

  /** Writes the next parts of the large message `writtenUpTo + 1` while the socket accepts them. */
  private writeParts(connection: Connection, message: Buffer): void {
    const seq = this.writtenUpTo + 1
    const partBytes = Math.min(MAX_PART_BYTES, this.options.maxFrameBytes - PART_FRAME_OVERHEAD_BYTES)
    while (this.writtenPartBytes < message.length && connection.writable) {
      const piece = message.subarray(this.writtenPartBytes, this.writtenPartBytes + partBytes)
      connection.write(encodePartFrame(seq, this.writtenPartBytes, message.length, piece))
      this.writtenPartBytes += piece.length
    }
    if (this.writtenPartBytes < message.length) return
    this.writtenPartBytes = 0
    this.writtenUpTo = seq
  }
}
