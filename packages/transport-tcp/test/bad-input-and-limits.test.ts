import { afterEach, describe, expect, it } from 'vitest'
import { MessageInbox } from '@lockstep/testkit/compliance'
import type { TcpTransport } from '../src/index'
import { FrameType, encodeHelloFrame, packValue } from '../src/envelope'
import { encodeFrame } from '../src/frame-codec'
import type { Scheduler } from '@lockstep/interface'
import { CLIENT_SECRET, CLUSTER, HOST, REPLICA_SECRET, RecordingLogger, bindCluster, buildTcp, dataFrame, skewedScheduler } from './helpers'
import { RawPeer } from './raw-peer'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

async function rawPeer(port: number): Promise<RawPeer> {
  const peer = await RawPeer.connect(port)
  cleanups.push(() => peer.destroy())
  return peer
}

/** r1, r2, r3 with a steady numbered stream into r2 from both others; r2 logs to a recorder. */
async function streamingCluster(limits = {}) {
  const logger = new RecordingLogger()
  const transports = (await bindCluster(['r1', 'r2', 'r3'], (id) => ({ limits, ...(id === 'r2' ? { logger } : {}) }))) as TcpTransport[]
  cleanups.push(() => Promise.all(transports.map((t) => t.stop())).then(() => {}))
  const atR2 = new MessageInbox('r2')
  await Promise.all(
    transports.map((t) =>
      t.start({
        onPeerMessage: (from, message) => (t.self === 'r2' ? atR2.push(from, message) : undefined),
        onClientMessage: (client, message) => (t.self === 'r2' ? atR2.push(client, message) : undefined),
      }),
    ),
  )
  const [r1, r2, r3] = transports as [TcpTransport, TcpTransport, TcpTransport]
  let sent = 0
  /** Sends the next numbered message from r1 and r3 and waits until r2 has both. */
  const step = async () => {
    r1.send('r2', { n: sent })
    r3.send('r2', { n: sent })
    sent += 1
    await Promise.all([atR2.waitForCount('r1', sent), atR2.waitForCount('r3', sent)])
  }
  await step()
  return { logger, atR2, port: r2.address()!.port, step, sent: () => sent }
}

/** Links r1 -> r2 and r3 -> r2 never broke: one connection each, every message in order. */
function expectLinksUndisturbed(cluster: Awaited<ReturnType<typeof streamingCluster>>): void {
  for (const from of ['r1', 'r3']) {
    expect(cluster.atR2.from(from)).toEqual(Array.from({ length: cluster.sent() }, (_, n) => ({ n })))
  }
  expect(cluster.logger.lines.filter((l) => /closed r2 <- replica/.test(l.message))).toEqual([])
  expect(cluster.logger.lines.filter((l) => /link r2 -> r(1|3) established/.test(l.message))).toHaveLength(2)
}

