import { describe, expect, it } from 'vitest'
import { isLockstepError } from '@lockstep/interface'
import type { ClientId, ClientTransport, ReplicaId, Transport } from '@lockstep/interface'
import { MessageInbox } from './message-inbox'
import { binarySamples, binaryValuesAreUint8Arrays, normalizeBinary, seededRandom, structuredSamples } from './payload-samples'

/** A cluster of transports made by a harness for one test. */
export interface TransportCluster {
  /** One transport per requested id, not started yet (the suite starts them). */
  readonly transports: Transport[]
  /** A client endpoint (not started) that reaches every replica of this cluster. */
  client(id: ClientId): ClientTransport
  /** Releases whatever the harness holds; called after every test, also after the transports were stopped. */
  cleanup(): Promise<void>
}

/** Optional features; a transport that lacks one declares it, and its tests are skipped with the reason. */
export interface TransportCapabilities {
  /** Client endpoints: `client(id)`, client -> replica and replica -> client messages. Default true. */
  readonly clients?: boolean
  /** Uint8Array values survive the trip. Default true. */
  readonly binaryPayloads?: boolean
  /** `stop()` releases every handle and timer, checked with process.getActiveResourcesInfo. Default true. */
  readonly releasesResources?: boolean
  /** Why a capability is missing; shown in the name of each skipped test. */
  readonly reasons?: Partial<Record<TransportCapability, string>>
}

/** The names of {@link TransportCapabilities}. */
export type TransportCapability = 'clients' | 'binaryPayloads' | 'releasesResources'

/** What a transport implementation provides to run the compliance suite. */
export interface TransportHarness {
  createCluster(ids: string[]): Promise<TransportCluster>
  readonly capabilities?: TransportCapabilities
}

interface Started {
  readonly cluster: TransportCluster
  readonly byId: Map<ReplicaId, Transport>
  readonly peerInbox: Map<ReplicaId, MessageInbox>
  readonly clientInbox: Map<ReplicaId, MessageInbox>
  /** Called for every client message a replica receives (after it is recorded). */
  onClientMessage: ((replica: Transport, client: ClientId, message: unknown) => void) | undefined
}

const THREE = ['r1', 'r2', 'r3']

/**
 * Registers the transport compliance suite: reliable FIFO links between
 * replicas, exact payload round trips, client links, error cases and clean
 * shutdown. Every test builds its own cluster with `harness.createCluster`
 * and cleans it up. Waits are driven by message arrival.
 */
