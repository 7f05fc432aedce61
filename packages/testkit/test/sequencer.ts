import type { OrdererFactory, Request } from '@lockstep/interface'
import type { OrdererSpec } from '../src/index'

/**
 * A fixed-sequencer orderer (correct without failures): the first member numbers
 * every request and sends it to all; others forward their requests to it. It
 * exists to show that the compliance suite judges any orderer, not just Lamport.
 */
export const sequencer: OrdererFactory = (ctx) => {
  const leader = ctx.view().members[0]!
  let next = 0
  const order = (request: Request) => {
    next++
    ctx.broadcast({ n: next, request })
    ctx.deliver(request)
  }
  return {
    name: 'sequencer',
    submit: (request) => (ctx.self === leader ? order(request) : ctx.send(leader, { forward: request })),
    receive: (_from, message) => {
      const m = message as { forward?: Request; n?: number; request?: Request }
      if (m.forward) order(m.forward)
      else if (m.request) ctx.deliver(m.request)
    },
    tick: () => {},
    flush: () => {},
    viewChanged: () => {},
    pendingCount: () => 0,
  }
}

export const sequencerSpec: OrdererSpec = { name: 'sequencer', create: () => sequencer }
