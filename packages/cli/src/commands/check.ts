import {
  clientNames, compileProperty, describeDomains, formatDiagnostic, itfTrace, modelCheck, parseDomain,
  type CompiledProperty, type ModelCheckResult, type TraceStep,
} from '@lockstep/dsl'
import { isLockstepError } from '@lockstep/interface'
import { intFlag, parseFlags } from '../args'
import { ExitCode, type Io } from '../io'
import { readSpec } from '../spec-file'

export const checkUsage = `lockstep check FILE.sm --clients N --depth D [--invariant EXPR]... [--eventually EXPR]... [--after "CLIENT COMMAND"]
               [--allow-abort] [--deadlock] [--no-symmetry] [--domain PARAM=v1,v2]... [--max-states M] [--itf FILE] [--json]

Bounded model checking: explores every interleaving of commands from N clients
(c1…cN), breadth first up to D commands, and checks each invariant (a DSL bool
expression over the state variables, e.g. "not (user in waiting)") in every
state reached, and that no command aborts. The first violation found has a
shortest trace.
  --clients      number of clients (default 2)
  --depth        longest command sequence (default 6)
  --invariant    an invariant; repeat for more. Quantifiers over the clients and client
                 literals: "forall c: not (c in waiting and c = user)"; primed names make a
                 transition property, checked on every step: "always token' >= token"
  --eventually   a liveness property, under weak fairness: it must eventually hold (after
                 --after, or from the start); a violation is a lasso. Repeat for more
  --after        "CLIENT COMMAND" that starts the --eventually properties, e.g. "c1 acquire"
  --allow-abort  commands may abort (fail at run time) without it being a violation
  --deadlock     report a state where a client's command has no enabled arm (no guard holds)
  --no-symmetry  explore states that differ only by a permutation of client ids separately
                 (symmetry reduction is on by default; clients a property names stay fixed)
  --domain       argument values to try: PARAM=v1,v2 or COMMAND.PARAM=v1,v2
                 (defaults: int 0,1; string a,b; bool false,true; client_id the clients)
  --max-states   stop after this many distinct states (default 2000000)
  --itf FILE     write the counterexample as an ITF trace (Apalache's Informal Trace Format)
  --json         print one JSON object (and no progress line)
Progress: a counting line on stderr while it runs, when stderr is a terminal.
Exit 0 when every property holds, 1 on a violation, 2 for bad input.`

