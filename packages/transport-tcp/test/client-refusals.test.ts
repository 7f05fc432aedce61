import { createServer, type Server, type Socket } from 'node:net'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { ClientTransport, LockstepError } from '@lockstep/interface'
import type { TcpTransport, TlsCredentials } from '../src/index'
import { CLUSTER, FAST_RECONNECT, HOST, RecordingLogger, bindCluster, buildTcpClient, clientFor } from './helpers'
import { TestPki, type TestCa } from './test-pki'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

async function runningCluster(extra: Parameters<typeof bindCluster>[1] = () => ({})): Promise<TcpTransport[]> {
  const transports = await bindCluster(['r1', 'r2'], extra)
  cleanups.push(() => Promise.all(transports.map((t) => t.stop())).then(() => {}))
  await Promise.all(transports.map((t) => t.start({ onPeerMessage: () => {}, onClientMessage: () => {} })))
  return transports
}

/** Starts `client` and collects its connection events; `refusedByAll()` resolves once every replica refused at least once. */
async function watch(client: ClientTransport, replicas: string[]) {
  cleanups.push(() => client.stop())
  const refusals = new Map<string, LockstepError>()
  const connected: string[] = []
  let wake: () => void = () => {}
  const all = new Promise<Map<string, LockstepError>>((resolve) => (wake = () => replicas.every((r) => refusals.has(r)) && resolve(refusals)))
  await client.start(() => {}, {
    refused: (replica, error) => {
      if (!refusals.has(replica)) refusals.set(replica, error)
      wake()
    },
    connected: (replica) => void connected.push(replica),
  })
  return { refusedByAll: () => all, refusals, connected }
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('a client transport reports why a replica refused it', () => {
  it('a wrong client secret: AUTH_FAILED from every replica, saying the replica did not prove the client secret', async () => {
    const cluster = await runningCluster()
    const client = clientFor('c1', cluster, { auth: { secret: 'a-wrong-client-secret-0123456789' } })
    const events = await watch(client, ['r1', 'r2'])
    const refusals = await events.refusedByAll()
    for (const replica of ['r1', 'r2']) {
      expect(refusals.get(replica)).toMatchObject({
        code: 'AUTH_FAILED',
        message: expect.stringMatching(new RegExp(`^c1 -> ${replica} at 127\\.0\\.0\\.1:\\d+: authentication failed: "${replica}" did not prove the client secret`)),
      })
    }
    expect(events.connected).toEqual([])
  })

  it('a wrong cluster id: CLUSTER_MISMATCH, with the replica\'s reason', async () => {
    const cluster = await runningCluster()
    const client = clientFor('c1', cluster, { clusterId: 'another-cluster' })
    const refusals = await (await watch(client, ['r1', 'r2'])).refusedByAll()
    expect(refusals.get('r1')).toMatchObject({
      code: 'CLUSTER_MISMATCH',
      message: expect.stringMatching(new RegExp(`^c1 -> r1 at 127\\.0\\.0\\.1:\\d+: refused by r1: node "c1" belongs to cluster "another-cluster", not "${CLUSTER}"`)),
    })
    expect(refusals.get('r2')).toMatchObject({ code: 'CLUSTER_MISMATCH' })
  })

  it('nothing listening: UNREACHABLE (connection refused)', async () => {
    const ports = [await closedPort(), await closedPort()]
    const client = buildTcpClient({
      self: 'c1',
      clusterId: CLUSTER,
      replicas: ports.map((port, i) => ({ id: `r${i + 1}`, host: HOST, port })),
      auth: { secret: 'client-secret-0123456789abcdef!' },
      reconnect: FAST_RECONNECT,
    })
    const refusals = await (await watch(client, ['r1', 'r2'])).refusedByAll()
    expect(refusals.get('r1')).toMatchObject({
      code: 'UNREACHABLE',
      message: `c1 -> r1 at 127.0.0.1:${ports[0]}: connection refused (ECONNREFUSED): nothing accepts connections there`,
    })
    expect(refusals.get('r2')).toMatchObject({ code: 'UNREACHABLE' })
  })

  it('a correct client: connected, and no refusal', async () => {
    const cluster = await runningCluster()
    const client = clientFor('c1', cluster)
    const events = await watch(client, ['r1', 'r2'])
    client.send('r1', { hello: 1 })
    client.send('r2', { hello: 2 })
    await waitUntil(() => events.connected.length === 2)
    expect(events.connected.sort()).toEqual(['r1', 'r2'])
    expect(events.refusals.size).toBe(0)
  })

  it('a replica that is only slow (accepts, never answers) is not a refusal', async () => {
    const sockets = new Set<Socket>()
    const silent: Server = createServer((socket) => void sockets.add(socket.on('error', () => {})))
    await new Promise<void>((resolve) => silent.listen(0, HOST, resolve))
    cleanups.push(() => new Promise<void>((resolve) => silent.close(() => resolve())))
    cleanups.push(() => sockets.forEach((s) => s.destroy()))
    const logger = new RecordingLogger()
    const client = buildTcpClient({
      self: 'c1',
      clusterId: CLUSTER,
      replicas: [{ id: 'r1', host: HOST, port: (silent.address() as { port: number }).port }],
      auth: { secret: 'client-secret-0123456789abcdef!' },
      reconnect: FAST_RECONNECT,
      limits: { handshakeTimeoutMs: 20 },
      logger,
    })
    const events = await watch(client, ['r1'])
    await logger.waitFor(/handshake did not finish within 20 ms/)
    expect(events.refusals.size).toBe(0)
  })
})

// Needs the openssl binary (TestPki makes the certificates with it): without it these tests fail, they do not skip.
describe('a client transport reports a refused certificate', () => {
  let pki: TestPki | undefined
  let cluster: TestCa
  let other: TestCa
  afterAll(() => pki?.dispose())
  const setup = () => {
    if (pki === undefined) {
      pki = new TestPki()
      cluster = pki.createCa('refusals-cluster-ca')
      other = pki.createCa('refusals-other-ca')
    }
    return { cluster, other }
  }
  const credentials = (id: string, unit: 'replica' | 'client', ca: TestCa): TlsCredentials => {
    const pair = ca.issue(id, unit)
    return { ca: setup().cluster.cert, cert: pair.cert, key: pair.key }
  }
  const tlsCluster = () => {
    const { cluster: ca } = setup()
    return runningCluster((id) => ({ auth: { tls: credentials(id, 'replica', ca) }, clients: {} }))
  }

  it('a client certificate from another CA: AUTH_FAILED', async () => {
    const transports = await tlsCluster()
    const client = clientFor('c1', transports, { auth: { tls: credentials('c1', 'client', setup().other) } })
    const refusals = await (await watch(client, ['r1', 'r2'])).refusedByAll()
    expect(refusals.get('r1')).toMatchObject({ code: 'AUTH_FAILED', message: expect.stringMatching(/^c1 -> r1 at 127\.0\.0\.1:\d+: TLS: .*/) })
  })

  it('a certificate that names another client: AUTH_FAILED, with the replica\'s reason', async () => {
    const transports = await tlsCluster()
    const client = clientFor('mallory', transports, { auth: { tls: credentials('alice', 'client', setup().cluster) } })
    const refusals = await (await watch(client, ['r1', 'r2'])).refusedByAll()
    expect(refusals.get('r1')).toMatchObject({
      code: 'AUTH_FAILED',
      message: expect.stringMatching(/refused by r1: client "mallory": certificate CN "alice" does not match node id "mallory"/),
    })
  })

  it('a replica whose certificate the client cannot verify: AUTH_FAILED', async () => {
    const transports = await tlsCluster()
    // The client trusts another CA only.
    const theirs = credentials('c1', 'client', setup().cluster)
    const client = clientFor('c1', transports, { auth: { tls: { ...theirs, ca: setup().other.cert } } })
    const refusals = await (await watch(client, ['r1', 'r2'])).refusedByAll()
    expect(refusals.get('r2')).toMatchObject({ code: 'AUTH_FAILED', message: expect.stringMatching(/^c1 -> r2 at 127\.0\.0\.1:\d+: TLS: /) })
  })
})

/** Polls a condition on the event loop (a guard against hangs is the test's own timeout). */
async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5))
}
