import { walkExpr, type Arm, type CommandDecl, type Expr } from './ast'
import type { CheckedProgram, CommandInfo } from './checker'
import { DiagnosticCodes, type DiagnosticBag } from './diagnostics'
import { compileExpression, type Evaluator, type Frame, type SiteContext } from './interpreter'
import { isScalar, type Type } from './types'
import { emptyValue, toJson, type Scalar, type Value } from './values'

/** A guard abstracted to propositional logic: comparisons and other conditions become atoms. */
type Formula =
  | { readonly k: 'const'; readonly v: boolean }
  | { readonly k: 'atom'; readonly id: number }
  | { readonly k: 'not'; readonly f: Formula }
  | { readonly k: 'and' | 'or'; readonly a: Formula; readonly b: Formula }

const MAX_ATOMS = 16
const MAX_SAMPLES = 20_000

/** Canonical text of an expression: equal text means the same value in the same state. */
function print(e: Expr): string {
  switch (e.kind) {
    case 'Int':
      return String(e.value)
    case 'String':
      return JSON.stringify(e.value)
    case 'Atom':
      return JSON.stringify(e.name)
    case 'Bool':
      return String(e.value)
    case 'Nil':
      return 'Φ'
    case 'Name':
      return `${e.binding?.kind ?? '?'}:${e.name}`
    case 'Client':
      return 'client'
    case 'Now':
      return 'now'
    case 'Unary':
      return `(${e.op} ${print(e.operand)})`
    case 'Binary':
      return `(${e.op} ${print(e.left)} ${print(e.right)})`
    case 'Call':
      return `${e.callee.name}(${e.args.map(print).join(',')})`
    case 'Index':
      return `${print(e.object)}[${print(e.index)}]`
    case 'Error':
      return '<error>'
  }
}

function isLiteral(e: Expr): boolean {
  return e.kind === 'Int' || e.kind === 'String' || e.kind === 'Atom' || e.kind === 'Bool'
}

class AtomTable {
  readonly ids = new Map<string, number>()
  atom(key: string): Formula {
    let id = this.ids.get(key)
    if (id === undefined) {
      id = this.ids.size
      this.ids.set(key, id)
    }
    return { k: 'atom', id }
  }
}

const not = (f: Formula): Formula => (f.k === 'const' ? { k: 'const', v: !f.v } : f.k === 'not' ? f.f : { k: 'not', f })

/** True when the expression reads no state, parameter, client or time: its value is fixed. */
function isClosed(e: Expr): boolean {
  switch (e.kind) {
    case 'Name':
    case 'Client':
    case 'Now':
    case 'Error':
      return false
    case 'Unary':
      return isClosed(e.operand)
    case 'Binary':
      return isClosed(e.left) && isClosed(e.right)
    case 'Call':
      return e.args.every(isClosed)
    case 'Index':
      return isClosed(e.object) && isClosed(e.index)
    default:
      return true
  }
}

function toFormula(e: Expr, atoms: AtomTable, context: SiteContext): Formula {
  if (e.kind === 'Bool') return { k: 'const', v: e.value }
  if (isClosed(e)) {
    // A closed guard has one value; if evaluating it fails, the arm is never reached either way.
    try {
      const value = compileExpression(e, context)({ vars: [], args: [], client: null, time: null, owned: null })
      return { k: 'const', v: value === true }
    } catch (_error) {
      return { k: 'const', v: false }
    }
  }
  if (e.kind === 'Unary' && e.op === 'not') return not(toFormula(e.operand, atoms, context))
  if (e.kind === 'Binary') {
    switch (e.op) {
      case 'and':
      case 'or':
        return { k: e.op, a: toFormula(e.left, atoms, context), b: toFormula(e.right, atoms, context) }
      case '=':
      case '!=': {
        const l = print(e.left)
        const r = print(e.right)
        let f: Formula
        if (l === r) f = { k: 'const', v: true }
        else if (isLiteral(e.left) && isLiteral(e.right)) f = { k: 'const', v: false }
        else f = atoms.atom(l < r ? `(= ${l} ${r})` : `(= ${r} ${l})`)
        return e.op === '=' ? f : not(f)
      }
      case '<':
        return atoms.atom(`(< ${print(e.left)} ${print(e.right)})`)
      case '>':
        return atoms.atom(`(< ${print(e.right)} ${print(e.left)})`)
      case '<=':
        return not(atoms.atom(`(< ${print(e.right)} ${print(e.left)})`))
      case '>=':
        return not(atoms.atom(`(< ${print(e.left)} ${print(e.right)})`))
      default:
        break
    }
  }
  return atoms.atom(print(e))
}

function evaluate(f: Formula, assignment: number): boolean {
  switch (f.k) {
    case 'const':
      return f.v
    case 'atom':
      return ((assignment >> f.id) & 1) === 1
    case 'not':
      return !evaluate(f.f, assignment)
    case 'and':
      return evaluate(f.a, assignment) && evaluate(f.b, assignment)
    case 'or':
      return evaluate(f.a, assignment) || evaluate(f.b, assignment)
  }
}

