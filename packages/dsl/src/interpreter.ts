import { ErrorCodes, LockstepError, type JsonValue, type Output, type StateMachine } from '@lockstep/interface'
import type { Arm, CommandDecl, Expr, Span, Stmt } from './ast'
import type { CheckedProgram, CommandInfo, VarInfo } from './checker'
import type { SourceText } from './diagnostics'
import { commandSchema } from './schema'
import { summarizeState } from './summary'
import { isScalar } from './types'
import {
  ConversionError, MAX_VALUE_SIZE, Reasons, compileEncoder, emptyValue, failureMessage, fromJson, isEmptyValue, snippetOf, toJson, valueEquals,
  type Scalar, type Site, type Value,
} from './values'

/** The state of an interpreted machine: the values of its state variables, in declaration order. */
export type DslState = Value[]

/** A command as clients send it: `{ name: 'put', args: { key: 'a', value: 3 } }`. */
export interface DslCommand {
  readonly name: string
  readonly args?: Readonly<Record<string, unknown>>
}

/** What an expression sees while it runs. */
export interface Frame {
  /** Working copy of the state variables. */
  vars: Value[]
  /** Arguments, in parameter order. */
  readonly args: readonly Value[]
  /** The requesting client; null outside commands. */
  readonly client: string | null
  /** The agreed time of the command (`ApplyContext.time`, the DSL's `now`); null outside commands. */
  readonly time: number | null
  /** Maps this command copied already, so it may update them in place. */
  owned: Set<object> | null
}

/** A compiled expression. */
export type Evaluator = (frame: Frame) => Value

type Executor = (frame: Frame, out: Output[]) => void

interface CompiledArm {
  readonly guard: Evaluator | undefined
  readonly guardSite: Site | undefined
  readonly statements: readonly Executor[]
}

/** A command compiled to closures. */
interface CompiledCommand {
  readonly info: CommandInfo
  readonly arms: readonly CompiledArm[]
}

/** Where compiled code reports failures. */
export interface SiteContext {
  readonly source: SourceText
  readonly command: string
  readonly inCommand: boolean
}

const MAX_INT = Number.MAX_SAFE_INTEGER
const noArgs: readonly Value[] = Object.freeze([])

/** Builds the failure site of a span. */
export function siteOf(context: SiteContext, span: Span): Site {
  const { line, column } = context.source.position(span.start)
  return {
    location: `${context.source.file}:${line}:${column}`,
    command: context.command,
    snippet: snippetOf(context.source.text.slice(span.start, span.end)),
    file: context.source.file,
    line,
    column,
    inCommand: context.inCommand,
  }
}

/** Throws the deterministic run-time failure of a site. */
export function fail(site: Site, reason: string): never {
  throw new LockstepError(ErrorCodes.COMMAND_FAILED, failureMessage(site, reason), {
    command: site.command,
    file: site.file,
    line: site.line,
    column: site.column,
  })
}

function asInt(value: Value, site: Site): number {
  if (value === null) fail(site, Reasons.nilOperand)
  return value as number
}

function asBool(value: Value, site: Site): boolean {
  if (value === null) fail(site, Reasons.nilOperand)
  return value as boolean
}

function checkedInt(value: number, site: Site): number {
  if (value > MAX_INT || value < -MAX_INT) fail(site, Reasons.overflow)
  return value === 0 ? 0 : value
}

/** Every expression of a command (guards and statements), each visited with its subexpressions, parents first. */
export function forEachExpression(command: CommandDecl, onNode: (node: Expr) => void): void {
  const visit = (e: Expr): void => {
    onNode(e)
    switch (e.kind) {
      case 'Unary':
        visit(e.operand)
        return
      case 'Binary':
        visit(e.left)
        visit(e.right)
        return
      case 'Call':
        e.args.forEach(visit)
        return
      case 'Index':
        visit(e.object)
        visit(e.index)
        return
      default:
        return
    }
  }
  for (const arm of command.arms) {
    if (arm.guard) visit(arm.guard)
    for (const statement of arm.statements) {
      if (statement.kind === 'Assign') visit(statement.value)
      else if (statement.kind === 'IndexAssign') {
        visit(statement.index)
        visit(statement.value)
      } else if (statement.kind === 'Send') {
        visit(statement.value)
        visit(statement.to)
      }
    }
  }
}

