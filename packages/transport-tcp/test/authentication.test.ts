import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { isLockstepError } from '@lockstep/interface'
import { MessageInbox } from '@lockstep/testkit/compliance'
import type { TcpTransport } from '../src/index'
import { PROTOCOL_VERSION } from '../src/envelope'
import { CLIENT_SECRET, CLUSTER, FAST_RECONNECT, HOST, REPLICA_SECRET, RecordingLogger, bindCluster, buildTcp, buildTcpClient, clientFor } from './helpers'
import { RawPeer } from './raw-peer'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

/** A running cluster r1, r2, r3 whose r2 logs to a recorder. */
async function runningCluster() {
  const logger = new RecordingLogger()
  const transports = (await bindCluster(['r1', 'r2', 'r3'], (id) => (id === 'r2' ? { logger } : {}))) as [TcpTransport, TcpTransport, TcpTransport]
  cleanups.push(() => Promise.all(transports.map((t) => t.stop())).then(() => {}))
  const inboxes = new Map(transports.map((t) => [t.self, new MessageInbox(t.self)]))
  await Promise.all(
    transports.map((t) =>
      t.start({
        onPeerMessage: (from, message) => inboxes.get(t.self)!.push(from, message),
        onClientMessage: (client, message) => inboxes.get(t.self)!.push(client, message),
      }),
    ),
  )
  const [r1, r2, r3] = transports
  return { r1, r2, r3, logger, atR2: inboxes.get('r2')!, port: r2.address()!.port }
}

async function rawPeer(port: number): Promise<RawPeer> {
  const peer = await RawPeer.connect(port)
  cleanups.push(() => peer.destroy())
  return peer
}

/** The legitimate links into r2 still carry messages, in order. */
async function expectClusterHealthy(cluster: Awaited<ReturnType<typeof runningCluster>>, marker: string): Promise<void> {
  cluster.r1.send('r2', { marker })
  cluster.r3.send('r2', { marker })
  await cluster.atR2.waitFor(
    (received) => ['r1', 'r3'].every((from) => received.some((r) => r.from === from && (r.message as { marker?: string }).marker === marker)),
    `marker ${marker} from r1 and r3`,
  )
}

