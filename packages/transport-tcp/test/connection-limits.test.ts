import { afterEach, describe, expect, it } from 'vitest'
import { MessageInbox } from '@lockstep/testkit/compliance'
import type { Scheduler } from '@lockstep/interface'
import type { TcpTransport } from '../src/index'
import { CLIENT_SECRET, CLUSTER, HOST, REPLICA_SECRET, RecordingLogger, bindCluster, buildTcp, dataFrame, skewedScheduler } from './helpers'
import { RawPeer } from './raw-peer'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

const handler = { onPeerMessage: () => {}, onClientMessage: () => {} }

/** A replica r1 with no peers that accepts clients. */
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

async function rawPeer(port: number, localAddress?: string): Promise<RawPeer> {
  const peer = await RawPeer.connect(port, localAddress)
  cleanups.push(() => peer.destroy())
  return peer
}

/** Opens `count` connections that each send a HELLO and then go quiet; resolves with those that got a WELCOME. */
async function idleHandshakes(port: number, count: number, localAddress: (index: number) => string | undefined = () => undefined): Promise<RawPeer[]> {
  const answered: RawPeer[] = []
  const batch = 100
  for (let start = 0; start < count; start += batch) {
    const indexes = Array.from({ length: Math.min(batch, count - start) }, (_, i) => start + i)
    await Promise.all(
      indexes.map(async (index) => {
        const peer = await rawPeer(port, localAddress(index))
        // Resolves with the WELCOME, or without one once the listener closed the connection.
        if ((await peer.hello(`idle-${index}`, 'client')).welcome !== undefined) answered.push(peer)
      }),
    )
  }
  return answered
}

function refusalLines(logger: RecordingLogger): string[] {
  return logger.lines.filter((l) => l.level === 'warn' && /refused/.test(l.message)).map((l) => l.message)
}

describe('connections that authenticate before start()', () => {
  it('are kept and taken over once the transport starts', async () => {
    const logger = new RecordingLogger()
    const transport = lone({}, logger)
    const { port } = await transport.bind()
    const peer = await rawPeer(port)
    const accepted = peer.authenticate('early', 'client', CLIENT_SECRET, 'r1')
    // The listener has handled the AUTH and the RESUME behind it (kept, or refused before the fix).
    await logger.waitFor(/authenticated before start\(\); waits for it|refused/)
    let deliver!: (message: unknown) => void
    const delivered = new Promise((resolve) => (deliver = resolve))
    await transport.start({ onPeerMessage: () => {}, onClientMessage: (_client, message) => deliver(message) })
    const wasAccepted = await accepted
    expect(refusalLines(logger)).toEqual([])
    expect(wasAccepted).toBe(true)
    peer.write(dataFrame(1, { n: 1 }))
    expect(await delivered).toEqual({ n: 1 })
  })
})

describe('a replica link dialled before the other replica starts', () => {
  it('is established on its first connection once the replica starts', async () => {
    const logger = new RecordingLogger()
    const [r1, r2] = (await bindCluster(['r1', 'r2'], (id) => (id === 'r2' ? { logger } : {}))) as [TcpTransport, TcpTransport]
    cleanups.push(() => Promise.all([r1.stop(), r2.stop()]).then(() => {}))
    await r1.start(handler)
    r1.send('r2', { n: 1 })
    // r1 dials r2 and authenticates while r2 is only bound (a replica recovering its disk, say).
    await logger.waitFor(/r2 <- replica r1 at 127\.0\.0\.1: authenticated before start\(\); waits for it|refused/)
    const atR2 = new MessageInbox('r2')
    await r2.start({ onPeerMessage: (from, message) => atR2.push(from, message), onClientMessage: () => {} })
    await atR2.waitForCount('r1', 1)
    expect(refusalLines(logger)).toEqual([])
    expect(logger.lines.filter((l) => /closed r2 <- /.test(l.message))).toEqual([])
  })
})

