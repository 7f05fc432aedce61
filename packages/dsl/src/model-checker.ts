import { ErrorCodes, LockstepError, type Output } from '@lockstep/interface'
import type { CheckedProgram, ParamInfo } from './checker'
import { formatDiagnostics } from './diagnostics'
import { forEachExpression, readsNow, type CompiledMachine, type DslMachine } from './interpreter'
import { checkLiveness, type EventuallyProperty } from './liveness'
import type { CompiledInvariant } from './program'
import { compileProperty, type CompiledProperty } from './property'
import { CanonicalKeys, FingerprintSet, fingerprint } from './symmetry'
import { isScalar, typeToString, type Type } from './types'
import { ConversionError, emptyValue, fromJson, toJson, valueEquals, type Value } from './values'

/** Options for {@link modelCheck}. */
export interface ModelCheckOptions {
  /** How many clients (named `c1` … `cN`), or their names. */
  readonly clients: number | readonly string[]
  /** The longest command sequence to explore. */
  readonly depth: number
  /**
   * Properties: bool DSL expressions over the state variables, checked in every
   * reachable state; with quantifiers over the clients (`forall c: …`,
   * `exists c: …`), client literals (`c1`), and primed names for transition
   * properties checked on every step (`always token' >= token`). See
   * {@link CompiledProperty}.
   */
  readonly invariants: readonly (string | CompiledInvariant | CompiledProperty)[]
  /** Let commands abort (fail at run time) without reporting it. Default false: an abort is a violation. */
  readonly allowAbort?: boolean
  /** Report a state where a client's command has no enabled arm (no guard holds). Default false. */
  readonly deadlock?: boolean
  /**
   * Symmetry reduction: states that differ only by a permutation of the client
   * ids count once. Default true. Clients that properties or argument domains
   * name stay in place (the reduction uses only the permutations of the others).
   */
  readonly symmetry?: boolean
  /**
   * Liveness properties, checked under weak fairness of every command of every
   * client, on the state graph explored up to `depth`: after `after` (`"c1 acquire"`;
   * default: from the start), `property` must eventually hold. A violation is a
   * lasso: a path, then a cycle the run can repeat forever.
   */
  readonly eventually?: readonly (string | EventuallyProperty)[]
  /** Called as the search goes (every 65,536 new states and after each depth): for progress reports. */
  readonly onProgress?: (progress: ModelCheckProgress) => void
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

/** How far the search got, for progress reports. */
export interface ModelCheckProgress {
  readonly statesExplored: number
  readonly transitions: number
  /** The depth being explored. */
  readonly depth: number
}

/**
 * What was violated: a state `invariant`, a transition `property`, a command
 * that aborted (`abort`), a command with no enabled arm (`deadlock`), or an
 * `eventually` property (`liveness`).
 */
export type ViolationKind = 'invariant' | 'property' | 'abort' | 'deadlock' | 'liveness'

/** A violation, with the shortest command sequence that reaches it (a lasso for liveness). */
export interface Violation {
  readonly kind: ViolationKind
  /** The property violated (its text), or for `abort` and `deadlock` the command line. */
  readonly invariant: string
  /** Why it failed: it was false, Φ, or its evaluation failed; the abort's error; … */
  readonly message: string
  /** The steps to the bad state. For `abort` and `deadlock` the last step is the command that aborted or had no enabled arm (it changed nothing). */
  readonly trace: readonly TraceStep[]
  /** For `liveness`: steps that lead from the last state of `trace` back to it, repeated forever (empty: nothing changes any more). */
  readonly cycle?: readonly TraceStep[]
  /** The bad state as JSON (for `liveness`, where the cycle starts). */
  readonly state: Readonly<Record<string, unknown>>
}

/** How symmetry reduction ran. */
export interface SymmetryInfo {
  /** True when states were reduced under permutations of client ids. */
  readonly enabled: boolean
  /** Clients kept in place (named by a property or an argument domain). */
  readonly fixedClients: readonly string[]
  /**
   * How many states the search stands for: the states explored without symmetry reduction would
   * be this many (each state explored counts for the states that differ from it by a permutation
   * of clients). Absent for specs with sets of client ids or maps keyed by them.
   */
  readonly statesWithoutSymmetry?: number
}

/** The visited set keeps 64-bit fingerprints of states, as TLC does: a collision could hide a state. */
export interface FingerprintInfo {
  readonly bits: 64
  /** The probability that two of the distinct states explored share a fingerprint: n(n−1)/2 / 2^64. */
  readonly collisionProbability: number
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
  readonly symmetry: SymmetryInfo
  readonly fingerprints: FingerprintInfo
  /** For `eventually` properties: the states the liveness search explored (without symmetry reduction). */
  readonly livenessStates?: number
}

/** A command of one client with its arguments: one kind of transition. */
export interface Action {
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

export function buildActions(compiled: CompiledMachine, clients: readonly string[], domains: Readonly<Record<string, readonly unknown[]>>): Action[] {
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

export function describeStep(compiled: CompiledMachine, action: Action, outputs: readonly Output[], time: number): TraceStep {
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

/** A property ready to evaluate: state properties read the state, transition properties the state before and after. */
interface Check {
  readonly text: string
  readonly transition: boolean
  readonly evaluate: (vars: readonly Value[]) => Value
}

/** Compiles the `invariants` option: strings are compiled as properties over the clients. */
export function compileChecks(program: CheckedProgram, clients: readonly string[], invariants: ModelCheckOptions['invariants']): { checks: Check[]; literals: Set<string> } {
  const literals = new Set<string>()
  const checks = invariants.map((invariant): Check => {
    if (typeof invariant === 'string') {
      const result = compileProperty(program, invariant, { clients, file: '<invariant>' })
      if (!result.property) {
        throw new LockstepError(ErrorCodes.DSL_ERROR, `invalid invariant '${invariant}':\n${formatDiagnostics(result.diagnostics, invariant)}`)
      }
      invariant = result.property
    }
    if ('kind' in invariant) {
      for (const client of invariant.clientLiterals) literals.add(client)
      const property = invariant
      return { text: property.text, transition: property.kind === 'transition', evaluate: (vars) => property.evaluate(vars) }
    }
    const compiled = invariant
    const frame = { vars: [] as Value[], args: [], client: null, time: null, owned: null }
    return {
      text: compiled.text,
      transition: false,
      evaluate: (vars) => {
        frame.vars = vars as Value[]
        return compiled.evaluate(frame)
      },
    }
  })
  return { checks, literals }
}

/** The first check that does not hold for `vars`, and why. */
export function failedCheck(checks: readonly Check[], vars: readonly Value[]): { invariant: string; message: string } | undefined {
  for (const check of checks) {
    let value: Value
    try {
      value = check.evaluate(vars)
    } catch (error) {
      return { invariant: check.text, message: `evaluating the ${check.transition ? 'property' : 'invariant'} failed: ${(error as Error).message}` }
    }
    if (value !== true) {
      const what = check.transition ? 'property' : 'invariant'
      return { invariant: check.text, message: value === null ? `the ${what} is Φ` : `the ${what} does not hold` }
    }
  }
  return undefined
}

/** True when two states hold equal values (a step that changes nothing is a stutter). */
function sameState(a: readonly Value[], b: readonly Value[]): boolean {
  for (let i = 0; i < a.length; i++) if (!valueEquals(a[i]!, b[i]!)) return false
  return true
}

/** A growable array of 32-bit ints (4 bytes an entry instead of a JS array's 8). */
class IntVector {
  private data = new Int32Array(1024)
  length = 0
  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Int32Array(this.data.length * 2)
      bigger.set(this.data)
      this.data = bigger
    }
    this.data[this.length++] = value
  }
  get(index: number): number {
    return this.data[index]!
  }
}

/**
 * States waiting to be expanded, encoded exactly (see {@link CanonicalKeys.exact}) one after another in
 * one array. Their ids are consecutive (states get their ids in the order they are found).
 */
class Frontier {
  private codes: Uint16Array<ArrayBufferLike> = new Uint16Array(4096)
  private used = 0
  private readonly starts = new IntVector()
  private firstId = -1

