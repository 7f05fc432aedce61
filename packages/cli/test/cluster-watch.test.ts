import { describe, expect, it } from 'vitest'
import { clusterEvents, lockView, metricValue, replicaSample, type ClusterSample, type ReplicaSample } from '../src/cluster-watch'
import { summaryLines } from '../src/commands/status'
import type { ReplicaStatusReport } from '../src/replica-metrics'

// What the dashboard derives from two consecutive polls of the replicas' operator endpoints. Pure: no
// processes, no clocks.

function up(id: string, fields: Partial<Extract<ReplicaSample, { up: true }>> = {}): ReplicaSample {
  return {
    id,
    up: true,
    pid: 100,
    status: 'normal',
    view: { id: 1, members: ['r1', 'r2', 'r3'] },
    position: 0,
    pendingRequests: 0,
    oldestPendingMs: null,
    peersConnected: [],
    clientConnections: 0,
    requestsPerSecond: 0,
    sessions: 0,
    repliesWaiting: 0,
    suspected: [],
    viewChangesTotal: 0,
    suspicionsTotal: 0,
    ...fields,
  }
}

const down = (id: string): ReplicaSample => ({ id, up: false, error: { code: 'UNREACHABLE', message: `replica ${id}: cannot reach http://127.0.0.1:1/status (ECONNREFUSED)` } })
const sample = (atMs: number, ...replicas: ReplicaSample[]): ClusterSample => ({ atMs, replicas })

describe('clusterEvents: what changed between two polls', () => {
  it('the first poll reports every replica as it found it', () => {
    expect(clusterEvents(undefined, sample(10, up('r1'), down('r2'))).map((e) => [e.atMs, e.replica, e.kind, e.text])).toEqual([
      [10, 'r1', 'up', 'r1 up: normal, view 1 (r1, r2, r3), position 0'],
      [10, 'r2', 'down', 'r2 down: UNREACHABLE: replica r2: cannot reach http://127.0.0.1:1/status (ECONNREFUSED)'],
    ])
  })

  it('nothing changed: no events', () => {
    expect(clusterEvents(sample(1, up('r1'), down('r2')), sample(2, up('r1'), down('r2')))).toEqual([])
  })

  it('a replica going down, and coming back up', () => {
    expect(clusterEvents(sample(1, up('r1'), up('r2')), sample(2, up('r1'), down('r2'))).map((e) => `${e.kind} ${e.replica}`)).toEqual(['down r2'])
    expect(clusterEvents(sample(2, up('r1'), down('r2')), sample(3, up('r1'), up('r2', { status: 'joining' })))).toEqual([{ atMs: 3, replica: 'r2', kind: 'up', text: 'r2 up: joining, view 1 (r1, r2, r3), position 0' }])
  })

  it('a view installed, a status change, members suspected and no longer suspected', () => {
    const before = sample(1, up('r1', { suspected: ['r3'] }), up('r2'))
    const after = sample(2, up('r1', { view: { id: 2, members: ['r1', 'r2'] }, suspected: ['r2'] }), up('r2', { status: 'frozen' }))
    expect(clusterEvents(before, after).map((e) => e.text)).toEqual(['r1 installed view 2: r1, r2', 'r1 suspects r2', 'r1 no longer suspects r3', 'r2 status normal → frozen'])
  })

  it('a suspicion that began and ended between two polls, seen only in the suspicion counter of /metrics', () => {
    expect(clusterEvents(sample(1, up('r1', { suspicionsTotal: 1 })), sample(2, up('r1', { suspicionsTotal: 3 }))).map((e) => `${e.kind} ${e.text}`)).toEqual([
      'suspect r1 suspected a member since the last poll (lockstep_suspicions_total +2)',
    ])
    // Counted and seen: one event per member suspected, not one more.
    expect(clusterEvents(sample(1, up('r1', { suspicionsTotal: 1 })), sample(2, up('r1', { suspicionsTotal: 2, suspected: ['r3'] }))).map((e) => e.text)).toEqual(['r1 suspects r3'])
    // Without /metrics at either poll: nothing to compare.
    expect(clusterEvents(sample(1, up('r1', { suspicionsTotal: null })), sample(2, up('r1', { suspicionsTotal: 4 })))).toEqual([])
  })
})

