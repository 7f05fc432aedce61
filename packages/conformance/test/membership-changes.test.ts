import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { loadWorkload } from '@lockstep/cli'
import { simulate, workloads, type FaultKind } from '@lockstep/testkit'
import { describeFailures, runSeeds } from './failures'
import { orderers } from './orderers'

/**
 * An operator removes replicas (serving ones, and ones that are down: a dead machine given up) and admits them back
 * (`lockstep member remove|add`; the simulator's `membership` fault) while the other faults strike: a removed replica
 * counts as faulty until it serves again, so the configuration, one smaller while it is out, never has more than it
 * tolerates. Every check holds, and the simulator also checks that no removed replica comes back into a view or the
 * configuration before its admission, and none drops out of the configuration once its admission took effect. Before the fixes in core (a removal kept with the view that carried it out; no vote for a
 * removed replica's view change; operators' commands older than the last change of their replica dropped), such runs
 * changed views for ever, or removed a replica again after its admission. 20 seeds per setting in CI;
 * `LOCKSTEP_SEEDS=500` for a long run, `LOCKSTEP_SEED_FROM=5001` to start elsewhere.
 */
const seeds = Number(process.env.LOCKSTEP_SEEDS ?? 20)
const firstSeed = Number(process.env.LOCKSTEP_SEED_FROM ?? 1)

const faults: FaultKind[] = ['membership', 'crash', 'restart', 'amnesia', 'partition', 'pause', 'client-restart']

const settings: { name: string; replicas: number; durable: boolean; machine: string }[] = [
  { name: 'kv, 5 replicas, disks', replicas: 5, durable: true, machine: 'kv' },
  { name: 'mutex, 3 replicas, disks', replicas: 3, durable: true, machine: 'mutex' },
  { name: 'register, 5 replicas, memory', replicas: 5, durable: false, machine: 'register' },
]

/**
 * An operator replaces machines (the simulator's `replace` fault): it removes a member, serving or down, starts a
 * configured spare (r4…), which joins the view outside the configuration, and admits it with `member add`. The spare
 * then stands for the replaced replica; the replaced one must stay out for good, also when it restarts from a disk
 * older than its removal.
 */
const replaceFaults: FaultKind[] = ['replace', 'membership', 'crash', 'restart', 'amnesia', 'partition', 'pause', 'client-restart']

const replaceSettings: { name: string; replicas: number; durable: boolean; machine: string }[] = [
  { name: 'kv, 3 replicas, disks', replicas: 3, durable: true, machine: 'kv' },
  { name: 'mutex, 5 replicas, disks', replicas: 5, durable: true, machine: 'mutex' },
  { name: 'register, 3 replicas, memory', replicas: 3, durable: false, machine: 'register' },
]

/** The CI seeds of one setting under `faults` (and blackouts, with disks). */
function runSetting(orderer: (typeof orderers)[number], { replicas, durable, machine }: { replicas: number; durable: boolean; machine: string }, faults: FaultKind[]) {
  return runSeeds(firstSeed, seeds, (seed) =>
    simulate({
      seed,
      workload: workloads[machine]!,
      orderer: orderer.simulation,
      replicas,
      clients: 1 + (seed % 4),
      ops: 100,
      faults: durable ? [...faults, 'blackout'] : faults,
      durable,
      overlap: true,
    }),
  )
}