  get size(): number {
    return this.starts.length
  }

  add(id: number, keys: CanonicalKeys, state: readonly Value[]): void {
    if (this.firstId === -1) this.firstId = id
    keys.exact(state)
    if (this.used + keys.length > this.codes.length) {
      const bigger = new Uint16Array(Math.max(this.codes.length * 2, this.used + keys.length))
      bigger.set(this.codes.subarray(0, this.used))
      this.codes = bigger
    }
    this.codes.set(keys.buffer.subarray(0, keys.length), this.used)
    this.starts.push(this.used)
    this.used += keys.length
  }

  id(index: number): number {
    return this.firstId + index
  }

  state(index: number, keys: CanonicalKeys): Value[] {
    return keys.decode(this.codes, this.starts.get(index))
  }
}

/** The client ids argument domains name: symmetry must keep them in place. */
function clientsInDomains(program: CheckedProgram, clients: readonly string[], domains: Readonly<Record<string, readonly unknown[]>>): string[] {
  const named: string[] = []
  for (const [key, values] of Object.entries(domains)) {
    if (!paramsForKey(program, key).some((p) => p.type.kind === 'client_id')) continue
    for (const value of values) if (typeof value === 'string' && clients.includes(value)) named.push(value)
  }
  return named
}

/**
 * Explores every interleaving of commands from the clients, breadth first up to
 * `depth` commands, deduplicating states by a 64-bit fingerprint of their
 * canonical encoding (under symmetry, of the encoding of their canonical
 * renaming), and checks every property on every state and step reached, every
 * command for aborts (unless `allowAbort`) and, with `deadlock`, for an enabled
 * arm. Breadth first means the first violation found has a shortest trace.
 * Then, for `eventually` properties, searches the state graph for a fair lasso.
 * Deterministic: no clocks, no randomness.
 */
export function modelCheck(machine: DslMachine | CompiledMachine, options: ModelCheckOptions): ModelCheckResult {
  const compiled = 'compiled' in machine ? machine.compiled : machine
  const program = compiled.program
  if (!Number.isInteger(options.depth) || options.depth < 0) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `depth must be a whole number ≥ 0, got ${options.depth}`)
  const clients = clientNames(options.clients)
  if (clients.length === 0) throw new LockstepError(ErrorCodes.INVALID_CONFIG, 'the model checker needs at least one client')
  const { checks, literals } = compileChecks(program, clients, options.invariants)
  const stateChecks = checks.filter((c) => !c.transition)
  const transitionChecks = checks.filter((c) => c.transition)
  const domains = options.domains ?? {}
  const actions = buildActions(compiled, clients, domains)
  const maxStates = options.maxStates ?? 2_000_000
  const allowAbort = options.allowAbort === true
  const deadlock = options.deadlock === true
  const onProgress = options.onProgress
  // Time: the agreed time of the last command that read `now`. Only such
  // commands observe it, so time passes (by one of the steps) just before them;
  // every other command runs at the time of the state it starts from.
  const time = timeModel(program, options)
  const startTime = time?.startTime ?? 0
  const latest = startTime + (time?.maxTime ?? 0)
  const actionSteps: (readonly number[])[] = program.commands.map((c) => (time !== undefined && readsNow(c.decl) ? time.steps : [0]))

