import { connect as tlsConnect } from 'node:tls'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { isLockstepError } from '@lockstep/interface'
import type { ClientTransport } from '@lockstep/interface'
import { MessageInbox } from '@lockstep/testkit/compliance'
import type { TcpTransport } from '../src/index'
import { CuttingProxy } from './cutting-proxy'
import { CLIENT_SECRET, HOST, RecordingLogger, bindCluster, clientFor, dataFrame, fixedRandom } from './helpers'
import { RawPeer } from './raw-peer'
import { TestPki } from './test-pki'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

/** Two replicas that answer every client message `{ n }` with `{ n, to: client, by: replica }`. */
async function echoPair(logger?: RecordingLogger) {
  const transports = await bindCluster(['r1', 'r2'], () => (logger === undefined ? {} : { logger }))
  cleanups.push(() => Promise.all(transports.map((t) => t.stop())).then(() => {}))
  const seen = new MessageInbox('replicas')
  for (const transport of transports) {
    await transport.start({
      onPeerMessage: () => {},
      onClientMessage: (client, message) => {
        seen.push(client, message)
        transport.sendToClient(client, { n: (message as { n: number }).n, to: client, by: transport.self })
      },
    })
  }
  return { transports: transports as [TcpTransport, TcpTransport], seen }
}

function sharedClient(id: string, transports: TcpTransport[], extra: Parameters<typeof clientFor>[2] = {}): ClientTransport {
  const client = clientFor(id, transports, { shareConnections: true, ...extra })
  cleanups.push(() => client.stop())
  return client
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5))
  if (!condition()) throw new Error(`timed out waiting for ${what}`)
}

