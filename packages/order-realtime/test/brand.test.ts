import { describe, expect, it } from 'vitest'
import { isCrashTolerant, silentLogger, type OrdererContext } from '@lockstep/interface'
import { realtime } from '../src/index'

describe('the real-time orderer', () => {
  it('is named realtime and declares itself crash-tolerant with the Symbol.for brand the engine checks', () => {
    const view = { id: 1, members: ['r1', 'r2', 'r3'] }
    const ctx: OrdererContext = { clock: { now: () => 0 }, self: 'r1', log: silentLogger, view: () => view, send() {}, broadcast() {}, deliver() {} }
    const orderer = realtime()(ctx)
    expect(orderer.name).toBe('realtime')
    expect(isCrashTolerant(orderer)).toBe(true)
    expect((orderer as unknown as Record<symbol, unknown>)[Symbol.for('@lockstep/crash-tolerant-orderer')]).toBe(true)
  })
})
