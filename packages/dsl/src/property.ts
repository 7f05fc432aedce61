import { walkExpr, type Identifier, type Param } from './ast'
import { checkExpression, type CheckedProgram, type ParamInfo, type Scope, type VarInfo } from './checker'
import { DiagnosticBag, DiagnosticCodes, SourceText, type Diagnostic } from './diagnostics'
import { compileExpression, type Frame } from './interpreter'
import { parseExpression } from './parser'
import { scan, type Token } from './scanner'
import { Types, typeToString } from './types'
import type { Value } from './values'

/**
 * A property for the model checker, compiled: a bool DSL expression over the
 * state variables, optionally
 *
 * - prefixed by `always` (a no-op for state properties, the usual spelling of
 *   transition properties),
 * - prefixed by quantifiers over the clients, `forall c:` and `exists c:`
 *   (`forall c: not (c in waiting and c = user)`),
 * - naming clients literally (`user = c1`, with the checker's client names),
 * - reading the next state through primed names (`token' >= token`), which
 *   makes it a transition property: it must hold for every step that changes
 *   the state, `x` reading the state before the step and `x'` the state after.
 */
export interface CompiledProperty {
  readonly text: string
  /** `state`: holds in every reachable state; `transition`: holds for every step (reads primed names). */
  readonly kind: 'state' | 'transition'
  /** The client names the property writes literally: symmetry reduction keeps them in place. */
  readonly clientLiterals: readonly string[]
  /**
   * Evaluates the property. For a state property `vars` is the state (values in
   * declaration order); for a transition property, the state before the step
   * followed by the state after it. Returns `true`, `false` or `Φ` (null);
   * throws a `COMMAND_FAILED` LockstepError when an expression fails.
   */
  evaluate(vars: readonly Value[]): Value
}

/** Options for {@link compileProperty}. */
export interface PropertyOptions {
  /** The client names quantifiers range over and literals may name (e.g. c1, c2). */
  readonly clients: readonly string[]
  /** The name diagnostics give the property's text (default `<property>`). */
  readonly file?: string
}

interface Quantifier {
  readonly kind: 'forall' | 'exists'
  readonly name: Identifier
}

/** True when `token` is an identifier spelled `word`. */
function isWord(token: Token | undefined, word: string): boolean {
  return token !== undefined && token.kind === 'ident' && token.value === word
}


/**
 * Compiles a model-checker property (see {@link CompiledProperty}) against a
 * program's state variables and a set of client names. Never throws for a bad
 * property: the diagnostics say what is wrong and where.
 */
export function compileProperty(program: CheckedProgram, text: string, options: PropertyOptions): { property?: CompiledProperty; diagnostics: readonly Diagnostic[] } {
  const source = new SourceText(options.file ?? '<property>', text)
  const diagnostics = new DiagnosticBag(source)
  const tokens = scan(text, diagnostics, { primes: true })
  const varNames = new Set(program.vars.map((v) => v.name))
  let at = 0
  if (isWord(tokens[at], 'always') && !varNames.has('always') && tokens[at + 1]?.kind !== 'eof') at++
  const quantifiers: Quantifier[] = []
  while ((isWord(tokens[at], 'forall') || isWord(tokens[at], 'exists')) && tokens[at + 1]?.kind === 'ident' && tokens[at + 2]?.kind === 'punct' && tokens[at + 2]?.value === ':') {
    const name = tokens[at + 1]!
    quantifiers.push({ kind: tokens[at]!.value as 'forall' | 'exists', name: { name: name.value, start: name.start, end: name.end } })
    at += 3
  }
  const expr = parseExpression(tokens.slice(at), diagnostics)
  if (!expr || diagnostics.hasErrors()) return { diagnostics: diagnostics.sorted() }

  // Primed names are state variables too, read from the second half of `vars`.
  const vars = new Map<string, VarInfo>(program.vars.map((v) => [v.name, v]))
  const count = program.vars.length
  for (const v of program.vars) vars.set(`${v.name}'`, { ...v, name: `${v.name}'`, index: count + v.index })
  // Bound names come first in `args`, then the client literals.
  const params = new Map<string, ParamInfo>()
  const bound = new Set<string>()
  const paramOf = (name: Identifier, index: number): ParamInfo => {
    const decl: Param = { kind: 'Param', name, type: { kind: 'NamedType', name: 'client_id', start: name.start, end: name.end }, start: name.start, end: name.end }
    return { name: name.name, type: Types.clientId, index, decl }
  }
  quantifiers.forEach((q, i) => {
    if (vars.has(q.name.name) || bound.has(q.name.name) || options.clients.includes(q.name.name)) {
      const what = vars.has(q.name.name) ? 'a state variable' : bound.has(q.name.name) ? 'already bound by a quantifier' : 'a client name'
      diagnostics.error(DiagnosticCodes.NAME_CONFLICT, q.name.start, q.name.end, `'${q.name.name}' is ${what}; give the quantified client another name`)
    }
    bound.add(q.name.name)
    params.set(q.name.name, paramOf(q.name, i))
  })
  const literals = options.clients.filter((c) => !vars.has(c) && !bound.has(c))
  literals.forEach((c, i) => params.set(c, paramOf({ name: c, start: 0, end: 0 }, quantifiers.length + i)))
  const scope: Scope = { vars, params, context: 'invariant' }
  const type = checkExpression(expr, scope, diagnostics, Types.bool)
  if (type.kind !== 'error' && type.kind !== 'bool' && !diagnostics.hasErrors()) {
    diagnostics.error(DiagnosticCodes.TYPE_MISMATCH, expr.start, expr.end, `an invariant must be a bool, found ${typeToString(type)}`)
  }
  if (diagnostics.hasErrors()) return { diagnostics: diagnostics.sorted() }

  let transition = false
  const used = new Set<string>()
  walkExpr(expr, (node) => {
    if (node.kind !== 'Name' || node.binding === undefined) return
    if (node.binding.kind === 'var' && node.binding.index >= count) transition = true
    if (node.binding.kind === 'param' && node.binding.index >= quantifiers.length) used.add(literals[node.binding.index - quantifiers.length]!)
  })
  const body = compileExpression(expr, { source, command: 'invariant', inCommand: false })
  const args: Value[] = [...quantifiers.map(() => null), ...literals]
  const frame: Frame = { vars: [], args, client: null, time: null, owned: null }
  const clients = options.clients
  const level = (depth: number): Value => {
    if (depth === quantifiers.length) return body(frame)
    const forall = quantifiers[depth]!.kind === 'forall'
    let sawNil = false
    for (const client of clients) {
      args[depth] = client
      const value = level(depth + 1)
      if (value === null) sawNil = true
      else if (value === !forall) return value
    }
    return sawNil ? null : forall
  }
  const property: CompiledProperty = {
    text,
    kind: transition ? 'transition' : 'state',
    clientLiterals: literals.filter((c) => used.has(c)),
    evaluate(values) {
      frame.vars = values as Value[]
      return level(0)
    },
  }
  return { property, diagnostics: diagnostics.sorted() }
}