describe('connections shared by the clients of a process (shareConnections)', () => {
  it('20 clients speak over one connection per replica; each gets exactly its own replies, in order', async () => {
    const { transports, seen } = await echoPair()
    const inbox = new MessageInbox('clients')
    const ids = Array.from({ length: 20 }, (_, i) => `c${i}`)
    const clients = ids.map((id) => sharedClient(id, transports))
    await Promise.all(clients.map((client, i) => client.start((from, message) => inbox.push(`${ids[i]}<-${from}`, message))))
    const count = 200
    for (let n = 0; n < count; n++) {
      clients.forEach((client, i) => client.send(i % 2 === 0 ? 'r1' : 'r2', { n }))
      if (n % 50 === 49) await new Promise((resolve) => setImmediate(resolve))
    }
    for (const [i, id] of ids.entries()) {
      const replica = i % 2 === 0 ? 'r1' : 'r2'
      await inbox.waitForCount(`${id}<-${replica}`, count)
      await seen.waitForCount(id, count)
      const replies = inbox.from(`${id}<-${replica}`) as { n: number; to: string; by: string }[]
      expect(replies.map((r) => r.n)).toEqual(Array.from({ length: count }, (_, n) => n))
      expect(new Set(replies.map((r) => `${r.to}@${r.by}`))).toEqual(new Set([`${id}@${replica}`]))
    }
    for (const transport of transports) {
      const stats = transport.stats()
      expect(stats.sharedConnections, `${transport.self}: shared connections`).toBe(1)
      // Each client announced itself to every replica, as a client with connections of its own is known to each.
      expect(stats.clientConnections, `${transport.self}: clients on them`).toBe(20)
    }
  })

  it('a client with a connection of its own is unchanged beside them', async () => {
    const { transports } = await echoPair()
    const inbox = new MessageInbox('clients')
    const shared = sharedClient('s1', transports)
    const own = clientFor('o1', transports)
    cleanups.push(() => own.stop())
    await shared.start((from, message) => inbox.push(`s1<-${from}`, message))
    await own.start((from, message) => inbox.push(`o1<-${from}`, message))
    shared.send('r1', { n: 1 })
    own.send('r1', { n: 2 })
    await inbox.waitForCount('s1<-r1', 1)
    await inbox.waitForCount('o1<-r1', 1)
    expect(inbox.from('o1<-r1')).toEqual([{ n: 2, to: 'o1', by: 'r1' }])
    expect(transports[0].stats()).toMatchObject({ sharedConnections: 1, clientConnections: 2 })
  })

  it('a replica the client never spoke to reaches it at once (a lock grant, say): each client announces itself to every replica', async () => {
    const { transports } = await echoPair()
    const inbox = new MessageInbox('clients')
    // The connections are open (another client opened them) before this client starts.
    await sharedClient('early', transports).start(() => {})
    await until(() => transports[1].stats().clientConnections === 1, 'r2 to know the first client')
    const quiet = sharedClient('quiet', transports)
    await quiet.start((from, message) => inbox.push(from, message))
    await until(() => transports[1].stats().clientConnections === 2, 'r2 to know the client')
    transports[1].sendToClient('quiet', { grant: 1 })
    await inbox.waitForCount('r2', 1)
    expect(inbox.from('r2')).toEqual([{ grant: 1 }])
  })

  it('a replica that restarted (its state lost) reaches every client again without their speaking first', async () => {
    const { transports } = await echoPair()
    const inbox = new MessageInbox('clients')
    const clients = ['k1', 'k2'].map((id) => sharedClient(id, transports))
    await Promise.all(clients.map((client, i) => client.start((from, message) => inbox.push(`k${i + 1}<-${from}`, message))))
    const port = transports[0].address()!.port
    await until(() => transports[0].stats().clientConnections === 2, 'r1 to know both clients')
    await transports[0].stop()
    // The same replica again, on the same port, remembering nothing.
    const [again] = await bindCluster(['r1'], () => ({ listen: { host: HOST, port }, peers: [{ id: 'r1', host: HOST, port }] }))
    cleanups.push(() => again!.stop())
    await again!.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
    await until(() => again!.stats().clientConnections === 2, 'the restarted r1 to know both clients again')
    again!.sendToClient('k1', { grant: 'k1' })
    again!.sendToClient('k2', { grant: 'k2' })
    await inbox.waitForCount('k1<-r1', 1)
    await inbox.waitForCount('k2<-r1', 1)
    expect([...inbox.from('k1<-r1'), ...inbox.from('k2<-r1')]).toEqual([{ grant: 'k1' }, { grant: 'k2' }])
  })

  it('a client may send as soon as start() was called, before it resolves', async () => {
    const { transports } = await echoPair()
    const inbox = new MessageInbox('clients')
    const eager = sharedClient('eager', transports)
    const started = eager.start((from, message) => inbox.push(from, message))
    eager.send('r1', { n: 7 })
    await started
    await inbox.waitForCount('r1', 1)
    expect(inbox.from('r1')).toEqual([{ n: 7, to: 'eager', by: 'r1' }])
  })

  it('delivers every client\'s messages exactly once and in order while a proxy cuts the shared connection', async () => {
    const { transports, seen } = await echoPair()
    const random = fixedRandom(11)
    const proxy = new CuttingProxy({ host: HOST, port: transports[0].address()!.port }, { random: () => random.next(), cutAfterBytes: { min: 1, max: 30_000 } })
    cleanups.push(() => proxy.close())
    const port = await proxy.listen()
    const inbox = new MessageInbox('clients')
    const ids = ['a', 'b', 'c']
    const clients = ids.map((id) => sharedClient(id, transports, { replicas: [{ id: 'r1', host: HOST, port }] }))
    await Promise.all(clients.map((client, i) => client.start((from, message) => inbox.push(ids[i]!, message))))
    const count = 5_000
    for (let n = 0; n < count; n++) {
      for (const client of clients) client.send('r1', { n })
      if (n % 500 === 499) await new Promise((resolve) => setImmediate(resolve))
    }
    for (const id of ids) {
      await seen.waitForCount(id, count)
      await inbox.waitForCount(id, count)
      expect((seen.from(id) as { n: number }[]).findIndex((m, i) => m.n !== i), `${id}: first message out of sequence at the replica`).toBe(-1)
      expect((inbox.from(id) as { n: number }[]).findIndex((m, i) => m.n !== i), `${id}: first reply out of sequence`).toBe(-1)
    }
    expect(proxy.cuts).toBeGreaterThanOrEqual(3)
  })

  it('the last client to stop closes the connections; a client started afterwards opens new ones', async () => {
    const { transports } = await echoPair()
    const inbox = new MessageInbox('clients')
    const first = sharedClient('x1', transports)
    const second = sharedClient('x2', transports)
    await first.start((from, message) => inbox.push('x1', message))
    await second.start((from, message) => inbox.push('x2', message))
    first.send('r1', { n: 1 })
    await inbox.waitForCount('x1', 1)
    await first.stop()
    second.send('r1', { n: 2 })
    await inbox.waitForCount('x2', 1)
    expect(transports[0].stats().sharedConnections).toBe(1)
    await second.stop()
    await until(() => transports[0].stats().sharedConnections === 0, 'the shared connection to close')
    const third = sharedClient('x3', transports)
    await third.start((from, message) => inbox.push('x3', message))
    third.send('r1', { n: 3 })
    await inbox.waitForCount('x3', 1)
    expect(inbox.from('x3')).toEqual([{ n: 3, to: 'x3', by: 'r1' }])
  })

  it('a client id started twice on the same shared connections is refused: INVALID_CONFIG', async () => {
    const { transports } = await echoPair()
    await sharedClient('twin', transports).start(() => {})
    const error = await sharedClient('twin', transports).start(() => {}).then(() => undefined, (e: unknown) => e)
    expect(isLockstepError(error) && error.code).toBe('INVALID_CONFIG')
    expect(String((error as Error).message)).toMatch(/another started client of this process uses the id "twin"/)
  })

  it('replies follow the client to the connection it spoke on last (its own, then shared, then its own)', async () => {
    const { transports } = await echoPair()
    const atOwn = new MessageInbox('own')
    const atShared = new MessageInbox('shared')
    // Another client keeps the shared connection open throughout.
    const keeper = sharedClient('keeper', transports)
    await keeper.start((from, message) => atShared.push('keeper', message))
    keeper.send('r1', { n: 0 })
    await atShared.waitForCount('keeper', 1)
    const own = clientFor('mover', transports)
    cleanups.push(() => own.stop())
    await own.start((from, message) => atOwn.push('mover', message))
    own.send('r1', { n: 1 })
    await atOwn.waitForCount('mover', 1)
    await own.stop()
    const shared = sharedClient('mover', transports)
    await shared.start((from, message) => atShared.push('mover', message))
    shared.send('r1', { n: 2 })
    await atShared.waitForCount('mover', 1)
    await shared.stop()
    const again = clientFor('mover', transports)
    cleanups.push(() => again.stop())
    const atAgain = new MessageInbox('again')
    await again.start((from, message) => atAgain.push('mover', message))
    again.send('r1', { n: 3 })
    await atAgain.waitForCount('mover', 1)
    expect(atAgain.from('mover')).toEqual([{ n: 3, to: 'mover', by: 'r1' }])
    expect(atShared.from('mover')).toEqual([{ n: 2, to: 'mover', by: 'r1' }])
    // Counted once: on its own connection, no longer on the shared one.
    expect(transports[0].stats()).toMatchObject({ sharedConnections: 1, clientConnections: 2 })
  })

  it('a message on a shared connection does not take a client from its own connection while that is open (a replay of a client that moved)', async () => {
    const { transports, seen } = await echoPair()
    const atOwn = new MessageInbox('own')
    const own = clientFor('settled', transports)
    cleanups.push(() => own.stop())
    await own.start((from, message) => atOwn.push(from, message))
    own.send('r1', { n: 1 })
    await atOwn.waitForCount('r1', 1)
    const peer = await RawPeer.connect(transports[0].address()!.port)
    cleanups.push(() => peer.destroy())
    expect(await peer.authenticate('shared-replay', 'shared-clients', CLIENT_SECRET, 'r1')).toBe(true)
    peer.write(dataFrame(1, ['settled', { n: 2 }], ['settled']))
    await seen.waitForCount('settled', 2)
    await atOwn.waitForCount('r1', 2)
    expect(atOwn.from('r1')).toEqual([{ n: 1, to: 'settled', by: 'r1' }, { n: 2, to: 'settled', by: 'r1' }])
    expect(peer.envelopes.filter((e) => e.type === 1)).toEqual([])
  })

  it('shared connections count against limits.maxClientSessions with the clients\' own; the one closed the longest makes room', async () => {
    const logger = new RecordingLogger()
    const transports = await bindCluster(['r1'], () => ({ limits: { maxClientSessions: 2 }, logger }))
    cleanups.push(() => transports[0]!.stop())
    await transports[0]!.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
    const port = transports[0]!.address()!.port
    const a = await RawPeer.connect(port)
    const b = await RawPeer.connect(port)
    const c = await RawPeer.connect(port)
    cleanups.push(() => a.destroy(), () => b.destroy(), () => c.destroy())
    expect(await a.authenticate('shared-a', 'shared-clients', CLIENT_SECRET, 'r1')).toBe(true)
    expect(await b.authenticate('own-b', 'client', CLIENT_SECRET, 'r1')).toBe(true)
    await c.hello('shared-c', 'shared-clients')
    expect(await c.refusal()).toMatch(/shared client connection "shared-c": already 1 connected client sessions and 1 shared client connections \(limits\.maxClientSessions = 2, together\)/)
    a.destroy()
    await until(() => transports[0]!.stats().sharedConnections === 0, 'shared-a to close')
    const d = await RawPeer.connect(port)
    cleanups.push(() => d.destroy())
    expect(await d.authenticate('shared-d', 'shared-clients', CLIENT_SECRET, 'r1')).toBe(true)
    expect(logger.lines.some((l) => /shared client connection "shared-a" dropped for a new client \(shared client connection "shared-d"\)/.test(l.message))).toBe(true)
  })

  it('refuses options it cannot honour: TLS, or no secret', () => {
    const [stub] = [{ self: 'r1', address: () => ({ host: HOST, port: 1 }) } as unknown as TcpTransport]
    expect(() => clientFor('t', [stub], { shareConnections: true, auth: { secret: CLIENT_SECRET, tls: { ca: 'x', cert: 'y', key: 'z' } } })).toThrow(
      /shareConnections needs the client secret alone/,
    )
    expect(() => clientFor('t', [stub], { shareConnections: true, auth: {} })).toThrow(/shareConnections needs the client secret/)
  })
})