/** Satisfiable, treating atoms as independent (an over-approximation: "unsatisfiable" is a proof). */
function satisfiable(f: Formula, atomCount: number): boolean {
  if (atomCount > MAX_ATOMS) return true
  const limit = 1 << atomCount
  for (let assignment = 0; assignment < limit; assignment++) if (evaluate(f, assignment)) return true
  return false
}

function lineOf(program: CheckedProgram, arm: Arm): number {
  return program.source.position(arm.start).line
}

/**
 * Reports arms that can never run (an error: their guard never holds, or the
 * earlier arms take every case where it does) and pairs of guards that can hold
 * at once (a warning, with a concrete example state; the first arm wins).
 */
export function analyzeGuards(program: CheckedProgram, commands: readonly CommandInfo[], diagnostics: DiagnosticBag): void {
  for (const command of commands) analyzeCommand(program, command, diagnostics)
}

function analyzeCommand(program: CheckedProgram, command: CommandInfo, diagnostics: DiagnosticBag): void {
  const arms = command.decl.arms.filter((arm) => arm.guard !== undefined)
  if (arms.length === 0) return
  const atoms = new AtomTable()
  const context: SiteContext = { source: program.source, command: command.name, inCommand: true }
  const formulas = arms.map((arm) => toFormula(arm.guard!, atoms, context))
  const reachable: boolean[] = []
  for (let j = 0; j < arms.length; j++) {
    let f = formulas[j]!
    for (let i = 0; i < j; i++) f = { k: 'and', a: f, b: not(formulas[i]!) }
    const canRun = satisfiable(f, atoms.ids.size)
    reachable.push(canRun)
    if (!canRun) {
      const guard = arms[j]!.guard!
      const never = !satisfiable(formulas[j]!, atoms.ids.size)
      const earlier = arms.slice(0, j).map((arm) => lineOf(program, arm))
      diagnostics.error(DiagnosticCodes.UNREACHABLE_ARM, guard.start, guard.end, never
        ? 'this arm can never run: its guard never holds'
        : `this arm can never run: the earlier arm${earlier.length > 1 ? 's' : ''} on line${earlier.length > 1 ? 's' : ''} ${earlier.join(', ')} take${earlier.length > 1 ? '' : 's'} every case where its guard holds`)
    }
  }
  for (let j = 1; j < arms.length; j++) {
    if (!reachable[j]) continue
    for (let i = 0; i < j; i++) {
      if (!reachable[i]) continue
      if (!satisfiable({ k: 'and', a: formulas[i]!, b: formulas[j]! }, atoms.ids.size)) continue
      // A guard that fails on a sample (head of an empty list, a missing key) throws: without stack traces
      // those throws cost a tenth as much, and the search makes up to MAX_SAMPLES of them per pair.
      const stackTraceLimit = Error.stackTraceLimit
      Error.stackTraceLimit = 0
      let witness: string | undefined
      try {
        witness = findWitness(program, command.decl, command, arms[i]!.guard!, arms[j]!.guard!)
      } finally {
        Error.stackTraceLimit = stackTraceLimit
      }
      if (witness === undefined) continue
      const guard = arms[j]!.guard!
      diagnostics.warning(DiagnosticCodes.OVERLAPPING_GUARDS, guard.start, guard.end,
        `this guard and the guard on line ${lineOf(program, arms[i]!)} can both hold (for example when ${witness}); only the first of the two arms runs`)
      break
    }
  }
}

interface Symbol {
  readonly describe: string
  readonly type: Type
  readonly domain: readonly Value[]
  readonly assign: (frame: { vars: Value[]; args: Value[]; client: string | null; time: number | null }, value: Value) => void
}

function collectConstants(command: CommandDecl): { ints: number[]; strings: string[] } {
  const ints = new Set<number>()
  const strings = new Set<string>()
  const visit = (e: Expr | undefined): void =>
    walkExpr(e, (node) => {
      if (node.kind === 'Int') ints.add(node.value)
      else if (node.kind === 'String') strings.add(node.value)
      else if (node.kind === 'Atom') strings.add(node.name)
    })
  for (const arm of command.arms) visit(arm.guard)
  return { ints: [...ints], strings: [...strings] }
}

function scalarDomain(type: Type, constants: { ints: number[]; strings: string[] }): Scalar[] {
  const out: Scalar[] = []
  const add = (value: Scalar) => {
    if (!out.includes(value)) out.push(value)
  }
  switch (type.kind) {
    case 'client_id':
      add('c1')
      add('c2')
      for (const s of constants.strings) if (s.length > 0) add(s)
      break
    case 'string':
      add('')
      add('a')
      for (const s of constants.strings) add(s)
      break
    case 'int':
      for (const n of [0, 1, -1]) add(n)
      for (const n of constants.ints) for (const m of [n, n - 1, n + 1]) if (Number.isSafeInteger(m)) add(m)
      break
    case 'bool':
      add(false)
      add(true)
      break
    default:
      break
  }
  return out.slice(0, 10)
}