/** True when the command reads `now`: only such commands can observe the agreed time. */
export function readsNow(command: CommandDecl): boolean {
  let found = false
  forEachExpression(command, (node) => {
    if (node.kind === 'Now') found = true
  })
  return found
}

/**
 * The state variables of map type that a command reads in a way that could
 * keep a reference (`a := m`). Other maps are copied once per command and then
 * updated in place; these are copied on every update.
 */
export function escapingMaps(command: CommandDecl): Set<number> {
  const escaping = new Set<number>()
  const visit = (e: Expr, safe: boolean): void => {
    switch (e.kind) {
      case 'Name':
        if (!safe && e.binding?.kind === 'var' && e.type?.kind === 'map') escaping.add(e.binding.index)
        return
      case 'Unary':
        visit(e.operand, false)
        return
      case 'Binary':
        visit(e.left, e.op === '=' || e.op === '!=')
        visit(e.right, e.op === '=' || e.op === '!=' || e.op === 'in')
        return
      case 'Call':
        for (const arg of e.args) visit(arg, e.callee.name === 'len')
        return
      case 'Index':
        visit(e.object, true)
        visit(e.index, false)
        return
      default:
        return
    }
  }
  for (const arm of command.arms) {
    if (arm.guard) visit(arm.guard, false)
    for (const statement of arm.statements) {
      switch (statement.kind) {
        case 'Assign':
          visit(statement.value, false)
          break
        case 'IndexAssign':
          visit(statement.index, false)
          visit(statement.value, false)
          break
        case 'Send':
          visit(statement.value, true)
          visit(statement.to, false)
          break
        default:
          break
      }
    }
  }
  return escaping
}

/** Compiles an expression (already checked) to a closure. */
export function compileExpression(e: Expr, context: SiteContext): Evaluator {
  const type = e.type!
  switch (e.kind) {
    case 'Int':
    case 'String':
    case 'Bool': {
      const value = e.value
      return () => value
    }
    case 'Atom': {
      const value = e.name
      return () => value
    }
    case 'Nil':
      if (type.kind === 'list') return () => []
      if (type.kind === 'set') return () => new Set()
      if (type.kind === 'map') return () => new Map()
      return () => null
    case 'Client':
      return (frame) => frame.client
    case 'Now': {
      const site = siteOf(context, e)
      return (frame) => {
        const time = frame.time
        // Agreed time is the same on every replica, so this check fails everywhere or nowhere.
        if (!Number.isSafeInteger(time)) fail(site, Reasons.noTime)
        return time
      }
    }
    case 'Name': {
      const index = e.binding!.index
      return e.binding!.kind === 'var' ? (frame) => frame.vars[index]! : (frame) => frame.args[index]!
    }
    case 'Unary': {
      const operand = compileExpression(e.operand, context)
      const site = siteOf(context, e)
      if (e.op === 'not') return (frame) => !asBool(operand(frame), site)
      return (frame) => checkedInt(0 - asInt(operand(frame), site), site)
    }
    case 'Binary':
      return compileBinary(e, context)
    case 'Call': {
      const arg = compileExpression(e.args[0]!, context)
      const site = siteOf(context, e)
      switch (e.callee.name) {
        case 'head':
          return (frame) => {
            const list = arg(frame) as readonly Value[]
            if (list.length === 0) fail(site, Reasons.emptyHead)
            return list[0]!
          }
        case 'tail':
          return (frame) => {
            const list = arg(frame) as readonly Value[]
            if (list.length === 0) fail(site, Reasons.emptyTail)
            return list.slice(1)
          }
        default: {
          const argType = e.args[0]!.type!
          if (argType.kind === 'list') return (frame) => (arg(frame) as readonly Value[]).length
          if (argType.kind === 'set' || argType.kind === 'map') return (frame) => (arg(frame) as ReadonlySet<Scalar>).size
          return (frame) => {
            const text = arg(frame)
            if (text === null) fail(site, Reasons.nilOperand)
            return (text as string).length
          }
        }
      }
    }
    case 'Index': {
      const object = compileExpression(e.object, context)
      const index = compileExpression(e.index, context)
      const site = siteOf(context, e)
      return (frame) => {
        const map = object(frame) as ReadonlyMap<Scalar, Value>
        const key = index(frame)
        if (key === null) fail(site, Reasons.nilKey)
        const value = map.get(key as Scalar)
        if (value === undefined) fail(site, Reasons.missingKeyPrefix + JSON.stringify(key))
        return value
      }
    }
    case 'Error':
      throw new LockstepError(ErrorCodes.INTERNAL, 'cannot compile a program that has errors')
  }
}

