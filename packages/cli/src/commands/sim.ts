import { writeFile } from 'node:fs/promises'
import { isLockstepError } from '@lockstep/interface'
import { builtInMachineNames } from '@lockstep/machines'
import { lamportSimulation } from '@lockstep/order-lamport'
import { realtimeSimulation } from '@lockstep/order-realtime'
import { DEFAULT_DELAY_SPIKE_MAX_MS, DEFAULT_SKEW_BEYOND_MS, MAX_IN_FLIGHT, lieModes, noLivenessOwed, overlapOnlyFaultKinds, parseFaults, simulate, voterNames, type FaultKind, type OrdererSpec, type SimulationResult, type VoterName } from '@lockstep/testkit'
import { renderTraceHtml, TraceRecorder } from '@lockstep/trace'
import { intFlag, parseFlags } from '../args'
import { ExitCode, type Io } from '../io'
import { loadWorkload, specWorkloads, type SpecWorkloads } from '../machine-loader'

export const simUsage = `lockstep sim [--machine <${builtInMachineNames.join('|')}|PATH>] [--replicas N] [--order lamport|realtime] [--clients C] [--in-flight K] [--ops OPS]
             [--faults none|crash,restart,amnesia,partition,slow,delay,skew,blackout,client-restart,lie,pause,membership,replace,drift,full,spare-clock,cut,lost-tail] [--overlap | --no-overlap]
             [--skew-beyond-ms MS] [--delay-spike-ms MS] [--clock-offset-ms MS] [--clock-drift-ppm PPM] [--link-capacity M] [--held-for-restart] [--connect-delay-ms MS]
             [--voter first|majority|byzantine] [--liars L] [--lie-mode outputs|state]
             [--durable] [--seeds S | --seed X [--trace [FILE.html|FILE.json]]] [--invariant EXPR]... [--json]

Runs whole clusters in one process on virtual time with seeded delays and
checks every run: agreement and order, exactly-once, completeness, equal state
digests, and linearizability (register, kv) or mutual exclusion (mutex).
  --machine   built-in machine (default kv), a DSL spec (.sm), or a JS module exporting machine and randomCommand
  --replicas  replicas per cluster (default 3)
  --order     ordering strategy: lamport (logical clocks, the default) or realtime (synchronized clocks)
  --clients   concurrent clients (default 3)
  --in-flight requests each client keeps in flight, 1 to ${MAX_IN_FLIGHT} (default 1); with K, each client runs K
              loops of the workload at once on its one connection (pipelined: one id, one request
              numbering), each a process of its own in the history (c1.1 … c1.K); not with --machine
              mutex (the lock belongs to the client id, so a mutex client keeps one request in flight)
  --ops       requests per run, across all clients (default 100)
  --faults    faults drawn from each seed (default none): crash, restart (replicas restarted with their
              usual options: from their disks with --durable, else without state), amnesia (restarted
              without memory or disk), partition, slow, delay (a spike on every link, up to
              --delay-spike-ms), skew (one replica's clock set off by --skew-beyond-ms to three times
              that, ahead or behind, for a while; it counts as faulty), blackout (every replica at once, then
              restarted one by one from disk; needs --durable), client-restart (a client process stops
              and a new one carries on under its id), lie (--liars replicas lie to clients for the whole
              run; they count toward F, so the other faults strike only within what is left), pause
              (replicas' processes stop for a while, as a GC pause, kill -STOP or a blocked event loop
              would: nothing of theirs runs, and on resuming they handle what waited for them at once;
              they count as faulty), membership (an operator removes a serving replica through another,
              as lockstep member remove does, or a replica that is down, and admits it back after a while;
              it counts as faulty until it serves again), replace (an operator removes a replica as
              membership does, starts a spare r4… in its place, which joins outside the configuration,
              and admits it; the replaced replica must stay out for good), drift (one replica's clock
              runs fast or slow until it is off as far as a skew sets it, then is set back; it counts
              as faulty), full (one replica's disk fills up: it must stop at its next write, and is
              restarted from its disk once there is room; needs --durable), spare-clock (the clock of a
              spare that replace started and the operator has not admitted yet is set off, at once or
              drifting, as skew and drift set a replica's; outside the budget until the spare is
              admitted; needs replace), cut (the link between two replicas stops, one way or both,
              while both still reach the others: a partition that is no clean split; one end counts
              as faulty), lost-tail (a replica is killed and its disk loses the last 1 to 20 records it
              had synced, as a disk that acknowledged flushes it never made; it restarts from the shorter
              log and counts as faulty until it serves again and its disk holds as many records as before; strikes
              only while a majority serves; needs --durable); turns on failure detection and view changes
  --overlap   faults overlap, at most F = (N-1)/2 replicas faulty at once (the default): they strike at
              any moment while the workload runs, disks take time to sync, and a request waiting over
              10 s while at most F are faulty is a liveness violation, as is a cluster that goes on
              changing views once every fault ended and every replica serves again
  --no-overlap  one fault at a time, each once the cluster recovered from the last (no amnesia or
              client-restart)
  --skew-beyond-ms  the least clock offset of a skew fault (and the least a drift reaches), in ms (default 50; choose it above the
              orderer's skew bound: the realtime orderer's drawn bound is at most 5 ms)
  --delay-spike-ms  the most a delay fault adds to every link, in ms (default 100; above the realtime
              orderer's Δ, requests arrive after their deadline)
  --link-capacity  the most messages a link between replicas holds on their way (delayed, or held by a
              partition); a send beyond it is refused (BACKPRESSURE) and the message lost, as a TCP link
              refuses sends past its buffer while the peer is stalled (default: with overlapping faults,
              drawn from each seed: no bound, 16 or 64; 0 for no bound)
  --held-for-restart  links between replicas hold what was on its way to a crashed replica, and what
              is sent to it while it is down, for its next run, as TCP links send a restarted peer what
              they hold unacknowledged (default: a crash loses what was in flight to it)
  --connect-delay-ms  each link between replicas first connects at a time drawn from the seed between 0
              and MS, as TCP connections may take a while to set up; what is sent meanwhile waits (default 0)
  --clock-offset-ms, --clock-drift-ppm  give each replica its own clock, offset and drift drawn from
              the seed within these bounds (default 0: every replica reads the same time); the
              realtime orderer's skew bound covers them (clocks beyond it: the skew fault)
  --voter     how every client votes on the replicas' answers: first (the first answer wins, the
              default), majority, or byzantine (t+1 identical answers, t = F); with liars, a check fails
              every run in which a client took an answer no correct replica sent
  --liars     with --faults lie: how many replicas lie, 1 to F (default 1), drawn from the seed
  --lie-mode  with --faults lie: outputs (corrupted replies and outputs, the default) or state (a machine
              that now and then loses a command's effect on its state)
  --durable   replicas keep a write-ahead log on a simulated disk that loses unsynced writes on a crash
  --seeds     run seeds 1..S (default 100); --seed X runs only seed X
  --trace     with --seed: print every replica's log and every fault, stamped with virtual time;
              --trace FILE.html writes a page instead (opens offline: a space-time diagram of the run, with
              its violations marked), --trace FILE.json the run's events (docs/simulation.md, "Trace files")
  --invariant with a DSL spec (--machine FILE.sm): a property checked on every replica after every
              delivery, as lockstep check reads it ("forall c: not (c in waiting and c = user)",
              "always token' >= token"); repeat for more
  --json      print one JSON object (and no progress line): ok, clients, inFlight, seeds, operations, timing{timingViolations, skewViolations,
              divergences}, lostTail{struck, records, said} (with lost-tail: the times a disk lost synced
              records, the records, the times a replica said so), voting{voter, liars, lieMode,
              outvoted{liars, correct}, wrongAnswers} (with liars or a voter; liarIds with --seed),
              failures[{seed, violation}]
On a terminal, a progress line on stderr counts the seeds as they run (none on
a pipe, with --json or with --trace).
Exit 0 iff every seed passes every check; 1 if one fails; 2 for bad usage.`

