import { builtinFunctions, type Arm, type CommandDecl, type Expr, type MachineNode, type Stmt, type TypeNode, type VarDecl, type Param } from './ast'
import { DiagnosticCodes, type DiagnosticBag, type SourceText } from './diagnostics'
import { isAtomName } from './scanner'
import { isAssignable, isScalar, typeEquals, typeToString, Types, type Type } from './types'

/** A state variable after checking. */
export interface VarInfo {
  readonly name: string
  readonly type: Type
  /** Position in declaration order: its slot in the state. */
  readonly index: number
  readonly decl: VarDecl
}

/** A command parameter after checking. */
export interface ParamInfo {
  readonly name: string
  readonly type: Type
  readonly index: number
  readonly decl: Param
}

/** A command after checking. */
export interface CommandInfo {
  readonly name: string
  readonly index: number
  readonly params: readonly ParamInfo[]
  readonly decl: CommandDecl
}

/** A checked program: everything the interpreter, the emitter, the schema and the model checker need. */
export interface CheckedProgram {
  readonly name: string
  readonly file: string
  readonly source: SourceText
  readonly ast: MachineNode
  readonly vars: readonly VarInfo[]
  readonly commands: readonly CommandInfo[]
}

/** What the checker learned about a machine: its typed variables and commands (the AST is annotated in place). */
export interface CheckResult {
  readonly vars: readonly VarInfo[]
  readonly commands: readonly CommandInfo[]
  /** Commands whose bodies checked without errors (guard analysis runs on these). */
  readonly cleanCommands: ReadonlySet<string>
}

/** Where an expression is checked: what it may refer to. */
export interface Scope {
  readonly vars: ReadonlyMap<string, VarInfo>
  readonly params: ReadonlyMap<string, ParamInfo> | undefined
  readonly context: 'init' | 'command' | 'invariant'
}

/** Names that would break generated code or plain objects. */
const reservedNames: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

/** Checks names and types of a parsed machine, annotating expressions with their types. */
export function checkMachine(machine: MachineNode, diagnostics: DiagnosticBag): CheckResult {
  return new Checker(diagnostics).checkMachine(machine)
}

/** Checks an expression in a scope (used for invariants); returns its type. */
export function checkExpression(expr: Expr, scope: Scope, diagnostics: DiagnosticBag, expected?: Type): Type {
  return new Checker(diagnostics).expr(expr, scope, expected)
}

/** Resolves a written type, reporting set elements and map keys that are not scalars. */
export function resolveType(node: TypeNode, diagnostics: DiagnosticBag): Type {
  switch (node.kind) {
    case 'NamedType':
      return node.name === 'client_id' ? Types.clientId : node.name === 'int' ? Types.int : node.name === 'bool' ? Types.bool : Types.string
    case 'ListType':
      return Types.list(resolveType(node.element, diagnostics))
    case 'SetType': {
      const element = resolveType(node.element, diagnostics)
      if (!isScalar(element) && element.kind !== 'error') {
        diagnostics.error(DiagnosticCodes.NOT_SCALAR, node.element.start, node.element.end,
          `set elements must be client_id, int, bool or string, not ${typeToString(element)}`)
        return Types.set(Types.error)
      }
      return Types.set(element)
    }
    case 'MapType': {
      const key = resolveType(node.key, diagnostics)
      const value = resolveType(node.value, diagnostics)
      if (!isScalar(key) && key.kind !== 'error') {
        diagnostics.error(DiagnosticCodes.NOT_SCALAR, node.key.start, node.key.end,
          `map keys must be client_id, int, bool or string, not ${typeToString(key)}`)
        return Types.map(Types.error, value)
      }
      return Types.map(key, value)
    }
    default:
      return Types.error
  }
}

/** Edit distance counting a swap of two neighbouring characters as one edit (`cuont` → `count`): optimal string alignment. */
function editDistance(a: string, b: string): number {
  let before = Array.from({ length: b.length + 1 }, () => 0)
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      let best = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, before[j - 2]! + 1)
      row.push(best)
    }
    before = previous
    previous = row
  }
  return previous[b.length]!
}

