import { connect as tlsConnect } from 'node:tls'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { ClientTransport } from '@lockstep/interface'
import { MessageInbox, transportCompliance } from '@lockstep/testkit/compliance'
import { realScheduler } from '@lockstep/interface'
import { tcpClient, type TcpTransport, type TlsCredentials } from '../src/index'
import { CLUSTER, FAST_RECONNECT, HOST, RecordingLogger, bindCluster, buildTcp, clientFor } from './helpers'
import { TestPki, opensslAvailable } from './test-pki'
import type { TestCa } from './test-pki'

const hasOpenssl = opensslAvailable()

if (!hasOpenssl) {
  // Never a skip: without openssl these tests fail and say why (as the Chromium tests do without chromium).
  describe('mutual TLS', () => {
    it('makes its test certificates with openssl', () => {
      throw new Error('no openssl binary on the PATH to make the test certificates: install it (Debian: apt-get install -y openssl)')
    })
  })
} else {
  let pki: TestPki | undefined
  let clusterCa: TestCa | undefined
  let otherCa: TestCa | undefined
  const issued = new Map<string, TlsCredentials>()
  const setup = () => {
    pki ??= new TestPki()
    clusterCa ??= pki.createCa('lockstep-test-cluster-ca')
    otherCa ??= pki.createCa('some-other-ca')
    return { clusterCa, otherCa }
  }
  /** Credentials for `id` in role `unit`, issued by the cluster CA (or by `ca`). */
  const credentials = (id: string, unit: 'replica' | 'client', ca?: TestCa): TlsCredentials => {
    const { clusterCa: cluster } = setup()
    const issuer = ca ?? cluster
    const cacheKey = `${issuer === cluster ? 'cluster' : 'other'}/${id}/${unit}`
    let found = issued.get(cacheKey)
    if (found === undefined) {
      const pair = issuer.issue(id, unit)
      // Everyone trusts the cluster CA only.
      found = { ca: cluster.cert, cert: pair.cert, key: pair.key }
      issued.set(cacheKey, found)
    }
    return found
  }
  afterAll(() => pki?.dispose())

  const tlsCluster = (ids: string[], logger?: (id: string) => RecordingLogger | undefined, crl?: string) =>
    bindCluster(ids, (id) => ({
      auth: { tls: { ...credentials(id, 'replica'), ...(crl === undefined ? {} : { crl }) } },
      clients: {},
      ...(logger?.(id) ? { logger: logger(id) } : {}),
    }))

  transportCompliance('tcp with mutual TLS', {
    async createCluster(ids) {
      const transports = await tlsCluster(ids)
      const clients: ClientTransport[] = []
      return {
        transports,
        client(id) {
          const client = clientFor(id, transports, { auth: { tls: credentials(id, 'client') } })
          clients.push(client)
          return client
        },
        async cleanup() {
          await Promise.all([...clients.map((c) => c.stop()), ...transports.map((t) => t.stop())])
        },
      }
    },
  })

  describe('mutual TLS refusals', () => {
    const cleanups: (() => Promise<void> | void)[] = []
    afterEach(async () => {
      while (cleanups.length > 0) await cleanups.pop()!()
    })

    /** r1 and r2, r2 logging to `logger`, r1's first message delivered (with `crl`: both given that revocation list). */
    async function runningPair(crl?: string) {
      const logger = new RecordingLogger()
      const [r1, r2] = (await tlsCluster(['r1', 'r2'], (id) => (id === 'r2' ? logger : undefined), crl)) as [TcpTransport, TcpTransport]
      cleanups.push(() => Promise.all([r1.stop(), r2.stop()]).then(() => {}))
      const atR2 = new MessageInbox('r2')
      await r1.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
      await r2.start({ onPeerMessage: (from, m) => atR2.push(from, m), onClientMessage: (from, m) => atR2.push(from, m) })
      r1.send('r2', { n: 1 })
      await atR2.waitForCount('r1', 1)
      return { r1, r2, logger, atR2, port: r2.address()!.port }
    }

    function rogueReplica(id: string, port: number, tls: TlsCredentials, logger: RecordingLogger): TcpTransport {
      const rogue = buildTcp({
        self: id,
        clusterId: CLUSTER,
        listen: { host: HOST, port: 0 },
        peers: [{ id: 'r2', host: HOST, port }],
        auth: { tls },
        reconnect: FAST_RECONNECT,
        logger,
      })
      cleanups.push(() => rogue.stop())
      return rogue
    }

    it('refuses a replica whose certificate comes from another CA', async () => {
      const pair = await runningPair()
      const rogue = rogueReplica('r0', pair.port, credentials('r0', 'replica', setup().otherCa), new RecordingLogger())
      await rogue.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
      rogue.send('r2', { evil: true })
      await pair.logger.waitFor(/TLS handshake failed: its certificate was not accepted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/)
      pair.r1.send('r2', { n: 2 })
      await pair.atR2.waitForCount('r1', 2)
      expect(pair.atR2.received.some((r) => r.from === 'r0')).toBe(false)
    })

    it('refuses a client certificate used to pose as a replica', async () => {
      const pair = await runningPair()
      // Issued by the cluster CA for the name "r1", but as a client.
      const rogue = rogueReplica('r1', pair.port, credentials('r1', 'client'), new RecordingLogger())
      await rogue.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
      rogue.send('r2', { evil: true })
      await pair.logger.waitFor(/replica "r1": certificate OU \["client"\] does not include role "replica"/)
      pair.r1.send('r2', { n: 2 })
      await pair.atR2.waitForCount('r1', 2)
      expect(pair.atR2.received.some((r) => (r.message as { evil?: boolean }).evil)).toBe(false)
    })

    it('refuses a replica certificate whose name does not match the claimed id', async () => {
      const pair = await runningPair()
      const rogue = rogueReplica('r1', pair.port, credentials('r0', 'replica'), new RecordingLogger())
      await rogue.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
      await pair.logger.waitFor(/certificate CN "r0" does not match node id "r1"/)
    })

    it('refuses a client without a certificate', async () => {
      const pair = await runningPair()
      const socket = tlsConnect({ host: HOST, port: pair.port, ca: setup().clusterCa.cert, checkServerIdentity: () => undefined })
      socket.on('error', () => {})
      cleanups.push(() => {
        socket.destroy()
      })
      await pair.logger.waitFor(/TLS handshake failed: its certificate was not accepted \(it presented none\)/)
    })

    it('with the CA\'s revocation list, refuses a revoked certificate of a replica and of a client, and takes the others', async () => {
      // r1's old key was compromised: the operator gave r1 a new certificate and revoked the old one. Whoever holds
      // the old one can no longer pose as r1, to a replica or as a client.
      const { clusterCa: ca } = setup()
      const old = ca.issue('r1', 'replica')
      const oldClient = ca.issue('c9', 'client')
      ca.revoke(old)
      ca.revoke(oldClient)
      const crl = ca.crl()
      const { r1, r2, logger, atR2, port } = await runningPair(crl)
      const rogue = rogueReplica('r1', port, { ca: ca.cert, cert: old.cert, key: old.key }, new RecordingLogger())
      await rogue.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
      rogue.send('r2', { evil: true })
      await logger.waitFor(/TLS handshake failed: its certificate was not accepted \(CERT_REVOKED: a revocation list names it\)/)
      const revokedClient = clientFor('c9', [r2], { auth: { tls: { ca: ca.cert, cert: oldClient.cert, key: oldClient.key } } })
      cleanups.push(() => revokedClient.stop())
      const refusedBefore = logger.lines.filter((l) => /TLS handshake failed: its certificate was not accepted \(CERT_REVOKED: a revocation list names it\)/.test(l.message)).length
      await revokedClient.start(() => {})
      revokedClient.send('r2', { evil: 'client' })
      await waitUntil(() => logger.lines.filter((l) => /TLS handshake failed: its certificate was not accepted \(CERT_REVOKED: a revocation list names it\)/.test(l.message)).length > refusedBefore)
      const client = clientFor('c1', [r2], { auth: { tls: { ...credentials('c1', 'client'), crl } } })
      cleanups.push(() => client.stop())
      const replies = new MessageInbox('c1')
      await client.start((from, m) => replies.push(from, m))
      client.send('r2', { hello: true })
      await atR2.waitForCount('c1', 1)
      r1.send('r2', { n: 2 })
      await atR2.waitForCount('r1', 2)
      expect(atR2.received.some((r) => (r.message as { evil?: unknown }).evil !== undefined)).toBe(false)
    })

    it('new revocation lists while running: open connections of a revoked certificate close, new ones are refused, the others go on', async () => {
      const { clusterCa: ca, otherCa: other } = setup()
      const pair = await runningPair()
      const late = ca.issue('c7', 'client')
      const client = clientFor('c7', [pair.r2], { auth: { tls: { ca: ca.cert, cert: late.cert, key: late.key } } })
      cleanups.push(() => client.stop())
      await client.start(() => {})
      client.send('r2', { before: true })
      await pair.atR2.waitForCount('c7', 1)
      // The lists must fit first: another CA's changes nothing.
      expect(() => pair.r2.setRevocationLists(other.crl())).toThrow(/auth\.tls\.crl: the revocation list of CN=some-other-ca was not signed by a CA of the cluster/)
      ca.revoke(late)
      expect(pair.r2.setRevocationLists(ca.crl())).toBe(1)
      await pair.logger.waitFor(/its certificate \(serial number [0-9A-F]+\) is revoked: the revocation list of CN=lockstep-test-cluster-ca names it/)
      await pair.logger.waitFor(/TLS handshake failed: its certificate was not accepted \(CERT_REVOKED: a revocation list names it\)/)
      pair.r1.send('r2', { n: 2 })
      await pair.atR2.waitForCount('r1', 2)
      expect(pair.r2.stats().peersConnected).toEqual(['r1'])
      expect(() => pair.r2.setRevocationLists(undefined)).not.toThrow()
    })

    it("a client's new revocation lists while running: its connection to a replica whose certificate they name closes, reconnecting is refused, its other replicas go on; endpoints built later use them too", async () => {
      const { clusterCa: ca, otherCa: other } = setup()
      const stolen = ca.issue('r2', 'replica')
      const [r1, r2] = (await bindCluster(['r1', 'r2'], (id) => ({ auth: { tls: id === 'r2' ? { ca: ca.cert, cert: stolen.cert, key: stolen.key } : credentials(id, 'replica') }, clients: {} }))) as [TcpTransport, TcpTransport]
      cleanups.push(() => Promise.all([r1.stop(), r2.stop()]).then(() => {}))
      const inbox = new MessageInbox('replicas')
      for (const replica of [r1, r2]) await replica.start({ onPeerMessage: () => {}, onClientMessage: (from, m) => inbox.push(`${replica.self}<-${from}`, m) })
      const logger = new RecordingLogger()
      const transport = tcpClient({ clusterId: CLUSTER, replicas: [r1, r2].map((t) => ({ id: t.self, host: HOST, port: t.address()!.port })), auth: { tls: credentials('c5', 'client') }, reconnect: FAST_RECONNECT })
      const client = transport({ self: 'c5', scheduler: realScheduler(), log: logger })
      cleanups.push(() => client.stop())
      await client.start(() => {})
      client.send('r1', { n: 1 })
      client.send('r2', { n: 1 })
      await inbox.waitForCount('r1<-c5', 1)
      await inbox.waitForCount('r2<-c5', 1)
      // Lists that do not fit change nothing.
      expect(() => transport.setRevocationLists(other.crl())).toThrow(/auth\.tls\.crl: the revocation list of CN=some-other-ca was not signed by a CA of the cluster/)
      ca.revoke(stolen)
      expect(transport.setRevocationLists(ca.crl())).toBe(1)
      await logger.waitFor(/its certificate \(serial number [0-9A-F]+\) is revoked: the revocation list of CN=lockstep-test-cluster-ca names it/)
      await logger.waitFor(/CERT_REVOKED/)
      client.send('r1', { n: 2 })
      client.send('r2', { n: 2 })
      await inbox.waitForCount('r1<-c5', 2)
      expect(inbox.received.filter((r) => r.from === 'r2<-c5')).toHaveLength(1)
      // An endpoint the factory builds later checks the replicas against the new lists from its first handshake.
      const laterLogger = new RecordingLogger()
      const later = transport({ self: 'c5', scheduler: realScheduler(), log: laterLogger })
      cleanups.push(() => later.stop())
      await later.start(() => {})
      later.send('r2', { n: 3 })
      await laterLogger.waitFor(/CERT_REVOKED/)
      expect(() => tcpClient({ clusterId: CLUSTER, replicas: [{ id: 'r1', host: HOST, port: 1 }], auth: { secret: 'client-secret-0123456789abcdef!' } }).setRevocationLists(undefined)).toThrow(/setRevocationLists needs mutual TLS \(auth\.tls\)/)
    })

    it('with the CA\'s revocation list, a dialer refuses a listener whose certificate is revoked', async () => {
      const { clusterCa: ca } = setup()
      const old = ca.issue('r2', 'replica')
      ca.revoke(old)
      const crl = ca.crl()
      const logger = await dialerAndListener((id) => (id === 'r2' ? { ca: ca.cert, cert: old.cert, key: old.key } : { ...credentials(id, 'replica'), crl }))
      await logger.waitFor(/closed r1 -> r2 at .*: socket error: CERT_REVOKED certificate revoked/)
    })

    it('a dialer refuses a listener whose certificate names another replica', async () => {
      const logger = await dialerAndListener((id) => credentials(id === 'r2' ? 'r3' : id, 'replica'))
      await logger.waitFor(/TLS peer is not replica "r2": certificate CN "r3" does not match node id "r2"/)
    })

    /** r2 listening and r1 dialling it, each with the credentials `tls` gives it; r1's log. */
    async function dialerAndListener(tls: (id: string) => TlsCredentials): Promise<RecordingLogger> {
      const logger = new RecordingLogger()
      const [r1, r2] = (await bindCluster(['r1', 'r2'], (id) => ({ auth: { tls: tls(id) }, clients: {}, ...(id === 'r1' ? { logger } : {}) }))) as [TcpTransport, TcpTransport]
      cleanups.push(() => Promise.all([r1.stop(), r2.stop()]).then(() => {}))
      await r2.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
      await r1.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
      r1.send('r2', { n: 1 })
      return logger
    }
  })
}

/** Polls a condition on the event loop (a guard against hangs is the test's own timeout). */
async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5))
}
