import { describe, expect, it } from 'vitest'
import { silentLogger } from '@lockstep/interface'
import { FrameType, decodeEnvelope, encodeResumeFrame } from '../src/envelope'
import { FrameDecoder } from '../src/frame-codec'
import { ACK_DELAY_MS, ReliableLink } from '../src/reliable-link'
import { ManualScheduler, fakeConnection, inertScheduler } from './fake-socket'
import { dataFrame } from './helpers'

function attachedLink(limits = {}) {
  const { socket, connection } = fakeConnection(limits)
  const delivered: unknown[] = []
  const link = new ReliableLink({
    label: 'test',
    maxBufferedBytes: 1 << 20,
    maxFrameBytes: 1 << 20,
    logger: silentLogger,
    scheduler: inertScheduler,
    deliver: (message) => delivered.push(message),
  })
  link.attach(connection)
  const resume = encodeResumeFrame({ incarnation: 'peer', oldestSeq: 1, peerIncarnation: null, receivedUpTo: 0 })
  return { socket, connection, delivered, resume }
}

describe('reliable link, receiving side', () => {
  it('lifts the handshake frame limit for a large DATA frame in the same chunk as the RESUME', () => {
    const { socket, connection, delivered, resume } = attachedLink({ maxHandshakeFrameBytes: 200 })
    const big = 'x'.repeat(10_000)
    socket.emit('data', Buffer.concat([resume, dataFrame(1, big, 'after')]))
    expect(connection.isClosed).toBe(false)
    expect(delivered).toEqual([big, 'after'])
  })

  it('skips the already delivered part of an overlapping batch', () => {
    const { socket, connection, delivered, resume } = attachedLink()
    socket.emit('data', Buffer.concat([resume, dataFrame(1, 'a', 'b'), dataFrame(2, 'b', 'c', 'd'), dataFrame(1, 'a')]))
    expect(connection.isClosed).toBe(false)
    expect(delivered).toEqual(['a', 'b', 'c', 'd'])
  })

  it('closes the connection on a gap, delivering nothing after it', () => {
    const { socket, connection, delivered, resume } = attachedLink()
    socket.emit('data', Buffer.concat([resume, dataFrame(1, 'a'), dataFrame(3, 'c'), dataFrame(2, 'b')]))
    expect(connection.isClosed).toBe(true)
    expect(connection.closeReason).toMatch(/DATA from seq 3 after 1 \(a gap\)/)
    expect(delivered).toEqual(['a'])
  })

  it('refuses DATA before the RESUME exchange', () => {
    const { socket, connection, delivered } = attachedLink()
    socket.emit('data', dataFrame(1, 'a'))
    expect(connection.closeReason).toMatch(/DATA before RESUME/)
    expect(delivered).toEqual([])
  })

  it('refuses a peer that resumes the same incarnation but dropped messages that were never acknowledged', () => {
    const delivered: unknown[] = []
    const link = newLink(delivered)
    const first = fakeConnection()
    link.attach(first.connection)
    first.socket.emit('data', Buffer.concat([resumeFrame(1), dataFrame(1, 'a')]))
    const second = fakeConnection()
    link.attach(second.connection)
    expect(first.connection.closeReason).toBe('replaced by a newer connection')
    // The peer now says its oldest held message is 5, though only 1 arrived here.
    second.socket.emit('data', resumeFrame(5))
    expect(second.connection.closeReason).toMatch(/peer dropped messages 2..4 that were never acknowledged/)
    expect(delivered).toEqual(['a'])
  })

  it('a new peer incarnation starts from its oldest held message', () => {
    const delivered: unknown[] = []
    const link = newLink(delivered)
    const first = fakeConnection()
    link.attach(first.connection)
    first.socket.emit('data', Buffer.concat([resumeFrame(1), dataFrame(1, 'a', 'b')]))
    const second = fakeConnection()
    link.attach(second.connection)
    second.socket.emit('data', Buffer.concat([resumeFrame(7, 'peer-reborn'), dataFrame(7, 'g')]))
    expect(second.connection.isClosed).toBe(false)
    expect(delivered).toEqual(['a', 'b', 'g'])
  })
})

describe('reliable link, sending side', () => {
  it('refuses a message too large for one frame, before queueing it', () => {
    const link = newLink([], { maxFrameBytes: 1000 })
    expect(() => link.send('x'.repeat(2000))).toThrow(/does not fit in one frame/)
    expect(link.bufferedMessages).toBe(0)
  })

  it('throws BACKPRESSURE when the buffer would pass its limit, and queues nothing', () => {
    const link = newLink([], { maxBufferedBytes: 1000 })
    let accepted = 0
    expect(() => {
      for (;;) {
        link.send('y'.repeat(90))
        accepted += 1
      }
    }).toThrow(/pass the limit of 1000/)
    expect(accepted).toBe(10)
    expect(link.bufferedBytes).toBeLessThanOrEqual(1000)
    expect(link.bufferedMessages).toBe(accepted)
  })
})

