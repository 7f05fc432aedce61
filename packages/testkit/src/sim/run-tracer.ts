import type { Request, View } from '@lockstep/interface'
import { traceViolation, type Trace, type TraceRecorder } from '@lockstep/trace'
import type { NetworkObserver } from '@lockstep/transport-memory'
import type { ViolationLocations } from './checkers/violation-locations'
import { requestKey } from './client-fleet'
import type { FaultEvent } from './faults'
import { describeMessage } from './message-summary'
import type { SimCluster } from './sim-cluster'

/**
 * Turns what happens in a simulated run into trace events (`@lockstep/trace`): the network's messages, each
 * replica's deliveries, views and statuses, the clients' requests and first replies, and the faults.
 */
export class RunTracer {
  private readonly recorder: TraceRecorder
  private readonly now: () => number
  private readonly replicas: ReadonlySet<string>
  private readonly statuses = new Map<string, string>()
  private readonly clients = new Set<string>()
  private readonly requested = new Set<string>()
  private readonly replied = new Set<string>()
  /** Kinds of messages in flight, by id, for their receive or drop. */
  private readonly kinds = new Map<number, string>()
  /** Watches the network (pass it to the `MemoryNetwork`). */
  readonly network: NetworkObserver

  constructor(recorder: TraceRecorder, now: () => number, replicas: readonly string[]) {
    this.recorder = recorder
    this.now = now
    this.replicas = new Set(replicas)
    const isReplica = (id: string) => this.replicas.has(id)
    this.network = {
      sent: (id, from, to, message) => {
        if (!isReplica(from)) this.clients.add(from)
        if (this.recorder.full) return
        const { kind, summary, requests } = describeMessage(from, to, message, isReplica)
        this.kinds.set(id, kind)
        const t = this.now()
        if (kind === 'request' && !isReplica(from) && requests[0] !== undefined && !this.requested.has(requests[0])) {
          this.requested.add(requests[0])
          this.recorder.record({ type: 'client-request', t, client: from, key: requests[0], to })
        }
        this.recorder.record({ type: 'send', t, id, from, to, kind, summary, ...(requests.length > 0 ? { requests: [...new Set(requests)] } : {}) })
      },
      received: (id, from, to, message) => {
        const kind = this.kinds.get(id)
        if (kind === undefined) return
        this.kinds.delete(id)
        const t = this.now()
        this.recorder.record({ type: 'receive', t, id, from, to, kind })
        const reply = (message as { type?: unknown; reply?: { client: string; incarnation?: number; seq: number; position?: number } }).reply
        if (kind === 'reply' && reply && !isReplica(to)) {
          const key = requestKey(reply.client, reply.incarnation, reply.seq)
          if (this.replied.has(key)) return
          this.replied.add(key)
          this.recorder.record({ type: 'client-reply', t, client: to, key, from, ...(reply.position === undefined ? {} : { position: reply.position }) })
        }
      },
      dropped: (id, from, to, _message, reason) => {
        const kind = this.kinds.get(id)
        if (kind === undefined) return
        this.kinds.delete(id)
        this.recorder.record({ type: 'drop', t: this.now(), id, from, to, kind, reason })
      },
    }
  }

  /** A replica delivered `request` at `position`. */
  delivered(replica: string, incarnation: number, position: number, request: Request, executed: boolean): void {
    this.recorder.record({ type: 'deliver', t: this.now(), replica, incarnation, position, key: requestKey(request.client, request.incarnation, request.seq), executed })
  }

  /** A replica installed `view`. */
  viewInstalled(replica: string, view: View, position: number): void {
    this.recorder.record({ type: 'view', t: this.now(), replica, view: view.id, members: [...view.members], position })
  }

  /** A replica crashed. */
  crashed(replica: string): void {
    this.setStatus(replica, 'down')
  }

  /** After each event of the run: records the replicas whose status changed. */
  afterEvent(cluster: SimCluster): void {
    for (const host of cluster.running()) this.setStatus(host.engine.self, host.engine.status)
  }

  /** The faults injected (the injectors list them with the time they struck). */
  faults(injected: readonly FaultEvent[], describe: (fault: FaultEvent) => string): void {
    for (const fault of injected) {
      this.recorder.record({ type: 'fault', t: fault.atMs, kind: fault.kind, replicas: [...fault.replicas], durationMs: fault.durationMs, ...(fault.client ? { client: fault.client } : {}), summary: describe(fault) })
    }
  }

  /** The trace of the finished run. */
  finish(run: { seed: number; rerun: string; violations: readonly string[]; locations: ViolationLocations; clients: number; endMs: number }): Trace {
    const clients = Array.from({ length: run.clients }, (_, i) => `c${i + 1}`)
    for (const client of this.clients) if (!clients.includes(client)) clients.push(client)
    return this.recorder.finish({
      seed: run.seed,
      rerun: run.rerun,
      ok: run.violations.length === 0,
      replicas: [...this.replicas],
      clients,
      endMs: run.endMs,
      violations: run.violations.map((message) => traceViolation(message, run.locations.get(message) ?? [])),
    })
  }

  private setStatus(replica: string, status: string): void {
    if (this.statuses.get(replica) === status) return
    this.statuses.set(replica, status)
    this.recorder.record({ type: 'status', t: this.now(), replica, status })
  }
}