describe('a replica guards its shared client connections', () => {
  it('a message that does not name a valid client is dropped with a warning; the connection and the replica go on', async () => {
    const logger = new RecordingLogger()
    const { transports, seen } = await echoPair(logger)
    const peer = await RawPeer.connect(transports[0].address()!.port)
    cleanups.push(() => peer.destroy())
    expect(await peer.authenticate('shared-raw', 'shared-clients', CLIENT_SECRET, 'r1')).toBe(true)
    peer.write(dataFrame(1, { n: 0 }, [42, { n: 1 }], ['r2', { n: 2 }], ['x'.repeat(300), { n: 3 }], ['ok', { n: 4 }]))
    await seen.waitForCount('ok', 1)
    expect(seen.from('ok')).toEqual([{ n: 4 }])
    expect(seen.received.map((r) => r.from)).toEqual(['ok'])
    const warnings = logger.lines.filter((l) => l.level === 'warn' && /shared client connection "shared-raw" sent/.test(l.message)).map((l) => l.message)
    expect(warnings).toHaveLength(4)
    expect(warnings[0]).toMatch(/a message that is not \[client id, message\]/)
    expect(warnings[2]).toMatch(/client id "r2"/)
    // A flood is counted, not logged line by line.
    peer.write(dataFrame(6, ...Array.from({ length: 2000 }, (_, i) => [i, { n: i }]), ['ok', { n: 5 }]))
    await seen.waitForCount('ok', 2)
    const more = logger.lines.filter((l) => l.level === 'warn' && /shared client connection "shared-raw" sent/.test(l.message))
    expect(more.length).toBeLessThanOrEqual(12)
    expect(more.at(-1)!.message).toMatch(/\(2000 so far\)/)
  })

  it('a replica without the `clients` option refuses a shared connection', async () => {
    const transports = await bindCluster(['r1'], () => ({ clients: undefined }))
    cleanups.push(() => transports[0]!.stop())
    await transports[0]!.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
    const peer = await RawPeer.connect(transports[0]!.address()!.port)
    cleanups.push(() => peer.destroy())
    await peer.hello('shared-raw', 'shared-clients')
    expect(await peer.refusal()).toMatch(/shared client connection "shared-raw": this replica accepts no clients/)
  })

  describe('over TLS', () => {
    let pki: TestPki | undefined
    afterAll(() => pki?.dispose())
    it('a TLS replica refuses a shared connection, even from a valid client certificate with the client secret', async () => {
      pki = new TestPki()
      const ca = pki.createCa('shared-ca')
      const credentials = (id: string, unit: string) => ({ ca: ca.cert, ...ca.issue(id, unit) })
      const transports = await bindCluster(['r1'], (id) => ({ auth: { tls: credentials(id, 'replica') }, clients: { secret: CLIENT_SECRET } }))
      cleanups.push(() => transports[0]!.stop())
      await transports[0]!.start({ onPeerMessage: () => {}, onClientMessage: () => {} })
      const mine = credentials('shared-tls', 'client')
      const socket = tlsConnect({ host: HOST, port: transports[0]!.address()!.port, ca: mine.ca, cert: mine.cert, key: mine.key, servername: 'r1', checkServerIdentity: () => undefined })
      await new Promise<void>((resolve, reject) => socket.once('secureConnect', () => resolve()).once('error', reject))
      const peer = RawPeer.fromSocket(socket)
      cleanups.push(() => peer.destroy())
      await peer.hello('shared-tls', 'shared-clients')
      expect(await peer.refusal()).toMatch(/shared client connection "shared-tls": this replica authenticates clients by certificate/)
    })
  })
})