describe('connection limits', () => {
  it('64 idle unauthenticated connections from the clients address do not keep a new client out', async () => {
    const logger = new RecordingLogger()
    const scheduler = skewedScheduler()
    const transport = lone({}, logger, scheduler)
    await transport.start(handler)
    const port = transport.address()!.port
    await idleHandshakes(port, 64)
    // The idle handshakes grow old (their deadline, 10 s, is still far).
    scheduler.skip(1000)
    const client = await rawPeer(port)
    expect(await client.authenticate('late-client', 'client', CLIENT_SECRET, 'r1')).toBe(true)
  })

  it('unfinished handshakes younger than 1 s are not closed for newer ones: a burst beyond the limit is refused', async () => {
    const logger = new RecordingLogger()
    const transport = lone({ maxPendingHandshakesPerAddress: 4 }, logger, skewedScheduler({ frozen: true }))
    await transport.start(handler)
    const answered = await idleHandshakes(transport.address()!.port, 10)
    expect(answered.map((p) => p.socket.readyState)).toEqual(['open', 'open', 'open', 'open'])
    await transport.stop()
    expect(refusalLines(logger).join('\n')).toMatch(/too many unfinished handshakes from 127\.0\.0\.1: already 4 \(limits\.maxPendingHandshakesPerAddress = 4/)
  })

  it('authenticated connections are never closed to make room, and still count', async () => {
    const logger = new RecordingLogger()
    const scheduler = skewedScheduler()
    const transport = lone({ maxConnectionsPerAddress: 2 }, logger, scheduler)
    await transport.start(handler)
    const port = transport.address()!.port
    const first = await rawPeer(port)
    expect(await first.authenticate('c1', 'client', CLIENT_SECRET, 'r1')).toBe(true)
    const second = await rawPeer(port)
    expect(await second.authenticate('c2', 'client', CLIENT_SECRET, 'r1')).toBe(true)
    scheduler.skip(1000)
    const third = await rawPeer(port)
    expect(await third.refusal()).toMatch(/too many connections from 127\.0\.0\.1: already 2 \(limits\.maxConnectionsPerAddress = 2; all of them authenticated\)/)
    expect([first.socket.readyState, second.socket.readyState]).toEqual(['open', 'open'])
  })

  it('2,000 connections from 2,000 addresses are capped by limits.maxConnections, and the refusals are summed up in the log', async () => {
    const logger = new RecordingLogger()
    // A frozen clock: however long the 2,000 take, none of the first 100 grows old enough to make room.
    const scheduler = skewedScheduler({ frozen: true })
    const transport = lone({ maxConnections: 100 }, logger, scheduler)
    await transport.start(handler)
    // 127.0.1.0 to 127.0.8.207: every connection from an address of its own.
    const answered = await idleHandshakes(transport.address()!.port, 2000, (index) => `127.0.${1 + (index >> 8)}.${index & 255}`)
    expect(answered).toHaveLength(100)
    await transport.stop()
    expect(scheduler.activeTimers).toBe(0)
    const lines = refusalLines(logger)
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/refused a connection from 127\.0\.\d+\.\d+: too many connections from all addresses: already 100 \(limits\.maxConnections = 100; none unauthenticated for 1000 ms yet\)/)
    expect(lines[1]).toMatch(/refused 1,899 connections from 1,899 addresses \(most from 127\.0\.\d+\.\d+: 1\) in the last 10 s: global connection limit \(limits\.maxConnections = 100\)/)
  })

  it('refusals at the per-address limit are logged in one line per interval, not one each', async () => {
    const logger = new RecordingLogger()
    const transport = lone({ maxConnectionsPerAddress: 4 }, logger, skewedScheduler({ frozen: true }))
    await transport.start(handler)
    const answered = await idleHandshakes(transport.address()!.port, 50)
    expect(answered).toHaveLength(4)
    await transport.stop()
    const lines = refusalLines(logger)
    expect(lines).toHaveLength(2)
    expect(lines[1]).toMatch(/refused 45 connections from 127\.0\.0\.1 in the last 10 s: per-address limit \(limits\.maxConnectionsPerAddress = 4\)/)
  })

  it('limits.maxClientSessions holds when clients authenticate at the same time', async () => {
    const logger = new RecordingLogger()
    const transport = lone({ maxClientSessions: 2 }, logger)
    await transport.start(handler)
    const port = transport.address()!.port
    const ids = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6']
    const peers = await Promise.all(ids.map(() => rawPeer(port)))
    // Every HELLO is answered while no session exists yet; then all of them prove themselves.
    const hellos = await Promise.all(peers.map((peer, i) => peer.hello(ids[i]!, 'client')))
    expect(hellos.every((h) => h.welcome !== undefined)).toBe(true)
    const outcomes = await Promise.all(peers.map((peer, i) => peer.completeHandshake(ids[i]!, 'client', CLIENT_SECRET, 'r1', hellos[i]!)))
    expect(outcomes.filter((accepted) => accepted)).toHaveLength(2)
    const refusals = await Promise.all(peers.filter((_, i) => !outcomes[i]).map((peer) => peer.refusal()))
    for (const reason of refusals) expect(reason).toMatch(/already 2 connected client sessions \(limits\.maxClientSessions = 2\)/)
  })
})
