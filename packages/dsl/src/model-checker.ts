import { ErrorCodes, LockstepError, type Output } from '@lockstep/interface'
import type { CheckedProgram, ParamInfo } from './checker'
import { formatDiagnostics } from './diagnostics'
import { StateKeys } from './state-key'
import { forEachExpression, readsNow, type CompiledMachine, type DslMachine, type Frame } from './interpreter'
import { compileInvariant, type CompiledInvariant } from './program'
import { isScalar, typeToString, type Type } from './types'
import { ConversionError, emptyValue, fromJson, toJson, type Value } from './values'

/** Options for {@link modelCheck}. */
export interface ModelCheckOptions {
  /** How many clients (named `c1` … `cN`), or their names. */
  readonly clients: number | readonly string[]
  /** The longest command sequence to explore. */
  readonly depth: number
  /** Bool DSL expressions over the state variables, checked in every reachable state. */
  readonly invariants: readonly (string | CompiledInvariant)[]
  /**
   * Argument values to try, by parameter name (`key`) or by command and
   * parameter (`put.key`), as JSON. Defaults: int {0, 1}, string {"a", "b"},
   * bool {false, true}, client_id the clients, lists, sets and maps {Φ}.
   */
  readonly domains?: Readonly<Record<string, readonly unknown[]>>
  /** Stop after this many distinct states (default 2,000,000). */
  readonly maxStates?: number
  /**
   * For specs that read `now`: how many milliseconds may pass before a command
   * that reads `now` (each value is one choice the search explores). Default:
   * 0, 1 and every positive int literal written in the commands that read
   * `now` (so `expires := now + 100` lets 100 ms pass at once).
   */
  readonly timeSteps?: readonly number[]
  /** The agreed time of the first command that reads `now` before any time passed (default 0). */
  readonly startTime?: number
  /** Time never advances past `startTime + maxTime` (default: twice the largest time step). */
  readonly maxTime?: number
}

/** How the model checker modelled `now` (present when the spec reads it). */
export interface TimeModel {
  readonly startTime: number
  readonly steps: readonly number[]
  readonly maxTime: number
}

/** One step of a trace: which client ran which command, and what it sent. */
export interface TraceStep {
  readonly client: string
  readonly command: string
  readonly args: Readonly<Record<string, unknown>>
  readonly outputs: readonly Output[]
  /** The step as a `lockstep exec` input line: `c1 acquire`, `c2 put {"key":"a","value":3}`. */
  readonly line: string
  /** The agreed time the command ran at (what `now` read). */
  readonly time: number
}

/** An invariant that failed, with the shortest command sequence that reaches the bad state. */
export interface Violation {
  readonly invariant: string
  /** Why it failed: it was false, Φ, or its evaluation failed. */
  readonly message: string
  readonly trace: readonly TraceStep[]
  /** The bad state as JSON. */
  readonly state: Readonly<Record<string, unknown>>
}

/** What {@link modelCheck} found. */
export interface ModelCheckResult {
  /** True when every invariant held in every state reached. */
  readonly ok: boolean
  /** Distinct states visited (including the initial one). */
  readonly statesExplored: number
  /** Commands executed (including ones that failed or changed nothing). */
  readonly transitions: number
  /** The deepest level explored completely. */
  readonly depthReached: number
  /** True when the whole state space was explored before reaching the depth bound. */
  readonly exhausted: boolean
  /** True when `maxStates` stopped the search. */
  readonly truncated: boolean
  readonly violation?: Violation
  /** How time was modelled, when the spec reads `now`. */
  readonly time?: TimeModel
}

interface Action {
  readonly client: string
  readonly commandIndex: number
  readonly args: readonly Value[]
}

/** The client names for a count or a list. */
export function clientNames(clients: number | readonly string[]): string[] {
  if (typeof clients !== 'number') return [...clients]
  return Array.from({ length: clients }, (_, i) => `c${i + 1}`)
}

/** The default domain of a parameter type. */
function defaultDomain(type: Type, clients: readonly string[]): Value[] {
  switch (type.kind) {
    case 'int':
      return [0, 1]
    case 'string':
      return ['a', 'b']
    case 'bool':
      return [false, true]
    case 'client_id':
      return [...clients]
    default:
      return [emptyValue(type)]
  }
}