function compileBinary(e: Extract<Expr, { kind: 'Binary' }>, context: SiteContext): Evaluator {
  const left = compileExpression(e.left, context)
  const right = compileExpression(e.right, context)
  const site = siteOf(context, e)
  switch (e.op) {
    case 'and':
      return (frame) => asBool(left(frame), site) && asBool(right(frame), site)
    case 'or':
      return (frame) => asBool(left(frame), site) || asBool(right(frame), site)
    case '+':
      return (frame) => checkedInt(asInt(left(frame), site) + asInt(right(frame), site), site)
    case '-':
      return (frame) => checkedInt(asInt(left(frame), site) - asInt(right(frame), site), site)
    case '*':
      return (frame) => checkedInt(asInt(left(frame), site) * asInt(right(frame), site), site)
    case '/':
      return (frame) => {
        const a = asInt(left(frame), site)
        const b = asInt(right(frame), site)
        if (b === 0) fail(site, Reasons.divisionByZero)
        return checkedInt(Math.trunc(a / b), site)
      }
    case '%':
      return (frame) => {
        const a = asInt(left(frame), site)
        const b = asInt(right(frame), site)
        if (b === 0) fail(site, Reasons.divisionByZero)
        return checkedInt(a % b, site)
      }
    case '<':
      return (frame) => asInt(left(frame), site) < asInt(right(frame), site)
    case '<=':
      return (frame) => asInt(left(frame), site) <= asInt(right(frame), site)
    case '>':
      return (frame) => asInt(left(frame), site) > asInt(right(frame), site)
    case '>=':
      return (frame) => asInt(left(frame), site) >= asInt(right(frame), site)
    case '=':
    case '!=': {
      const equals = compileEquality(e, left, right)
      return e.op === '=' ? equals : (frame) => !equals(frame)
    }
    case 'in': {
      const collectionType = e.right.type!
      if (collectionType.kind === 'list') {
        if (isScalar(collectionType.element)) {
          return (frame) => {
            const item = left(frame)
            const list = right(frame) as readonly Value[]
            return item !== null && list.includes(item)
          }
        }
        return (frame) => {
          const item = left(frame)
          return (right(frame) as readonly Value[]).some((other) => valueEquals(item, other))
        }
      }
      return (frame) => {
        const item = left(frame)
        const collection = right(frame) as ReadonlySet<Scalar>
        return item !== null && collection.has(item as Scalar)
      }
    }
    case '++':
      switch (e.appendKind!) {
        case 'list-element':
          return (frame) => {
            const list = left(frame) as readonly Value[]
            const item = right(frame)
            if (item === null) fail(site, Reasons.appendNil)
            if (list.length >= MAX_VALUE_SIZE) fail(site, Reasons.tooLarge)
            const out = list.slice()
            out.push(item)
            return out
          }
        case 'list-concat':
          return (frame) => {
            const a = left(frame) as readonly Value[]
            const b = right(frame) as readonly Value[]
            if (a.length + b.length > MAX_VALUE_SIZE) fail(site, Reasons.tooLarge)
            return b.length === 0 ? a : a.length === 0 ? b : [...a, ...b]
          }
        case 'set-element':
          return (frame) => {
            const set = left(frame) as ReadonlySet<Scalar>
            const item = right(frame)
            if (item === null) fail(site, Reasons.appendNil)
            if (set.has(item as Scalar)) return set
            if (set.size >= MAX_VALUE_SIZE) fail(site, Reasons.tooLarge)
            const out = new Set(set)
            out.add(item as Scalar)
            return out
          }
        case 'set-union':
          return (frame) => {
            const a = left(frame) as ReadonlySet<Scalar>
            const b = right(frame) as ReadonlySet<Scalar>
            if (b.size === 0) return a
            if (a.size === 0) return b
            const out = new Set(a)
            for (const item of b) out.add(item)
            if (out.size > MAX_VALUE_SIZE) fail(site, Reasons.tooLarge)
            return out
          }
        case 'string-concat':
          return (frame) => {
            const a = left(frame)
            const b = right(frame)
            if (a === null || b === null) fail(site, Reasons.nilOperand)
            if ((a as string).length + (b as string).length > MAX_VALUE_SIZE) fail(site, Reasons.tooLarge)
            return (a as string) + (b as string)
          }
      }
  }
}