describe('reliable link, acknowledgements', () => {
  /** A link resumed with a peer over a fake socket driven by a manual scheduler; `writes()` lists the frame types of each socket write since. */
  function resumedLink(ackDelayMs?: number) {
    const scheduler = new ManualScheduler()
    const { socket, connection } = fakeConnection()
    const delivered: unknown[] = []
    const link = new ReliableLink({ label: 'test', maxBufferedBytes: 1 << 20, maxFrameBytes: 1 << 20, logger: silentLogger, scheduler, deliver: (m) => delivered.push(m), ackDelayMs })
    link.attach(connection)
    socket.emit('data', resumeFrame(1))
    let seen = socket.writes.length
    const writes = () => {
      const fresh = socket.writes.slice(seen)
      seen = socket.writes.length
      return fresh.map((bytes) => {
        const decoder = new FrameDecoder()
        decoder.push(bytes)
        const types: string[] = []
        for (let payload = decoder.next(); payload !== undefined; payload = decoder.next()) {
          const envelope = decodeEnvelope(payload)
          types.push(envelope.type === FrameType.ACK ? `ACK ${envelope.upTo}` : envelope.type === FrameType.DATA ? `DATA ${envelope.firstSeq}+${envelope.messages.length}` : String(envelope.type))
        }
        return types
      })
    }
    writes() // the RESUME
    return { scheduler, socket, connection, link, delivered, writes }
  }

  it('rides on the next DATA frame of the link, in the same socket write', () => {
    const { scheduler, socket, link, delivered, writes } = resumedLink()
    socket.emit('data', dataFrame(1, 'request 1', 'request 2'))
    expect(delivered).toEqual(['request 1', 'request 2'])
    expect(writes()).toEqual([]) // not yet: it waits for data going back
    link.send('reply 1')
    link.send('reply 2')
    scheduler.runDeferred()
    expect(writes()).toEqual([['ACK 2', 'DATA 1+2']])
    scheduler.advance(ACK_DELAY_MS)
    expect(writes()).toEqual([]) // nothing left owed: no ACK alone
  })

  it('goes alone after ackDelayMs when no data goes back, or at once with ackDelayMs 0', () => {
    const delayed = resumedLink()
    delayed.socket.emit('data', dataFrame(1, 'a'))
    delayed.scheduler.advance(ACK_DELAY_MS - 1)
    expect(delayed.writes()).toEqual([])
    delayed.scheduler.advance(1)
    expect(delayed.writes()).toEqual([['ACK 1']])
    const prompt = resumedLink(0)
    prompt.socket.emit('data', dataFrame(1, 'a'))
    expect(prompt.writes()).toEqual([['ACK 1']])
  })

  it('between idle replicas, rides on the next heartbeat going back: no write of its own at any phase of the two heartbeats', () => {
    // `lockstep replica`'s defaults: a heartbeat to each peer every 50 ms, checked on ticks of 10 ms, so up to 60 ms
    // apart. Found: with acknowledgements waiting 20 ms, an idle replica wrote one alone for most heartbeats it got
    // (45 timers and writes a second of its ~525 wake-ups, strace).
    for (let phase = 0; phase <= 60; phase += 5) {
      const { scheduler, socket, link, writes } = resumedLink()
      let seq = 0
      for (let beat = 0; beat < 4; beat++) {
        socket.emit('data', dataFrame(++seq, `heartbeat ${seq}`))
        scheduler.advance(phase)
        link.send(`heartbeat back ${beat}`)
        scheduler.runDeferred()
        scheduler.advance(60 - phase)
      }
      expect(writes().filter((types) => types.every((type) => type.startsWith('ACK'))), `phase ${phase} ms`).toEqual([])
    }
  })

  it('goes at once after 8 socket reads owed, and before the link closes', () => {
    const { scheduler, socket, link, writes } = resumedLink()
    for (let seq = 1; seq <= 7; seq++) socket.emit('data', dataFrame(seq, `m${seq}`))
    expect(writes()).toEqual([])
    socket.emit('data', dataFrame(8, 'm8'))
    expect(writes()).toEqual([['ACK 8']])
    socket.emit('data', dataFrame(9, 'm9'))
    link.close('stopping')
    expect(writes()).toEqual([['ACK 9']])
    scheduler.advance(ACK_DELAY_MS)
    expect(writes()).toEqual([])
  })
})

function resumeFrame(oldestSeq: number, incarnation = 'peer'): Buffer {
  return encodeResumeFrame({ incarnation, oldestSeq, peerIncarnation: null, receivedUpTo: 0 })
}

function newLink(delivered: unknown[], options: { maxFrameBytes?: number; maxBufferedBytes?: number } = {}): ReliableLink {
  return new ReliableLink({
    label: 'test',
    maxBufferedBytes: options.maxBufferedBytes ?? 1 << 20,
    maxFrameBytes: options.maxFrameBytes ?? 1 << 20,
    logger: silentLogger,
    scheduler: inertScheduler,
    deliver: (message) => delivered.push(message),
  })
}