describe('malformed input closes only the offending connection', () => {
  const unauthenticated: [string, () => Buffer, RegExp][] = [
    ['bytes that are not frames', () => Buffer.from('GET / HTTP/1.1\r\nHost: example\r\n\r\n'), /(FRAME_TOO_LARGE|MALFORMED_FRAME)/],
    ['a frame whose checksum is wrong', () => corruptChecksum(encodeFrame(packValue([FrameType.PING]))), /failed its checksum/],
    ['a frame that is not msgpack', () => encodeFrame(Buffer.from([0xc1, 0xc1, 0xc1])), /not one valid msgpack value/],
    ['a msgpack value followed by junk', () => encodeFrame(Buffer.concat([packValue([FrameType.PING]), Buffer.from([1, 2, 3])])), /not one valid msgpack value/],
    ['an unknown frame type', () => encodeFrame(packValue([99, 'what'])), /unknown frame type 99/],
    ['an envelope of the wrong shape', () => encodeFrame(packValue({ type: 'hello' })), /must be a non-empty array/],
    ['a HELLO with a bad field', () => encodeFrame(packValue([FrameType.HELLO, { version: 1, clusterId: CLUSTER, nodeId: 'r1', role: 'admin', nonce: Buffer.alloc(32) }])), /role must be/],
    ['DATA before any handshake', () => dataFrame(1, { sneaky: true }), /expected HELLO/],
    ['an oversized frame during the handshake', () => oversizedHeader(64 * 1024 + 1), /FRAME_TOO_LARGE/],
  ]
  for (const [what, bytes, reason] of unauthenticated) {
    it(`before authentication: ${what}`, async () => {
      const cluster = await streamingCluster()
      const peer = await rawPeer(cluster.port)
      peer.write(bytes())
      await peer.closed
      await cluster.logger.waitFor(reason)
      await cluster.step()
      expectLinksUndisturbed(cluster)
    })
  }

  it('before authentication: a truncated frame, then the connection ends', async () => {
    const cluster = await streamingCluster()
    const peer = await rawPeer(cluster.port)
    const frame = encodeFrame(packValue([FrameType.PING]))
    peer.write(frame.subarray(0, frame.length - 2))
    peer.socket.end()
    await peer.closed
    await cluster.logger.waitFor(/closed by the other end; discarded 8 bytes of an incomplete frame/)
    await cluster.step()
    expectLinksUndisturbed(cluster)
  })

  const authenticated: [string, () => Buffer, RegExp][] = [
    ['an oversized frame', () => oversizedHeader(1024 * 1024 + 1), /FRAME_TOO_LARGE.*1048577 bytes/],
    ['malformed msgpack', () => encodeFrame(Buffer.from([0x92, 0x01])), /MALFORMED_FRAME/],
    ['an unknown frame type', () => encodeFrame(packValue([42])), /unknown frame type 42/],
    ['DATA that skips a sequence number', () => Buffer.concat([dataFrame(1, 'one'), dataFrame(3, 'three')]), /a gap/],
    ['DATA with an empty message list', () => encodeFrame(packValue([FrameType.DATA, 1, []])), /DATA must be/],
    ['DATA with a fractional sequence number', () => encodeFrame(packValue([FrameType.DATA, 1.5, ['x']])), /firstSeq must be a safe integer/],
    ['an ACK of something never sent', () => encodeFrame(packValue([FrameType.ACK, 10])), /ACK of seq 10, but only 0 was sent/],
    ['a second HELLO', () => encodeHelloFrame({ version: 1, clusterId: CLUSTER, nodeId: 'mallory', role: 'client', nonce: Buffer.alloc(32) }), /unexpected frame type 16 on an established link/],
    ['a HELLO of the wrong shape', () => encodeFrame(packValue([FrameType.HELLO, {}])), /HELLO role must be/],
  ]
  for (const [what, bytes, reason] of authenticated) {
    it(`after authentication (as a client): ${what}`, async () => {
      const cluster = await streamingCluster({ maxFrameBytes: 1024 * 1024 })
      const peer = await rawPeer(cluster.port)
      expect(await peer.authenticate('mallory', 'client', CLIENT_SECRET, 'r2')).toBe(true)
      peer.write(bytes())
      await peer.closed
      await cluster.logger.waitFor(reason)
      await cluster.step()
      expectLinksUndisturbed(cluster)
      // Only the message before the damage (if any) was delivered from mallory.
      expect(cluster.atR2.from('mallory').length).toBeLessThanOrEqual(1)
    })
  }
})