describe('membership changes under faults', () => {
  it('a removed replica restarted from a disk older than its removal starts view changes, and the members refuse to vote in them (kv, 3 replicas, seed 88)', async () => {
    // r3 is removed while it serves, paused, and restarted from its disk, which predates the removal (a removed
    // replica never installs the view that removes it), so it counts itself in and coordinates view changes. With
    // the members voting in them (core's `refusesCoordinator` turned off on purpose), this run ends in view 1001 with
    // r3 recovering in view 1: the members changed views for ever. The runs above never caught that (only the core
    // scenario removed-replica-restarts-from-an-old-disk did); this setting, with pauses, does.
    const result = await simulate({
      seed: 88,
      workload: workloads.kv!,
      orderer: orderers[0].simulation,
      replicas: 3,
      clients: 3,
      ops: 100,
      faults: ['membership', 'partition', 'crash', 'restart', 'pause'],
      durable: true,
      overlap: true,
    })
    expect(result.violations).toEqual([])
    const removal = result.faults.find((fault) => fault.kind === 'membership')!
    expect(result.faults.some((fault) => fault.kind === 'restart' && fault.atMs > removal.atMs && fault.replicas.includes(removal.replicas[0]!))).toBe(true)
  })

  it("what each replica reports as its view's configuration (lockstep status) is that view's configuration, also while it joins a newer view or was left out of one (kv, 3 replicas, seed 1)", async () => {
    // The simulator reads every replica's report every millisecond and checks it against what the serving members
    // of the view it names report. With the report of a replica told of a newer view pairing that view with the
    // configuration it had before (the fault chaos seed 46003 found), every run with membership changes fails.
    const result = await simulate({ seed: 1, workload: workloads.kv!, orderer: orderers[0].simulation, replicas: 3, clients: 3, ops: 100, faults: ['membership'], durable: false, overlap: true })
    expect(result.violations).toEqual([])
    expect(result.faults.filter((fault) => fault.kind === 'membership').length).toBeGreaterThan(0)
    expect(result.configurationReports.reportsChecked).toBeGreaterThan(0)
    expect(result.configurationReports.views).toBeGreaterThan(1)
  })

  describe.each(orderers)('$name', (orderer) => {
    it.each(settings)(`every check passes on ${seeds} seeds: $name`, async ({ replicas, durable, machine }) => {
      const { results, failures } = await runSetting(orderer, { replicas, durable, machine }, faults)
      const removals = results.flatMap((result) => result.faults.filter((fault) => fault.kind === 'membership'))
      expect(failures, describeFailures(failures)).toEqual([])
      expect(removals.length).toBeGreaterThan(seeds / 2)
      // Both stories: a serving replica taken out and admitted back, and a dead machine given up while it was down.
      expect(removals.filter((removal) => removal.down).length).toBeGreaterThan(0)
      expect(removals.filter((removal) => !removal.down).length).toBeGreaterThan(0)
    })
  })

  describe.each(orderers)('replacing machines: $name', (orderer) => {
    it.each(replaceSettings)(`every check passes on ${seeds} seeds, and the spares take the replaced replicas' places: $name`, async ({ replicas, durable, machine }) => {
      const { results, failures } = await runSetting(orderer, { replicas, durable, machine }, replaceFaults)
      expect(failures, describeFailures(failures)).toEqual([])
      const drawn = results.flatMap((result) => result.faults.filter((fault) => fault.kind === 'replace'))
      const done = results.flatMap((result) => result.replacements!.done)
      expect(done.length).toBeGreaterThan(seeds / 2)
      // Both stories: a serving replica replaced, and a dead machine given up while it was down.
      expect(drawn.filter((fault) => fault.down && done.some((d) => d.replaced === fault.replicas[0] && d.by === fault.spare)).length).toBeGreaterThan(0)
      expect(drawn.filter((fault) => !fault.down && done.some((d) => d.replaced === fault.replicas[0] && d.by === fault.spare)).length).toBeGreaterThan(0)
      // A replaced machine came back in some run: down when it was replaced, it restarted afterwards (from its old
      // disk, or wiped), and the check that it stays out watched it.
      const cameBack = results.some((result) =>
        result.replacements!.done.some((d) => result.faults.some((f) => ['crash', 'restart', 'amnesia', 'blackout'].includes(f.kind) && f.replicas.includes(d.replaced) && f.atMs < d.atMs && f.atMs + f.durationMs > d.atMs)),
      )
      expect(cameBack).toBe(true)
      // A spare that took a place was replaced in turn in some run (r4 standing for r1, then replaced by r5): on the
      // 3-replica settings, where a spare is one member of three (on 5 replicas, 20 seeds draw it in no run or one).
      if (replicas === 3) expect(results.some((result) => result.replacements!.done.some((d) => d.replaced.localeCompare(`r${replicas}`, undefined, { numeric: true }) > 0))).toBe(true)
      for (const result of results) {
        for (const { replaced, by } of result.replacements!.done) {
          expect(result.replacements!.membersAtEnd.includes(replaced), result.rerun).toBe(false)
          expect(result.replacements!.membersAtEnd.includes(by) || result.replacements!.done.some((d) => d.replaced === by), result.rerun).toBe(true)
        }
      }
    })
  })

  it("a reply waits for a majority of the configuration, a spare's report not counted (named-mutex spec, 5 replicas, real time, seed 53000010)", async () => {
    // Found by `npm run sweep -- --grid replace` (seed 24000306, with disks): r6, a spare started for r5 and not
    // admitted yet, was a member of view 24 outside the configuration (r1…r4). Position 52 reached the disks of r3, r4
    // and r6 only, and r6 answered the client: its own disk counted toward "three of four". r1 and r2, a majority of
    // the configuration once r4 was removed, then resumed the cluster at position 51 and put another request at 52: an
    // order violation on an acknowledged request. That seed's run moved when replies began to carry the configuration
    // (no replacement happens in it any more); seed 24002012 was found the same
    // way with core counting a spare again (`counted` = the view's members): `order: at position 44 r1 delivered c2#7
    // but r5 delivered c3#10`, spares r7…r9 in the views around it; it passes with the fix. The scenario
    // spare-disk-counts-for-nothing.txt shows the rule alone. Since session 53's view rules for cut links 24002012
    // passed with the fix out too (its schedule moved); 53000010 was found the same way (one seed in 45 of
    // 53000000…53001135 fails without the fix: `order: at position 63 r1 delivered c4#14 but r4 delivered c5#11`).
    // lockstep sim --machine apps/lock-service/specs/named-mutex.sm --replicas 5 --order realtime --clients 5 --ops 150 --faults crash,amnesia,partition,delay,membership,replace --overlap --delay-spike-ms 20 --link-capacity 8 --seed 53000010
    const workload = await loadWorkload(fileURLToPath(new URL('../../../apps/lock-service/specs/named-mutex.sm', import.meta.url)))
    const result = await simulate({
      seed: 53000010,
      workload,
      orderer: orderers[1].simulation,
      replicas: 5,
      clients: 5,
      ops: 150,
      faults: ['crash', 'amnesia', 'partition', 'delay', 'membership', 'replace'],
      overlap: true,
      delaySpikeMaxMs: 20,
      linkCapacity: 8,
    })
    expect(result.violations, result.rerun).toEqual([])
    expect(result.replacements!.done.length).toBeGreaterThan(0)
  })

  // Found by `npm run sweep -- --grid replace` (about one run in 800): with crashes that never restart, dead replicas
  // piled up in the clients' lists (10 of 14 in seed 24200669), and a mutex client waiting for its grant asked the
  // next replica of its list for missed outputs every retry interval, dead or not; its requests went where the asks
  // had moved, each trying one dead replica after another. The cluster served, but the clients made no progress for
  // 30 s (`liveness: 7 of 7 clients did not finish …`). With the client rotating through its list as it did (silent
  // replicas not passed over, and a replica that answers not kept either), these runs fail so; either half of the fix
  // alone passes them (the client's unit tests catch each half taken out). Since replies carry the configuration
  // (below), they fail only with that taken out too: checked with both halves and the configured replicas' preference
  // out (all four fail) and with the halves out alone (all four pass). Since 2026-12-07 (the view rules for cut links)
  // 24200012 passes with the whole fix out; the other three still fail.
  const deadReplicaRuns: { seed: number; replicas: number; order: 0 | 1; clients: number; faults: FaultKind[]; durable: boolean; more: object }[] = [
    { seed: 24000131, replicas: 5, order: 1, clients: 3, faults: ['crash', 'slow', 'delay', 'client-restart', 'membership', 'replace'], durable: true, more: { clocks: { maxOffsetMs: 5, maxDriftPpm: 50 } } },
    { seed: 24200012, replicas: 3, order: 0, clients: 6, faults: ['crash', 'partition', 'slow', 'delay', 'client-restart', 'membership', 'replace'], durable: true, more: {} },
    { seed: 24200669, replicas: 7, order: 1, clients: 7, faults: ['crash', 'slow', 'client-restart', 'pause', 'membership', 'replace'], durable: false, more: { linkCapacity: 8 } },
    {
      seed: 24200698,
      replicas: 7,
      order: 1,
      clients: 4,
      faults: ['crash', 'amnesia', 'slow', 'delay', 'blackout', 'client-restart', 'pause', 'membership', 'replace'],
      durable: true,
      more: { heldForRestart: true },
    },
  ]
  it.each(deadReplicaRuns)('clients waiting for a lock pass over the dead replicas of their lists (mutex, seed $seed)', async ({ seed, replicas, order, clients, faults, durable, more }) => {
    const result = await simulate({ seed, workload: workloads.mutex!, orderer: orderers[order].simulation, replicas, clients, ops: 150, faults, durable, overlap: true, ...more })
    expect(result.violations, result.rerun).toEqual([])
    expect(result.replacements!.done.length).toBeGreaterThan(0)
  })

  // Found by `npm run sweep -- --grid replace` (seed 25800257 of 400), after the fix above: a client marked a replica
  // silent only when it left an ask for missed outputs unanswered, so with 10 of c1's 14 replicas gone for good (most of
  // them replaced by spares, out of the configuration) each of its requests still went round the dead ones, a retry
  // interval each (`liveness: request c1#20 got no reply for 10090ms … (bound 10000ms)`). Replies now carry the
  // cluster's configuration, and a client sends to the configured replicas first: at most F of those are down.
  // Since 2026-12-07 (the view rules for cut links) this seed no longer fails without the fix; the fix stays caught
  // by core's reply-configuration.test.ts (tooling/mutants.json). Session 53 found 53000196 the same way (3 of
  // 53000000-53000474 fail with replies carrying no configuration, or with clients not preferring it: `liveness:
  // request c4#22 got no reply for 10078ms`, r11…r14 serving, most of the first ten replicas down or replaced).
  for (const seed of [25800257, 53000196]) {
    it(`clients send to the replicas of the configuration replies carry, passing over machines replaced since (mutex, real time, seed ${seed})`, async () => {
      // lockstep sim --machine mutex --replicas 7 --order realtime --clients 6 --ops 150 --faults crash,membership,replace --overlap --clock-offset-ms 5 --link-capacity 32 --connect-delay-ms 1500 --seed S
      const result = await simulate({ seed, workload: workloads.mutex!, orderer: orderers[1].simulation, replicas: 7, clients: 6, ops: 150, faults: ['crash', 'membership', 'replace'], overlap: true, clocks: { maxOffsetMs: 5, maxDriftPpm: 0 }, linkCapacity: 32, connectDelayMaxMs: 1500 })
      expect(result.violations, result.rerun).toEqual([])
      expect(result.replacements!.done.length).toBeGreaterThan(0)
    })
  }

  // Found by `npm run sweep -- --grid replace` (seed 24002999 of 3,000; two more near-misses of the same kind before
  // this fix, 24000468 and 24000560): c6 waited for its lock's grant through a blackout, and its asks for missed
  // outputs went unanswered and marked every replica of its list but r2 silent. A mark lasted until its replica spoke,
  // and nothing was sent to a marked replica while r2 was not: r2, stuck joining, took every retry of c6's #10, 60 of
  // them, while r3, r4 and r5 served (`liveness: request c6#10 got no reply for 10007ms`). A retry that comes back to
  // the replica it left now forgets the marks. (Seed 24002999 until the view rules for cut links moved its schedule:
  // a replica waits outside the view until every member hears it, so clients meet replicas that do not serve more
  // often. Of seeds 24000000-24000090, ten fail with the fix taken out; 24000008 is the first: c2's request got no
  // reply for 10 s while r1 and r6 served.)
  it('a retry that finds every other replica marked silent forgets the marks (mutex, Lamport, seed 24000008)', async () => {
    // lockstep sim --machine mutex --replicas 3 --order lamport --clients 6 --ops 150 --faults crash,restart,amnesia,partition,slow,delay,blackout,pause,membership,replace --overlap --durable --link-capacity 16 --connect-delay-ms 1500 --seed 24000008
    const faults: FaultKind[] = ['crash', 'restart', 'amnesia', 'partition', 'slow', 'delay', 'blackout', 'pause', 'membership', 'replace']
    const result = await simulate({ seed: 24000008, workload: workloads.mutex!, orderer: orderers[0].simulation, replicas: 3, clients: 6, ops: 150, faults, overlap: true, durable: true, linkCapacity: 16, connectDelayMaxMs: 1500 })
    expect(result.violations, result.rerun).toEqual([])
    expect(result.replacements!.done.length).toBeGreaterThan(0)
  })
})