/** `lockstep check`: bounded model checking of a DSL spec. */
export async function checkCommand(args: string[], io: Io): Promise<number> {
  let values: {
    clients?: string; depth?: string; invariant?: string[]; eventually?: string[]; after?: string; domain?: string[]; 'max-states'?: string
    itf?: string; json?: boolean; help?: boolean; 'allow-abort'?: boolean; deadlock?: boolean; 'no-symmetry'?: boolean
  }
  let positionals: string[]
  let clients: number
  let depth: number
  let maxStates: number
  try {
    const flags = parseFlags('check', args, {
      clients: { type: 'string' },
      depth: { type: 'string' },
      invariant: { type: 'string', multiple: true },
      eventually: { type: 'string', multiple: true },
      after: { type: 'string' },
      'allow-abort': { type: 'boolean' },
      deadlock: { type: 'boolean' },
      'no-symmetry': { type: 'boolean' },
      domain: { type: 'string', multiple: true },
      'max-states': { type: 'string' },
      itf: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    })
    values = flags.values as typeof values
    positionals = flags.positionals
    if (values.help) {
      io.stdout(checkUsage)
      return ExitCode.OK
    }
    clients = intFlag('check', 'clients', values.clients, 2, 1, 26)
    depth = intFlag('check', 'depth', values.depth, 6, 0, 1000)
    maxStates = intFlag('check', 'max-states', values['max-states'], 2_000_000, 1)
    if (values.after !== undefined && (values.eventually ?? []).length === 0) throw new Error('lockstep check: --after needs an --eventually property to start')
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${checkUsage}`)
    return ExitCode.USAGE
  }
  const spec = await readSpec('check', positionals, checkUsage, io)
  if (typeof spec === 'number') return spec
  const { file, result } = spec
  if (!result.program || !result.machine) {
    io.stderr(`lockstep check: ${file} has errors; fix them first`)
    return ExitCode.USAGE
  }
  const program = result.program
  const names = clientNames(clients)

  let badInput = false
  const compileAll = (texts: readonly string[], flag: string): CompiledProperty[] => {
    const out: CompiledProperty[] = []
    texts.forEach((text, i) => {
      const compiled = compileProperty(program, text, { clients: names, file: `--${flag} ${i + 1}` })
      for (const diagnostic of compiled.diagnostics) io.stderr(formatDiagnostic(diagnostic, text))
      if (compiled.property) out.push(compiled.property)
      else badInput = true
    })
    return out
  }
  const invariants = compileAll(values.invariant ?? [], 'invariant')
  const eventually = compileAll(values.eventually ?? [], 'eventually')
  const domains: Record<string, unknown[]> = {}
  for (const spec of values.domain ?? []) {
    try {
      const { key, values: domainValues } = parseDomain(program, spec)
      domains[key] = domainValues
    } catch (error) {
      io.stderr(`lockstep check: ${(error as Error).message}`)
      badInput = true
    }
  }
  if (badInput) return ExitCode.USAGE

  // A counting line on a terminal, at most four times a second; nothing on a pipe or with --json.
  const progress = values.json ? undefined : io.progress
  let shownAt = Number.NEGATIVE_INFINITY
  const onProgress = progress === undefined ? undefined : (p: { statesExplored: number; transitions: number; depth: number }) => {
    const now = performance.now()
    if (now - shownAt < 250) return
    shownAt = now
    progress(`checking: ${p.statesExplored} states, ${p.transitions} transitions, depth ${p.depth}`)
  }
  const started = performance.now()
  let outcome: ModelCheckResult
  try {
    outcome = modelCheck(result.machine, {
      clients, depth, invariants, domains, maxStates,
      allowAbort: values['allow-abort'] === true,
      deadlock: values.deadlock === true,
      symmetry: values['no-symmetry'] !== true,
      eventually: eventually.map((property) => ({ property, ...(values.after === undefined ? {} : { after: values.after }) })),
      ...(onProgress ? { onProgress } : {}),
    })
  } catch (error) {
    progress?.('')
    io.stderr(`lockstep check: ${(error as Error).message}`)
    return isLockstepError(error) && error.code !== 'INTERNAL' ? ExitCode.USAGE : ExitCode.FAILED
  }
  progress?.('')
  const elapsedMs = performance.now() - started
  const statesPerSecond = elapsedMs > 0 ? Math.round(outcome.statesExplored / (elapsedMs / 1000)) : outcome.statesExplored
  if (values.itf !== undefined && outcome.violation) {
    try {
      await io.writeFile(values.itf, JSON.stringify(itfTrace(result.machine, outcome.violation), null, 2) + '\n')
    } catch (error) {
      io.stderr(`lockstep check: cannot write the ITF trace to ${values.itf}: ${(error as Error).message}`)
      return ExitCode.USAGE
    }
  }

  if (values.json) {
    io.stdout(JSON.stringify({
      ok: outcome.ok,
      machine: program.name,
      file,
      clients: names,
      depth,
      invariants: invariants.map((inv) => inv.text),
      eventually: eventually.map((p) => p.text),
      ...(values.after === undefined ? {} : { after: values.after }),
      statesExplored: outcome.statesExplored,
      transitions: outcome.transitions,
      depthReached: outcome.depthReached,
      exhausted: outcome.exhausted,
      truncated: outcome.truncated,
      symmetry: outcome.symmetry,
      fingerprints: outcome.fingerprints,
      ...(outcome.livenessStates === undefined ? {} : { livenessStates: outcome.livenessStates }),
      elapsedMs: Math.round(elapsedMs * 10) / 10,
      statesPerSecond,
      ...(outcome.violation ? { violation: outcome.violation } : {}),
      ...(values.itf !== undefined && outcome.violation ? { itf: values.itf } : {}),
    }))
    return outcome.ok ? ExitCode.OK : ExitCode.FAILED
  }

  const lines: string[] = []
  const propertyCount = invariants.length + eventually.length
  lines.push(`checking ${program.name} (${file}): ${clients} client${clients === 1 ? '' : 's'} (${names.join(', ')}), depth ${depth}, ${invariants.length} invariant${invariants.length === 1 ? '' : 's'}${eventually.length > 0 ? `, ${eventually.length} eventually` : ''}`)
  const domainsUsed = Object.entries(describeDomains(program, clients, domains))
  if (domainsUsed.length > 0) lines.push(`arguments: ${domainsUsed.map(([key, vals]) => `${key} ∈ {${vals.map((v) => JSON.stringify(v)).join(', ')}}`).join('; ')}`)
  const describe = (steps: readonly TraceStep[], first: number): void => {
    steps.forEach((step, i) => {
      const outputs = step.outputs.map((o) => JSON.stringify({ to: o.to, value: o.value })).join(' ')
      lines.push(`  ${first + i}. ${step.line}${outputs ? `    → ${outputs}` : ''}`)
    })
  }
  if (outcome.violation) {
    const v = outcome.violation
    const steps = (n: number): string => `${n} step${n === 1 ? '' : 's'}`
    switch (v.kind) {
      case 'abort':
        lines.push(`VIOLATION: a command aborted: ${v.invariant} (--allow-abort permits it)`)
        break
      case 'deadlock':
        lines.push(`VIOLATION: a command has no enabled arm: ${v.invariant}`)
        break
      case 'liveness':
        lines.push(`VIOLATION of liveness: ${v.invariant}`)
        break
      default:
        lines.push(`VIOLATION of ${v.kind}: ${v.invariant}`)
    }
    lines.push(`  ${v.message}`)
    if (v.kind === 'liveness') {
      lines.push(`lasso: ${steps(v.trace.length)} to the loop, then a cycle of ${steps(v.cycle?.length ?? 0)} repeated forever:`)
      describe(v.trace, 1)
      if ((v.cycle ?? []).length === 0) lines.push('  then nothing changes, forever (every command leaves the state as it is)')
      else {
        lines.push('  cycle:')
        describe(v.cycle ?? [], v.trace.length + 1)
      }
      lines.push(`loop state: ${JSON.stringify(v.state)}`)
    } else {
      lines.push(`shortest trace (${steps(v.trace.length)}):`)
      describe(v.trace, 1)
      if (v.trace.length === 0) lines.push('  (the initial state)')
      lines.push(`state: ${JSON.stringify(v.state)}`)
    }
    if (values.itf !== undefined) lines.push(`ITF trace written to ${values.itf}`)
  } else if (propertyCount === 0) {
    lines.push('no invariants given: explored the reachable states, checking only that no command aborts')
  } else {
    const scope = outcome.exhausted ? 'in every reachable state (the whole state space)' : outcome.truncated ? `in the first ${outcome.statesExplored} states (stopped by --max-states)` : `in every state up to depth ${outcome.depthReached}`
    const noun = eventually.length === 0 ? ['the invariant holds', 'invariants hold'] : ['the property holds', 'properties hold']
    lines.push(`ok: ${propertyCount === 1 ? noun[0]! : `all ${propertyCount} ${noun[1]!}`} ${scope}`)
  }
  const sym = outcome.symmetry
  const standsFor = sym.statesWithoutSymmetry === undefined ? '' : `; they stand for ${sym.statesWithoutSymmetry} states (${(sym.statesWithoutSymmetry / Math.max(1, outcome.statesExplored)).toFixed(1)}x)`
  lines.push(sym.enabled
    ? `symmetry: on, clients interchangeable${sym.fixedClients.length > 0 ? ` except ${sym.fixedClients.join(', ')} (named by a property or a domain)` : ''}${standsFor}`
    : `symmetry: off`)
  lines.push(`explored ${outcome.statesExplored} states (${outcome.transitions} transitions) in ${elapsedMs.toFixed(1)} ms (${statesPerSecond} states/s); fingerprint collision probability ${outcome.fingerprints.collisionProbability.toExponential(1)}`)
  io.stdout(lines.join('\n'))
  return outcome.ok ? ExitCode.OK : ExitCode.FAILED
}
