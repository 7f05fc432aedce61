import { describe, expect, it } from 'vitest'
import { realtime } from '@lockstep/order-realtime'
import { simulate, workloads, type FaultKind, type SimulationResult } from '@lockstep/testkit'
import { describeFailures } from './failures'

/**
 * The real-time orderer with timing bounds as tight as the simulated network allows (one hop at most 20 ms:
 * `maxDelayMs` 25, so Δ = 55 ms; heartbeats every 5 ms; clocks up to 2 ms off, bound 5 ms), durable replicas,
 * and only the faults that keep to those bounds (crashes and restarts: no partitions, slow links or delay spikes,
 * which break the timing assumption on purpose and are what realtime-simulator.test.ts runs with Δ above a
 * second). Here Test I can decide, and replicas restart within a few Δ of the cluster's start.
 */
/** 40 seeds in CI; `LOCKSTEP_SEEDS=2000` for a long run, `LOCKSTEP_SEED_FROM=5001` to start elsewhere. */
const seeds = Number(process.env.LOCKSTEP_SEEDS ?? 40)
const firstSeed = Number(process.env.LOCKSTEP_SEED_FROM ?? 1)

const tight = { name: 'realtime', create: () => realtime({ heartbeatMs: 5, maxDelayMs: 25, maxSkewMs: 5 }) }

const run = (seed: number, machine = 'kv', faults: FaultKind[] = ['crash', 'restart'], durable = true) =>
  simulate({
    seed,
    workload: workloads[machine]!,
    orderer: tight,
    clocks: { maxOffsetMs: 2, maxDriftPpm: 0 },
    replicas: 3,
    clients: 1 + (seed % 8),
    ops: 60,
    faults,
    durable,
    overlap: true,
  })

describe('the real-time orderer under tight timing bounds, durable, with crashes and restarts', () => {
  it('Found (seed 142): a replica that started the cluster and crashed at once is brought back by the others, which start without it', async () => {
    // r3 started the cluster and crashed 0.3 ms later, before r1 and r2 had its confirmation; back from its disk
    // (view 1, position 0) it asked to be brought back, r1 and r2 took that for a running cluster and asked to join
    // it, and nobody served again: r3 alone held a state. (core's cluster-start.ts, `noteMessage`.)
    const result = await run(142)
    expect(result.violations).toEqual([])
    expect(result.operations).toBeGreaterThan(0)
  })

  it(`every check passes on ${seeds} seeds`, async () => {
    const failures: SimulationResult[] = []
    let operations = 0
    for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
      const result = await run(seed)
      operations += result.operations
      if (!result.ok) failures.push(result)
    }
    expect(failures, describeFailures(failures)).toEqual([])
    expect(operations).toBeGreaterThan(seeds * 30)
  })

  // Clock faults beyond the bound (`skew`: a clock slowed or sped up until it is 50–150 ms off, more than Δ), with
  // pauses and delay spikes that break `maxDelayMs` too. The orderers must find them and no client may take a result
  // from a departed order.
  const clockWorlds: { name: string; machine: string; faults: FaultKind[]; durable: boolean; found: number }[] = [
    { name: 'kv without disks, crashes, amnesia, pauses and skew', machine: 'kv', faults: ['crash', 'amnesia', 'pause', 'skew'], durable: false, found: 52 },
    { name: 'mutex with disks, crashes, restarts, delay spikes, skew and client restarts', machine: 'mutex', faults: ['crash', 'restart', 'delay', 'skew', 'client-restart'], durable: true, found: 13 },
  ]
  for (const world of clockWorlds) {
    it(`${world.name}: every check passes on seed ${world.found} (found) and ${seeds} seeds`, async () => {
      // Found (seed 52, and seed 13 of the second): r1 and r3 saw r2's clock fall behind but still delivered by Test
      // I and answered; r2's next request came stamped below, and r1 and r3 stopped and took r2's state, where
      // another request held the position they had answered (not linearizable). Test I now waits while a member's
      // clock is known to be off (order-realtime, `memberClockOff`).
      const failures: SimulationResult[] = []
      for (const seed of [world.found, ...Array.from({ length: seeds }, (_, i) => firstSeed + i)]) {
        const result = await run(seed, world.machine, world.faults, world.durable)
        if (!result.ok) failures.push(result)
      }
      expect(failures, describeFailures(failures)).toEqual([])
    })
  }
})