function suggestion(name: string, candidates: Iterable<string>): string {
  if (name.length < 3) return ''
  let best: string | undefined
  let bestDistance = Infinity
  const allowed = Math.max(1, Math.floor(name.length / 3))
  for (const candidate of candidates) {
    // The distance is at least the difference in length: a 6,000-character name is not compared at all.
    if (Math.abs(name.length - candidate.length) > allowed) continue
    const distance = editDistance(name, candidate)
    if (distance < bestDistance && distance <= allowed) {
      best = candidate
      bestDistance = distance
    }
  }
  return best === undefined ? '' : `; did you mean '${best}'?`
}

/** An expression whose type comes from its context: `Φ`, or an append to `Φ` (`Φ ● x`). */
function takesTypeFromContext(e: Expr): boolean {
  let current = e
  while (current.kind === 'Binary' && current.op === '++') current = current.left
  return current.kind === 'Nil' && current !== e ? true : e.kind === 'Nil'
}

class Checker {
  private readonly usedVars = new Set<string>()

  constructor(private readonly diagnostics: DiagnosticBag) {}

  private error(span: { start: number; end: number }, code: (typeof DiagnosticCodes)[keyof typeof DiagnosticCodes], message: string): void {
    this.diagnostics.error(code, span.start, span.end, message)
  }

  private checkDeclaredName(id: { name: string; start: number; end: number }, what: string): boolean {
    if (builtinFunctions.has(id.name)) {
      this.error(id, DiagnosticCodes.RESERVED_NAME, `'${id.name}' is a built-in function and cannot name a ${what}`)
      return false
    }
    if (reservedNames.has(id.name)) {
      this.error(id, DiagnosticCodes.RESERVED_NAME, `'${id.name}' is reserved and cannot name a ${what}`)
      return false
    }
    // The parser already reported names in capitals.
    return !isAtomName(id.name)
  }

  checkMachine(machine: MachineNode): CheckResult {
    const vars: VarInfo[] = []
    const varsByName = new Map<string, VarInfo>()
    for (const decl of machine.vars) {
      const type = resolveType(decl.type, this.diagnostics)
      this.checkDeclaredName(decl.name, 'variable')
      if (varsByName.has(decl.name.name)) {
        const first = varsByName.get(decl.name.name)!
        const { line } = this.diagnostics.source.position(first.decl.start)
        this.error(decl.name, DiagnosticCodes.DUPLICATE_VARIABLE, `variable '${decl.name.name}' is already declared on line ${line}`)
        continue
      }
      const info: VarInfo = { name: decl.name.name, type, index: vars.length, decl }
      vars.push(info)
      varsByName.set(info.name, info)
    }
    const initScope: Scope = { vars: varsByName, params: undefined, context: 'init' }
    for (const info of vars) {
      if (info.decl.init) {
        const initType = this.expr(info.decl.init, initScope, info.type)
        this.requireAssignable(info.decl.init, initType, info.type, (t) => `cannot initialize '${info.name}' of type ${typeToString(info.type)} with ${t}`)
      }
    }

    const commands: CommandInfo[] = []
    const commandsByName = new Map<string, CommandInfo>()
    const cleanCommands = new Set<string>()
    if (machine.commands.length === 0) {
      this.error(machine.name, DiagnosticCodes.NO_COMMANDS, `state machine '${machine.name.name}' has no commands; add one ('NAME: command … end NAME')`)
    }
    for (const decl of machine.commands) {
      this.checkDeclaredName(decl.name, 'command')
      if (varsByName.has(decl.name.name)) {
        this.error(decl.name, DiagnosticCodes.NAME_CONFLICT, `command '${decl.name.name}' has the name of a state variable; rename one of them`)
      }
      const duplicate = commandsByName.get(decl.name.name)
      if (duplicate) {
        const { line } = this.diagnostics.source.position(duplicate.decl.start)
        this.error(decl.name, DiagnosticCodes.DUPLICATE_COMMAND, `command '${decl.name.name}' is already declared on line ${line}`)
      }
      const params: ParamInfo[] = []
      const paramsByName = new Map<string, ParamInfo>()
      for (const param of decl.params) {
        const type = resolveType(param.type, this.diagnostics)
        this.checkDeclaredName(param.name, 'parameter')
        if (paramsByName.has(param.name.name)) {
          this.error(param.name, DiagnosticCodes.DUPLICATE_PARAMETER, `parameter '${param.name.name}' is declared twice in '${decl.name.name}'`)
          continue
        }
        if (varsByName.has(param.name.name)) {
          this.error(param.name, DiagnosticCodes.NAME_CONFLICT, `parameter '${param.name.name}' has the name of a state variable; rename it`)
        }
        const info: ParamInfo = { name: param.name.name, type, index: params.length, decl: param }
        params.push(info)
        paramsByName.set(info.name, info)
      }
      const info: CommandInfo = { name: decl.name.name, index: commands.length, params, decl }
      if (!duplicate) {
        commands.push(info)
        commandsByName.set(info.name, info)
      }
      const errorsBefore = this.diagnostics.errorCount()
      const scope: Scope = { vars: varsByName, params: paramsByName, context: 'command' }
      for (const arm of decl.arms) this.checkArm(arm, scope)
      const errorsAfter = this.diagnostics.errorCount()
      if (errorsAfter === errorsBefore && !duplicate) cleanCommands.add(info.name)
    }

    // Unused-variable warnings would be noise in a program that has errors.
    for (const info of this.diagnostics.errorCount() > 0 ? [] : vars) {
      if (!this.usedVars.has(info.name)) {
        this.diagnostics.warning(DiagnosticCodes.UNUSED_VARIABLE, info.decl.name.start, info.decl.name.end,
          `state variable '${info.name}' is never used by any command`)
      }
    }
    return { vars, commands, cleanCommands }
  }

