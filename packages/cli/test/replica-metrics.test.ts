import { describe, expect, it } from 'vitest'
import type { ReplicaHost } from '@lockstep/core'
import { silentLogger, type JsonValue } from '@lockstep/interface'
import { startOperatorEndpoint } from '../src/operator-endpoint'
import { MAX_SUMMARY_JSON_CHARS, ReplicaMetrics } from '../src/replica-metrics'

/** An engine whose figures the test sets. */
function fakeEngine() {
  return {
    status: 'normal',
    view: { id: 2, members: ['r1', 'r2', 'r3'] },
    configuration: ['r1', 'r2', 'r3'],
    /** What /status reports as the configuration: the view's (Engine.viewConfiguration). */
    viewConfiguration: { view: 2, replicas: ['r1', 'r2', 'r3'] },
    position: 7,
    orderDigestVersion: 1,
    pending: 1,
    queueDepths: { orderer: 1, heldForTransfer: 0, repliesWaiting: 0 },
    sessionCount: 2,
    suspected: [] as string[],
    clockOffsets: undefined,
    stateDivergences: 0,
    diskLosses: [] as { replica: string; position: number; held: number }[],
    /** The machine's summary (StateMachine.summary); undefined: the machine has none. */
    stateSummary: (): JsonValue | undefined => undefined,
  }
}

function measured(options: { statusSummary?: boolean } = {}) {
  const clock = { nowMs: 1000 }
  const engine = fakeEngine()
  const metrics = new ReplicaMetrics('r1', () => clock.nowMs, options)
  metrics.attach({ engine } as unknown as ReplicaHost, () => ({ peersConnected: ['r2'], clientConnections: 1, sharedConnections: 0, refusedConnections: 3 }), false)
  return { clock, engine, metrics }
}

const request = (seq: number) => ({ type: 'request', request: { client: 'c1', seq, command: { name: 'get' } } })