export function transportCompliance(name: string, harness: TransportHarness): void {
  const capabilities = harness.capabilities ?? {}
  const supports = (capability: TransportCapability) => capabilities[capability] !== false
  /** `it`, or a visible skip naming the missing capability and the declared reason. */
  const itWith = (capability: TransportCapability, title: string, fn: () => Promise<void>) => {
    if (supports(capability)) return it(title, fn)
    const reason = capabilities.reasons?.[capability] ?? 'no reason given'
    return it.skip(`${title} [skipped: ${name} declares no "${capability}" capability: ${reason}]`, fn)
  }

  async function startCluster(ids: string[]): Promise<Started> {
    const cluster = await harness.createCluster(ids)
    const started: Started = {
      cluster,
      byId: new Map(),
      peerInbox: new Map(),
      clientInbox: new Map(),
      onClientMessage: undefined,
    }
    try {
      expect(cluster.transports.map((t) => t.self).sort()).toEqual([...ids].sort())
      for (const transport of cluster.transports) {
        started.byId.set(transport.self, transport)
        started.peerInbox.set(transport.self, new MessageInbox(`${name} replica ${transport.self} (peer messages)`))
        started.clientInbox.set(transport.self, new MessageInbox(`${name} replica ${transport.self} (client messages)`))
      }
      await Promise.all(
        cluster.transports.map((transport) =>
          transport.start({
            onPeerMessage: (from, message) => started.peerInbox.get(transport.self)!.push(from, message),
            onClientMessage: (client, message) => {
              started.clientInbox.get(transport.self)!.push(client, message)
              started.onClientMessage?.(transport, client, message)
            },
          }),
        ),
      )
    } catch (error) {
      await cluster.cleanup()
      throw error
    }
    return started
  }

  async function withCluster(ids: string[], body: (started: Started) => Promise<void>): Promise<void> {
    const started = await startCluster(ids)
    try {
      await body(started)
    } finally {
      await started.cluster.cleanup()
    }
  }

  function expectLockstepError(fn: () => unknown, code: string): void {
    let thrown: unknown
    try {
      fn()
    } catch (error) {
      thrown = error
    }
    expect(thrown, `expected a LockstepError with code ${code}`).toBeDefined()
    expect(isLockstepError(thrown), `expected a LockstepError, got ${String(thrown)}`).toBe(true)
    expect((thrown as { code: string }).code).toBe(code)
  }

  describe(`transport compliance: ${name}`, () => {
    it('every pair of replicas exchanges messages', async () => {
      await withCluster(THREE, async ({ byId, peerInbox }) => {
        for (const from of THREE) {
          for (const to of THREE) if (from !== to) byId.get(from)!.send(to, { kind: 'pair', from, to })
        }
        for (const to of THREE) {
          const inbox = peerInbox.get(to)!
          await inbox.waitFor((received) => received.length >= 2, 'one message from each other replica')
          const expected = THREE.filter((id) => id !== to).map((from) => ({ from, message: { kind: 'pair', from, to } }))
          expect([...inbox.received].sort((a, b) => a.from.localeCompare(b.from))).toEqual(expected)
        }
      })
    })

    it('keeps FIFO order on every link under 10,000 messages per link', async () => {
      const perLink = 10_000
      await withCluster(THREE, async ({ byId, peerInbox }) => {
        for (let seq = 0; seq < perLink; seq += 1) {
          for (const from of THREE) {
            for (const to of THREE) if (from !== to) byId.get(from)!.send(to, { seq, from })
          }
        }
        for (const to of THREE) {
          const inbox = peerInbox.get(to)!
          await inbox.waitFor((received) => received.length >= perLink * 2, `${perLink} messages from each other replica`)
          for (const from of THREE) {
            if (from === to) continue
            const seqs = inbox.from(from).map((m) => (m as { seq: number }).seq)
            expect(seqs.length).toBe(perLink)
            const firstOutOfOrder = seqs.findIndex((seq, index) => seq !== index)
            expect(firstOutOfOrder, `link ${from} -> ${to}: first message out of order`).toBe(-1)
          }
        }
      })
    })

    it('loses and duplicates nothing', async () => {
      const perSender = 3_000
      await withCluster(THREE, async ({ byId, peerInbox }) => {
        const sent = new Map<string, string[]>() // "from->to" -> message ids, in order
        for (const from of THREE) {
          const random = seededRandom(from.charCodeAt(1))
          const others = THREE.filter((id) => id !== from)
          for (let i = 0; i < perSender; i += 1) {
            const to = others[Math.floor(random() * others.length)]!
            const id = `${from}:${i}`
            byId.get(from)!.send(to, { id, payload: 'p'.repeat(Math.floor(random() * 200)) })
            const key = `${from}->${to}`
            if (!sent.has(key)) sent.set(key, [])
            sent.get(key)!.push(id)
          }
          // A marker on each link: FIFO puts every earlier message before it.
          for (const to of others) byId.get(from)!.send(to, { end: from })
        }
        for (const to of THREE) {
          const inbox = peerInbox.get(to)!
          const senders = THREE.filter((id) => id !== to)
          await inbox.waitFor(
            (received) => senders.every((from) => received.some((r) => r.from === from && (r.message as { end?: string }).end === from)),
            'the end marker from every other replica',
          )
          for (const from of senders) {
            const messages = inbox.from(from)
            const endIndex = messages.findIndex((m) => (m as { end?: string }).end === from)
            const ids = messages.slice(0, endIndex).map((m) => (m as { id: string }).id)
            expect(new Set(ids).size, `duplicates on ${from} -> ${to}`).toBe(ids.length)
            expect(ids, `messages on ${from} -> ${to}`).toEqual(sent.get(`${from}->${to}`) ?? [])
          }
        }
      })
    })

    it('carries structured payloads unchanged (objects, arrays, unicode, numbers, booleans, null)', async () => {
      const samples = structuredSamples()
      await withCluster(['r1', 'r2'], async ({ byId, peerInbox }) => {
        samples.forEach((value, index) => byId.get('r1')!.send('r2', { index, value }))
        const inbox = peerInbox.get('r2')!
        await inbox.waitForCount('r1', samples.length)
        expect(inbox.from('r1')).toEqual(samples.map((value, index) => ({ index, value })))
      })
    })

    itWith('binaryPayloads', 'carries Uint8Array values unchanged', async () => {
      const samples = binarySamples()
      await withCluster(['r1', 'r2'], async ({ byId, peerInbox }) => {
        samples.forEach((value, index) => byId.get('r1')!.send('r2', { index, value }))
        const inbox = peerInbox.get('r2')!
        await inbox.waitForCount('r1', samples.length)
        const received = inbox.from('r1')
        for (const message of received) expect(binaryValuesAreUint8Arrays(message)).toBe(true)
        expect(received.map(normalizeBinary)).toEqual(samples.map((value, index) => normalizeBinary({ index, value })))
      })
    })

    itWith('clients', 'carries client -> replica and replica -> client messages', async () => {
      const perReplica = 200
      await withCluster(THREE, async (started) => {
        started.onClientMessage = (replica, client, message) => {
          const { n } = message as { n: number }
          replica.sendToClient(client, { reply: n, by: replica.self })
        }
        const client = started.cluster.client('c1')
        const clientInbox = new MessageInbox(`${name} client c1`)
        await client.start((from, message) => clientInbox.push(from, message))
        try {
          for (let n = 0; n < perReplica; n += 1) for (const replica of THREE) client.send(replica, { n })
          for (const replica of THREE) {
            const inbox = started.clientInbox.get(replica)!
            await inbox.waitForCount('c1', perReplica)
            expect(inbox.from('c1')).toEqual(Array.from({ length: perReplica }, (_, n) => ({ n })))
          }
          await clientInbox.waitFor((received) => received.length >= perReplica * THREE.length, 'every reply')
          for (const replica of THREE) {
            const replies = clientInbox.from(replica) as { reply: number; by: string }[]
            expect(replies.map((r) => r.reply).sort((a, b) => a - b)).toEqual(Array.from({ length: perReplica }, (_, n) => n))
            expect(replies.every((r) => r.by === replica)).toBe(true)
          }
        } finally {
          await client.stop()
        }
      })
    })

    it('drops sendToClient to a client that is not connected, without throwing', async () => {
      await withCluster(['r1', 'r2'], async ({ byId, peerInbox }) => {
        expect(() => byId.get('r1')!.sendToClient('nobody-connected-here', { dropped: true })).not.toThrow()
        // The transport keeps working afterwards.
        byId.get('r1')!.send('r2', { after: 'drop' })
        await peerInbox.get('r2')!.waitForCount('r1', 1)
        expect(peerInbox.get('r2')!.from('r1')).toEqual([{ after: 'drop' }])
      })
    })

    it('throws UNKNOWN_PEER on send to an unknown replica', async () => {
      await withCluster(['r1', 'r2'], async ({ byId }) => {
        expectLockstepError(() => byId.get('r1')!.send('no-such-replica', { x: 1 }), 'UNKNOWN_PEER')
      })
    })

    itWith('clients', 'throws UNKNOWN_PEER on a client send to an unknown replica', async () => {
      await withCluster(['r1', 'r2'], async ({ cluster }) => {
        const client = cluster.client('c1')
        await client.start(() => {})
        try {
          expectLockstepError(() => client.send('no-such-replica', { x: 1 }), 'UNKNOWN_PEER')
        } finally {
          await client.stop()
        }
      })
    })

    itWith('releasesResources', 'stop() resolves and releases every handle and timer', async () => {
      const cluster = await harness.createCluster(THREE)
      try {
        // Baseline after the harness built the cluster: whatever start() opens, stop() must close.
        const before = activeResourceCounts()
        const inboxes = new Map(THREE.map((id) => [id, new MessageInbox(`${name} replica ${id}`)]))
        await Promise.all(
          cluster.transports.map((t) =>
            t.start({
              onPeerMessage: (from, message) => inboxes.get(t.self)!.push(from, message),
              onClientMessage: (client, message) => {
                inboxes.get(t.self)!.push(client, message)
                t.sendToClient(client, { echo: message })
              },
            }),
          ),
        )
        for (const from of cluster.transports) for (const to of THREE) if (to !== from.self) from.send(to, { hello: to })
        for (const id of THREE) await inboxes.get(id)!.waitFor((r) => r.length >= 2, 'a message from each other replica')
        let client: ClientTransport | undefined
        if (supports('clients')) {
          client = cluster.client('c1')
          const clientInbox = new MessageInbox(`${name} client c1`)
          await client.start((from, message) => clientInbox.push(from, message))
          client.send('r1', { ping: 1 })
          await clientInbox.waitForCount('r1', 1)
        }
        await Promise.all([...cluster.transports.map((t) => t.stop()), client?.stop()])
        // A second stop() is harmless.
        await Promise.all([...cluster.transports.map((t) => t.stop()), client?.stop()])
        await new Promise<void>((resolve) => setImmediate(resolve))
        const after = activeResourceCounts()
        const leaked = Object.entries(after)
          .filter(([type, count]) => count > (before[type] ?? 0))
          .map(([type, count]) => `${type}: ${before[type] ?? 0} before start, ${count} after stop`)
        expect(leaked, 'handles or timers left after stop()').toEqual([])
      } finally {
        await cluster.cleanup()
      }
    })
  })
}

function activeResourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1
  return counts
}
