import { describe, expect, it } from 'vitest'
import { explainDelivery, renderTraceHtml, TraceRecorder, traceViolation, type Trace, type TraceEvent } from '../src/index'

/** A small Lamport-like run by hand: c1's request reaches r1, r1 stamps it and sends it on, r2 and r3 acknowledge. */
function handMadeTrace(extra: TraceEvent[] = []): Trace {
  const recorder = new TraceRecorder()
  const events: TraceEvent[] = [
    { type: 'status', t: 0, replica: 'r1', status: 'normal' },
    { type: 'client-request', t: 0, client: 'c1', key: 'c1#1', to: 'r1' },
    { type: 'send', t: 0, id: 1, from: 'c1', to: 'r1', kind: 'request', summary: 'c1#1 {}', requests: ['c1#1'] },
    { type: 'send', t: 0.5, id: 2, from: 'r3', to: 'r1', kind: 'orderer', summary: 'v1 lamport c=1 a={}' },
    { type: 'receive', t: 1, id: 1, from: 'c1', to: 'r1', kind: 'request' },
    { type: 'receive', t: 1.5, id: 2, from: 'r3', to: 'r1', kind: 'orderer' },
    { type: 'send', t: 2, id: 3, from: 'r2', to: 'r1', kind: 'orderer', summary: 'v1 lamport c=4 a={"r1":1}' },
    { type: 'send', t: 2.5, id: 4, from: 'r3', to: 'r1', kind: 'orderer', summary: 'v1 lamport c=5 a={"r1":1}' },
    { type: 'receive', t: 3, id: 3, from: 'r2', to: 'r1', kind: 'orderer' },
    { type: 'receive', t: 4, id: 4, from: 'r3', to: 'r1', kind: 'orderer' },
    ...extra,
    { type: 'deliver', t: 4, replica: 'r1', incarnation: 0, position: 1, key: 'c1#1', executed: true },
  ]
  for (const event of events) recorder.record(event)
  return recorder.finish({ seed: 1, rerun: 'npx lockstep sim --seed 1', ok: true, replicas: ['r1', 'r2', 'r3'], clients: ['c1'], endMs: 5, violations: [] })
}

describe('explainDelivery', () => {
  it('names how the request arrived and, for each other member, the last orderer message before the delivery; the one that came last', () => {
    const trace = handMadeTrace()
    const index = trace.events.findIndex((e) => e.type === 'deliver')
    expect(explainDelivery(trace, index)).toEqual({
      replica: 'r1',
      position: 1,
      key: 'c1#1',
      t: 4,
      arrival: { id: 1, t: 1, from: 'c1', kind: 'request' },
      members: ['r1', 'r2', 'r3'],
      waits: [
        { member: 'r2', last: { id: 3, t: 3, sentAt: 2, summary: 'v1 lamport c=4 a={"r1":1}' }, afterArrival: true },
        { member: 'r3', last: { id: 4, t: 4, sentAt: 2.5, summary: 'v1 lamport c=5 a={"r1":1}' }, afterArrival: true },
      ],
      lastArrived: 'r3',
    })
    expect(explainDelivery(trace, 0)).toBeUndefined()
  })

  it('uses the replica\'s view, and forgets what an earlier run of the replica heard', () => {
    const trace = handMadeTrace([
      { type: 'view', t: 4, replica: 'r1', view: 2, members: ['r1', 'r2'], position: 0 },
    ])
    const why = explainDelivery(trace, trace.events.findIndex((e) => e.type === 'deliver'))!
    expect(why.members).toEqual(['r1', 'r2'])
    expect(why.waits.map((w) => w.member)).toEqual(['r2'])
    const crashed = handMadeTrace([{ type: 'status', t: 4, replica: 'r1', status: 'down' }])
    const after = explainDelivery(crashed, crashed.events.findIndex((e) => e.type === 'deliver'))!
    expect(after.arrival).toBeUndefined()
    expect(after.waits).toEqual([{ member: 'r2', afterArrival: false }, { member: 'r3', afterArrival: false }])
  })
})

describe('TraceRecorder', () => {
  it('keeps at most maxEvents events but every fault, sorts faults recorded late into place, and says where it stopped', () => {
    const recorder = new TraceRecorder({ maxEvents: 2 })
    recorder.record({ type: 'status', t: 1, replica: 'r1', status: 'normal' })
    recorder.record({ type: 'status', t: 2, replica: 'r2', status: 'normal' })
    expect(recorder.full).toBe(true)
    recorder.record({ type: 'status', t: 3, replica: 'r3', status: 'normal' })
    recorder.record({ type: 'fault', t: 1.5, kind: 'crash', replicas: ['r2'], durationMs: 10, summary: 'crash r2 for 10ms' })
    const trace = recorder.finish({ seed: 1, rerun: '', ok: true, replicas: ['r1', 'r2', 'r3'], clients: [], endMs: 4, violations: [] })
    expect(trace.events.map((e) => e.t)).toEqual([1, 1.5, 2])
    expect(trace.truncated).toEqual({ maxEvents: 2, dropped: 1, fromMs: 3 })
  })

  it('refuses a bound that is not a whole number >= 1 (INVALID_CONFIG)', () => {
    expect(() => new TraceRecorder({ maxEvents: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining('maxEvents must be a whole number >= 1 (got 0)') }))
  })
})

describe('traceViolation', () => {
  it('takes the requests a message names, and the deliveries a check located', () => {
    expect(traceViolation('lost: 2 acknowledged requests were never executed (first: c2~1500#3)')).toEqual({ message: 'lost: 2 acknowledged requests were never executed (first: c2~1500#3)', deliveries: [], requests: ['c2~1500#3'] })
    const sites = [{ replica: 'r1', position: 4, key: 'c1#2' }, { replica: 'r2', position: 4, key: 'c3#1' }]
    expect(traceViolation('order: at position 4 r1 delivered c1#2 but r2 delivered c3#1', sites).requests).toEqual(['c1#2', 'c3#1'])
  })
})

describe('renderTraceHtml', () => {
  it('makes one page that loads nothing, with the trace embedded so that no message can close its script', () => {
    const trace = handMadeTrace([{ type: 'send', t: 4, id: 9, from: 'r1', to: 'r2', kind: 'orderer', summary: '</script><script>alert(1)</script>' }])
    const html = renderTraceHtml(trace)
    expect(html.startsWith('<!doctype html>')).toBe(true)
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org\/2000\/svg)/)
    expect(html.match(/<\/script>/g)).toHaveLength(2)
    const embedded = /<script type="application\/json" id="trace-data">([^]*?)<\/script>/.exec(html)![1]!
    expect(JSON.parse(embedded)).toEqual(trace)
  })
})
