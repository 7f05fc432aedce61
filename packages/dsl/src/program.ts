import { ErrorCodes, LockstepError } from '@lockstep/interface'
import type { MachineNode } from './ast'
import { checkExpression, checkMachine, type CheckedProgram, type Scope, type VarInfo } from './checker'
import { DiagnosticBag, DiagnosticCodes, SourceText, formatDiagnostics, type Diagnostic } from './diagnostics'
import { analyzeGuards } from './guard-analysis'
import { CompiledMachine, compileExpression, createMachine, evaluateInitialValues, type DslMachine, type Evaluator } from './interpreter'
import { parseExpression, parseMachine } from './parser'
import { scan } from './scanner'
import { decodeSource } from './source-bytes'
import { Types, typeToString } from './types'

/** Options for {@link compile}. */
export interface CompileOptions {
  /** The file name diagnostics and run-time failures name. Defaults to `input.sm`. */
  readonly file?: string
}

/** What {@link compile} returns: always the diagnostics; the machine only when there were no errors. */
export interface CompileResult {
  /** The syntax tree (absent only when nothing could be parsed). */
  readonly ast: MachineNode | undefined
  /** The errors and warnings, in source order: at most the first 100 (`MAX_DIAGNOSTICS`). */
  readonly diagnostics: readonly Diagnostic[]
  /** How many more diagnostics were found but not kept (print them as `and N more`, see `formatDiagnostics`). */
  readonly omittedDiagnostics: number
  /** How many errors were found, kept or not (warnings are not counted). */
  readonly errorCount: number
  /** The checked program, when there were no errors: input to the emitter, the schema and the model checker. */
  readonly program?: CheckedProgram
  /** The interpreted state machine, when there were no errors. */
  readonly machine?: DslMachine
}

/** File access for the compiler: the caller (the CLI) provides it, so the compiler itself does no I/O. */
export interface CompilerHost {
  readFile(path: string): Promise<string>
}

/** Compiles DSL source: scan, parse, check, analyze guards, then build the interpreted machine. Never throws for bad programs. */
export function compile(source: string, options: CompileOptions = {}): CompileResult {
  const text = new SourceText(options.file ?? 'input.sm', source)
  const diagnostics = new DiagnosticBag(text)
  const tokens = scan(source, diagnostics)
  const ast = parseMachine(tokens, diagnostics)
  if (!ast) return { ast, diagnostics: diagnostics.sorted(), omittedDiagnostics: diagnostics.omitted(), errorCount: diagnostics.errorCount() }
  const syntaxOk = !diagnostics.hasErrors()
  const checked = checkMachine(ast, diagnostics)
  const program: CheckedProgram = { name: ast.name.name, file: text.file, source: text, ast, vars: checked.vars, commands: checked.commands }
  // Guard analysis evaluates guards, so it needs commands that parsed and checked cleanly.
  if (syntaxOk) analyzeGuards(program, checked.commands.filter((c) => checked.cleanCommands.has(c.name)), diagnostics)
  if (diagnostics.hasErrors()) return { ast, diagnostics: diagnostics.sorted(), omittedDiagnostics: diagnostics.omitted(), errorCount: diagnostics.errorCount() }
  const initial = evaluateInitialValues(program)
  if ('failures' in initial) {
    for (const failure of initial.failures) {
      const init = failure.var.decl.init!
      diagnostics.error(DiagnosticCodes.INIT_FAILS, init.start, init.end, `the init expression of '${failure.var.name}' fails: ${failure.reason}`)
    }
    return { ast, diagnostics: diagnostics.sorted(), omittedDiagnostics: diagnostics.omitted(), errorCount: diagnostics.errorCount() }
  }
  const machine = createMachine(new CompiledMachine(program, initial.values))
  return { ast, diagnostics: diagnostics.sorted(), omittedDiagnostics: diagnostics.omitted(), errorCount: diagnostics.errorCount(), program, machine }
}

/** Reads a file through the host and compiles it, naming the file in diagnostics. */
export async function compileFile(path: string, host: CompilerHost): Promise<CompileResult & { readonly source: string }> {
  const source = await host.readFile(path)
  return { ...compile(source, { file: path }), source }
}

/**
 * Compiles DSL source and returns the machine, or throws a `DSL_ERROR` LockstepError listing every error.
 * Source given as bytes (a file as read) is decoded as UTF-8 first, and invalid UTF-8 is such an error.
 */
export function compileOrThrow(input: string | Uint8Array, options: CompileOptions = {}): { program: CheckedProgram; machine: DslMachine } {
  let source: string
  if (typeof input === 'string') source = input
  else {
    const decoded = decodeSource(input, options)
    source = decoded.source
    if (decoded.diagnostics.length > 0) throw dslError(options.file, source, decoded.diagnostics, decoded.omittedDiagnostics, decoded.diagnostics.length + decoded.omittedDiagnostics)
  }
  const result = compile(source, options)
  if (!result.program || !result.machine) {
    throw dslError(options.file, source, result.diagnostics.filter((d) => d.severity === 'error'), result.omittedDiagnostics, result.errorCount)
  }
  return { program: result.program, machine: result.machine }
}

function dslError(file: string | undefined, source: string, errors: readonly Diagnostic[], omitted: number, count: number): LockstepError {
  return new LockstepError(ErrorCodes.DSL_ERROR, `${file ?? 'input.sm'} has ${count} error${count === 1 ? '' : 's'}:\n${formatDiagnostics(errors, source, omitted)}`)
}

/** An invariant: a bool DSL expression over the state variables, compiled. */
export interface CompiledInvariant {
  readonly text: string
  readonly evaluate: Evaluator
}

/** What {@link compileInvariant} returns: the diagnostics (at most the first 100), and the invariant when there were no errors. */
export interface InvariantResult {
  readonly invariant?: CompiledInvariant
  /** The errors and warnings, in source order: at most the first 100 (`MAX_DIAGNOSTICS`). */
  readonly diagnostics: readonly Diagnostic[]
  /** How many more diagnostics were found but not kept (print them as `and N more`, see `formatDiagnostics`). */
  readonly omittedDiagnostics: number
}

/** Compiles an invariant such as `not (user in waiting)` against a program's state variables. */
export function compileInvariant(program: CheckedProgram, text: string, options: CompileOptions = {}): InvariantResult {
  const source = new SourceText(options.file ?? '<invariant>', text)
  const diagnostics = new DiagnosticBag(source)
  const tokens = scan(text, diagnostics)
  const expr = parseExpression(tokens, diagnostics)
  if (!expr || diagnostics.hasErrors()) return { diagnostics: diagnostics.sorted(), omittedDiagnostics: diagnostics.omitted() }
  const scope: Scope = { vars: new Map<string, VarInfo>(program.vars.map((v) => [v.name, v])), params: undefined, context: 'invariant' }
  const type = checkExpression(expr, scope, diagnostics, Types.bool)
  if (type.kind !== 'error' && type.kind !== 'bool' && !diagnostics.hasErrors()) {
    diagnostics.error(DiagnosticCodes.TYPE_MISMATCH, expr.start, expr.end, `an invariant must be a bool, found ${typeToString(type)}`)
  }
  if (diagnostics.hasErrors()) return { diagnostics: diagnostics.sorted(), omittedDiagnostics: diagnostics.omitted() }
  const evaluate = compileExpression(expr, { source, command: 'invariant', inCommand: false })
  return { invariant: { text, evaluate }, diagnostics: diagnostics.sorted(), omittedDiagnostics: diagnostics.omitted() }
}