describe('limits', () => {
  function lone(limits: Record<string, number>, logger: RecordingLogger, scheduler?: Scheduler): TcpTransport {
    const transport = buildTcp({
      self: 'r1',
      clusterId: CLUSTER,
      listen: { host: HOST, port: 0 },
      peers: [],
      auth: { secret: REPLICA_SECRET },
      clients: { secret: CLIENT_SECRET },
      limits,
      logger,
      ...(scheduler === undefined ? {} : { scheduler }),
    })
    cleanups.push(() => transport.stop())
    return transport
  }

  it('closes a connection that does not finish the handshake in time', async () => {
    const logger = new RecordingLogger()
    const transport = lone({ handshakeTimeoutMs: 100 }, logger)
    await transport.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
    const silent = await rawPeer(transport.address()!.port)
    await silent.closed
    await logger.waitFor(/handshake did not finish within 100 ms/)
  })

  it('refuses connections beyond the per-address limit', async () => {
    const logger = new RecordingLogger()
    // A frozen clock: the two accepted handshakes never get old enough to be closed for the third.
    const transport = lone({ maxConnectionsPerAddress: 2 }, logger, skewedScheduler({ frozen: true }))
    await transport.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
    const port = transport.address()!.port
    const peers = [await rawPeer(port), await rawPeer(port), await rawPeer(port)]
    await logger.waitFor(/too many connections from 127\.0\.0\.1: already 2 \(limits\.maxConnectionsPerAddress = 2/)
    await Promise.race(peers.map((p) => p.closed))
    // The two accepted ones still work.
    const accepted = peers.filter((p) => p.socket.readyState === 'open')
    expect(accepted.length).toBe(2)
    for (const [index, peer] of accepted.entries()) expect(await peer.authenticate(`c${index}`, 'client', CLIENT_SECRET, 'r1')).toBe(true)
  })

  it('at its client session limit, a new client takes the place of the one disconnected the longest; connected ones are never dropped', async () => {
    const logger = new RecordingLogger()
    const transport = lone({ maxClientSessions: 2 }, logger)
    await transport.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
    const port = transport.address()!.port
    const first = await rawPeer(port)
    expect(await first.authenticate('first', 'client', CLIENT_SECRET, 'r1')).toBe(true)
    const second = await rawPeer(port)
    expect(await second.authenticate('second', 'client', CLIENT_SECRET, 'r1')).toBe(true)
    // Both connected: a third is refused.
    const refused = await rawPeer(port)
    expect(await refused.authenticate('third', 'client', CLIENT_SECRET, 'r1')).toBe(false)
    await logger.waitFor(/already 2 connected client sessions/)
    // The first one leaves (one-shot): the next new client takes its session's place.
    first.destroy()
    await logger.waitFor(/closed r1 <- client first/)
    const third = await rawPeer(port)
    expect(await third.authenticate('third', 'client', CLIENT_SECRET, 'r1')).toBe(true)
    await logger.waitFor(/client session dropped for a new client/)
    expect(second.socket.readyState).toBe('open')
  })

  it('closes an idle connection, while pings keep quiet links alive', async () => {
    const logger = new RecordingLogger()
    const idleTimeoutMs = 150
    const [r1, r2] = (await bindCluster(['r1', 'r2'], (id) => ({ limits: { idleTimeoutMs }, ...(id === 'r1' ? { logger } : {}) }))) as [TcpTransport, TcpTransport]
    cleanups.push(() => Promise.all([r1.stop(), r2.stop()]).then(() => {}))
    const atR2 = new MessageInbox('r2')
    await r1.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
    await r2.start({ onPeerMessage: (from, m) => atR2.push(from, m), onClientMessage: () => {} })
    r1.send('r2', { n: 0 })
    await atR2.waitForCount('r1', 1)
    // A client that authenticates and then says nothing, not even pings.
    const quiet = await rawPeer(r1.address()!.port)
    expect(await quiet.authenticate('quiet', 'client', CLIENT_SECRET, 'r1')).toBe(true)
    await quiet.closed
    await logger.waitFor(/nothing received for 150 ms \(idle timeout\)/)
    // Meanwhile the replica link, quiet too, stayed up on pings: still its first connection.
    r1.send('r2', { n: 1 })
    await atR2.waitForCount('r1', 2)
    expect(logger.lines.filter((l) => /link r1 -> r2 established/.test(l.message))).toHaveLength(1)
  })
})

function corruptChecksum(frame: Buffer): Buffer {
  const copy = Buffer.from(frame)
  copy[4] = copy[4]! ^ 0xff
  return copy
}

function oversizedHeader(length: number): Buffer {
  const header = Buffer.alloc(8)
  header.writeUInt32BE(length, 0)
  return header
}
