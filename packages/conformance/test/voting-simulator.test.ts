import { describe, expect, it } from 'vitest'
import { noLivenessOwed, simulate, workloads, type FaultKind, type SimulationResult } from '@lockstep/testkit'
import { orderers } from './orderers'

// Output voting in the simulator: replicas that lie to clients (`lie`: corrupted replies and outputs, or a machine
// that computes a wrong state now and then), crash faults where the budget allows (the liars are faulty from the
// start, so crashes, restarts and partitions strike only within what is left of F), every client voting.
// `LOCKSTEP_SEEDS=N` runs N seeds per combination (CI: the default below).
const seeds = Number(process.env.LOCKSTEP_SEEDS ?? 0)
const faults: FaultKind[] = ['lie', 'crash', 'restart', 'amnesia', 'partition', 'slow', 'client-restart']

const run = (orderer: (typeof orderers)[number], seed: number, machine: string, replicas: number, liars: number, voter: 'byzantine' | 'majority' | 'first') =>
  simulate({
    seed,
    workload: workloads[machine]!,
    orderer: orderer.simulation,
    replicas,
    clients: 1 + (seed % 4),
    ops: 80,
    faults,
    overlap: true,
    voter,
    liars,
    lieMode: seed % 2 === 0 ? 'outputs' : 'state',
  })

/** A run fails if a check failed, or if it ended owing no liveness (its unfinished requests unchecked; see `noLivenessOwed`). */
const failed = (r: SimulationResult) => !r.ok || noLivenessOwed(r) !== undefined

function summary(results: readonly SimulationResult[]): string {
  const failing = results.filter(failed)
  return failing
    .slice(0, 3)
    .map((r) => `seed ${r.seed}: ${r.ok ? `no liveness owed at the end: ${noLivenessOwed(r)}` : r.violations.slice(0, 2).join('; ')}\n  rerun: ${r.rerun}`)
    .join('\n')
}

describe.each(orderers)('voting against lying replicas in the simulator ($name)', (orderer) => {
  for (const [replicas, liars, perMachine] of [[3, 1, seeds || 75], [5, 2, seeds || 30]] as const) {
    it(`${replicas} replicas, ${liars} lying, byzantine(${liars}): every result and output a client takes is correct, and only liars are reported (${perMachine * 3} seeds)`, async () => {
      const results: SimulationResult[] = []
      // Every run has a seed of its own: 3 machines × perMachine distinct seeds (in CI 225 for 3 replicas, 90 for 5).
      for (const [index, machine] of ['mutex', 'register', 'kv'].entries()) {
        for (let seed = index * perMachine + 1; seed <= (index + 1) * perMachine; seed++) results.push(await run(orderer, seed, machine, replicas, liars, 'byzantine'))
      }
      expect(results.filter(failed), summary(results)).toEqual([])
      for (const r of results) {
        expect(r.voting!.liars).toHaveLength(liars)
        expect(r.voting!.wrongAnswers).toBe(0)
        // Nobody but a liar is ever outvoted.
        for (const replica of Object.keys(r.voting!.dissent)) expect(r.voting!.liars, `seed ${r.seed}`).toContain(replica)
      }
      // The liars are caught: in most runs a client outvoted and reported one (a liar that was down, or that no client
      // heard from, while it lied has nothing to report).
      const reported = results.filter((r) => Object.keys(r.voting!.dissent).length > 0).length
      console.log(`voting (${orderer.name}, ${replicas} replicas, ${liars} lying): ${results.length} runs, ${results.reduce((n, r) => n + r.operations, 0)} operations, liars reported in ${reported}`)
      expect(reported).toBeGreaterThan(results.length / 2)
    }, 600_000)
  }

  it('with first(), wrong results reach the clients (why voting exists)', async () => {
    const wrong: SimulationResult[] = []
    for (let seed = 1; seed <= 20 && wrong.length < 3; seed++) {
      const result = await run(orderer, seed, 'register', 3, 1, 'first')
      if (result.voting!.wrongAnswers > 0) wrong.push(result)
    }
    expect(wrong.length).toBe(3)
    for (const result of wrong) expect(result.violations.some((v) => v.startsWith('voting: a client took'))).toBe(true)
  })
})