  private checkArm(arm: Arm, scope: Scope): void {
    if (arm.guard) {
      if (arm.guard.kind === 'Nil') {
        this.error(arm.guard, DiagnosticCodes.OPERATOR_TYPE, 'a guard cannot be Φ; write a condition')
        arm.guard.type = Types.bool
      } else {
        const type = this.expr(arm.guard, scope, Types.bool)
        this.requireType(arm.guard, type, Types.bool, 'a guard must be a bool')
      }
    }
    for (const statement of arm.statements) this.checkStatement(statement, scope)
  }

  private checkStatement(statement: Stmt, scope: Scope): void {
    switch (statement.kind) {
      case 'Skip':
        return
      case 'Send': {
        this.expr(statement.value, scope)
        const toType = this.expr(statement.to, scope, Types.clientId)
        this.requireType(statement.to, toType, Types.clientId, "the recipient of 'send' must be a client_id")
        return
      }
      case 'Assign': {
        const target = this.assignmentTarget(statement.target, scope)
        if (!target) {
          this.expr(statement.value, scope)
          return
        }
        const valueType = this.expr(statement.value, scope, target.type)
        this.requireAssignable(statement.value, valueType, target.type, (t) => `cannot assign ${t} to '${target.name}' of type ${typeToString(target.type)}`)
        return
      }
      case 'IndexAssign': {
        const target = this.assignmentTarget(statement.target, scope)
        if (!target) {
          this.expr(statement.index, scope)
          this.expr(statement.value, scope)
          return
        }
        if (target.type.kind !== 'map') {
          if (target.type.kind !== 'error') {
            this.error(statement.target, DiagnosticCodes.NOT_INDEXABLE,
              `'${target.name}' is ${typeToString(target.type)}; only maps can be assigned with '${target.name}[k] := e'`)
          }
          this.expr(statement.index, scope)
          this.expr(statement.value, scope)
          return
        }
        const mapType = target.type
        const keyType = this.expr(statement.index, scope, mapType.key)
        this.requireAssignable(statement.index, keyType, mapType.key, (t) => `the keys of '${target.name}' are ${typeToString(mapType.key)}, not ${t}`)
        const valueType = this.expr(statement.value, scope, mapType.value)
        this.requireAssignable(statement.value, valueType, mapType.value, (t) => `the values of '${target.name}' are ${typeToString(mapType.value)}; cannot store ${t}`)
        return
      }
    }
  }

  private assignmentTarget(target: { name: string; start: number; end: number }, scope: Scope): VarInfo | undefined {
    if (target.name === 'client') {
      this.error(target, DiagnosticCodes.ASSIGN_TO_CLIENT, "cannot assign to 'client': it is the client that sent the command")
      return undefined
    }
    if (target.name === 'now') {
      this.error(target, DiagnosticCodes.ASSIGN_TO_NOW, "cannot assign to 'now': it is the agreed time of the command; store it in a state variable instead")
      return undefined
    }
    if (scope.params?.has(target.name)) {
      this.error(target, DiagnosticCodes.ASSIGN_TO_PARAMETER, `cannot assign to parameter '${target.name}': parameters are read-only; copy it into a state variable`)
      return undefined
    }
    const info = scope.vars.get(target.name)
    if (!info) {
      const hint = suggestion(target.name, scope.vars.keys())
      this.error(target, DiagnosticCodes.UNKNOWN_NAME, `unknown variable '${target.name}'${hint || "; declare it in the 'var' section"}`)
      return undefined
    }
    this.usedVars.add(info.name)
    return info
  }

