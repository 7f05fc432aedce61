import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { builtInMachineNames } from '@lockstep/machines'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../src/main'
import { memoryIo } from './io'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lockstep-cli-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Runs `lockstep sim … --ops 150 --overlap --json` with each set of flags, and expects every run to pass. */
async function expectEveryRunPasses(runs: readonly string[][]): Promise<void> {
  for (const flags of runs) {
    const { io, stdout } = memoryIo()
    const code = await main(['sim', ...flags, '--ops', '150', '--overlap', '--json'], io)
    const result = JSON.parse(stdout())
    expect(result.failures, `${flags.join(' ')}: ${result.failures[0]?.violation}`).toEqual([])
    expect(code).toBe(0)
  }
}

describe('lockstep sim', () => {
  it('runs S seeds and prints the JSON summary, under either orderer; exit 0 when every seed passes', async () => {
    for (const order of ['lamport', 'realtime']) {
      const { io, stdout } = memoryIo()
      const code = await main(['sim', '--machine', 'kv', '--replicas', '3', '--order', order, '--clients', '4', '--ops', '30', '--seeds', '5', '--json'], io)
      expect(code).toBe(0)
      const result = JSON.parse(stdout())
      expect(result).toMatchObject({ ok: true, order, seeds: 5, operations: 150, failures: [] })
    }
  })

  it('runs the one seed given by --seed, for each built-in machine, with a readable summary', async () => {
    for (const machine of builtInMachineNames) {
      const { io, stdout } = memoryIo()
      expect(await main(['sim', '--machine', machine, '--replicas', '5', '--clients', '3', '--ops', '20', '--seed', '99'], io)).toBe(0)
      expect(stdout()).toMatch(/^ok: 1\/1 seeds passed/)
    }
  })

  it('--faults lie --voter byzantine --liars 1: every answer the clients take is correct and only the liar is outvoted', async () => {
    for (const [replicas, liars] of [['3', '1'], ['5', '2']] as const) {
      const { io, stdout } = memoryIo()
      const code = await main(['sim', '--machine', 'mutex', '--replicas', replicas, '--ops', '40', '--seeds', '4', '--faults', 'lie,crash', '--voter', 'byzantine', '--liars', liars, '--json'], io)
      const result = JSON.parse(stdout())
      expect(code, JSON.stringify(result.failures)).toBe(0)
      expect(result.voting).toMatchObject({ voter: 'byzantine', liars: Number(liars), lieMode: 'outputs', outvoted: { correct: 0 }, wrongAnswers: 0 })
      expect(result.voting.outvoted.liars).toBeGreaterThan(0)
    }
  })

  it('--voter first against a liar: wrong answers reach the clients, the run fails and names them (exit 1)', async () => {
    const { io, stdout, stderr } = memoryIo()
    expect(await main(['sim', '--machine', 'register', '--ops', '40', '--seeds', '3', '--faults', 'lie', '--lie-mode', 'outputs'], io)).toBe(1)
    expect(stderr()).toMatch(/voting: a client took the reply to c\d#\d+ that no correct replica sent/)
    expect(stdout()).toMatch(/voter first against 1 lying \(outputs, drawn per seed\): clients outvoted a liar 0×, a correct replica 0×, and took [1-9]\d* wrong answers/)
  })

  it('exits 2 with a message for bad usage', async () => {
    const cases = [
      [['sim', '--voter', 'plurality'], /--voter 'plurality' is not a voter; choose from first, majority, byzantine/],
      [['sim', '--liars', '1'], /--liars and --lie-mode need --faults lie/],
      [['sim', '--faults', 'lie', '--liars', '2'], /--liars must be a whole number from 1 to 1/],
      [['sim', '--faults', 'lie', '--lie-mode', 'sometimes'], /--lie-mode 'sometimes' is not a mode; choose from outputs, state/],
      [['sim', '--faults', 'lie', '--no-overlap'], /--faults lie needs overlapping faults/],
      [['sim', '--machine', 'kv', '--replicas', 'three'], /--replicas must be a whole number/],
      [['sim', '--machine', 'kv', '--order', 'paxos'], /--order 'paxos' is not available/],
      [['sim', '--machine', 'kv', '--bogus'], /Unknown option '--bogus'/],
      [['sim', '--machine', join('nowhere', 'machine.mjs')], /not a built-in machine/],
      [['frobnicate'], /unknown command 'frobnicate'/],
    ] as const
    for (const [args, message] of cases) {
      const { io, stderr } = memoryIo()
      expect(await main([...args], io), args.join(' ')).toBe(2)
      expect(stderr()).toMatch(message)
    }
  })

  it('simulates a machine from a JavaScript module', async () => {
    const path = join(dir, 'counter.mjs')
    await writeFile(path, `
const enc = new TextEncoder(), dec = new TextDecoder()
export const machine = {
  name: 'counter',
  init: () => ({ n: 0 }),
  apply(state, command, ctx) { state.n += command.by; return [{ to: ctx.client, value: state.n }] },
  snapshot: (s) => enc.encode(JSON.stringify(s)),
  restore: (b) => JSON.parse(dec.decode(b)),
}
export function randomCommand(random) { return { by: 1 + Math.floor(random.next() * 3) } }
`)
    const { io, stdout } = memoryIo()
    expect(await main(['sim', '--machine', path, '--seeds', '3', '--ops', '20', '--json'], io)).toBe(0)
    expect(JSON.parse(stdout())).toMatchObject({ ok: true, seeds: 3, operations: 60 })
  })

  it('exits 1 and names the seed, the violation and the rerun command when a run fails', async () => {
    // Nondeterministic on purpose: all replicas in this process share `calls`, so their states differ.
    const path = join(dir, 'nondeterministic.mjs')
    await writeFile(path, `
let calls = 0
const enc = new TextEncoder(), dec = new TextDecoder()
export const machine = {
  name: 'bad',
  init: () => ({ last: 0 }),
  apply(state) { state.last = ++calls; return [] },
  snapshot: (s) => enc.encode(JSON.stringify(s)),
  restore: (b) => JSON.parse(dec.decode(b)),
}
export const randomCommand = () => ({})
`)
    const { io, stdout } = memoryIo()
    expect(await main(['sim', '--machine', path, '--seeds', '2', '--ops', '10', '--json'], io)).toBe(1)
    const result = JSON.parse(stdout())
    expect(result.ok).toBe(false)
    expect(result.failures[0]).toMatchObject({ seed: 1, violation: expect.stringMatching(/state digests differ/) })
    expect(result.failures[0].rerun).toBe(`npx lockstep sim --machine ${path} --replicas 3 --order lamport --clients 3 --ops 10 --seed 1`)
  })

  it('injects faults drawn from each seed, one at a time with --no-overlap, and still passes every check', async () => {
    const { io, stdout } = memoryIo()
    const code = await main(['sim', '--machine', 'kv', '--replicas', '5', '--clients', '4', '--ops', '60', '--faults', 'crash,restart,partition,slow,delay', '--no-overlap', '--seeds', '10', '--json'], io)
    expect(code).toBe(0)
    expect(JSON.parse(stdout())).toMatchObject({ ok: true, seeds: 10, operations: 600, faults: ['crash', 'restart', 'partition', 'slow', 'delay'], overlap: false })
  })

  it('runs durable replicas through blackouts of the whole cluster', async () => {
    const { io, stdout } = memoryIo()
    const code = await main(['sim', '--machine', 'register', '--replicas', '3', '--clients', '3', '--ops', '45', '--faults', 'crash,restart,blackout', '--no-overlap', '--durable', '--seeds', '8', '--json'], io)
    expect(code).toBe(0)
    expect(JSON.parse(stdout())).toMatchObject({ ok: true, seeds: 8, operations: 360, durable: true })
  })

  it('overlaps every kind of fault by default, amnesia and client restarts included, under the budget', async () => {
    const faults = 'crash,restart,amnesia,partition,slow,delay,blackout,client-restart'
    const { io, stdout } = memoryIo()
    const code = await main(['sim', '--machine', 'register', '--replicas', '5', '--clients', '3', '--ops', '150', '--faults', faults, '--durable', '--seed', '4', '--json'], io)
    expect(JSON.parse(stdout())).toMatchObject({ ok: true, seeds: 1, faults: faults.split(','), overlap: true, durable: true })
    expect(code).toBe(0)
  })

  it('prints a rerun command that reproduces an overlapping run, with --overlap and --durable', async () => {
    // A stall bound no cluster meets would be needed to fail on purpose; instead, the nondeterministic machine
    // fails every run, and its rerun must name the world flags.
    const path = join(dir, 'nondeterministic-world.mjs')
    await writeFile(path, `
let calls = 0
const enc = new TextEncoder(), dec = new TextDecoder()
export const machine = {
  name: 'bad',
  init: () => ({ last: 0 }),
  apply(state) { state.last = ++calls; return [] },
  snapshot: (s) => enc.encode(JSON.stringify(s)),
  restore: (b) => JSON.parse(dec.decode(b)),
}
export const randomCommand = () => ({})
`)
    const { io, stdout } = memoryIo()
    expect(await main(['sim', '--machine', path, '--ops', '20', '--faults', 'delay,client-restart', '--seed', '2', '--json'], io)).toBe(1)
    expect(JSON.parse(stdout()).failures[0].rerun).toBe(`npx lockstep sim --machine ${path} --replicas 3 --order lamport --clients 3 --ops 20 --faults delay,client-restart --overlap --seed 2`)
  })

  it('--trace prints every replica\'s log and every fault of one seed on virtual time', async () => {
    const { io, stdout } = memoryIo()
    expect(await main(['sim', '--machine', 'kv', '--ops', '30', '--faults', 'crash,restart', '--seed', '3', '--trace'], io)).toBe(0)
    expect(stdout()).toMatch(/^ +\d+\.\d r\d info replica 'r\d' /m)
    expect(stdout()).toMatch(/^ +\d+\.\d FAULT (crash|restart) r\d/m)
  })

  it('refuses amnesia and client restarts one fault at a time, and --overlap with --no-overlap', async () => {
    for (const [args, message] of [
      [['--trace'], /--trace needs --seed/],
      [['--faults', 'amnesia', '--no-overlap'], /--faults amnesia needs overlapping faults/],
      [['--faults', 'crash,client-restart', '--no-overlap'], /--faults client-restart needs overlapping faults/],
      [['--faults', 'crash', '--overlap', '--no-overlap'], /exclude each other/],
    ] as const) {
      const { io, stderr } = memoryIo()
      expect(await main(['sim', '--machine', 'kv', ...args], io)).toBe(2)
      expect(stderr()).toMatch(message)
    }
  })

  it('runs disks that lose what they synced (lost-tail), counting the losses and what the replicas said of them', async () => {
    const { io, stdout } = memoryIo()
    const code = await main(['sim', '--machine', 'kv', '--replicas', '3', '--clients', '3', '--ops', '150', '--faults', 'crash,restart,partition,lost-tail', '--durable', '--seeds', '6', '--json'], io)
    const summary = JSON.parse(stdout())
    expect(summary).toMatchObject({ ok: true, seeds: 6, overlap: true, durable: true })
    expect(code).toBe(0)
    expect(summary.lostTail.struck).toBeGreaterThan(0)
    expect(summary.lostTail.records).toBeGreaterThanOrEqual(summary.lostTail.struck)
    expect(summary.lostTail.said).toBeGreaterThan(0)
  })

  it('refuses lost-tail without --durable', async () => {
    const { io, stderr } = memoryIo()
    expect(await main(['sim', '--machine', 'kv', '--faults', 'crash,lost-tail'], io)).toBe(2)
    expect(stderr()).toMatch(/'lost-tail' fault needs durable replicas/)
  })

  it('refuses blackouts without --durable', async () => {
    const { io, stderr } = memoryIo()
    expect(await main(['sim', '--machine', 'kv', '--faults', 'blackout'], io)).toBe(2)
    expect(stderr()).toMatch(/needs --durable/)
  })

  it('rejects unknown faults with exit 2', async () => {
    const { io, stderr } = memoryIo()
    expect(await main(['sim', '--machine', 'kv', '--faults', 'meteor'], io)).toBe(2)
    expect(stderr()).toMatch(/unknown fault 'meteor'/)
  })

  it('simulates a DSL spec given as --machine FILE.sm', async () => {
    const spec = fileURLToPath(new URL('../../../apps/lock-service/specs/seed-mutex.sm', import.meta.url))
    const { io, stdout } = memoryIo()
    expect(await main(['sim', '--machine', spec, '--replicas', '3', '--clients', '3', '--ops', '30', '--seeds', '3', '--json'], io)).toBe(0)
    expect(JSON.parse(stdout())).toMatchObject({ ok: true, seeds: 3, operations: 90 })
  })

  // Found with a DSL spec CI's simulator suites never ran (5 replicas, real time, disks, every fault): r5 promised
  // in the view change that ended view 11, froze, and never heard the chosen value of view 12 (r1 installed it and
  // crashed; r4, the other, then lost its disk with r3). In the next view change r5 said it held no state, so r1,
  // r2 and r5, a majority with r1 holding view 12's state, could not resume the cluster: nothing was served for the
  // rest of the run. Now a frozen member counts what it froze (the state of its view at its position), as a member
  // waiting for a view's state does.
  it('Found: a member frozen for a view change whose value it never heard counts its state in the next (semaphore spec, 5 replicas, real time, seed 25)', async () => {
    const spec = fileURLToPath(new URL('../../../apps/lock-service/specs/semaphore.sm', import.meta.url))
    const { io, stdout } = memoryIo()
    const code = await main(['sim', '--machine', spec, '--replicas', '5', '--order', 'realtime', '--clients', '6', '--ops', '150', '--faults', 'crash,restart,amnesia,partition,slow,delay,pause,client-restart,blackout', '--overlap', '--durable', '--seed', '25', '--json'], io)
    const result = JSON.parse(stdout())
    expect(result.failures, result.failures[0]?.violation).toEqual([])
    expect(code).toBe(0)
    expect(result).toMatchObject({ ok: true, operations: 150 })
  })

  // Found by random settings (a DSL spec, links of 32 messages slow to connect): r3's request to join, sent while
  // it was cut off, reached r4 late, through a full link, after r3 had been added and removed again; r3 then
  // crashed for good. r4 kept the request and, with the cluster settled, kept starting view changes until its
  // proposal put r3 back in, and the next view removed it. Now a request not asked again for three view-change
  // timeouts is dropped (a replica that still waits asks every half timeout).
  it('Found: a settled cluster does not put back a replica that crashed after its request to join (safe-mutex spec, links of 32, seed 9000186)', async () => {
    const spec = fileURLToPath(new URL('../../../apps/lock-service/specs/safe-mutex.sm', import.meta.url))
    const { io, stdout } = memoryIo()
    const code = await main(['sim', '--machine', spec, '--replicas', '5', '--order', 'realtime', '--clients', '5', '--ops', '150', '--faults', 'crash,partition,slow', '--overlap', '--link-capacity', '32', '--connect-delay-ms', '300', '--seed', '9000186', '--json'], io)
    const result = JSON.parse(stdout())
    expect(result.failures, result.failures[0]?.violation).toEqual([])
    expect(code).toBe(0)
  })

  it('Found: a new cluster forms though its links are tiny and slow to connect (leased-mutex spec, 7 replicas, seed 12004351)', async () => {
    // r6 started view 1 counting r2, r3 and r7; its links to r1 and r5 were full, so it began a view change at once.
    // r4, not counted, took that for a running cluster and asked to join; its join reached r1, r2 and r3 before
    // anything of r6's, and they asked to join too: r6 and r7 alone held view 1, and nobody was ever served.
    const spec = fileURLToPath(new URL('../../../apps/lock-service/specs/leased-mutex.sm', import.meta.url))
    const { io, stdout } = memoryIo()
    const flags = ['--replicas', '7', '--order', 'lamport', '--clients', '6', '--ops', '150', '--faults', 'crash,restart,slow,delay,client-restart,pause', '--overlap', '--durable']
    const code = await main(['sim', '--machine', spec, ...flags, '--link-capacity', '8', '--connect-delay-ms', '1500', '--seed', '12004351', '--json'], io)
    const result = JSON.parse(stdout())
    expect(result.failures, result.failures[0]?.violation).toEqual([])
    expect(code).toBe(0)
  })

  it("Found: with the real-time orderer, replicas' own clocks (--clock-offset-ms, --clock-drift-ppm) stay within the simulated orderer's bound", async () => {
    // The simulated real-time orderer drew its skew bound (0, 1 or 5 ms) as if every clock read the virtual time: with
    // clocks 5 ms apart each replica in turn found its clock off from a majority, stopped and rejoined, and the cluster
    // went on changing views or never formed (the sweep grid `clocks`: 71 runs in 1,500, every one real time with
    // offsets). Clock faults beyond the bound are the `skew` fault's to model.
    const { io, stdout } = memoryIo()
    const code = await main(['sim', '--machine', 'kv', '--replicas', '3', '--order', 'realtime', '--clients', '3', '--ops', '60', '--faults', 'crash,partition', '--clock-offset-ms', '5', '--clock-drift-ppm', '200', '--seeds', '12', '--json'], io)
    const result = JSON.parse(stdout())
    expect(result.failures, result.failures[0]?.violation).toEqual([])
    expect(code).toBe(0)
  })

  it('Found: no fault takes the state of a liar while a replica has not served yet (register, byzantine voter, seed 383)', async () => {
    // r1 started the cluster with r3 (the liar) while r2's links were still connecting; then r3 lost its state. A liar
    // counts as faulty for the whole run, so faults on it cost nothing, even while r2, which had not served yet, held
    // new faults back: r1 alone held the state, r2 could not be told from an amnesiac, and no view could form again,
    // with one faulty replica of three. Such a fault now waits, as it would on a correct replica, until all served.
    const { io, stdout } = memoryIo()
    const flags = ['--machine', 'register', '--replicas', '3', '--order', 'lamport', '--clients', '1', '--in-flight', '2', '--ops', '150', '--faults', 'lie,crash,amnesia,pause,client-restart', '--overlap']
    const code = await main(['sim', ...flags, '--voter', 'byzantine', '--liars', '1', '--held-for-restart', '--connect-delay-ms', '300', '--seed', '383', '--json'], io)
    const result = JSON.parse(stdout())
    expect(result.failures, result.failures[0]?.violation).toEqual([])
    expect(code).toBe(0)
  })

  it('Found: an operator removes and admits replicas under faults; no removal is carried out twice (membership fault, seeds 11, 14 and mutex 8)', async () => {
    // The removed replica heard its own removal; outside the views that carried it out it never installed them, so
    // the command waited there; admitted again, it carried the removal out a second time (or, coordinating while
    // outside, removed itself each time an admission put it back: a cluster that changed views for ever). A replica
    // now drops a command issued before the view that carried out a later change of its replica, on learning of
    // any such view (and ignores one arriving after it). (Found with seeds 7 and 13; since the operator also gives up
    // replicas that are down, those seeds draw other runs, and 11 and 14 are two that fail without the fix.)
    const runs = [
      ['--machine', 'kv', '--replicas', '5', '--order', 'lamport', '--clients', '4', '--faults', 'membership,crash,restart,partition', '--durable', '--seed', '11'],
      ['--machine', 'kv', '--replicas', '5', '--order', 'lamport', '--clients', '4', '--faults', 'membership,crash,restart,partition', '--durable', '--seed', '14'],
      ['--machine', 'mutex', '--replicas', '3', '--order', 'realtime', '--clients', '3', '--faults', 'membership,crash,restart,amnesia,partition', '--durable', '--seed', '8'],
    ]
    await expectEveryRunPasses(runs)
  })

  it('Found: with the real-time orderer, a skewed clock in a view shrunk to a bare majority makes no correct replica give up its state (seeds 576, 26, 2211)', async () => {
    // Two members of a view, one clock skewed: each found its clock off from "a majority of the view" (the other),
    // so the correct one stopped and dropped its state while the skewed one went on. 576: both members of a later
    // two-member view did so, and an answered request's agreed time was replaced (a safety violation, no disks); 26
    // and 2211: every replica ended asking to join. A replica now blames its clock only when a majority of the
    // configuration finds it off; short of that it delivers by Test II only, which no clock can mislead.
    const spec = (name: string) => fileURLToPath(new URL(`../../../apps/lock-service/specs/${name}.sm`, import.meta.url))
    const runs = [
      ['--machine', spec('semaphore'), '--replicas', '3', '--clients', '4', '--faults', 'delay,client-restart,skew,membership', '--seed', '576'],
      ['--machine', spec('safe-mutex'), '--replicas', '5', '--clients', '6', '--faults', 'amnesia,partition,skew,membership', '--durable', '--link-capacity', '8', '--seed', '26'],
      ['--machine', spec('leased-mutex'), '--replicas', '3', '--clients', '2', '--faults', 'lie,crash,amnesia,partition,slow,delay,skew', '--durable', '--voter', 'byzantine', '--liars', '1', '--lie-mode', 'state', '--link-capacity', '16', '--connect-delay-ms', '300', '--seed', '2211'],
    ]
    await expectEveryRunPasses(runs.map((flags) => [...flags, '--order', 'realtime']))
  })

  it('Found: a delivery of a replica that ends out of service does not bind the agreed time (two liars on their state, seed 22000303)', async () => {
    // r4 delivered c1#69 at position 90 (no majority's disks held it); the cluster ordered the client's retry there
    // with a later time, and r4 could not take the state (its sources, two of them liars, disagreed: docs/voting.md
    // "Limits"). The checker held r4's copy binding as if r4 served (testkit's agreement-order.ts, `couldLose`).
    const spec = fileURLToPath(new URL('../../../apps/lock-service/specs/safe-mutex.sm', import.meta.url))
    await expectEveryRunPasses([['--machine', spec, '--replicas', '5', '--order', 'lamport', '--clients', '1', '--faults', 'lie,partition,delay', '--durable', '--voter', 'byzantine', '--liars', '2', '--lie-mode', 'state', '--link-capacity', '16', '--seed', '22000303']])
  })

  it('works through the installed bin', async () => {
    const bin = fileURLToPath(new URL('../bin/lockstep.js', import.meta.url))
    const { stdout } = await promisify(execFile)(process.execPath, [bin, 'sim', '--machine', 'register', '--seeds', '2', '--ops', '10', '--json'])
    expect(JSON.parse(stdout)).toMatchObject({ ok: true, seeds: 2 })
  })
})

describe('lockstep sim progress', () => {
  it('on a terminal, counts the seeds on a status line that is cleared at the end', async () => {
    const { io, stdout } = memoryIo()
    const shown: string[] = []
    const code = await main(['sim', '--machine', 'kv', '--clients', '2', '--ops', '10', '--seeds', '4'], { ...io, progress: (text) => void shown.push(text) })
    expect(code).toBe(0)
    expect(stdout()).toMatch(/^ok: 4\/4 seeds passed/)
    expect(shown[0]).toMatch(/^sim: 1\/4 seeds \(1 passed\), 10 operations, [\d.]+ s$/)
    expect(shown.at(-2)).toMatch(/^sim: 4\/4 seeds \(4 passed\), 40 operations, [\d.]+ s$/)
    expect(shown.at(-1)).toBe('')
  })

  it('prints no progress with --json or --trace, nor without a terminal', async () => {
    for (const flags of [['--seeds', '2', '--json'], ['--seed', '3', '--trace']]) {
      const shown: string[] = []
      const { io } = memoryIo()
      expect(await main(['sim', '--machine', 'kv', '--clients', '2', '--ops', '10', ...flags], { ...io, progress: (text) => void shown.push(text) })).toBe(0)
      expect(shown, flags.join(' ')).toEqual([])
    }
    // The real CLI on a pipe: stderr stays empty (no carriage returns, no escape sequences).
    const { stdout, stderr } = await runBuiltCli(['sim', '--machine', 'kv', '--clients', '2', '--ops', '10', '--seeds', '2'])
    expect(stdout).toMatch(/^ok: 2\/2 seeds passed/)
    expect(stderr).toBe('')
  })
})

/** Runs the built CLI with stdout and stderr on pipes. */
async function runBuiltCli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const bin = fileURLToPath(new URL('../bin/lockstep.js', import.meta.url))
  return promisify(execFile)(process.execPath, [bin, ...args])
}

