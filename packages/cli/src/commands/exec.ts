import { validateCommand, type DslMachine } from '@lockstep/dsl'
import { parseFlags } from '../args'
import { ExitCode, type Io } from '../io'
import { readSpec } from '../spec-file'

export const execUsage = `lockstep exec FILE.sm

Runs commands read from stdin, one per line, on one instance of the machine:
  CLIENT COMMAND [JSON-ARGS]      e.g.  c1 acquire
                                        c2 put {"key":"a","value":3}
A line @MS sets the agreed time (the DSL's now, in milliseconds; from 0, never
decreasing) for the commands after it, e.g.  @1500
Blank lines and lines starting with # or -- are skipped. Prints one JSON line per
output, {"to":"c1","value":"OK"}, one per rejected or failed command,
{"client":"c1","error":"…"}, and finally {"state":…} (lists as arrays, sets as
sorted arrays, maps as objects, Φ as null). Arguments are checked against the
command's schema first. Exit 0 after the last line, 1 if the spec has errors,
2 for bad usage or unreadable input lines.`

/** `lockstep exec`: runs stdin's commands on the interpreted machine. */
export async function execCommand(args: string[], io: Io): Promise<number> {
  let flags
  try {
    flags = parseFlags('exec', args, { help: { type: 'boolean', short: 'h' } })
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${execUsage}`)
    return ExitCode.USAGE
  }
  if (flags.values.help) {
    io.stdout(execUsage)
    return ExitCode.OK
  }
  const spec = await readSpec('exec', flags.positionals, execUsage, io)
  if (typeof spec === 'number') return spec
  const { result } = spec
  if (!result.machine) return ExitCode.FAILED
  const input = await io.readStdin()
  return runLines(result.machine, input, io)
}

function runLines(machine: DslMachine, input: string, io: Io): number {
  const state = machine.init()
  let position = 0
  /** The agreed time (`now`) of the next commands, set by `@MS` lines. */
  let time = 0
  let malformed = false
  const lines = input.split(/\r?\n/)
  lines.forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith('--')) return
    if (line.startsWith('@')) {
      const ms = /^@\s*(\d+)$/.exec(line)
      const next = ms ? Number(ms[1]) : NaN
      if (!Number.isSafeInteger(next) || next < time) {
        malformed = true
        io.stdout(JSON.stringify({ error: `line ${i + 1}: expected '@MS', a whole number of milliseconds at or above the time so far (${time}), got '${line}'` }))
        return
      }
      time = next
      return
    }
    const match = /^(\S+)\s+([A-Za-z_][A-Za-z0-9_]*)(?:\s+(.*))?$/.exec(line)
    if (!match) {
      malformed = true
      io.stdout(JSON.stringify({ client: line.split(/\s+/)[0] ?? null, error: `line ${i + 1}: expected 'CLIENT COMMAND [JSON-ARGS]', got '${line}'` }))
      return
    }
    const [, client, name, argsText] = match as unknown as [string, string, string, string | undefined]
    let args: unknown
    if (argsText !== undefined) {
      try {
        args = JSON.parse(argsText)
      } catch (error) {
        malformed = true
        io.stdout(JSON.stringify({ client, error: `line ${i + 1}: the arguments are not JSON: ${(error as Error).message}` }))
        return
      }
    }
    const command = args === undefined ? { name } : { name, args }
    const validation = validateCommand(machine, command)
    if (!validation.ok) {
      io.stdout(JSON.stringify({ client, error: `invalid command: ${validation.message}` }))
      return
    }
    position++
    try {
      const outputs = machine.apply(state, command as { name: string; args?: Record<string, unknown> }, { client, position, time })
      for (const output of outputs) io.stdout(JSON.stringify({ to: output.to, value: output.value }))
    } catch (error) {
      io.stdout(JSON.stringify({ client, error: (error as Error).message }))
    }
  })
  io.stdout(JSON.stringify({ state: machine.toJSON(state) }))
  return malformed ? ExitCode.USAGE : ExitCode.OK
}
