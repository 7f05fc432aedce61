import { describe, expect, it } from 'vitest'
import { lamportSimulation } from '@lockstep/order-lamport'
import { realtimeSimulation } from '@lockstep/order-realtime'
import { simulate, workloads, type FaultKind } from '@lockstep/testkit'

// The `cut` fault: the link between two replicas stops, one way or both, while both still reach every other replica
// (a firewall rule, a route gone, a network card that drops one direction): a partition that is no clean split. With
// both ways cut, the third replica of three is a bridge between two that cannot talk; with one way, one of them hears
// the other and is not heard. One end counts as faulty in the budget, so a majority stays fully connected.
//
// Every check passes, liveness included (no request waits over 10 s while at most F are faulty). Until session 52
// the cluster paid dearly while a cut lasted: the orderers wait for every member, no majority suspected either end,
// the order stopped until the link to the unheard end filled, and then the new view kept both ends (suspicion started
// afresh in each view, and a member that did not promise left only when a majority of the promisers suspected it),
// so views followed each other every 10 to 15 ms until the cut healed: 15.9 (Lamport) and 21.5 (real time) view
// changes per virtual second under cuts alone against 1.8 under clean partitions, p99 latency 712 and 616 ms against
// 152 and 150 ms (kv, 3 replicas, no disks, seeds 1-20). Now a member that does not hear another asks for the view
// change itself, the view leaves one end out, and that end comes back once every member hears it
// (docs/fault-tolerance.md): the second test holds cuts to about what partitions cost. It fails on the code before
// (19.3 view changes per virtual second against 2.0 on its seeds).
// Session 53 took the p99 bound from 3x to 1.5x a partition's: a member reports a replica outside the view it stopped
// hearing (without: real time, 3 replicas, p99 300 ms against 153), and a replica leaves a prepare unanswered from a
// coordinator it cannot send to (without: 245 ms; since session 54's rule for a deaf coordinator's repeated ballots,
// these seeds no longer need it, and the last test pins it on seed 156). Its two rules for a member that hears nobody show on other seeds
// (Lamport 128 of 100-160); the engine scenario deaf-member-left-out pins them.
// With `MemoryNetwork.cutLink` doing nothing, cuts alone change no view after the cluster formed (3 views with 3
// replicas, 5 with 5) and the first test's last assertion fails.

const seeds = Number(process.env.LOCKSTEP_SEEDS ?? 6)