describe('lockstep sim --invariant (DSL specs)', () => {
  const spec = (name: string) => join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'apps', 'lock-service', 'specs', name)

  it('checks the invariant on every replica after every delivery: the seed mutex lets the holder queue behind itself', async () => {
    const { io, stderr } = memoryIo()
    const code = await main(['sim', '--machine', spec('seed-mutex.sm'), '--clients', '2', '--ops', '40', '--seeds', '3', '--invariant', 'not (user in waiting)'], io)
    expect(code).toBe(1)
    expect(stderr()).toMatch(/invariant 'not \(user in waiting\)' does not hold after c\d acquire \(position \d+\) on (a replica|[23] replicas); state \{"user":"c\d","waiting":\[/)
    expect(stderr()).toContain("--invariant 'not (user in waiting)'")
  })

  it('reports a violation once, however many replicas execute the command (each does, the same way)', async () => {
    const { io, stderr } = memoryIo()
    const code = await main(['sim', '--machine', spec('seed-mutex.sm'), '--clients', '2', '--ops', '40', '--seed', '1', '--invariant', 'not (user in waiting)'], io)
    expect(code).toBe(1)
    const lines = stderr().split('\n').filter((line) => line.includes('does not hold after'))
    expect(lines.length).toBeGreaterThan(1)
    expect(new Set(lines).size).toBe(lines.length)
    expect(lines[0]).toMatch(/ on 3 replicas; state /)
  })

  it('passes the safe mutex with quantified and transition properties', async () => {
    const { io, stdout, stderr } = memoryIo()
    const code = await main(['sim', '--machine', spec('safe-mutex.sm'), '--clients', '3', '--ops', '40', '--seeds', '2',
      '--invariant', 'forall c: not (c in waiting and c = user)', '--invariant', "always token' >= token"], io)
    expect(stderr()).toBe('')
    expect(code).toBe(0)
    expect(stdout()).toMatch(/^ok: 2\/2 seeds passed/)
  })

  it('exits 2 for --invariant with a built-in machine or a bad invariant', async () => {
    const builtIn = memoryIo()
    expect(await main(['sim', '--machine', 'mutex', '--invariant', 'true'], builtIn.io)).toBe(2)
    expect(builtIn.stderr()).toContain('--invariant needs a DSL spec (--machine FILE.sm)')
    const bad = memoryIo()
    expect(await main(['sim', '--machine', spec('seed-mutex.sm'), '--invariant', 'usr = c1'], bad.io)).toBe(2)
    expect(bad.stderr()).toContain("unknown name 'usr'")
  })
})