  const fixed = new Set([...literals, ...clientsInDomains(program, clients, domains)])
  const keys = new CanonicalKeys(program, clients, options.symmetry === false ? undefined : fixed)
  const fixedClients = keys.symmetric ? clients.filter((c) => fixed.has(c)) : []
  let orbits: number | undefined = 0
  const print = new Uint32Array(2)
  const visited = new FingerprintSet()
  const seen = (state: Value[], at: number): boolean => {
    keys.canonical(state, time === undefined ? undefined : at)
    fingerprint(keys.buffer, keys.length, print)
    if (!visited.add(print[0]!, print[1]!)) return true
    const orbit = keys.orbitSize()
    orbits = orbit === undefined || orbits === undefined ? undefined : orbits + orbit
    return false
  }

  // The search tree, for traces: each state's parent, the action that reached it, and its time.
  const parents = new IntVector()
  const via = new IntVector()
  const times: number[] = []
  parents.push(-1)
  via.push(-1)
  if (time !== undefined) times.push(startTime)
  const timeOf = (id: number): number => (time === undefined ? startTime : times[id]!)
  const initial = compiled.init()
  seen(initial, startTime)
  let transitions = 0
  const timeInfo = time === undefined ? {} : { time }
  const summary = (): { symmetry: SymmetryInfo; fingerprints: FingerprintInfo } => ({
    symmetry: { enabled: keys.symmetric, fixedClients, ...(orbits === undefined ? {} : { statesWithoutSymmetry: orbits }) },
    fingerprints: { bits: 64, collisionProbability: (visited.size * (visited.size - 1)) / 2 / 2 ** 64 },
  })