function compileEquality(e: Extract<Expr, { kind: 'Binary' }>, left: Evaluator, right: Evaluator): Evaluator {
  const type = e.left.type!.kind === 'nil' ? e.right.type! : e.left.type!
  if (type.kind === 'list' || type.kind === 'set' || type.kind === 'map') {
    if (e.right.kind === 'Nil') return (frame) => isEmptyValue(left(frame))
    if (e.left.kind === 'Nil') return (frame) => isEmptyValue(right(frame))
    return (frame) => valueEquals(left(frame), right(frame))
  }
  return (frame) => left(frame) === right(frame)
}

/** Compiles the statements of an arm, resolving targets by name. */
function compileStatements(statements: readonly Stmt[], context: SiteContext, vars: ReadonlyMap<string, VarInfo>, copyOnce: ReadonlySet<number>): Executor[] {
  const out: Executor[] = []
  for (const statement of statements) {
    switch (statement.kind) {
      case 'Skip':
        break
      case 'Assign': {
        const value = compileExpression(statement.value, context)
        const index = vars.get(statement.target.name)!.index
        out.push((frame) => {
          frame.vars[index] = value(frame)
        })
        break
      }
      case 'IndexAssign': {
        const info = vars.get(statement.target.name)!
        const index = info.index
        const key = compileExpression(statement.index, context)
        const value = compileExpression(statement.value, context)
        const site = siteOf(context, statement)
        const once = copyOnce.has(index)
        out.push((frame) => {
          const k = key(frame)
          const v = value(frame)
          if (k === null) fail(site, Reasons.nilKey)
          let map = frame.vars[index] as Map<Scalar, Value>
          if (!once || frame.owned === null || !frame.owned.has(map)) {
            map = new Map(map)
            if (once) (frame.owned ??= new Set()).add(map)
          }
          // A map holds no Φ: storing Φ removes the key.
          if (isEmptyValue(v)) map.delete(k as Scalar)
          else if (!map.has(k as Scalar) && map.size >= MAX_VALUE_SIZE) fail(site, Reasons.tooLarge)
          else map.set(k as Scalar, v)
          frame.vars[index] = map
        })
        break
      }
      case 'Send': {
        const value = compileExpression(statement.value, context)
        const to = compileExpression(statement.to, context)
        const valueType = statement.value.type!
        const site = siteOf(context, statement.to)
        const plain = isScalar(valueType) || valueType.kind === 'nil'
        out.push((frame, outputs) => {
          const v = value(frame)
          const recipient = to(frame)
          if (recipient === null) fail(site, Reasons.sendToNil)
          outputs.push({ to: recipient as string, value: plain ? v : toJson(v, valueType) })
        })
        break
      }
    }
  }
  return out
}

