import { describe, expect, it } from 'vitest'
import { kv } from '@lockstep/machines'
import { lamport } from '@lockstep/order-lamport'
import type { RandomSource } from '@lockstep/interface'
import { ReplicaHost, decodePeerMessage } from '../src/index'
import { manualScheduler } from './helpers'

/** Starts a run of r3 asking to join, its clock reading `nowMs`, and returns the incarnation its joins carry. */
async function joinIncarnation(nowMs: number, random?: RandomSource): Promise<number> {
  const { scheduler, clock } = manualScheduler()
  clock.nowMs = nowMs
  const sent: unknown[] = []
  const host = new ReplicaHost({
    self: 'r3',
    replicas: ['r1', 'r2', 'r3'],
    machine: kv,
    orderer: lamport(),
    transport: (c) => ({ self: c.self, start: async () => {}, send: (_to, message) => sent.push(message), sendToClient() {}, stop: async () => {} }),
    join: true,
    scheduler,
    ...(random ? { random } : {}),
  })
  await host.start()
  host.engine.tick()
  host.engine.flush()
  await host.stop()
  const joins = sent.map((m) => decodePeerMessage('r3', m)).filter((m) => m.kind === 'join')
  expect(joins.length).toBeGreaterThan(0)
  return (joins[0] as { incarnation: number }).incarnation
}

describe("ReplicaHost's incarnations", () => {
  it('differ between runs that start at the same clock reading (a clock held still across a restart)', async () => {
    const start = Date.UTC(2026, 11, 1, 10)
    const runs = await Promise.all(Array.from({ length: 8 }, () => joinIncarnation(start)))
    expect(new Set(runs).size).toBeGreaterThan(1)
    for (const incarnation of runs) expect(Math.floor(incarnation)).toBe(start)
  })

  it('draw their random part from the given source, so a simulation repeats', async () => {
    const fixed = { next: () => 0.5 }
    expect(await joinIncarnation(1000, fixed)).toBe(1000 + 1024 / 2048)
    expect(await joinIncarnation(1000, fixed)).toBe(await joinIncarnation(1000, fixed))
  })
})