  private requireType(span: { start: number; end: number }, actual: Type, wanted: Type, message: string): void {
    if (actual.kind === 'error' || actual.kind === 'nil') return
    if (!typeEquals(actual, wanted)) this.error(span, DiagnosticCodes.TYPE_MISMATCH, `${message}, found ${typeToString(actual)}`)
  }

  private requireAssignable(span: { start: number; end: number }, actual: Type, wanted: Type, message: (actual: string) => string): void {
    if (!isAssignable(actual, wanted)) this.error(span, DiagnosticCodes.TYPE_MISMATCH, message(typeToString(actual)))
  }

  /** Checks an expression, recording its type on the node; `expected` types a `Φ`. */
  expr(e: Expr, scope: Scope, expected?: Type): Type {
    const type = this.exprInner(e, scope, expected)
    e.type = type
    return type
  }

  private operand(e: Expr, scope: Scope, wanted: Type, op: string): Type {
    if (e.kind === 'Nil') {
      e.type = wanted
      this.error(e, DiagnosticCodes.OPERATOR_TYPE, `Φ cannot be an operand of '${op}'`)
      return Types.error
    }
    const type = this.expr(e, scope, wanted)
    if (type.kind !== 'error' && !typeEquals(type, wanted)) {
      this.error(e, DiagnosticCodes.OPERATOR_TYPE, `'${op}' needs ${typeToString(wanted)} operands, found ${typeToString(type)}`)
      return Types.error
    }
    return type
  }

  private cannotInfer(e: Expr, what: string): Type {
    this.error(e, DiagnosticCodes.CANNOT_INFER_NIL, `cannot tell the type of Φ ${what}; compare or assign it to a typed value instead`)
    return Types.error
  }

  private exprInner(e: Expr, scope: Scope, expected: Type | undefined): Type {
    switch (e.kind) {
      case 'Int':
        return Types.int
      case 'String':
      case 'Atom':
        return Types.string
      case 'Bool':
        return Types.bool
      case 'Nil':
        return expected && expected.kind !== 'error' ? expected : Types.nil
      case 'Error':
        return Types.error
      case 'Client':
        if (scope.context !== 'command') {
          this.error(e, DiagnosticCodes.CLIENT_OUTSIDE_COMMAND,
            scope.context === 'init' ? "'client' has no value in an init expression" : "'client' has no value in an invariant; invariants read state variables only")
          return Types.error
        }
        return Types.clientId
      case 'Now':
        if (scope.context !== 'command') {
          this.error(e, DiagnosticCodes.NOW_OUTSIDE_COMMAND,
            scope.context === 'init' ? "'now' has no value in an init expression; initial values are constants" : "'now' has no value in an invariant; invariants read state variables only")
          return Types.error
        }
        return Types.int
      case 'Name': {
        const param = scope.params?.get(e.name)
        if (param) {
          e.binding = { kind: 'param', index: param.index }
          return param.type
        }
        const info = scope.vars.get(e.name)
        if (info) {
          if (scope.context === 'init') {
            this.error(e, DiagnosticCodes.INIT_NOT_CONSTANT, `an init expression cannot read the state variable '${e.name}'; use literals and Φ`)
            return Types.error
          }
          this.usedVars.add(info.name)
          e.binding = { kind: 'var', index: info.index }
          return info.type
        }
        if (builtinFunctions.has(e.name)) {
          this.error(e, DiagnosticCodes.UNKNOWN_FUNCTION, `'${e.name}' is a function; call it as ${e.name}(…)`)
          return Types.error
        }
        const candidates = [...scope.vars.keys(), ...(scope.params?.keys() ?? []), ...(scope.context === 'command' ? ['client', 'now'] : [])]
        this.error(e, DiagnosticCodes.UNKNOWN_NAME, `unknown name '${e.name}'${suggestion(e.name, candidates)}`)
        return Types.error
      }
      case 'Unary':
        if (e.op === 'not') {
          this.operand(e.operand, scope, Types.bool, 'not')
          return Types.bool
        }
        return this.operand(e.operand, scope, Types.int, '-').kind === 'error' ? Types.error : Types.int
      case 'Binary':
        return this.binary(e, scope, expected)
      case 'Call':
        return this.call(e, scope, expected)
      case 'Index': {
        const objectType = this.expr(e.object, scope)
        if (objectType.kind === 'map') {
          const keyType = this.expr(e.index, scope, objectType.key)
          this.requireAssignable(e.index, keyType, objectType.key, (t) => `the keys of this map are ${typeToString(objectType.key)}, not ${t}`)
          return objectType.value
        }
        this.expr(e.index, scope)
        if (objectType.kind === 'error') return Types.error
        if (objectType.kind === 'nil') return this.cannotInfer(e.object, 'in an index')
        this.error(e.object, DiagnosticCodes.NOT_INDEXABLE, `only maps can be indexed; this is ${typeToString(objectType)}`)
        return Types.error
      }
    }
  }