describe('a replica\'s metrics', () => {
  it('the stability lag is the age of the oldest request received and neither delivered nor answered', async () => {
    const { clock, metrics } = measured()
    metrics.clientMessage('c1', request(1))
    clock.nowMs = 1500
    metrics.clientMessage('c1', request(2))
    clock.nowMs = 2000
    expect((await metrics.status(false)).stabilityLag).toEqual({ pendingRequests: 1, oldestPendingMs: 1000 })
    metrics.delivered({ client: 'c1', seq: 1, command: { name: 'get' } })
    expect((await metrics.status(false)).stabilityLag.oldestPendingMs).toBe(500)
    metrics.clientReply('c1', { type: 'reply', from: 'r1', reply: { seq: 2 } })
    expect((await metrics.status(false)).stabilityLag.oldestPendingMs).toBeNull()
  })

  it('forgets the requests it waits for once the replica holds none', async () => {
    const { engine, metrics } = measured()
    metrics.clientMessage('c1', request(1))
    metrics.sample()
    expect((await metrics.status(false)).stabilityLag.oldestPendingMs).toBe(0)
    engine.pending = 0
    metrics.sample()
    expect((await metrics.status(false)).stabilityLag.oldestPendingMs).toBeNull()
  })

  it('counts requests per second over the samples, and each new suspicion once', async () => {
    const { clock, engine, metrics } = measured()
    metrics.sample()
    for (let seq = 1; seq <= 20; seq++) metrics.clientMessage('c1', request(seq))
    clock.nowMs += 2000
    expect((await metrics.status(false)).requestsPerSecond).toBe(10)
    engine.suspected = ['r3']
    metrics.sample()
    metrics.sample()
    engine.suspected = []
    metrics.sample()
    engine.suspected = ['r3']
    metrics.sample()
    const text = await metrics.registry.metrics()
    expect(text).toMatch(/^lockstep_suspicions_total\{replica="r1"\} 2$/m)
    expect(text).toMatch(/^lockstep_requests_total\{replica="r1"\} 20$/m)
    expect(text).toMatch(/^lockstep_refused_connections_total\{replica="r1"\} 3$/m)
    expect(text).toMatch(/^lockstep_stability_lag_requests\{replica="r1"\} 1$/m)
    expect(text).toMatch(/^lockstep_view\{replica="r1"\} 2$/m)
    expect(text).toMatch(/^lockstep_state_divergences_total\{replica="r1"\} 0$/m)
  })

  it('counts the times the state digests outvoted this replica', async () => {
    const { engine, metrics } = measured()
    engine.stateDivergences = 2
    expect(await metrics.registry.metrics()).toMatch(/^lockstep_state_divergences_total\{replica="r1"\} 2$/m)
    engine.stateDivergences = 3
    expect(await metrics.registry.metrics()).toMatch(/^lockstep_state_divergences_total\{replica="r1"\} 3$/m)
  })

  it('counts, by peer, the disks that lost records they had synced', async () => {
    const { engine, metrics } = measured()
    expect(await metrics.registry.metrics()).not.toMatch(/^lockstep_peer_disk_losses_total\{/m)
    engine.diskLosses.push({ replica: 'r3', position: 10, held: 12 })
    expect(await metrics.registry.metrics()).toMatch(/^lockstep_peer_disk_losses_total\{peer="r3",replica="r1"\} 1$/m)
    engine.diskLosses.push({ replica: 'r2', position: 4, held: 9 }, { replica: 'r3', position: 20, held: 30 })
    const text = await metrics.registry.metrics()
    expect(text).toMatch(/^lockstep_peer_disk_losses_total\{peer="r3",replica="r1"\} 2$/m)
    expect(text).toMatch(/^lockstep_peer_disk_losses_total\{peer="r2",replica="r1"\} 1$/m)
  })

  it('reports the status figures of the engine and the transport', async () => {
    const { metrics } = measured()
    expect(await metrics.status(false)).toMatchObject({
      id: 'r1',
      status: 'normal',
      view: { id: 2, members: ['r1', 'r2', 'r3'] },
      configuration: ['r1', 'r2', 'r3'],
      configurationView: 2,
      position: 7,
      orderDigestVersion: 1,
      queues: { orderer: 1, heldForTransfer: 0, repliesWaiting: 0 },
      peersConnected: ['r2'],
      clientConnections: 1,
      sessions: 2,
      digest: null,
      clockOffsets: null,
    })
  })

  it('a replica joining a view whose configuration it has not learned names the view its configuration is from', async () => {
    const { metrics, engine } = measured()
    Object.assign(engine, { status: 'joining', view: { id: 5, members: ['r2', 'r3'] }, viewConfiguration: { view: 2, replicas: ['r1', 'r2', 'r3'] } })
    expect(await metrics.status(false)).toMatchObject({ status: 'joining', view: { id: 5 }, configuration: ['r1', 'r2', 'r3'], configurationView: 2 })
  })

  it('/status includes the machine\'s summary of its state, unless the configuration says statusSummary: false', async () => {
    const holder = { user: 'alice', waiting: { count: 1, items: ['bob'] } }
    const shown = measured()
    expect(await shown.metrics.status(false)).not.toHaveProperty('summary')
    shown.engine.stateSummary = () => holder
    expect(await shown.metrics.status(false)).toMatchObject({ position: 7, summary: holder })
    expect(await shown.metrics.status(false)).not.toHaveProperty('summaryError')

    const hidden = measured({ statusSummary: false })
    let asked = 0
    hidden.engine.stateSummary = () => (asked++, holder)
    const report = await hidden.metrics.status(false)
    expect(report).not.toHaveProperty('summary')
    expect(report).not.toHaveProperty('summaryError')
    expect(asked).toBe(0)

    // Over HTTP, as operators and the dashboard read it.
    for (const [which, expected] of [[shown, holder], [hidden, undefined]] as const) {
      const endpoint = await startOperatorEndpoint({ host: '127.0.0.1', port: 0 }, {
        id: 'r1', clusterId: 'c', host: { engine: which.engine } as unknown as ReplicaHost, metrics: which.metrics, knownReplicas: ['r1'], replicaSecret: undefined, log: silentLogger,
      })
      try {
        const body = (await (await fetch(`http://127.0.0.1:${endpoint.port}/status?digest=false`)).json()) as Record<string, unknown>
        expect(body.summary).toEqual(expected)
        expect(body.position).toBe(7)
        expect(body.orderDigestVersion).toBe(1) // the engine's, as it says it
      } finally {
        await endpoint.close()
      }
    }
  })

  it('reports summaryError instead of a summary that throws, is not JSON or is larger than 16 KiB of JSON', async () => {
    const { engine, metrics } = measured()
    engine.stateSummary = () => {
      throw new Error('no holder today')
    }
    const failed = await metrics.status(false)
    expect(failed).not.toHaveProperty('summary')
    expect(failed.summaryError).toBe("the state machine's summary failed: no holder today")
    engine.stateSummary = () => ({ queue: 'x'.repeat(MAX_SUMMARY_JSON_CHARS) })
    expect((await metrics.status(false)).summaryError).toBe(`the state machine's summary is ${MAX_SUMMARY_JSON_CHARS + 12} characters of JSON, more than the 16384 a replica reports: StateMachine.summary must stay small (about 4 KB)`)
    engine.stateSummary = () => ({ queue: 'x'.repeat(MAX_SUMMARY_JSON_CHARS - 12) })
    expect((await metrics.status(false)).summary).toEqual({ queue: 'x'.repeat(MAX_SUMMARY_JSON_CHARS - 12) })
    engine.stateSummary = () => ({ big: 10n }) as unknown as JsonValue
    expect((await metrics.status(false)).summaryError).toMatch(/^the state machine's summary is not JSON: .*BigInt/)
  })
})