describe('replicaSample and metricValue', () => {
  const report: ReplicaStatusReport = {
    id: 'r1',
    pid: 42,
    status: 'normal',
    view: { id: 3, members: ['r1', 'r3'] },
    configuration: ['r1', 'r2', 'r3'],
    configurationView: 3,
    position: 812,
    orderDigestVersion: 2,
    stabilityLag: { pendingRequests: 2, oldestPendingMs: 12.5 },
    queues: { orderer: 2, heldForTransfer: 0, repliesWaiting: 1 },
    peersConnected: ['r3'],
    clientConnections: 4,
    requestsPerSecond: 31.5,
    sessions: 7,
    suspected: ['r2'],
    digest: null,
    clockOffsets: null,
  }
  const metrics = [
    '# HELP lockstep_view_changes_total Views installed here after the first.',
    '# TYPE lockstep_view_changes_total counter',
    'lockstep_view_changes_total{replica="r1"} 2',
    'lockstep_suspicions_total{replica="r1"} 5',
  ].join('\n')

  it('takes the figures of /status and the view-change and suspicion counters of /metrics', () => {
    expect(replicaSample('r1', { ok: true, value: report }, { ok: true, value: metrics })).toEqual({
      id: 'r1',
      up: true,
      pid: 42,
      status: 'normal',
      view: { id: 3, members: ['r1', 'r3'] },
      position: 812,
      pendingRequests: 2,
      oldestPendingMs: 12.5,
      peersConnected: ['r3'],
      clientConnections: 4,
      requestsPerSecond: 31.5,
      sessions: 7,
      repliesWaiting: 1,
      suspected: ['r2'],
      viewChangesTotal: 2,
      suspicionsTotal: 5,
    })
  })

  it('a replica whose /status did not answer is down with the reason; one whose /metrics did not has no counters', () => {
    const error = { code: 'TIMEOUT', message: 'replica r1: no answer from http://127.0.0.1:1/status within 1000 ms' }
    expect(replicaSample('r1', { ok: false, error }, { ok: true, value: metrics })).toEqual({ id: 'r1', up: false, error })
    expect(replicaSample('r1', { ok: true, value: report }, { ok: false, error })).toMatchObject({ up: true, viewChangesTotal: null, suspicionsTotal: null })
  })

  it('metricValue reads a series with or without labels, and null when it is absent', () => {
    expect(metricValue(metrics, 'lockstep_suspicions_total')).toBe(5)
    expect(metricValue('lockstep_view 3\n', 'lockstep_view')).toBe(3)
    expect(metricValue(metrics, 'lockstep_view')).toBeNull()
  })
})

/** A /status answer with the fields the lock view and the summary lines read. */
function report(id: string, position: number, fields: Partial<ReplicaStatusReport> = {}): ReplicaStatusReport {
  return { id, position, ...fields } as ReplicaStatusReport
}

describe('lockView: the lock from the replicas\' summaries of the machine\'s state', () => {
  const leased = (user: string | null, waiting: string[], expires = 0) => ({ user, expires, waiting: { count: waiting.length, items: waiting }, ttls: { count: 0, items: {} }, token: 4 })

  it('reads the holder, the queue in order, the lease and the token from the most advanced replica', () => {
    const view = lockView([
      report('r1', 10, { summary: leased('alice', ['bob'], 5000) }),
      report('r2', 12, { summary: leased('bob', ['carol', 'alice'], 9000) }),
      report('r3', 12, { summary: leased('x', []) }),
    ])
    expect(view).toEqual({ shown: true, from: 'r2', position: 12, holder: 'bob', queue: ['carol', 'alice'], queueLength: 2, leaseExpiresAtMs: 9000, token: 4 })
  })

  it('the built-in mutex: no lease, no token; a free lock has no holder; a long queue keeps its length', () => {
    expect(lockView([report('r1', 3, { summary: { user: null, waiting: { count: 0, items: [] } } })])).toEqual({
      shown: true, from: 'r1', position: 3, holder: null, queue: [], queueLength: 0, leaseExpiresAtMs: null, token: null,
    })
    const queue = Array.from({ length: 20 }, (_, i) => `c${i}`)
    expect(lockView([report('r1', 3, { summary: { user: 'h', waiting: { count: 55, items: queue } } })])).toMatchObject({ holder: 'h', queue, queueLength: 55 })
  })

  it('says why it cannot show the lock: no summary, a failing one, one that is not a lock\'s', () => {
    expect(lockView([])).toEqual({ shown: false, reason: 'no replica answered' })
    expect(lockView([report('r1', 1)])).toEqual({ shown: false, reason: expect.stringContaining('"statusSummary": false') as unknown })
    expect(lockView([report('r1', 1), report('r2', 1, { summaryError: "the state machine's summary failed: boom" })])).toEqual({ shown: false, reason: "r2: the state machine's summary failed: boom" })
    expect(lockView([report('r1', 1, { summary: { count: 3 } })])).toEqual({ shown: false, reason: "the summary of r1 is not a lock's (it has no 'user' and 'waiting')" })
    expect(lockView([report('r1', 1, { summary: [1, 2] })])).toMatchObject({ shown: false })
  })
})

describe('lockstep status: the summary lines', () => {
  const summary = { user: 'alice', waiting: { count: 0, items: [] } }

  it('one line for the cluster when every replica shows the same summary, one per replica otherwise, none without', () => {
    expect(summaryLines([report('r1', 4, { summary }), report('r2', 4, { summary })])).toEqual(['summary: {"user":"alice","waiting":{"count":0,"items":[]}}'])
    expect(summaryLines([report('r1', 5, { summary: { ...summary, user: 'bob' } }), report('r2', 4, { summary }), report('r3', 4, { summaryError: 'boom' })])).toEqual([
      'r1 summary at position 5: {"user":"bob","waiting":{"count":0,"items":[]}}',
      'r2 summary at position 4: {"user":"alice","waiting":{"count":0,"items":[]}}',
      'r3 summary at position 4: unavailable: boom',
    ])
    expect(summaryLines([report('r1', 4), report('r2', 4)])).toEqual([])
    expect(summaryLines([])).toEqual([])
  })
})