describe('links cut one way or both (the cut fault)', () => {
  for (const [name, orderer] of [['lamport', lamportSimulation], ['realtime', realtimeSimulation]] as const) {
    it(`${name}: cuts alone, then with crashes, restarts, pauses and delay spikes, 3 and 5 replicas: every check passes, and the cuts make the views change`, async () => {
      const struck: number[] = []
      const changed: number[] = []
      for (const replicas of [3, 5]) {
        for (let seed = 1; seed <= seeds; seed++) {
          for (const faults of [['cut'], ['cut', 'crash', 'restart', 'pause', 'delay']] as FaultKind[][]) {
            const result = await simulate({ seed, workload: workloads[seed % 2 ? 'register' : 'kv']!, orderer, replicas, clients: 1 + (seed % 4), inFlight: 1 + (seed % 2), ops: 120, faults, durable: seed % 3 === 0, overlap: true })
            expect(result.violations, result.rerun).toEqual([])
            if (faults.length > 1 || !result.faults.some((fault) => fault.kind === 'cut')) continue
            struck.push(seed)
            // Forming the cluster takes a view per replica; with cutLink doing nothing, cuts alone add none.
            if (result.viewChanges >= replicas + 2) changed.push(seed)
          }
        }
      }
      expect(struck.length, 'runs of cuts alone where a cut struck').toBeGreaterThanOrEqual(seeds)
      expect(changed.length, `runs of cuts alone whose views changed, of ${struck.length}`).toBeGreaterThanOrEqual(Math.ceil(struck.length / 2))
    }, 300_000)

    it(`${name}: a cut link costs about what a partition costs: no churn of views, no stall until a link fills (kv, 3 and 5 replicas, cuts alone)`, async () => {
      for (const replicas of [3, 5]) {
        const measured = { cut: measure(), partition: measure() }
        for (let seed = 1; seed <= 20; seed++) {
          for (const fault of ['cut', 'partition'] as const) {
            const result = await simulate({ seed, workload: workloads.kv!, orderer, replicas, clients: 3, ops: 120, faults: [fault], overlap: true })
            expect(result.violations, result.rerun).toEqual([])
            measured[fault].add(result)
          }
        }
        const cut = measured.cut.summary()
        const partition = measured.partition.summary()
        const what = `${replicas} replicas: cuts ${JSON.stringify(cut)}, partitions ${JSON.stringify(partition)}`
        expect(cut.viewsPerVirtualSecond, what).toBeLessThanOrEqual(2 * partition.viewsPerVirtualSecond)
        expect(cut.p50Ms, what).toBeLessThanOrEqual(1.5 * partition.p50Ms)
        // Session 53 brought p99 from 3x down to 1.5x (real time, 3 replicas: 301 ms against 156 before, 185 after).
        expect(cut.p99Ms, what).toBeLessThanOrEqual(1.5 * partition.p99Ms)
        expect(cut.maxMs, what).toBeLessThanOrEqual(4 * partition.maxMs)
        // No run churns: a view change that could not help waits a timeout before the next (5 replicas, seed 16:
        // 422 view changes in 7.3 virtual seconds without).
        expect(cut.peakViewsPerVirtualSecond, what).toBeLessThanOrEqual(4 * partition.viewsPerVirtualSecond)
      }
    }, 300_000)
  }

  // The seeds of 100-160 (kv, 3 replicas, cuts alone) where a cut cost the most before sessions 53 and 54, each a
  // rule of docs/fault-tolerance.md: Lamport 128 (a member that hears nobody: 1.4 s), 144 (a deaf coordinator's
  // repeated ballots: 0.98 s), 156 (a prepare from a coordinator this replica cannot send to: 0.81 s without that rule
  // since session 54), real time 146 (a replica outside the view that one member stopped hearing: 1.9 s). Each now
  // waits no longer than the longest wait under clean partitions on those seeds (0.61 and 0.62 s; measured 0.17,
  // 0.35, 0.32 and 0.11 s).
  for (const [name, orderer, seeds] of [['lamport', lamportSimulation, [128, 144, 156]], ['realtime', realtimeSimulation, [146]]] as const) {
    it(`${name}: on the seeds where cuts cost the most (${seeds.join(', ')}), no request waits longer than under clean partitions (0.6 s)`, async () => {
      for (const seed of seeds) {
        const result = await simulate({ seed, workload: workloads.kv!, orderer, replicas: 3, clients: 3, ops: 120, faults: ['cut'], overlap: true })
        expect(result.violations, result.rerun).toEqual([])
        const longest = Math.max(...result.history.map((op) => (op.return === null ? 0 : op.return - op.call)))
        expect(longest, `seed ${seed}: ${result.rerun}`).toBeLessThanOrEqual(600)
      }
    })
  }
})

/** View changes per virtual second and the latency of answered requests, over several runs. */
function measure() {
  let views = 0
  let virtualMs = 0
  let peak = 0
  const latencies: number[] = []
  return {
    add(result: { viewChanges: number; virtualTimeMs: number; history: readonly { call: number; return: number | null }[] }) {
      views += result.viewChanges
      virtualMs += result.virtualTimeMs
      peak = Math.max(peak, (result.viewChanges / result.virtualTimeMs) * 1000)
      for (const op of result.history) if (op.return !== null) latencies.push(op.return - op.call)
    },
    summary() {
      latencies.sort((a, b) => a - b)
      const at = (q: number) => Number(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1))
      return { viewsPerVirtualSecond: Number(((views / virtualMs) * 1000).toFixed(2)), p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1), peakViewsPerVirtualSecond: Number(peak.toFixed(2)) }
    },
  }
}
