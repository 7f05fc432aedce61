import type { Trace } from './trace-format'

/** What a replica last heard from one member of its view before a delivery. */
export interface MemberWait {
  readonly member: string
  /** The last orderer message the replica received from this member before the delivery; absent if none since its (re)start. */
  readonly last?: { readonly id: number; readonly t: number; readonly sentAt?: number; readonly summary: string }
  /** That message arrived after the request did: the delivery may have waited for it. */
  readonly afterArrival: boolean
}

/** Why a delivery happened when it did, as far as the network shows it. */
export interface DeliveryExplanation {
  readonly replica: string
  readonly position: number
  readonly key: string
  readonly t: number
  /** How the request reached the replica: the first message carrying it (from its client or from a peer). */
  readonly arrival?: { readonly id: number; readonly t: number; readonly from: string; readonly kind: string }
  /** The replica's view then (the configured replicas when the trace holds no view). */
  readonly members: readonly string[]
  /** One entry per other member of the view. */
  readonly waits: readonly MemberWait[]
  /** Among the members' last messages that came after the request, the one that came last: what released it, most likely. */
  readonly lastArrived?: string
}

/**
 * Explains the delivery at `index` of `trace.events` from the network's side: when the request reached the
 * replica, and for each other member of its view the last orderer message the replica had received from it
 * before delivering (with Lamport order these carry the clocks and acknowledgements its stability rule waits
 * for). It does not see inside the orderer: the message that arrived last is what most likely made the request
 * stable, not a proof. Undefined if the event is not a delivery.
 *
 * The page embeds this function's source: it must not use anything outside its own body.
 */
export function explainDelivery(trace: Trace, index: number): DeliveryExplanation | undefined {
  const delivery = trace.events[index]
  if (!delivery || delivery.type !== 'deliver') return undefined
  const { replica, key } = delivery
  const sends = new Map<number, { t: number; summary: string; requests?: readonly string[] }>()
  let arrival: DeliveryExplanation['arrival']
  let members: readonly string[] = trace.replicas
  let last = new Map<string, { id: number; t: number; sentAt?: number; summary: string }>()
  for (let i = 0; i < index; i++) {
    const event = trace.events[i]!
    if (event.type === 'send') sends.set(event.id, event)
    else if (event.type === 'view' && event.replica === replica) members = event.members
    else if (event.type === 'status' && event.replica === replica && event.status === 'down') {
      // A crash: what the earlier run heard is gone with it.
      arrival = undefined
      last = new Map()
    } else if (event.type === 'receive' && event.to === replica) {
      const sent = sends.get(event.id)
      if (!arrival && sent?.requests?.includes(key)) arrival = { id: event.id, t: event.t, from: event.from, kind: event.kind }
      if (event.kind === 'orderer') last.set(event.from, { id: event.id, t: event.t, sentAt: sent?.t, summary: sent?.summary ?? '' })
    }
  }
  const waits = members
    .filter((member) => member !== replica)
    .map((member) => {
      const heard = last.get(member)
      return { member, ...(heard ? { last: heard } : {}), afterArrival: heard !== undefined && arrival !== undefined && heard.t >= arrival.t }
    })
  let lastArrived: string | undefined
  let latest = -Infinity
  for (const wait of waits) {
    if (wait.afterArrival && wait.last && wait.last.t >= latest) {
      latest = wait.last.t
      lastArrived = wait.member
    }
  }
  return { replica, position: delivery.position, key, t: delivery.t, ...(arrival ? { arrival } : {}), members, waits, ...(lastArrived ? { lastArrived } : {}) }
}