/** Ordering strategies by `--order` name, as the compliance suites run them (so reruns reproduce). */
const orderers: Record<string, OrdererSpec> = { lamport: lamportSimulation, realtime: realtimeSimulation }

/** `lockstep sim`: runs seeds, exits 0 iff every seed passes every check. */
export async function simCommand(argv: string[], io: Io): Promise<number> {
  const { args, traceFile } = takeTraceFile(argv)
  if (traceFile !== undefined && !/\.(html|json)$/i.test(traceFile)) {
    io.stderr(`lockstep sim: --trace ${traceFile}: a trace file ends in .html (a page) or .json (the events); --trace alone prints the logs`)
    return ExitCode.USAGE
  }
  const { values: flags } = parseFlags('sim', args, {
    machine: { type: 'string' },
    replicas: { type: 'string' },
    order: { type: 'string' },
    clients: { type: 'string' },
    'in-flight': { type: 'string' },
    ops: { type: 'string' },
    seeds: { type: 'string' },
    seed: { type: 'string' },
    faults: { type: 'string' },
    'skew-beyond-ms': { type: 'string' },
    'delay-spike-ms': { type: 'string' },
    'link-capacity': { type: 'string' },
    'connect-delay-ms': { type: 'string' },
    'clock-offset-ms': { type: 'string' },
    'clock-drift-ppm': { type: 'string' },
    voter: { type: 'string' },
    liars: { type: 'string' },
    'lie-mode': { type: 'string' },
    durable: { type: 'boolean' },
    'held-for-restart': { type: 'boolean' },
    overlap: { type: 'boolean' },
    'no-overlap': { type: 'boolean' },
    trace: { type: 'boolean' },
    invariant: { type: 'string', multiple: true },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  const values = flags as Partial<Record<'machine' | 'replicas' | 'order' | 'clients' | 'in-flight' | 'ops' | 'seeds' | 'seed' | 'faults' | 'skew-beyond-ms' | 'delay-spike-ms' | 'link-capacity' | 'connect-delay-ms' | 'clock-offset-ms' | 'clock-drift-ppm' | 'voter' | 'liars' | 'lie-mode', string>> & {
    json?: boolean
    help?: boolean
    durable?: boolean
    'held-for-restart'?: boolean
    overlap?: boolean
    'no-overlap'?: boolean
    trace?: boolean
  }
  const invariants = (flags as { invariant?: string[] }).invariant ?? []
  if (values.help) {
    io.stdout(simUsage)
    return ExitCode.OK
  }
  values.machine ??= 'kv'
  const order = values.order ?? 'lamport'
  const orderer = orderers[order]
  if (!orderer) {
    io.stderr(`lockstep sim: --order '${order}' is not available; this version orders with: ${Object.keys(orderers).join(', ')}`)
    return ExitCode.USAGE
  }
  let faults: FaultKind[]
  try {
    faults = parseFaults(values.faults ?? 'none')
  } catch (error) {
    io.stderr(`lockstep sim: --faults: ${(error as Error).message}`)
    return ExitCode.USAGE
  }
  if (faults.includes('blackout') && !values.durable) {
    io.stderr("lockstep sim: --faults blackout needs --durable (replicas with disks): without them nothing survives a blackout")
    return ExitCode.USAGE
  }
  if (values.overlap && values['no-overlap']) {
    io.stderr('lockstep sim: --overlap and --no-overlap exclude each other')
    return ExitCode.USAGE
  }
  if ((values.trace || traceFile !== undefined) && values.seed === undefined) {
    io.stderr('lockstep sim: --trace needs --seed X (one run)')
    return ExitCode.USAGE
  }
  const overlap = !values['no-overlap']
  const overlapOnly = faults.find((kind) => overlapOnlyFaultKinds.includes(kind))
  if (overlapOnly && !overlap) {
    io.stderr(`lockstep sim: --faults ${overlapOnly} needs overlapping faults (drop --no-overlap)`)
    return ExitCode.USAGE
  }
  const voter = (values.voter ?? 'first') as VoterName
  if (!(voterNames as readonly string[]).includes(voter)) {
    io.stderr(`lockstep sim: --voter '${voter}' is not a voter; choose from ${voterNames.join(', ')}`)
    return ExitCode.USAGE
  }
  const lieMode = (values['lie-mode'] ?? 'outputs') as 'outputs' | 'state'
  if (!(lieModes as readonly string[]).includes(lieMode)) {
    io.stderr(`lockstep sim: --lie-mode '${lieMode}' is not a mode; choose from ${lieModes.join(', ')}`)
    return ExitCode.USAGE
  }
  if ((values.liars !== undefined || values['lie-mode'] !== undefined) && !faults.includes('lie')) {
    io.stderr('lockstep sim: --liars and --lie-mode need --faults lie')
    return ExitCode.USAGE
  }
  const replicas = intFlag('sim', 'replicas', values.replicas, 3, 1, 15)
  const liars = faults.includes('lie') ? intFlag('sim', 'liars', values.liars, 1, 1, Math.max(1, Math.floor((replicas - 1) / 2))) : undefined
  if (liars !== undefined && liars > Math.floor((replicas - 1) / 2)) {
    io.stderr(`lockstep sim: --liars ${liars} with ${replicas} replicas: at most F = ${Math.floor((replicas - 1) / 2)} may lie (more could outvote the correct ones)`)
    return ExitCode.USAGE
  }
  const clients = intFlag('sim', 'clients', values.clients, 3, 1, 1000)
  const inFlight = intFlag('sim', 'in-flight', values['in-flight'], 1, 1, MAX_IN_FLIGHT)
  const ops = intFlag('sim', 'ops', values.ops, 100, 1, 10_000_000)
  const skewBeyondMs = intFlag('sim', 'skew-beyond-ms', values['skew-beyond-ms'], DEFAULT_SKEW_BEYOND_MS, 1, 3_600_000)
  const delaySpikeMaxMs = intFlag('sim', 'delay-spike-ms', values['delay-spike-ms'], DEFAULT_DELAY_SPIKE_MAX_MS, 20, 3_600_000)
  const linkCapacity = values['link-capacity'] === undefined ? undefined : intFlag('sim', 'link-capacity', values['link-capacity'], 0, 0, 1_000_000_000)
  const connectDelayMaxMs = values['connect-delay-ms'] === undefined ? undefined : intFlag('sim', 'connect-delay-ms', values['connect-delay-ms'], 0, 0, 600_000)
  const maxOffsetMs = intFlag('sim', 'clock-offset-ms', values['clock-offset-ms'], 0, 0, 3_600_000)
  const maxDriftPpm = intFlag('sim', 'clock-drift-ppm', values['clock-drift-ppm'], 0, 0, 999_999)
  const clocks = maxOffsetMs > 0 || maxDriftPpm > 0 ? { maxOffsetMs, maxDriftPpm } : undefined
  const seeds = values.seed !== undefined ? [intFlag('sim', 'seed', values.seed, 1, 0, 0xffffffff)] : range(intFlag('sim', 'seeds', values.seeds, 100, 1, 10_000_000))
  if (invariants.length > 0 && !values.machine.endsWith('.sm')) {
    io.stderr(`lockstep sim: --invariant needs a DSL spec (--machine FILE.sm); '${values.machine}' has no state variables to check (the built-in machines are checked by their workloads)`)
    return ExitCode.USAGE
  }
  let workload
  let specRuns: SpecWorkloads | undefined
  try {
    workload = await loadWorkload(values.machine)
    if (invariants.length > 0) specRuns = await specWorkloads(values.machine, invariants, clients)
  } catch (error) {
    io.stderr(`lockstep sim: ${(error as Error).message}`)
    return isLockstepError(error) && error.code === 'UNSUPPORTED' ? ExitCode.FAILED : ExitCode.USAGE
  }
  if (inFlight > 1 && workload.singleRequestInFlight !== undefined) {
    io.stderr(`lockstep sim: --in-flight ${inFlight} with --machine ${values.machine}: ${workload.singleRequestInFlight}`)
    return ExitCode.USAGE
  }

  const started = performance.now()
  const failures: SimulationResult[] = []
  /** Runs that passed but ended owing no liveness (their unfinished requests unchecked), and why. */
  const excused: { readonly seed: number; readonly why: string }[] = []
  let operations = 0
  let virtualTimeMs = 0
  const timing = { timingViolations: 0, skewViolations: 0, divergences: 0 }
  /** With `lost-tail`: the disks that lost synced records, how many records, and how often a replica said so. */
  const lostTail = { struck: 0, records: 0, said: 0 }
  /** How often clients outvoted a lying replica, and a correct one (which would be a false accusation). */
  const outvoted = { liars: 0, correct: 0 }
  const liarIds = new Set<string>()
  let wrongAnswers = 0
  let voting = false
  const progress = values.json || values.trace ? undefined : io.progress?.bind(io)
  let lastProgressMs = -Infinity
  let done = 0
  for (const seed of seeds) {
    const trace = values.trace && traceFile === undefined ? (line: string) => io.stdout(line) : undefined
    const record = traceFile === undefined ? undefined : new TraceRecorder()
    const run = specRuns?.next()
    const machineArg = [values.machine, ...invariants.map((text) => `--invariant '${text.replace(/'/g, "'\\''")}'`)].join(' ')
    let result = await simulate({ seed, workload: run?.workload ?? workload, orderer, replicas, clients, inFlight, ops, faults, overlap, durable: values.durable === true, machineArg, trace, clocks, skewBeyondMs, delaySpikeMaxMs, voter, liars, lieMode, record, linkCapacity, heldForRestart: values['held-for-restart'] === true, ...(connectDelayMaxMs !== undefined && { connectDelayMaxMs }) })
    if (run !== undefined && run.violations.length > 0) result = { ...result, ok: false, violations: [...result.violations, ...run.violations] }
    if (traceFile !== undefined && result.trace) {
      try {
        await writeFile(traceFile, /\.json$/i.test(traceFile) ? `${JSON.stringify(result.trace)}\n` : renderTraceHtml(result.trace))
      } catch (error) {
        io.stderr(`lockstep sim: could not write the trace to ${traceFile}: ${(error as Error).message}`)
        return ExitCode.USAGE
      }
      const truncated = result.trace.truncated ? ` (truncated: ${result.trace.truncated.dropped} events from ${Math.round(result.trace.truncated.fromMs)} ms on not kept)` : ''
      io.stderr(`trace of seed ${seed}: ${traceFile}, ${result.trace.events.length} events${truncated}`)
    }
    if (result.voting) {
      voting = true
      wrongAnswers += result.voting.wrongAnswers
      for (const liar of result.voting.liars) liarIds.add(liar)
      for (const [replica, count] of Object.entries(result.voting.dissent)) outvoted[result.voting.liars.includes(replica) ? 'liars' : 'correct'] += count
    }
    if (result.lostTail) {
      lostTail.struck += result.lostTail.struck
      lostTail.records += result.lostTail.records
      lostTail.said += result.lostTail.said.length
    }
    operations += result.operations
    timing.timingViolations += result.timing.timingViolations
    timing.skewViolations += result.timing.skewViolations
    timing.divergences += result.timing.divergences
    virtualTimeMs += result.virtualTimeMs
    done++
    const why = result.ok ? noLivenessOwed(result) : undefined
    if (why !== undefined) excused.push({ seed, why })
    if (!result.ok) {
      failures.push(result)
      progress?.('')
      if (!values.json) io.stderr(`seed ${seed} FAILED:\n${result.violations.map((v) => `  - ${v}`).join('\n')}\n  rerun: ${result.rerun}`)
    }
    // At most ten updates a second (the first and the last always): a terminal need not redraw for every seed.
    const nowMs = performance.now()
    if (progress && (nowMs - lastProgressMs >= 100 || done === seeds.length || done === 1)) {
      lastProgressMs = nowMs
      progress(`sim: ${done}/${seeds.length} seeds (${done - failures.length} passed${failures.length > 0 ? `, ${failures.length} FAILED` : ''}), ${operations} operations, ${((nowMs - started) / 1000).toFixed(1)} s`)
    }
  }
  progress?.('')
  const elapsedMs = performance.now() - started
  const ok = failures.length === 0
  if (values.json) {
    io.stdout(JSON.stringify({
      ok,
      machine: values.machine,
      order,
      replicas,
      clients,
      inFlight,
      ops,
      faults: faults.length > 0 ? faults : 'none',
      overlap: faults.length > 0 && overlap,
      durable: values.durable === true,
      seeds: seeds.length,
      operations,
      timing,
      ...(faults.includes('lost-tail') ? { lostTail } : {}),
      ...(voting ? { voting: { voter, ...(liars === undefined ? {} : { liars, lieMode }), ...(seeds.length === 1 ? { liarIds: [...liarIds] } : {}), outvoted, wrongAnswers } } : {}),
      failures: failures.flatMap((f) => f.violations.map((violation) => ({ seed: f.seed, violation, rerun: f.rerun }))),
      noLivenessOwed: excused,
      virtualTimeMs: Math.round(virtualTimeMs),
      elapsedMs: Math.round(elapsedMs),
    }))
  } else {
    const faultText = faults.length > 0 ? `, faults ${faults.join(',')}${overlap ? ' (overlapping)' : ' (one at a time)'}` : ''
    const timingText = timing.timingViolations + timing.skewViolations + timing.divergences > 0 ? `; the orderers detected ${timing.timingViolations} late requests and ${timing.skewViolations} skewed clocks, ${timing.divergences} replica divergences` : ''
    const lyingText = liars === undefined ? '' : ` against ${liars} lying (${lieMode}${seeds.length === 1 ? `: ${[...liarIds].join(', ')}` : ', drawn per seed'})`
    const votingText = voting ? `; voter ${voter}${lyingText}: clients outvoted a liar ${outvoted.liars}×, a correct replica ${outvoted.correct}×, and took ${wrongAnswers} wrong answers` : ''
    const lostTailText = faults.includes('lost-tail') ? `; disks lost synced records ${lostTail.struck} times (${lostTail.records} records), and replicas said so ${lostTail.said} times` : ''
    const excusedText = excused.length === 0 ? '' : `; ${excused.length} passed owing no liveness at the end (seed ${excused.map((e) => e.seed).join(', ')}: ${excused[0]!.why}${excused.length > 1 ? '; --json lists each' : ''})`
    io.stdout(`${ok ? 'ok' : 'FAILED'}: ${seeds.length - failures.length}/${seeds.length} seeds passed; ${operations} operations on ${replicas} replicas (${order}), ${clients} clients${inFlight > 1 ? ` × ${inFlight} in flight` : ''}, machine ${values.machine}${faultText}${timingText}${lostTailText}${votingText}${excusedText}; ${(elapsedMs / 1000).toFixed(1)} s`)
  }
  return ok ? ExitCode.OK : ExitCode.FAILED
}

/**
 * `--trace FILE` / `--trace=FILE`: takes the file out of the arguments (the flag stays, as a switch). A value is a
 * file only when it is not a flag: `--trace` alone still means "print the logs".
 */
function takeTraceFile(argv: readonly string[]): { args: string[]; traceFile: string | undefined } {
  const args: string[] = []
  let traceFile: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg.startsWith('--trace=')) {
      traceFile = arg.slice('--trace='.length)
      args.push('--trace')
    } else if (arg === '--trace' && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('-')) {
      traceFile = argv[++i]!
      args.push('--trace')
    } else args.push(arg)
  }
  return { args, traceFile }
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i + 1)
}