  const pathTo = (id: number): { action: number; time: number }[] => {
    const path: { action: number; time: number }[] = []
    for (let node = id; node > 0; node = parents.get(node)) path.push({ action: via.get(node), time: timeOf(node) })
    return path.reverse()
  }
  const violationAt = (id: number, state: Value[], found: { kind: ViolationKind; invariant: string; message: string }, last?: { action: number; time: number }): ModelCheckResult => {
    const path = pathTo(id)
    if (last) path.push(last)
    const trace: TraceStep[] = []
    let current = compiled.init()
    for (const step of path) {
      const action = actions[step.action]!
      let result: { state: Value[]; outputs: Output[] }
      try {
        result = compiled.exec(current, action.commandIndex, action.client, action.args, step.time)
      } catch (error) {
        // Only the last step of an abort's trace fails: it changes nothing and sends nothing.
        if (!(error instanceof LockstepError) || error.code !== ErrorCodes.COMMAND_FAILED) throw error
        result = { state: current, outputs: [] }
      }
      trace.push(describeStep(compiled, action, result.outputs, step.time))
      current = result.state
    }
    return {
      ok: false,
      statesExplored: visited.size,
      transitions,
      depthReached: path.length - (last ? 1 : 0),
      exhausted: false,
      truncated: false,
      violation: { ...found, trace, state: compiled.stateToJson(state) },
      ...timeInfo,
      ...summary(),
    }
  }

  const initialViolation = failedCheck(stateChecks, initial)
  if (initialViolation) return violationAt(0, initial, { kind: 'invariant', ...initialViolation })

  // Transition properties read the state before and after a step side by side.
  const count = program.vars.length
  const pair: Value[] = new Array<Value>(2 * count).fill(null)
  // The frontier holds states encoded (a few bytes each), decoded when expanded.
  let frontier = new Frontier()
  frontier.add(0, keys, initial)
  let depthReached = 0
  let truncated = false
  search: for (let depth = 1; depth <= options.depth && frontier.size > 0; depth++) {
    const next = new Frontier()
    for (let f = 0; f < frontier.size; f++) {
      const id = frontier.id(f)
      const state = frontier.state(f, keys)
      const before = timeOf(id)
      if (transitionChecks.length > 0) for (let i = 0; i < count; i++) pair[i] = state[i]!
      for (let a = 0; a < actions.length; a++) {
        const action = actions[a]!
        const steps = actionSteps[action.commandIndex]!
        for (let s = 0; s < steps.length; s++) {
          const step = steps[s]!
          const at = before + step
          if (step > 0 && at > latest) continue
          transitions++
          let successor: Value[]
          try {
            successor = compiled.step(state, action.commandIndex, action.client, action.args, at)
          } catch (error) {
            // A failed command leaves the state unchanged: nothing new to explore.
            if (!(error instanceof LockstepError) || error.code !== ErrorCodes.COMMAND_FAILED) throw error
            if (allowAbort) continue
            const line = describeStep(compiled, action, [], at).line
            return violationAt(id, state, { kind: 'abort', invariant: line, message: error.message }, { action: a, time: at })
          }
          if (deadlock && compiled.lastArm === -1) {
            const line = describeStep(compiled, action, [], at).line
            return violationAt(id, state, { kind: 'deadlock', invariant: line, message: `${line} has no enabled arm: no guard holds` }, { action: a, time: at })
          }
          if (transitionChecks.length > 0 && !sameState(state, successor)) {
            for (let i = 0; i < count; i++) pair[count + i] = successor[i]!
            const found = failedCheck(transitionChecks, pair)
            if (found) {
              // Record the step so the trace ends with it, even when its target was seen before.
              parents.push(id)
              via.push(a)
              if (time !== undefined) times.push(at)
              return violationAt(parents.length - 1, successor, { kind: 'property', ...found })
            }
          }
          if (seen(successor, at)) continue
          const successorId = parents.length
          parents.push(id)
          via.push(a)
          if (time !== undefined) times.push(at)
          if (stateChecks.length > 0) {
            const found = failedCheck(stateChecks, successor)
            if (found) return violationAt(successorId, successor, { kind: 'invariant', ...found })
          }
          next.add(successorId, keys, successor)
          if ((visited.size & 0xffff) === 0) onProgress?.({ statesExplored: visited.size, transitions, depth })
          if (visited.size >= maxStates) {
            truncated = true
            break search
          }
        }
      }
    }
    frontier = next
    depthReached = depth
    onProgress?.({ statesExplored: visited.size, transitions, depth })
  }
  const exhausted = !truncated && frontier.size === 0
  const result: ModelCheckResult = { ok: true, statesExplored: visited.size, transitions, depthReached, exhausted, truncated, ...timeInfo, ...summary() }
  if (options.eventually === undefined || options.eventually.length === 0) return result
  const liveness = checkLiveness(compiled, {
    clients,
    actions,
    actionSteps,
    startTime,
    latest,
    timed: time !== undefined,
    depth: options.depth,
    maxStates,
    eventually: options.eventually,
  })
  if (liveness.violation === undefined) return { ...result, livenessStates: liveness.statesExplored }
  return { ...result, ok: false, violation: liveness.violation, livenessStates: liveness.statesExplored }
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