function compileArm(arm: Arm, context: SiteContext, vars: ReadonlyMap<string, VarInfo>, copyOnce: ReadonlySet<number>): CompiledArm {
  return {
    guard: arm.guard ? compileExpression(arm.guard, context) : undefined,
    guardSite: arm.guard ? siteOf(context, arm.guard) : undefined,
    statements: compileStatements(arm.statements, context, vars, copyOnce),
  }
}

/** Evaluates the init expressions; returns every failure, with the variable it belongs to. */
export function evaluateInitialValues(program: CheckedProgram): { values: Value[] } | { failures: { var: VarInfo; reason: string }[] } {
  const values: Value[] = []
  const failures: { var: VarInfo; reason: string }[] = []
  const frame: Frame = { vars: [], args: [], client: null, time: null, owned: null }
  for (const info of program.vars) {
    if (!info.decl.init) {
      values.push(emptyValue(info.type))
      continue
    }
    const context: SiteContext = { source: program.source, command: `init of '${info.name}'`, inCommand: false }
    try {
      values.push(compileExpression(info.decl.init, context)(frame))
    } catch (error) {
      // The diagnostic gives the place; keep only what failed.
      failures.push({ var: info, reason: (error as Error).message.replace(/^.*? failed: /, '') })
      values.push(emptyValue(info.type))
    }
  }
  return failures.length > 0 ? { failures } : { values }
}

/** A checked program compiled to closures: the engine behind the interpreted {@link DslMachine} and the model checker. */
export class CompiledMachine {
  readonly program: CheckedProgram
  readonly initialValues: readonly Value[]
  readonly commandIndex: ReadonlyMap<string, number>
  private readonly commands: readonly CompiledCommand[]
  /** State variables in name order, with the text that precedes each in the encoding and its encoder. */
  private readonly encoders: readonly { readonly index: number; readonly prefix: string; readonly encode: (value: Value) => string }[]
  private readonly paramNames: readonly ReadonlySet<string>[]

  constructor(program: CheckedProgram, initialValues: readonly Value[]) {
    this.program = program
    this.initialValues = initialValues
    const vars = new Map(program.vars.map((v) => [v.name, v]))
    this.commands = program.commands.map((info) => {
      const context: SiteContext = { source: program.source, command: info.name, inCommand: true }
      const escaping = escapingMaps(info.decl)
      const copyOnce = new Set(program.vars.filter((v) => v.type.kind === 'map' && !escaping.has(v.index)).map((v) => v.index))
      return { info, arms: info.decl.arms.map((arm) => compileArm(arm, context, vars, copyOnce)) }
    })
    this.commandIndex = new Map(program.commands.map((c) => [c.name, c.index]))
    this.encoders = [...program.vars]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((info, i) => ({ index: info.index, prefix: (i === 0 ? '{' : ',') + JSON.stringify(info.name) + ':', encode: compileEncoder(info.type) }))
    this.paramNames = program.commands.map((c) => new Set(c.params.map((p) => p.name)))
  }

  /** A fresh initial state. */
  init(): Value[] {
    return this.initialValues.slice()
  }

  /**
   * Runs command `commandIndex` for `client` without touching `state`: returns
   * the next state and the outputs, or throws a `COMMAND_FAILED` LockstepError.
   * The first arm whose guard holds runs; when none holds nothing happens.
   * `time` is the command's agreed time, what `now` reads.
   */
  exec(state: readonly Value[], commandIndex: number, client: string, args: readonly Value[], time: number): { state: Value[]; outputs: Output[] } {
    const command = this.commands[commandIndex]!
    const frame: Frame = { vars: state.slice(), args, client, time, owned: null }
    const outputs: Output[] = []
    for (const arm of command.arms) {
      if (arm.guard === undefined || asBool(arm.guard(frame), arm.guardSite!)) {
        for (const statement of arm.statements) statement(frame, outputs)
        break
      }
    }
    return { state: frame.vars, outputs }
  }