function valueDomain(type: Type, constants: { ints: number[]; strings: string[] }, nullable: boolean): Value[] {
  if (isScalar(type)) {
    const values: Value[] = scalarDomain(type, constants)
    if (nullable) values.push(null)
    return values
  }
  if (type.kind === 'list') {
    const [a, b] = valueDomain(type.element, constants, false)
    const out: Value[] = [[]]
    if (a !== undefined) out.push([a])
    if (b !== undefined) out.push([b], [a!, b], [b, a!])
    if (a !== undefined) out.push([a, a])
    return out
  }
  if (type.kind === 'set') {
    const [a, b] = scalarDomain(type.element, constants)
    const out: Value[] = [new Set()]
    if (a !== undefined) out.push(new Set([a]))
    if (b !== undefined) out.push(new Set([b]), new Set([a!, b]))
    return out
  }
  if (type.kind === 'map') {
    const [k0, k1] = scalarDomain(type.key, constants)
    const [v0, v1] = valueDomain(type.value, constants, false)
    const out: Value[] = [new Map()]
    if (k0 !== undefined && v0 !== undefined) out.push(new Map([[k0, v0]]))
    if (k1 !== undefined && v0 !== undefined) out.push(new Map([[k1, v0]]))
    if (k0 !== undefined && v1 !== undefined) out.push(new Map([[k0, v1]]))
    if (k0 !== undefined && k1 !== undefined && v0 !== undefined && v1 !== undefined) out.push(new Map([[k0, v0], [k1, v1]]))
    return out
  }
  return [null]
}

function usedSymbols(exprs: readonly Expr[]): { vars: Set<number>; params: Set<number>; client: boolean; now: boolean } {
  const vars = new Set<number>()
  const params = new Set<number>()
  let client = false
  let now = false
  const visit = (e: Expr): void =>
    walkExpr(e, (node) => {
      if (node.kind === 'Name') {
        if (node.binding?.kind === 'var') vars.add(node.binding.index)
        else if (node.binding?.kind === 'param') params.add(node.binding.index)
      } else if (node.kind === 'Client') {
        client = true
      } else if (node.kind === 'Now') {
        now = true
      }
    })
  exprs.forEach(visit)
  return { vars, params, client, now }
}

/** Searches small domains for a state where both guards hold; returns it described, or undefined. */
function findWitness(program: CheckedProgram, decl: CommandDecl, command: CommandInfo, first: Expr, second: Expr): string | undefined {
  const context = { source: program.source, command: command.name, inCommand: true }
  const a: Evaluator = compileExpression(first, context)
  const b: Evaluator = compileExpression(second, context)
  const constants = collectConstants(decl)
  const used = usedSymbols([first, second])
  const symbols: Symbol[] = []
  for (const index of [...used.vars].sort((x, y) => x - y)) {
    const info = program.vars[index]!
    symbols.push({ describe: info.name, type: info.type, domain: valueDomain(info.type, constants, true), assign: (f, v) => { f.vars[index] = v } })
  }
  for (const index of [...used.params].sort((x, y) => x - y)) {
    const info = command.params[index]!
    symbols.push({ describe: info.name, type: info.type, domain: valueDomain(info.type, constants, false), assign: (f, v) => { f.args[index] = v } })
  }
  if (used.client) {
    symbols.push({ describe: 'client', type: { kind: 'client_id' }, domain: valueDomain({ kind: 'client_id' }, constants, false), assign: (f, v) => { f.client = v as string } })
  }
  if (used.now) {
    // `now` is an int like any other here: the constants it is compared with (and ±1) are its interesting values.
    symbols.push({ describe: 'now', type: { kind: 'int' }, domain: valueDomain({ kind: 'int' }, constants, false), assign: (f, v) => { f.time = v as number } })
  }
  const sizes = symbols.map((s) => s.domain.length)
  const total = sizes.reduce((x, y) => x * y, 1)
  const vars = program.vars.map((v) => emptyValue(v.type))
  const args = command.params.map((p) => emptyValue(p.type))
  const frame = { vars, args, client: 'c1' as string | null, time: 0 as number | null, owned: null }
  const samples = Math.min(total, MAX_SAMPLES)
  // Past the sample budget, visit a deterministic spread of the combinations.
  let seed = 0x9e3779b9
  for (let n = 0; n < samples; n++) {
    let index = n
    if (total > MAX_SAMPLES) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
      index = seed % total
    }
    const chosen: Value[] = []
    for (let s = 0; s < symbols.length; s++) {
      const value = symbols[s]!.domain[index % sizes[s]!]!
      index = Math.floor(index / sizes[s]!)
      symbols[s]!.assign(frame, value)
      chosen.push(value)
    }
    if (holds(a, frame as Frame) && holds(b, frame as Frame)) {
      return symbols.map((s, i) => `${s.describe} = ${JSON.stringify(toJson(chosen[i]!, s.type))}`).join(', ') || 'always'
    }
  }
  return undefined
}

function holds(guard: Evaluator, frame: Frame): boolean {
  try {
    return guard(frame) === true
  } catch (_error) {
    return false
  }
}

