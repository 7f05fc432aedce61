import { describe, expect, it } from 'vitest'
import { TraceRecorder, type Trace, type TraceEvent } from '@lockstep/trace'
import { arrivalOrderer, simulate, workloads } from '../src/index'
import { sequencerSpec } from './sequencer'


function ofType<T extends TraceEvent['type']>(trace: Trace, type: T): Extract<TraceEvent, { type: T }>[] {
  return trace.events.filter((event): event is Extract<TraceEvent, { type: T }> => event.type === type)
}

describe('simulate({ record }) traces a run', () => {
  it('records every message from send to receive, every delivery, and the clients\' requests and replies of a seeded run', async () => {
    const result = await simulate({ seed: 7, workload: workloads.kv!, orderer: sequencerSpec, replicas: 3, clients: 2, ops: 12, record: new TraceRecorder() })
    expect(result.ok).toBe(true)
    const trace = result.trace!
    expect(trace).toMatchObject({ version: 1, seed: 7, ok: true, replicas: ['r1', 'r2', 'r3'], clients: ['c1', 'c2'], violations: [], rerun: result.rerun })
    expect(trace.truncated).toBeUndefined()
    const sends = ofType(trace, 'send')
    expect(sends.length).toBe(result.messages)
    const sentIds = new Set(sends.map((send) => send.id))
    for (const receive of ofType(trace, 'receive')) expect(sentIds.has(receive.id)).toBe(true)
    // Events are in time order.
    for (let i = 1; i < trace.events.length; i++) expect(trace.events[i]!.t).toBeGreaterThanOrEqual(trace.events[i - 1]!.t)
    // Each replica delivered the 12 requests at positions 1..12.
    for (const replica of trace.replicas) {
      expect(ofType(trace, 'deliver').filter((d) => d.replica === replica).map((d) => d.position)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1))
    }
    expect(ofType(trace, 'client-request')).toHaveLength(12)
    expect(ofType(trace, 'client-reply')).toHaveLength(12)
    expect(sends.some((send) => send.kind === 'orderer' && /^v\d+ n=\d+ request="c\d#\d+"$/.test(send.summary))).toBe(true)
    // A peer message that carries a request names it, and the request reached every replica.
    const carried = sends.filter((send) => send.kind === 'orderer' && send.requests?.includes('c1#1'))
    expect(carried.length).toBeGreaterThan(0)
    expect(ofType(trace, 'status').map((s) => s.status)).toContain('normal')
  })

  it('names the deliveries that break agreement when the order is broken', async () => {
    let failed
    for (let seed = 1; seed <= 50 && !failed; seed++) {
      const result = await simulate({ seed, workload: workloads.kv!, orderer: { name: 'broken', create: () => arrivalOrderer }, replicas: 3, clients: 4, ops: 40, record: new TraceRecorder() })
      if (!result.ok) failed = result
    }
    const trace = failed!.trace!
    expect(trace.ok).toBe(false)
    const order = trace.violations.find((v) => v.message.startsWith('order:'))!
    expect(order.deliveries).toHaveLength(2)
    const [a, b] = order.deliveries
    expect(a!.position).toBe(b!.position)
    expect(a!.key).not.toBe(b!.key)
    // Both are deliveries of the trace.
    for (const site of order.deliveries) {
      expect(ofType(trace, 'deliver').some((d) => d.replica === site.replica && d.position === site.position && d.key === site.key && d.incarnation === site.incarnation)).toBe(true)
    }
    expect(order.requests).toEqual([a!.key, b!.key])
  })

  it('stays within its bound and says where it stopped', async () => {
    const result = await simulate({ seed: 7, workload: workloads.kv!, orderer: sequencerSpec, replicas: 3, clients: 2, ops: 12, record: new TraceRecorder({ maxEvents: 100 }) })
    const trace = result.trace!
    expect(trace.events).toHaveLength(100)
    expect(trace.truncated).toMatchObject({ maxEvents: 100 })
    expect(trace.truncated!.dropped).toBeGreaterThan(0)
    expect(trace.truncated!.fromMs).toBeGreaterThanOrEqual(trace.events[99]!.t)
  })
})