  /**
   * Like {@link exec} but for the model checker: returns only the next state,
   * discarding outputs, with fewer allocations. Throws like `exec`.
   */
  step(state: readonly Value[], commandIndex: number, client: string, args: readonly Value[], time: number): Value[] {
    const command = this.commands[commandIndex]!
    const frame: Frame = { vars: state.slice(), args, client, time, owned: null }
    const outputs = this.scratchOutputs
    outputs.length = 0
    const arms = command.arms
    this.lastArm = -1
    for (let i = 0; i < arms.length; i++) {
      const arm = arms[i]!
      if (arm.guard === undefined || asBool(arm.guard(frame), arm.guardSite!)) {
        this.lastArm = i
        for (const statement of arm.statements) statement(frame, outputs)
        break
      }
    }
    outputs.length = 0
    return frame.vars
  }

  private readonly scratchOutputs: Output[] = []

  /** Which arm the last {@link step} ran (its index), or -1 when no guard held. */
  lastArm = -1

  /** Canonical JSON text of a state: equal states give equal text. */
  encodeState(state: readonly Value[]): string {
    if (this.encoders.length === 0) return '{}'
    let out = ''
    for (const { index, prefix, encode } of this.encoders) out += prefix + encode(state[index]!)
    return out + '}'
  }

  /** The state as plain JSON, by variable name. */
  stateToJson(state: readonly Value[]): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const info of this.program.vars) out[info.name] = toJson(state[info.index]!, info.type)
    return out
  }

  /** Rebuilds a state from {@link stateToJson}'s output; throws {@link ConversionError}. */
  stateFromJson(json: unknown): Value[] {
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new ConversionError('', 'the state must be a JSON object')
    const record = json as Record<string, unknown>
    const known = new Set(this.program.vars.map((v) => v.name))
    for (const key of Object.keys(record)) if (!known.has(key)) throw new ConversionError(`/${key}`, `unknown state variable '${key}'`)
    return this.program.vars.map((info) => {
      if (!Object.prototype.hasOwnProperty.call(record, info.name)) throw new ConversionError(`/${info.name}`, `state variable '${info.name}' is missing`)
      return fromJson(record[info.name], info.type, `/${info.name}`, true)
    })
  }

  /** Converts a command's JSON arguments to values in parameter order; throws {@link ConversionError}. */
  argsFromJson(commandIndex: number, args: unknown): readonly Value[] {
    const info = this.program.commands[commandIndex]!
    if (args === undefined) {
      if (info.params.length === 0) return noArgs
      args = {}
    }
    if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new ConversionError('/args', `the arguments of '${info.name}' must be an object`)
    const record = args as Record<string, unknown>
    const known = this.paramNames[commandIndex]!
    for (const key of Object.keys(record)) {
      if (!known.has(key)) throw new ConversionError(`/args/${key}`, `'${info.name}' has no parameter '${key}'${info.params.length === 0 ? ' (it takes no arguments)' : `; its parameters are ${info.params.map((p) => p.name).join(', ')}`}`)
    }
    return info.params.map((param) => {
      if (!Object.prototype.hasOwnProperty.call(record, param.name)) throw new ConversionError(`/args/${param.name}`, `'${info.name}' needs the argument '${param.name}'`)
      return fromJson(record[param.name], param.type, `/args/${param.name}`, false)
    })
  }
}