// Found by a sweep beyond CI's seeds (real time, kv, 5 replicas, 1 liar lying on its state, byzantine voter, faults
// lie, crash, partition, slow): r5 took the order's last 88 requests by transfer while r2's report of its deliveries
// (position 97) was already in; taking the state dropped every peer report it held, r2's position never moved again
// (the clients were all waiting for a third identical answer), and r5 held every reply for ever: 61 of 150 requests
// done. Rerun: npx lockstep sim --machine kv --replicas 5 --order realtime --clients 4 --ops 150 --faults
// lie,crash,partition,slow --overlap --voter byzantine --liars 1 --lie-mode state --seed 68
describe('a replica that took a state counts the reports its peers sent before it (real time)', () => {
  it('answers after taking the order by transfer when the peers report nothing new (kv, 5 replicas, 1 liar on its state, byzantine voter, seed 68; before the fix: liveness: request c3#15 got no reply for 10100ms)', async () => {
    const realtime = orderers.find((o) => o.name === 'realtime')!
    const result = await simulate({ seed: 68, workload: workloads.kv!, orderer: realtime.simulation, replicas: 5, clients: 4, ops: 150, faults: ['lie', 'crash', 'partition', 'slow'], overlap: true, voter: 'byzantine', liars: 1, lieMode: 'state' })
    expect(result.violations, result.rerun).toEqual([])
    expect(noLivenessOwed(result)).toBeUndefined()
    expect(result.operations).toBe(150)
    expect(result.voting!.wrongAnswers).toBe(0)
  })
})

// Found by the same sweep (real time, mutex, 5 replicas, 2 liars on their state, majority voter, faults lie, crash,
// partition, delay; links of 16 messages drawn from the seed): r1's report of position 57 to r2 was refused (the
// link was full under delay spikes), views then changed again and again at 57 with nothing new to deliver, so no
// report was sent again, and r2 held every reply: the clients needed its answer. Now each replica repeats its
// latest report on installing a view. Rerun: npx lockstep sim --machine mutex --replicas 5 --order realtime
// --clients 4 --ops 150 --faults lie,crash,partition,delay --overlap --voter majority --liars 2 --lie-mode state
// --seed 40 (also seeds 3, 166, 177)
describe('a report a full link refused is sent again with the next view (real time)', () => {
  for (const seed of [40, 177]) {
    it(`answers although a peer's report was lost (mutex, 5 replicas, 2 liars on their state, majority voter, seed ${seed}; before the fix: liveness: a request got no reply for over 10 s)`, async () => {
      const realtime = orderers.find((o) => o.name === 'realtime')!
      const result = await simulate({ seed, workload: workloads.mutex!, orderer: realtime.simulation, replicas: 5, clients: 4, ops: 150, faults: ['lie', 'crash', 'partition', 'delay'], overlap: true, voter: 'majority', liars: 2, lieMode: 'state' })
      expect(result.violations, result.rerun).toEqual([])
      expect(noLivenessOwed(result)).toBeUndefined()
      expect(result.operations).toBeGreaterThan(140)
      expect(result.voting!.wrongAnswers).toBe(0)
    })
  }
})