  private binary(e: Extract<Expr, { kind: 'Binary' }>, scope: Scope, expected: Type | undefined): Type {
    switch (e.op) {
      case 'and':
      case 'or': {
        const left = this.operand(e.left, scope, Types.bool, e.op)
        const right = this.operand(e.right, scope, Types.bool, e.op)
        return left.kind === 'error' || right.kind === 'error' ? Types.bool : Types.bool
      }
      case '+':
      case '-':
      case '*':
      case '/':
      case '%': {
        const left = this.operand(e.left, scope, Types.int, e.op)
        const right = this.operand(e.right, scope, Types.int, e.op)
        return left.kind === 'error' || right.kind === 'error' ? Types.error : Types.int
      }
      case '<':
      case '<=':
      case '>':
      case '>=':
        this.operand(e.left, scope, Types.int, e.op)
        this.operand(e.right, scope, Types.int, e.op)
        return Types.bool
      case '=':
      case '!=': {
        let left: Type
        let right: Type
        if (takesTypeFromContext(e.left) && !takesTypeFromContext(e.right)) {
          // `Φ ● client = l`: the right side tells what the left's Φ is, as in `l = Φ ● client`.
          right = this.expr(e.right, scope)
          left = this.expr(e.left, scope, right.kind === 'error' ? undefined : right)
          if (!isAssignable(right, left) && !isAssignable(left, right)) {
            const shown = e.op === '=' ? '=' : '≠'
            this.error(e, DiagnosticCodes.OPERATOR_TYPE, `cannot compare ${typeToString(left)} with ${typeToString(right)} using '${shown}'`)
          }
          return Types.bool
        }
        left = this.expr(e.left, scope)
        if (left.kind === 'nil') {
          right = this.expr(e.right, scope)
          if (right.kind !== 'nil' && right.kind !== 'error') {
            e.left.type = right
            left = right
          }
        } else {
          right = this.expr(e.right, scope, left.kind === 'error' ? undefined : left)
        }
        if (!isAssignable(right, left) && !isAssignable(left, right)) {
          const shown = e.op === '=' ? '=' : '≠'
          this.error(e, DiagnosticCodes.OPERATOR_TYPE, `cannot compare ${typeToString(left)} with ${typeToString(right)} using '${shown}'`)
        }
        return Types.bool
      }
      case 'in': {
        const collection = this.expr(e.right, scope)
        let element: Type
        if (collection.kind === 'list' || collection.kind === 'set') element = collection.element
        else if (collection.kind === 'map') element = collection.key
        else if (collection.kind === 'error') element = Types.error
        else if (collection.kind === 'nil') {
          this.cannotInfer(e.right, "on the right of 'in'")
          element = Types.error
        } else {
          this.error(e.right, DiagnosticCodes.OPERATOR_TYPE, `'in' needs a list, set or map on its right, found ${typeToString(collection)}`)
          element = Types.error
        }
        const item = this.expr(e.left, scope, element.kind === 'error' ? undefined : element)
        if (element.kind !== 'error' && !isAssignable(item, element)) {
          this.error(e.left, DiagnosticCodes.OPERATOR_TYPE,
            `cannot look for ${typeToString(item)} in ${typeToString(collection)}${collection.kind === 'map' ? ' (its keys are ' + typeToString(element) + ')' : ''}`)
        }
        return Types.bool
      }
      case '++':
        return this.append(e, scope, expected)
    }
  }

