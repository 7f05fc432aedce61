import { describe, expect, it } from 'vitest'
import { realtimeSimulation } from '@lockstep/order-realtime'
import { simulate, workloads, type FaultKind } from '@lockstep/testkit'

// Issue 12, part 3: each simulated replica reads its own clock, and the `skew` fault sets one clock beyond the
// real-time orderer's skew bound. Every replica whose order would depart stops before delivering out of order,
// the ones that keep serving never diverge, stopped ones rejoin with equal state, and no client receives a
// result from a diverged state: the simulator's safety checks (order, exactly-once, agreement, agreed time,
// state digests, diverged replies, linearizability) judge that.

const seeds = Number(process.env.LOCKSTEP_SEEDS ?? 8)
const faults: FaultKind[] = ['skew', 'crash', 'restart', 'partition']

const run = (seed: number, replicas: number, skewBeyondMs: number, overlap: boolean, clients = 1 + (seed % 4)) =>
  simulate({ seed, workload: workloads.kv!, orderer: realtimeSimulation, replicas, clients, ops: 40, faults, overlap, skewBeyondMs })


describe('realtime orderer under clock skew', () => {
  for (const replicas of [3, 5]) {
    for (const overlap of [true, false]) {
      it(`${replicas} replicas, ${overlap ? 'overlapping' : 'one-at-a-time'} skew beyond the bound (within Δ), crash, restart, partition: every check passes (liveness included), and the orderers detect the skew`, async () => {
        const skewed: number[] = []
        const detected: number[] = []
        for (let seed = 1; seed <= seeds; seed++) {
          // Skews of 500–1,500 ms: 100 times the drawn bound (at most 5 ms) and more, within Δ (at least 1,205 ms) for the most part.
          const result = await run(seed, replicas, 500, overlap)
          expect(result.violations, `seed ${seed}: ${result.rerun}`).toEqual([])
          if (!result.faults.some((fault) => fault.kind === 'skew')) continue
          skewed.push(seed)
          if (result.timing.skewViolations > 0 && result.timing.divergences > 0) detected.push(seed)
        }
        // The fault bites: far beyond the bound, the skewed replica finds itself off in most runs where it struck.
        expect(skewed.length, 'runs where a skew struck').toBeGreaterThanOrEqual(seeds / 3)
        expect(detected.length, `runs that detected it, of ${skewed.join(',')}`).toBeGreaterThanOrEqual(Math.ceil(skewed.length / 2))
      }, 300_000)
    }
  }

  // A clock that drifts (runs fast or slow) past the bound between two probes, the way a clock whose NTP broke
  // does, rather than one set off at once: the orderer's probes find the drifting replica off and it stops, before
  // a stamp of its reaches anyone late (across 600 runs of `--faults drift,crash,restart,delay,partition,client-
  // restart`, kv, register and mutex, 3 and 5 replicas, durable: 0 late requests). With the orderer's own clock check
  // taken out (a replica never blames itself), no run below detects a skew, and the last assertion fails.
  it('a clock drifting past the bound, with crashes, restarts, delay spikes and client restarts: every check passes, and the drifting replica finds itself off', async () => {
    const drifted: number[] = []
    const detected: number[] = []
    for (const replicas of [3, 5]) {
      for (let seed = 1; seed <= seeds; seed++) {
        const result = await simulate({ seed, workload: workloads[seed % 2 ? 'register' : 'mutex']!, orderer: realtimeSimulation, replicas, clients: 1 + (seed % 4), ops: 80, faults: ['drift', 'crash', 'restart', 'delay', 'client-restart'], durable: true, overlap: true })
        expect(result.violations, result.rerun).toEqual([])
        if (!result.faults.some((fault) => fault.kind === 'drift')) continue
        drifted.push(seed)
        if (result.timing.skewViolations > 0) detected.push(seed)
      }
    }
    expect(drifted.length, 'runs where a drift struck').toBeGreaterThanOrEqual(seeds)
    expect(detected.length, `runs where the drifting replica found itself off, of ${drifted.length}`).toBeGreaterThanOrEqual(Math.ceil(drifted.length / 2))
  }, 300_000)

  // A new machine brought in for a replacement, its clock set off (at once or drifting) while it runs in the view,
  // outside the configuration, before the operator's admission: outside the fault budget, since the configuration
  // does not count it. No other clock is off in these runs, so every skewed clock the orderers find is a spare's: it
  // finds itself off against the configured replicas and stops (skewViolations), takes the state again, and is
  // admitted once it serves. With the spare never blaming itself (its own clock check taken out for replicas outside
  // the configuration), no run here detects a skew and the last assertion fails; the others still pass: its peers see
  // its clock off and deliver by Test II only, and the view-end and order-digest checks hold (across 400 runs of
  // these faults, kv, register and mutex, both orderers, 3 and 5 replicas, half of them durable: 0 violations).
  it("a spare's clock off before its admission (spare-clock, with replace, crashes, restarts and delay spikes): every check passes, and the spare finds itself off", async () => {
    const struck: number[] = []
    const detected: number[] = []
    for (const replicas of [3, 5]) {
      for (let seed = 1; seed <= seeds * 2; seed++) {
        const result = await simulate({ seed, workload: workloads[seed % 2 ? 'register' : 'kv']!, orderer: realtimeSimulation, replicas, clients: 1 + (seed % 4), ops: 120, faults: ['replace', 'spare-clock', 'crash', 'restart', 'delay'], durable: seed % 2 === 0, overlap: true })
        expect(result.violations, result.rerun).toEqual([])
        if (!result.faults.some((fault) => fault.kind === 'spare-clock')) continue
        struck.push(seed)
        if (result.timing.divergencesOutsideConfiguration > 0) detected.push(seed)
      }
    }
    expect(struck.length, 'runs where a spare-clock fault struck').toBeGreaterThanOrEqual(seeds / 2)
    expect(detected.length, `runs where the spare found its clock off before its admission, of ${struck.length}`).toBeGreaterThanOrEqual(Math.ceil(struck.length / 2))
  }, 300_000)

  it("the spare-clock fault needs replace (the spares it strikes): simulate says so", async () => {
    await expect(simulate({ seed: 1, workload: workloads.kv!, orderer: realtimeSimulation, replicas: 3, clients: 1, ops: 10, faults: ['spare-clock'], overlap: true })).rejects.toThrow(/'spare-clock' fault .* needs the 'replace' fault/)
  })

  it('skews beyond Δ (1.5–4.5 s): every check passes on these seeds, 3 and 5 replicas, both fault models', async () => {
    for (const replicas of [3, 5]) {
      for (const overlap of [true, false]) {
        for (let seed = 1; seed <= seeds; seed++) {
          const result = await run(seed, replicas, 1500, overlap, 3)
          expect(result.violations, `seed ${seed}: ${result.rerun}`).toEqual([])
        }
      }
    }
  }, 300_000)

  // Found here: a clock that jumps ahead by more than Δ lets its replica deliver by Test I before a request
  // with a lower stamp arrives, before any probe shows the jump. It finds out when that request comes (a late
  // request), stops and rejoins, and the others never diverge; but without disks its reply went out on
  // delivery ("order: at position 14 r2 delivered c2#3 but r1 (restart 1) delivered c1#3"). Now a real-time
  // replica releases a reply only once a majority reports the same order digest at its position, so no client
  // takes a result from the departed order.
  it('a jump beyond Δ: the replica that departed never answers from it, and every check passes (5 replicas, overlapping, seed 23)', async () => {
    const result = await run(23, 5, 1500, true)
    expect(result.violations).toEqual([])
    expect(result.timing.divergences).toBeGreaterThan(0) // the jump was found
  })

  it('a replaced replica whose skewed clock made its orderer stop, and that dropped its state on finding out, binds nobody with what it never answered (3 replicas, durable, seed 397)', async () => {
    // r1's clock is set 125 ms ahead; r1 is paused (twice, asleep until 5.4 s) and replaced meanwhile (by r4, then
    // r4 by r5). Waking in its old view, it delivers positions 13-15 by its clock (c2#3 at 15, where the others have
    // c3#4), then finds its clock off by its probes, stops and drops its state to rejoin by transfer; replaced, it is
    // never let back in, so it never takes the state that would have rolled those deliveries back. No client got an
    // answer from them. Before, the order check took them as binding: `order: at position 15 r1 delivered c2#3 but
    // r2 delivered c3#4` (found by a sweep for simulator seeds with spares whose clocks are off). Two fixes guard it
    // since: the check takes what a replica dropped with its state and never answered as tentative
    // (`IncarnationRecord.droppedState`), and the orderer no longer delivers by Test I right after a stall, before it
    // read what waited for it (r1 woke from its pause into those three deliveries). Each alone passes this seed;
    // their own tests are testkit's agreement-order and order-realtime's timing-faults.
    // The view rules for cut links (a replica waits outside the view until every member hears it) moved seed 368's
    // schedule; seed 397 has the same outline (r1's clock off, its orderer finds it and stops it twice, r1 is
    // replaced and never let back, every check passes), without the out-of-order deliveries being pinned.
    const result = await simulate({ seed: 397, workload: workloads.kv!, orderer: realtimeSimulation, replicas: 3, clients: 3, ops: 100, faults: ['skew', 'drift', 'replace', 'delay', 'pause'], overlap: true, durable: true })
    expect(result.violations).toEqual([])
    expect(result.timing.divergedReplicas).toEqual(['r1'])
    expect(result.replacements!.done.map((d) => d.replaced)).toContain('r1')
  })

  it('the result counts the detections', async () => {
    const result = await run(4, 3, 1500, false)
    expect(result.faults.filter((fault) => fault.kind === 'skew').length).toBeGreaterThan(0)
    expect(result.timing.skewViolations).toBeGreaterThan(0)
    expect(result.timing.divergences).toBeGreaterThan(0)
    expect(result.timing.divergedReplicas.length).toBeGreaterThan(0)
    expect(result.rerun).toContain('--faults skew,crash,restart,partition --no-overlap --skew-beyond-ms 1500 --seed 4')
  })

  // Found here: the skew probe cannot tell whose clock is off, and every replica that found a peer's clock beyond
  // the bound stopped itself, so one skewed replica (one fault, within F) made the healthy ones stop too and the
  // cluster stalled for good ("liveness: request c2#3 got no reply for 10046ms … r1 joining …; r2 joining …;
  // r3 normal … (3 pending)"). Now a replica stops only when its clock is off from a majority of the view.
  it('with one skewed replica at a time the healthy majority keeps serving (every check passes, liveness included)', async () => {
    for (let seed = 1; seed <= seeds; seed++) {
      const result = await run(seed, 3, 500, true)
      expect(result.violations, `seed ${seed}: ${result.rerun}`).toEqual([])
    }
  })
})