// Found by the same sweep (real time, mutex, 3 replicas, 1 liar on its state, majority voter, faults lie, crash,
// restart, partition, delay, durable): r3 had to take the whole state of view 15 (its own order had gone past the
// view's start) and took it from the liar r1, its first source. From then on r1 and r3 answered alike from the
// wrong state: a voting client took their answer over r2's, the one correct replica (the run counted r3's
// answers as correct, so it showed only as a stall, 92 of 148 requests done). Now a whole state is taken only
// once the other sources say the same digest; r2 disputed r1's, neither is a majority's, so r3 took none in
// view 15 (and said so at error level) and took r2's in the next view. Rerun: npx lockstep sim --machine mutex
// --replicas 3 --order realtime --clients 4 --ops 150 --faults lie,crash,restart,partition,delay --overlap
// --durable --voter majority --liars 1 --lie-mode state --seed 11
// (Checked on 2026-12-05: since the engine's and the client's changes of 2026-12 this seed no longer fails with the
// dispute check taken out, `confirm` taking any whole image at once; the unit tests of core's state-transfer.test.ts,
// "takes no state when two sources disagree …" and "takes the majority's state …", do.)
describe("a replica takes no whole state its other sources dispute (real time)", () => {
  it("takes no liar's state, and voting clients take no wrong answer (mutex, 3 replicas, 1 liar on its state, majority voter, seed 11; before the fix: a client took 2 wrong answers)", async () => {
    const realtime = orderers.find((o) => o.name === 'realtime')!
    const result = await simulate({ seed: 11, workload: workloads.mutex!, orderer: realtime.simulation, replicas: 3, clients: 4, ops: 150, faults: ['lie', 'crash', 'restart', 'partition', 'delay'], overlap: true, durable: true, voter: 'majority', liars: 1, lieMode: 'state' })
    expect(result.violations, result.rerun).toEqual([])
    expect(noLivenessOwed(result)).toBeUndefined()
    expect(result.voting!.stateFromLiars).toEqual([])
    expect(result.voting!.wrongAnswers).toBe(0)
    expect(result.operations).toBe(148)
  })
})

// Found by the sweep (`npm run sweep -- --grid voting`, about one run in a hundred of this setting): r1 lies (its
// machine loses effects) and caught up by the order after its state to position 134, which wrote a snapshot; it
// restarted from it. A delay spike got r2 removed from view 34 on r1's suspicion alone (the one live promiser), and
// r3, a joiner one request behind at 133, had r1 for its only source. r1 kept no request of the order after its
// restart, so it could not serve r3 the one request r3 lacked, and r3 took r1's whole (wrong) state; then r2 took
// the state r1 and r3 agreed on, and the voting clients took 6 wrong answers from the two correct replicas. Now a
// snapshot keeps the last requests of the order before its state (`EngineResume.recent`), a replica restarted from
// it serves them, and r3 executes the request itself on its own (right) state. Rerun: npx lockstep sim --machine
// mutex --replicas 3 --order realtime --clients 4 --ops 150 --faults lie,crash,restart,partition,delay --overlap
// --durable --voter majority --liars 1 --lie-mode state --seed 3000018
// (Checked on 2026-12-05: this seed no longer fails with the fix taken out, on the write side or the restore side.
// Each side is caught by core's state-transfer.test.ts since 2026-12-06: "the engine's snapshot keeps the requests
// kept for catching up", registered with `npm run mutants`.)
describe('a replica restarted from a snapshot still serves the order after a joiner’s state (real time)', () => {
  it('a joiner whose only source is the liar keeps its own state (mutex, 3 replicas, 1 liar on its state, majority voter, seed 3000018; before the fix: clients took 6 wrong answers)', async () => {
    const realtime = orderers.find((o) => o.name === 'realtime')!
    const result = await simulate({ seed: 3_000_018, workload: workloads.mutex!, orderer: realtime.simulation, replicas: 3, clients: 4, ops: 150, faults: ['lie', 'crash', 'restart', 'partition', 'delay'], overlap: true, durable: true, voter: 'majority', liars: 1, lieMode: 'state' })
    expect(result.violations, result.rerun).toEqual([])
    expect(noLivenessOwed(result)).toBeUndefined()
    expect(result.voting!.stateFromLiars).toEqual([])
    expect(result.voting!.wrongAnswers).toBe(0)
  })
})