  private append(e: Extract<Expr, { kind: 'Binary' }>, scope: Scope, expected: Type | undefined): Type {
    const left = this.expr(e.left, scope, expected)
    if (left.kind === 'nil') {
      const right = this.expr(e.right, scope)
      if (right.kind === 'list' || right.kind === 'set' || right.kind === 'string') {
        e.left.type = right
        e.appendKind = right.kind === 'list' ? 'list-concat' : right.kind === 'set' ? 'set-union' : 'string-concat'
        return right
      }
      if (right.kind === 'error') return Types.error
      return this.cannotInfer(e.left, "on the left of '●' (is it a list or a set?)")
    }
    if (left.kind === 'error') {
      this.expr(e.right, scope)
      return Types.error
    }
    if (left.kind === 'string') {
      this.operand(e.right, scope, Types.string, '●')
      e.appendKind = 'string-concat'
      return left
    }
    if (left.kind !== 'list' && left.kind !== 'set') {
      this.error(e.left, DiagnosticCodes.OPERATOR_TYPE, `'●' appends to a list, a set or a string; found ${typeToString(left)}`)
      this.expr(e.right, scope)
      return Types.error
    }
    const right = this.expr(e.right, scope)
    if (right.kind === 'nil') {
      e.right.type = left
      e.appendKind = left.kind === 'list' ? 'list-concat' : 'set-union'
      return left
    }
    if (right.kind === 'error') return left
    if (typeEquals(right, left.element)) {
      e.appendKind = left.kind === 'list' ? 'list-element' : 'set-element'
      return left
    }
    if (typeEquals(right, left)) {
      e.appendKind = left.kind === 'list' ? 'list-concat' : 'set-union'
      return left
    }
    this.error(e.right, DiagnosticCodes.OPERATOR_TYPE,
      `cannot append ${typeToString(right)} to ${typeToString(left)}; append a ${typeToString(left.element)} or a ${typeToString(left)}`)
    return left
  }

  private call(e: Extract<Expr, { kind: 'Call' }>, scope: Scope, expected: Type | undefined): Type {
    const name = e.callee.name
    const arity = builtinFunctions.get(name)
    if (arity === undefined) {
      for (const arg of e.args) this.expr(arg, scope)
      this.error(e.callee, DiagnosticCodes.UNKNOWN_FUNCTION, `unknown function '${name}'${suggestion(name, builtinFunctions.keys())}; the functions are head, tail and len`)
      return Types.error
    }
    if (e.args.length !== arity) {
      for (const arg of e.args) this.expr(arg, scope)
      this.error(e, DiagnosticCodes.UNKNOWN_FUNCTION, `'${name}' takes ${arity} argument but was given ${e.args.length}`)
      return Types.error
    }
    const arg = e.args[0]!
    switch (name) {
      case 'head': {
        const type = this.expr(arg, scope, expected && expected.kind !== 'error' && expected.kind !== 'nil' ? Types.list(expected) : undefined)
        if (type.kind === 'list') return type.element
        if (type.kind === 'error') return Types.error
        if (type.kind === 'nil') return this.cannotInfer(arg, "in 'head'")
        this.error(arg, DiagnosticCodes.OPERATOR_TYPE, `'head' needs a list, found ${typeToString(type)}`)
        return Types.error
      }
      case 'tail': {
        const type = this.expr(arg, scope, expected && expected.kind === 'list' ? expected : undefined)
        if (type.kind === 'list') return type
        if (type.kind === 'error') return Types.error
        if (type.kind === 'nil') return this.cannotInfer(arg, "in 'tail'")
        this.error(arg, DiagnosticCodes.OPERATOR_TYPE, `'tail' needs a list, found ${typeToString(type)}`)
        return Types.error
      }
      default: {
        const type = this.expr(arg, scope)
        if (type.kind === 'list' || type.kind === 'set' || type.kind === 'map' || type.kind === 'string') return Types.int
        if (type.kind === 'error') return Types.int
        if (type.kind === 'nil') {
          this.cannotInfer(arg, "in 'len'")
          return Types.int
        }
        this.error(arg, DiagnosticCodes.OPERATOR_TYPE, `'len' needs a list, set, map or string, found ${typeToString(type)}`)
        return Types.int
      }
    }
  }
}