/**
 * Parses a command-line domain `PARAM=v1,v2` (or `COMMAND.PARAM=…`) for a
 * program: ints must be integers, bools true or false, strings and client ids
 * are taken as written. Throws `INVALID_CONFIG` for a bad spec.
 */
export function parseDomain(program: CheckedProgram, spec: string): { key: string; values: unknown[] } {
  const eq = spec.indexOf('=')
  if (eq <= 0) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `--domain '${spec}' must look like PARAM=v1,v2 or COMMAND.PARAM=v1,v2`)
  const key = spec.slice(0, eq)
  const raw = spec.slice(eq + 1).split(',')
  const params = paramsForKey(program, key)
  if (params.length === 0) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `--domain ${key}: no command has a parameter '${key}'${knownParams(program)}`)
  const type = params[0]!.type
  if (!isScalar(type)) throw new LockstepError(ErrorCodes.UNSUPPORTED, `--domain ${key}: domains for ${typeToString(type)} parameters cannot be given on the command line; pass them to modelCheck as JSON`)
  const values = raw.map((text) => {
    switch (type.kind) {
      case 'int':
        if (!/^-?[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `--domain ${key}: '${text}' is not an integer`)
        return Number(text)
      case 'bool':
        if (text !== 'true' && text !== 'false') throw new LockstepError(ErrorCodes.INVALID_CONFIG, `--domain ${key}: '${text}' is not true or false`)
        return text === 'true'
      case 'client_id':
        if (text.length === 0) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `--domain ${key}: a client id cannot be empty`)
        return text
      default:
        return text
    }
  })
  return { key, values }
}

function knownParams(program: CheckedProgram): string {
  const names = program.commands.flatMap((c) => c.params.map((p) => `${c.name}.${p.name}`))
  return names.length === 0 ? ' (no command takes parameters)' : `; the parameters are ${names.join(', ')}`
}

function paramsForKey(program: CheckedProgram, key: string): ParamInfo[] {
  const dot = key.indexOf('.')
  if (dot >= 0) {
    const command = program.commands.find((c) => c.name === key.slice(0, dot))
    const param = command?.params.find((p) => p.name === key.slice(dot + 1))
    return param ? [param] : []
  }
  return program.commands.flatMap((c) => c.params.filter((p) => p.name === key))
}

function buildActions(compiled: CompiledMachine, clients: readonly string[], domains: Readonly<Record<string, readonly unknown[]>>): Action[] {
  const program = compiled.program
  for (const key of Object.keys(domains)) {
    if (paramsForKey(program, key).length === 0) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `domain '${key}' names no parameter${knownParams(program)}`)
  }
  const actions: Action[] = []
  for (const command of program.commands) {
    const paramDomains = command.params.map((param) => {
      const given = domains[`${command.name}.${param.name}`] ?? domains[param.name]
      if (given === undefined) return defaultDomain(param.type, clients)
      if (given.length === 0) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `the domain of ${command.name}.${param.name} is empty`)
      return given.map((json) => {
        try {
          return fromJson(json, param.type, `${command.name}.${param.name}`, false)
        } catch (error) {
          if (error instanceof ConversionError) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `bad domain value: ${error.message}`)
          throw error
        }
      })
    })
    let tuples: Value[][] = [[]]
    for (const domain of paramDomains) tuples = tuples.flatMap((tuple) => domain.map((value) => [...tuple, value]))
    for (const client of clients) for (const args of tuples) actions.push({ client, commandIndex: command.index, args })
  }
  return actions
}

function describeStep(compiled: CompiledMachine, action: Action, outputs: readonly Output[], time: number): TraceStep {
  const command = compiled.program.commands[action.commandIndex]!
  const args: Record<string, unknown> = {}
  command.params.forEach((param, i) => {
    args[param.name] = toJson(action.args[i]!, param.type)
  })
  const line = `${action.client} ${command.name}${command.params.length > 0 ? ' ' + JSON.stringify(args) : ''}`
  return { client: action.client, command: command.name, args, outputs, line, time }
}

function checkTimeOption(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `${name} must be a whole number of milliseconds${min === 0 ? ' ≥ 0' : ''}, got ${value}`)
  }
  return value
}

