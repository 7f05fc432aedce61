import { compile, decodeSource, formatDiagnostic, moreDiagnostics, type CompileResult, type DecodedSource } from '@lockstep/dsl'
import { ExitCode, type Io } from './io'

/** A DSL spec read and compiled for a command, its diagnostics already printed. */
export interface CompiledSpec {
  readonly file: string
  readonly source: string
  readonly result: CompileResult
}

/**
 * The shared start of `compile`, `exec` and `check`: exactly one FILE.sm argument, read it, compile it,
 * print its diagnostics on stderr. The file is read as bytes: invalid UTF-8 is reported at its line and column.
 * Returns the exit code instead when the usage or the file is wrong.
 */
export async function readSpec(command: string, positionals: readonly string[], usage: string, io: Io): Promise<CompiledSpec | number> {
  if (positionals.length !== 1) {
    io.stderr(`lockstep ${command}: expected one FILE.sm, got ${positionals.length}\n\n${usage}`)
    return ExitCode.USAGE
  }
  const file = positionals[0]!
  let source: string
  let decoded: DecodedSource | undefined
  try {
    if (io.readFileBytes) {
      decoded = decodeSource(await io.readFileBytes(file), { file })
      source = decoded.source
    } else {
      source = await io.readFile(file)
    }
  } catch (error) {
    io.stderr(`lockstep ${command}: cannot read ${file}: ${(error as Error).message}`)
    return ExitCode.USAGE
  }
  // A file that is not UTF-8 text is not compiled: its bytes are reported (DSL1005), each where it is.
  const result: CompileResult = decoded && decoded.diagnostics.length > 0
    ? { ast: undefined, diagnostics: decoded.diagnostics, omittedDiagnostics: decoded.omittedDiagnostics, errorCount: decoded.diagnostics.length + decoded.omittedDiagnostics }
    : compile(source, { file })
  for (const diagnostic of result.diagnostics) io.stderr(formatDiagnostic(diagnostic, source))
  if (result.omittedDiagnostics > 0) io.stderr(moreDiagnostics(result.omittedDiagnostics))
  return { file, source, result }
}
