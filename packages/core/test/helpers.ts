import { kv } from '@lockstep/machines'
import { lamport } from '@lockstep/order-lamport'
import type { ClientId, ReplicaToClient, Scheduler, StateMachine, TimerHandle, Transport } from '@lockstep/interface'
import type { OrdererFactory } from '@lockstep/interface'
import { ReplicaEngine, ReplicaHost, type PeerMessage, type ReplicaHostOptions } from '../src/index'

/** A one-replica cluster needs no agreement: every request is next in the order. */
export const immediate: OrdererFactory = (ctx) => {
  let pending = 0
  return {
    name: 'immediate',
    submit: (request) => {
      pending++
      ctx.deliver(request)
      pending--
    },
    receive: () => {},
    tick: () => {},
    flush: () => {},
    viewChanged: () => {},
    pendingCount: () => pending,
  }
}

/** A single-replica engine whose effects are recorded. */
export function singleReplica(machine: StateMachine) {
  const toClients: { to: ClientId; message: ReplicaToClient }[] = []
  const toPeers: { to: string; message: PeerMessage }[] = []
  const delivered: { position: number; key: string; executed: boolean }[] = []
  let now = 0
  const engine = new ReplicaEngine({
    self: 'r1',
    machine,
    orderer: immediate,
    clock: { now: () => now },
    view: { id: 1, members: ['r1'] },
    effects: {
      sendToPeer: (to, message) => toPeers.push({ to, message }),
      sendToClient: (to, message) => toClients.push({ to, message }),
      delivered: (position, request, executed) => delivered.push({ position, key: `${request.client}#${request.seq}`, executed }),
    },
  })
  return {
    engine,
    toClients,
    toPeers,
    delivered,
    advance: (ms: number) => (now += ms),
    request: (client: string, seq: number, command: unknown, ackedBelow?: number) =>
      engine.onClientMessage(client, { type: 'request', request: { client, seq, command, ...(ackedBelow === undefined ? {} : { ackedBelow }) } }),
    replies: () => toClients.filter((m) => m.message.type === 'reply').map((m) => (m.message as Extract<ReplicaToClient, { type: 'reply' }>).reply),
  }
}

/** A scheduler whose time the test sets (`clock.nowMs`); timers and deferred work never run by themselves. */
export function manualScheduler() {
  const clock = { nowMs: 0 }
  const scheduler: Scheduler = { now: () => clock.nowMs, setTimer: (): TimerHandle => 1, clearTimer: () => {}, defer: () => {} }
  return { scheduler, clock }
}

/** Replica r1 of three (kv, Lamport) whose peers never answer, on a manual scheduler, with `extra` options. */
export function loneMember(extra: Partial<ReplicaHostOptions<unknown>> = {}) {
  const { scheduler, clock } = manualScheduler()
  const silent = (self: string): Transport => ({ self, start: async () => {}, send() {}, sendToClient() {}, stop: async () => {} })
  const host = new ReplicaHost({
    self: 'r1',
    replicas: ['r1', 'r2', 'r3'],
    machine: kv,
    orderer: lamport(),
    transport: (components) => silent(components.self),
    startAsMember: true,
    scheduler,
    ...extra,
  })
  return { host, clock }
}
