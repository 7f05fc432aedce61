import {
  clientNames, compileInvariant, describeDomains, formatDiagnostic, modelCheck, parseDomain,
  type CompiledInvariant, type ModelCheckResult,
} from '@lockstep/dsl'
import { isLockstepError } from '@lockstep/interface'
import { intFlag, parseFlags } from '../args'
import { ExitCode, type Io } from '../io'
import { readSpec } from '../spec-file'

export const checkUsage = `lockstep check FILE.sm --clients N --depth D [--invariant EXPR]... [--domain PARAM=v1,v2]... [--max-states M] [--json]

Bounded model checking: explores every interleaving of commands from N clients
(c1…cN), breadth first up to D commands, and checks each invariant (a DSL bool
expression over the state variables, e.g. "not (user in waiting)") in every
state reached. The first violation found has a shortest trace.
  --clients     number of clients (default 2)
  --depth       longest command sequence (default 6)
  --invariant   an invariant; repeat for more
  --domain      argument values to try: PARAM=v1,v2 or COMMAND.PARAM=v1,v2
                (defaults: int 0,1; string a,b; bool false,true; client_id the clients)
  --max-states  stop after this many distinct states (default 2000000)
  --json        print one JSON object
Exit 0 when every invariant holds, 1 on a violation or errors in the spec, 2 for
bad usage or input.`

/** `lockstep check`: bounded model checking of a DSL spec. */
export async function checkCommand(args: string[], io: Io): Promise<number> {
  let values: { clients?: string; depth?: string; invariant?: string[]; domain?: string[]; 'max-states'?: string; json?: boolean; help?: boolean }
  let positionals: string[]
  let clients: number
  let depth: number
  let maxStates: number
  try {
    const flags = parseFlags('check', args, {
      clients: { type: 'string' },
      depth: { type: 'string' },
      invariant: { type: 'string', multiple: true },
      domain: { type: 'string', multiple: true },
      'max-states': { type: 'string' },
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
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${checkUsage}`)
    return ExitCode.USAGE
  }
  const spec = await readSpec('check', positionals, checkUsage, io)
  if (typeof spec === 'number') return spec
  const { file, result } = spec
  if (!result.program || !result.machine) {
    io.stderr(`lockstep check: ${file} has errors; fix them first`)
    return ExitCode.FAILED
  }
  const program = result.program

  const invariants: CompiledInvariant[] = []
  let badInput = false
  ;(values.invariant ?? []).forEach((text, i) => {
    const compiled = compileInvariant(program, text, { file: `--invariant ${i + 1}` })
    for (const diagnostic of compiled.diagnostics) io.stderr(formatDiagnostic(diagnostic, text))
    if (compiled.invariant) invariants.push(compiled.invariant)
    else badInput = true
  })
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

  const started = performance.now()
  let outcome: ModelCheckResult
  try {
    outcome = modelCheck(result.machine, { clients, depth, invariants, domains, maxStates })
  } catch (error) {
    io.stderr(`lockstep check: ${(error as Error).message}`)
    return isLockstepError(error) && error.code !== 'INTERNAL' ? ExitCode.USAGE : ExitCode.FAILED
  }
  const elapsedMs = performance.now() - started
  const statesPerSecond = elapsedMs > 0 ? Math.round(outcome.statesExplored / (elapsedMs / 1000)) : outcome.statesExplored

  if (values.json) {
    io.stdout(JSON.stringify({
      ok: outcome.ok,
      machine: program.name,
      file,
      clients: clientNames(clients),
      depth,
      invariants: invariants.map((inv) => inv.text),
      statesExplored: outcome.statesExplored,
      transitions: outcome.transitions,
      depthReached: outcome.depthReached,
      exhausted: outcome.exhausted,
      truncated: outcome.truncated,
      elapsedMs: Math.round(elapsedMs * 10) / 10,
      statesPerSecond,
      ...(outcome.violation ? { violation: outcome.violation } : {}),
    }))
    return outcome.ok ? ExitCode.OK : ExitCode.FAILED
  }

  const lines: string[] = []
  lines.push(`checking ${program.name} (${file}): ${clients} client${clients === 1 ? '' : 's'} (${clientNames(clients).join(', ')}), depth ${depth}, ${invariants.length} invariant${invariants.length === 1 ? '' : 's'}`)
  const domainsUsed = Object.entries(describeDomains(program, clients, domains))
  if (domainsUsed.length > 0) lines.push(`arguments: ${domainsUsed.map(([key, vals]) => `${key} ∈ {${vals.map((v) => JSON.stringify(v)).join(', ')}}`).join('; ')}`)
  if (outcome.violation) {
    const v = outcome.violation
    lines.push(`VIOLATION of invariant: ${v.invariant}`)
    lines.push(`  ${v.message}`)
    lines.push(`shortest trace (${v.trace.length} step${v.trace.length === 1 ? '' : 's'}):`)
    v.trace.forEach((step, i) => {
      const outputs = step.outputs.map((o) => JSON.stringify({ to: o.to, value: o.value })).join(' ')
      lines.push(`  ${i + 1}. ${step.line}${outputs ? `    → ${outputs}` : ''}`)
    })
    if (v.trace.length === 0) lines.push('  (the initial state)')
    lines.push(`state: ${JSON.stringify(v.state)}`)
  } else if (invariants.length === 0) {
    lines.push('no invariants given: explored the reachable states without checking any')
  } else {
    const scope = outcome.exhausted ? 'in every reachable state (the whole state space)' : outcome.truncated ? `in the first ${outcome.statesExplored} states (stopped by --max-states)` : `in every state up to depth ${outcome.depthReached}`
    lines.push(`ok: ${invariants.length === 1 ? 'the invariant holds' : `all ${invariants.length} invariants hold`} ${scope}`)
  }
  lines.push(`explored ${outcome.statesExplored} states (${outcome.transitions} transitions) in ${elapsedMs.toFixed(1)} ms (${statesPerSecond} states/s)`)
  io.stdout(lines.join('\n'))
  return outcome.ok ? ExitCode.OK : ExitCode.FAILED
}