describe('HMAC challenge-response', () => {
  it('a replica with the wrong secret is refused, with the reason logged on both ends, and its messages never arrive', async () => {
    const cluster = await runningCluster()
    await expectClusterHealthy(cluster, 'before')
    const rogueLogger = new RecordingLogger()
    const rogue = buildTcp({
      self: 'r1', // impersonates a real member
      clusterId: CLUSTER,
      listen: { host: HOST, port: 0 },
      peers: [{ id: 'r2', host: HOST, port: cluster.port }],
      auth: { secret: 'not-the-cluster-secret-at-all!!' },
      reconnect: FAST_RECONNECT,
      logger: rogueLogger,
    })
    cleanups.push(() => rogue.stop())
    await rogue.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
    rogue.send('r2', { evil: true })
    await rogueLogger.waitFor(/authentication failed: "r2" did not prove the replica secret/)
    await cluster.logger.waitFor(/refused by replica "r1": authentication failed/)
    await expectClusterHealthy(cluster, 'after')
    expect(cluster.atR2.received.some((r) => (r.message as { evil?: boolean }).evil)).toBe(false)
  })

  it('a dialer that cannot prove the secret is refused by the listener', async () => {
    const cluster = await runningCluster()
    const peer = await rawPeer(cluster.port)
    expect(await peer.authenticate('r1', 'replica', randomBytes(32), 'r2')).toBe(false)
    expect(await peer.refusal()).toMatch(/authentication failed: replica "r1" did not prove the replica secret/)
    await peer.closed
    await cluster.logger.waitFor(/refused r2 <- .*authentication failed: replica "r1"/)
    await expectClusterHealthy(cluster, 'after forged proof')
  })

  it('refuses an unknown replica, another cluster and another protocol version, saying why', async () => {
    const cluster = await runningCluster()
    const unknown = await rawPeer(cluster.port)
    await unknown.hello('r9', 'replica')
    expect(await unknown.refusal()).toMatch(/unknown replica "r9"/)
    const otherCluster = await rawPeer(cluster.port)
    await otherCluster.hello('r1', 'replica', { clusterId: 'another-cluster' })
    expect(await otherCluster.refusal()).toMatch(/belongs to cluster "another-cluster"/)
    const otherVersion = await rawPeer(cluster.port)
    await otherVersion.hello('r1', 'replica', { version: PROTOCOL_VERSION + 1 })
    expect(await otherVersion.refusal()).toMatch(/protocol version 2 is not supported/)
    for (const pattern of [/unknown replica "r9"/, /another-cluster/, /protocol version 2/]) {
      await cluster.logger.waitFor(pattern)
    }
    await expectClusterHealthy(cluster, 'after refusals')
  })

  it('a client without credentials is refused', async () => {
    const cluster = await runningCluster()
    const peer = await rawPeer(cluster.port)
    expect(await peer.authenticate('c1', 'client', null, 'r2')).toBe(false)
    expect(await peer.refusal()).toMatch(/client "c1" did not prove the client secret/)
    await cluster.logger.waitFor(/client "c1" did not prove the client secret/)
    expect(() => buildTcpClient({ self: 'c1', clusterId: CLUSTER, replicas: [{ id: 'r2', host: HOST, port: cluster.port }], auth: {} })).toThrow(
      /auth needs the client secret/,
    )
  })

  it('a client with the wrong client secret is refused and learns why', async () => {
    const cluster = await runningCluster()
    const logger = new RecordingLogger()
    const client = buildTcpClient({
      self: 'c1',
      clusterId: CLUSTER,
      replicas: [{ id: 'r2', host: HOST, port: cluster.port }],
      auth: { secret: 'a-wrong-client-secret-0123456789' },
      reconnect: FAST_RECONNECT,
      logger,
    })
    cleanups.push(() => client.stop())
    await client.start(() => {})
    client.send('r2', { evil: true })
    await logger.waitFor(/authentication failed: "r2" did not prove the client secret/)
    await cluster.logger.waitFor(/refused by client "c1": authentication failed/)
    expect(cluster.atR2.received.some((r) => (r.message as { evil?: boolean }).evil)).toBe(false)
  })

  it('a client credential cannot authenticate as a replica', async () => {
    const cluster = await runningCluster()
    // The client secret, presented by someone claiming to be replica r1.
    const peer = await rawPeer(cluster.port)
    expect(await peer.authenticate('r1', 'replica', CLIENT_SECRET, 'r2')).toBe(false)
    expect(await peer.refusal()).toMatch(/replica "r1" did not prove the replica secret/)
    // A replica endpoint configured with the client secret.
    const rogueLogger = new RecordingLogger()
    const rogue = buildTcp({
      self: 'r1',
      clusterId: CLUSTER,
      listen: { host: HOST, port: 0 },
      peers: [{ id: 'r2', host: HOST, port: cluster.port }],
      auth: { secret: CLIENT_SECRET },
      reconnect: FAST_RECONNECT,
      logger: rogueLogger,
    })
    cleanups.push(() => rogue.stop())
    await rogue.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
    await rogueLogger.waitFor(/did not prove the replica secret/)
    // A real client that takes a replica's name.
    const impostor = await rawPeer(cluster.port)
    expect(await impostor.authenticate('r1', 'client', CLIENT_SECRET, 'r2')).toBe(false)
    expect(await impostor.refusal()).toMatch(/a client cannot use a replica's id/)
    await expectClusterHealthy(cluster, 'after impostors')
  })

  it('a replica without a clients option refuses clients', async () => {
    const logger = new RecordingLogger()
    const lone = buildTcp({ self: 'r1', clusterId: CLUSTER, listen: { host: HOST, port: 0 }, peers: [], auth: { secret: REPLICA_SECRET }, logger })
    cleanups.push(() => lone.stop())
    await lone.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
    const peer = await rawPeer(lone.address()!.port)
    await peer.hello('c1', 'client')
    expect(await peer.refusal()).toMatch(/accepts no clients/)
  })

  it('a correct client is accepted', async () => {
    const cluster = await runningCluster()
    const client = clientFor('c1', [cluster.r1, cluster.r2, cluster.r3])
    cleanups.push(() => client.stop())
    await client.start(() => {})
    client.send('r2', { hello: 'from c1' })
    await cluster.atR2.waitForCount('c1', 1)
    expect(cluster.atR2.from('c1')).toEqual([{ hello: 'from c1' }])
  })
})

describe('stats', () => {
  it('count the open peer links, the authenticated clients and every refused connection', async () => {
    const cluster = await runningCluster()
    await expectClusterHealthy(cluster, 'linked')
    expect(cluster.r2.stats()).toEqual({ peersConnected: ['r1', 'r3'], clientConnections: 0, sharedConnections: 0, refusedConnections: 0 })
    const client = clientFor('c1', [cluster.r1, cluster.r2, cluster.r3])
    cleanups.push(() => client.stop())
    await client.start(() => {})
    client.send('r2', { hello: 'from c1' })
    await cluster.atR2.waitForCount('c1', 1)
    expect(cluster.r2.stats().clientConnections).toBe(1)
    const peer = await rawPeer(cluster.port)
    expect(await peer.authenticate('c2', 'client', null, 'r2')).toBe(false)
    await cluster.logger.waitFor(/client "c2" did not prove the client secret/)
    expect(cluster.r2.stats().refusedConnections).toBe(1)
  })
})

describe('configuration errors', () => {
  const base = { self: 'r1', clusterId: CLUSTER, listen: { host: HOST, port: 0 }, peers: [] }
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['a short secret', { auth: { secret: 'short' } }, /at least 16 bytes/],
    ['both secret and tls', { auth: { secret: REPLICA_SECRET, tls: { ca: 'x', cert: 'y', key: 'z' } } }, /exactly one/],
    ['no auth', { auth: {} }, /exactly one/],
    ['the client secret equal to the replica secret', { auth: { secret: REPLICA_SECRET }, clients: { secret: REPLICA_SECRET } }, /must differ/],
    ['clients without a secret and without TLS', { auth: { secret: REPLICA_SECRET }, clients: {} }, /clients.secret is required/],
    ['a duplicate peer', { auth: { secret: REPLICA_SECRET }, peers: [{ id: 'r2', host: HOST, port: 1 }, { id: 'r2', host: HOST, port: 2 }] }, /twice/],
    ['a bad port', { auth: { secret: REPLICA_SECRET }, listen: { host: HOST, port: 70_000 } }, /port must be an integer/],
    ['a negative limit', { auth: { secret: REPLICA_SECRET }, limits: { maxFrameBytes: -1 } }, /maxFrameBytes must be a positive number/],
    ['jitter above 1', { auth: { secret: REPLICA_SECRET }, reconnect: { jitter: 2 } }, /jitter must be between 0 and 1/],
  ]
  for (const [what, options, message] of cases) {
    it(`rejects ${what} with INVALID_CONFIG`, () => {
      let thrown: unknown
      try {
        buildTcp({ ...base, ...options } as never)
      } catch (error) {
        thrown = error
      }
      expect(isLockstepError(thrown) && thrown.code).toBe('INVALID_CONFIG')
      expect((thrown as Error).message).toMatch(message)
    })
  }

  it('throws UNKNOWN_PEER for setPeerAddress of an unknown replica and STOPPED after stop', async () => {
    const transport = buildTcp({ ...base, auth: { secret: REPLICA_SECRET } })
    expect(() => transport.setPeerAddress('r7', HOST, 1)).toThrow(/not among its peers/)
    await transport.stop()
    expect(() => transport.send('r1', {})).toThrow(/after stop/)
    await expect(transport.start({ onPeerMessage: () => {}, onClientMessage: () => {} })).rejects.toThrow(/after stop/)
  })
})
