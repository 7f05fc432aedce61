import type { Orderer, OrdererFactory, Request } from '@lockstep/interface'

/**
 * A broken orderer on purpose: no ordering at all, each replica delivers requests as they reach it, so the
 * replicas' orders differ. For showing that the simulator's checks (and what draws their violations) catch a
 * broken orderer: `simulate({ orderer: { name: 'arrival', create: () => arrivalOrderer }, … })`.
 */
export const arrivalOrderer: OrdererFactory = (ctx) => {
  const orderer: Orderer = {
    name: 'arrival',
    submit(request: Request) {
      ctx.deliver(request)
      ctx.broadcast({ request })
    },
    receive(_from, message) {
      ctx.deliver((message as { request: Request }).request)
    },
    tick() {},
    flush() {},
    viewChanged() {},
    pendingCount: () => 0,
  }
  return orderer
}