/**
 * How `now` is modelled: the time steps (given, or 0, 1 and the positive int
 * literals of the commands that read `now`), the start time and the bound.
 * Undefined when no command reads `now`: time then plays no part in the search.
 */
export function timeModel(program: CheckedProgram, options: Pick<ModelCheckOptions, 'timeSteps' | 'startTime' | 'maxTime'> = {}): TimeModel | undefined {
  const readers = program.commands.filter((c) => readsNow(c.decl))
  if (readers.length === 0) return undefined
  let steps: number[]
  if (options.timeSteps !== undefined) {
    if (options.timeSteps.length === 0) throw new LockstepError(ErrorCodes.INVALID_CONFIG, 'timeSteps must hold at least one step (0 lets time stand still)')
    steps = options.timeSteps.map((step) => checkTimeOption('a time step', step, 0))
  } else {
    steps = [0, 1]
    for (const command of readers) {
      forEachExpression(command.decl, (node) => {
        if (node.kind === 'Int' && node.value > 0) steps.push(node.value)
      })
    }
  }
  steps = [...new Set(steps)].sort((a, b) => a - b)
  const startTime = options.startTime === undefined ? 0 : checkTimeOption('startTime', options.startTime, -Number.MAX_SAFE_INTEGER)
  const maxTime = options.maxTime === undefined ? 2 * steps[steps.length - 1]! : checkTimeOption('maxTime', options.maxTime, 0)
  if (startTime + maxTime > Number.MAX_SAFE_INTEGER) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `startTime + maxTime must stay within ${Number.MAX_SAFE_INTEGER}`)
  return { startTime, steps, maxTime }
}

/** One frame reused for every invariant check (invariants only read it). */
const invariantFrame: Frame = { vars: [], args: [], client: null, time: null, owned: null }

function checkInvariants(invariants: readonly CompiledInvariant[], state: Value[]): { invariant: string; message: string } | undefined {
  const frame = invariantFrame
  frame.vars = state
  for (const invariant of invariants) {
    let value: Value
    try {
      value = invariant.evaluate(frame)
    } catch (error) {
      return { invariant: invariant.text, message: `evaluating the invariant failed: ${(error as Error).message}` }
    }
    if (value !== true) return { invariant: invariant.text, message: value === null ? 'the invariant is Φ' : 'the invariant does not hold' }
  }
  return undefined
}

/**
 * Explores every interleaving of commands from the clients, breadth first up to
 * `depth` commands, deduplicating states by their canonical encoding, and checks
 * every invariant in every state reached. Breadth first means the first
 * violation found has a shortest trace. Deterministic: no clocks, no randomness.
 */