/** A state machine compiled from the DSL, interpreted. Its state is {@link DslState}. */
export interface DslMachine extends StateMachine<DslState, DslCommand, unknown> {
  readonly commandSchema: object
  /** The state as plain JSON: lists as arrays, sets as sorted arrays, maps as objects, `Φ` as null. */
  toJSON(state: DslState): Record<string, unknown>
  /** The state, bounded for operators (`GET /status`): see {@link summarizeState}. */
  summary(state: DslState): { [name: string]: JsonValue }
  /** The compiled program behind this machine. */
  readonly compiled: CompiledMachine
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function commandLookup(compiled: CompiledMachine, command: unknown): number {
  const name = command !== null && typeof command === 'object' ? (command as { name?: unknown }).name : undefined
  if (typeof name !== 'string') {
    throw new LockstepError(ErrorCodes.COMMAND_FAILED, `a command for ${compiled.program.name} must be an object with a string 'name'`, { path: '/name' })
  }
  const index = compiled.commandIndex.get(name)
  if (index === undefined) {
    throw new LockstepError(ErrorCodes.COMMAND_FAILED,
      `${compiled.program.name} has no command '${name}'; its commands are ${[...compiled.commandIndex.keys()].join(', ')}`, { path: '/name' })
  }
  return index
}

/** The outcome of {@link validateCommand}. */
export type CommandValidation =
  | { readonly ok: true; readonly commandIndex: number; readonly args: readonly Value[] }
  | { readonly ok: false; readonly path: string; readonly message: string }

/**
 * Checks a command against a machine's commands exactly as its
 * `commandSchema` does (an object with a known `name`, no other fields than
 * `name` and `args`, the arguments of the right types), without a JSON Schema
 * library. Returns the converted arguments, or what is wrong and where.
 */
export function validateCommand(machine: DslMachine | CompiledMachine, command: unknown): CommandValidation {
  const compiled = 'compiled' in machine ? machine.compiled : machine
  try {
    const index = commandLookup(compiled, command)
    for (const key of Object.keys(command as object)) {
      if (key !== 'name' && key !== 'args') {
        return { ok: false, path: `/${key}`, message: `unknown field '${key}': a command has only 'name' and 'args'` }
      }
    }
    return { ok: true, commandIndex: index, args: compiled.argsFromJson(index, (command as DslCommand).args) }
  } catch (error) {
    if (error instanceof ConversionError) return { ok: false, path: error.path, message: error.message }
    if (error instanceof LockstepError) return { ok: false, path: error.details?.path ?? '', message: error.message }
    throw error
  }
}

/** Wraps a compiled program as a {@link DslMachine} the replica engine can run. */
export function createMachine(compiled: CompiledMachine): DslMachine {
  const program = compiled.program
  const summaryVars = program.vars.map((v) => [v.name, v.type] as const)
  return {
    name: program.name,
    compiled,
    commandSchema: commandSchema(program),
    init: () => compiled.init(),
    apply(state, command, ctx) {
      const index = commandLookup(compiled, command)
      let args: readonly Value[]
      try {
        args = compiled.argsFromJson(index, (command as DslCommand).args)
      } catch (error) {
        if (!(error instanceof ConversionError)) throw error
        throw new LockstepError(ErrorCodes.COMMAND_FAILED, `${program.name}.${command.name}: invalid arguments: ${error.message}`, { path: error.path })
      }
      const result = compiled.exec(state, index, ctx.client, args, ctx.time)
      for (let i = 0; i < result.state.length; i++) state[i] = result.state[i]!
      return result.outputs
    },
    snapshot: (state) => encoder.encode(compiled.encodeState(state)),
    restore(bytes) {
      try {
        return compiled.stateFromJson(JSON.parse(decoder.decode(bytes)))
      } catch (error) {
        throw new LockstepError(ErrorCodes.STORAGE_CORRUPT, `cannot restore a ${program.name} snapshot: ${(error as Error).message}`, undefined, { cause: error })
      }
    },
    toJSON: (state) => compiled.stateToJson(state),
    summary: (state) => summarizeState(summaryVars, program.vars.map((v) => state[v.index]!)),
  }
}
