import { emitTypeScript } from '@lockstep/dsl'
import { parseFlags } from '../args'
import { ExitCode, type Io } from '../io'
import { readSpec } from '../spec-file'

export const compileUsage = `lockstep compile FILE.sm [-o OUT.ts] [--interface-module NAME]

Compiles a state machine written in the Lockstep DSL to a TypeScript module:
the StateMachine (same behaviour as the interpreter), its state, command and
output types, and a typed client class with one method per command.
  -o, --out            write the module to OUT.ts (default: print it on stdout)
  --interface-module   where the module imports the Lockstep contracts from
                       (default @lockstep/interface)
Diagnostics go to stderr as FILE:LINE:COL: error: MESSAGE, with the source line
and a caret. Exit 0 on success (warnings allowed), 1 on errors, 2 for bad usage.`

/** `lockstep compile`: DSL → TypeScript. */
export async function compileCommand(args: string[], io: Io): Promise<number> {
  let flags
  try {
    flags = parseFlags('compile', args, {
      out: { type: 'string', short: 'o' },
      'interface-module': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    })
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${compileUsage}`)
    return ExitCode.USAGE
  }
  const values = flags.values as { out?: string; 'interface-module'?: string; help?: boolean }
  if (values.help) {
    io.stdout(compileUsage)
    return ExitCode.OK
  }
  const spec = await readSpec('compile', flags.positionals, compileUsage, io)
  if (typeof spec === 'number') return spec
  const { file, result } = spec
  if (!result.program) {
    // Every error, the ones past the first 100 (not shown) too.
    const errors = result.errorCount
    io.stderr(`lockstep compile: ${file}: ${errors} error${errors === 1 ? '' : 's'}`)
    return ExitCode.FAILED
  }
  let module: string
  try {
    module = emitTypeScript(result.program, values['interface-module'] ? { interfaceModule: values['interface-module'] } : {})
  } catch (error) {
    io.stderr(`lockstep compile: ${file}: ${(error as Error).message}`)
    return ExitCode.FAILED
  }
  if (values.out === undefined) {
    io.stdout(module)
    return ExitCode.OK
  }
  try {
    await io.writeFile(values.out, module)
  } catch (error) {
    io.stderr(`lockstep compile: cannot write ${values.out}: ${(error as Error).message}`)
    return ExitCode.USAGE
  }
  const commands = result.program.commands.map((c) => c.name).join(', ')
  io.stderr(`wrote ${values.out}: state machine '${result.program.name}' with commands ${commands}`)
  return ExitCode.OK
}