export function modelCheck(machine: DslMachine | CompiledMachine, options: ModelCheckOptions): ModelCheckResult {
  const compiled = 'compiled' in machine ? machine.compiled : machine
  const program = compiled.program
  if (!Number.isInteger(options.depth) || options.depth < 0) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `depth must be a whole number ≥ 0, got ${options.depth}`)
  const clients = clientNames(options.clients)
  if (clients.length === 0) throw new LockstepError(ErrorCodes.INVALID_CONFIG, 'the model checker needs at least one client')
  const invariants = options.invariants.map((invariant) => {
    if (typeof invariant !== 'string') return invariant
    const result = compileInvariant(program, invariant)
    if (!result.invariant) {
      throw new LockstepError(ErrorCodes.DSL_ERROR, `invalid invariant '${invariant}':\n${formatDiagnostics(result.diagnostics, invariant)}`)
    }
    return result.invariant
  })
  const actions = buildActions(compiled, clients, options.domains ?? {})
  const maxStates = options.maxStates ?? 2_000_000
  // Time: the agreed time of the last command that read `now`. Only such
  // commands observe it, so time passes (by one of the steps) just before them;
  // every other command runs at the time of the state it starts from.
  const time = timeModel(program, options)
  const startTime = time?.startTime ?? 0
  const latest = startTime + (time?.maxTime ?? 0)
  const actionSteps: (readonly number[])[] = program.commands.map((c) => (time !== undefined && readsNow(c.decl) ? time.steps : [0]))

  const parents: number[] = [-1]
  const via: number[] = [-1]
  const times: number[] = [startTime]
  const initial = compiled.init()
  // States are deduplicated by a compact canonical key: equal exactly when the snapshot bytes are
  // (and, for specs that read `now`, the times are).
  const keys = new StateKeys(program)
  const keyOf = time === undefined ? (state: Value[]) => keys.key(state) : (state: Value[], at: number) => `${keys.key(state)}@${at}`
  const visited = new Map<string, number>([[keyOf(initial, startTime), 0]])
  let transitions = 0
  const timeInfo = time === undefined ? {} : { time }

  const violationAt = (id: number, state: Value[], found: { invariant: string; message: string }): ModelCheckResult => {
    const path: number[] = []
    for (let node = id; node > 0; node = parents[node]!) path.push(node)
    path.reverse()
    const trace: TraceStep[] = []
    let current = compiled.init()
    for (const node of path) {
      const action = actions[via[node]!]!
      const result = compiled.exec(current, action.commandIndex, action.client, action.args, times[node]!)
      trace.push(describeStep(compiled, action, result.outputs, times[node]!))
      current = result.state
    }
    return {
      ok: false,
      statesExplored: visited.size,
      transitions,
      depthReached: path.length,
      exhausted: false,
      truncated: false,
      violation: { ...found, trace, state: compiled.stateToJson(state) },
      ...timeInfo,
    }
  }

  const initialViolation = checkInvariants(invariants, initial)
  if (initialViolation) return violationAt(0, initial, initialViolation)

  // The frontier as parallel arrays (ids, states, times): fewer objects for the collector.
  let frontierIds: number[] = [0]
  let frontierStates: Value[][] = [initial]
  let frontierTimes: number[] = [startTime]
  let depthReached = 0
  for (let depth = 1; depth <= options.depth && frontierIds.length > 0; depth++) {
    const nextIds: number[] = []
    const nextStates: Value[][] = []
    const nextTimes: number[] = []
    for (let f = 0; f < frontierIds.length; f++) {
      const id = frontierIds[f]!
      const state = frontierStates[f]!
      const before = frontierTimes[f]!
      for (let a = 0; a < actions.length; a++) {
        const action = actions[a]!
        for (const step of actionSteps[action.commandIndex]!) {
          const at = before + step
          if (step > 0 && at > latest) continue
          transitions++
          let successor: Value[]
          try {
            successor = compiled.step(state, action.commandIndex, action.client, action.args, at)
          } catch (error) {
            // A failed command leaves the state unchanged: nothing new to explore.
            if (error instanceof LockstepError && error.code === ErrorCodes.COMMAND_FAILED) continue
            throw error
          }
          const key = keyOf(successor, at)
          if (visited.has(key)) continue
          const successorId = parents.length
          parents.push(id)
          via.push(a)
          times.push(at)
          visited.set(key, successorId)
          if (invariants.length > 0) {
            const found = checkInvariants(invariants, successor)
            if (found) return violationAt(successorId, successor, found)
          }
          nextIds.push(successorId)
          nextStates.push(successor)
          nextTimes.push(at)
          if (visited.size >= maxStates) {
            return { ok: true, statesExplored: visited.size, transitions, depthReached, exhausted: false, truncated: true, ...timeInfo }
          }
        }
      }
    }
    frontierIds = nextIds
    frontierStates = nextStates
    frontierTimes = nextTimes
    depthReached = depth
  }
  return { ok: true, statesExplored: visited.size, transitions, depthReached, exhausted: frontierIds.length === 0, truncated: false, ...timeInfo }
}

/** The default argument domain of each parameter, as JSON (for reports). */
export function describeDomains(program: CheckedProgram, clients: number | readonly string[], domains: Readonly<Record<string, readonly unknown[]>> = {}): Record<string, unknown[]> {
  const names = clientNames(clients)
  const out: Record<string, unknown[]> = {}
  for (const command of program.commands) {
    for (const param of command.params) {
      const given = domains[`${command.name}.${param.name}`] ?? domains[param.name]
      out[`${command.name}.${param.name}`] = given ? [...given] : defaultDomain(param.type, names).map((v) => toJson(v, param.type))
    }
  }
  return out
}
