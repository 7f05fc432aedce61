import { isLockstepError } from '@lockstep/interface'
import {
  checkLinearizability,
  DEFAULT_MAX_STATES,
  modelByName,
  models,
  parseHistory,
  type IndexedOperation,
  type LinearizabilityResult,
  type Model,
  type Operation,
} from '@lockstep/testkit'
import { intFlag, parseFlags } from '../args'
import { ExitCode, type Io } from '../io'

/**
 * Exit code of verdict `unknown`: a limit (--timeout-ms, --max-steps, --max-states) stopped the check before it
 * decided. It is 2, like bad usage (the contract): the verdict line on stdout (and `verdict` in --json)
 * tells them apart; a usage problem prints only on stderr.
 */
export const LINCHECK_UNDECIDED = 2

/** How many operations of the longest linearizable prefix the text output shows (--json shows all). */
const PREFIX_SHOWN = 20

/** The help text of `lockstep lincheck`. */
export const lincheckUsage = `lockstep lincheck HISTORY.json --model register|kv [--json] [--timeout-ms N] [--max-states N] [--max-steps N]

Checks that a recorded history is linearizable: that some order of its
operations, respecting real time (an operation that returned before another
was called comes first), is a legal run of the model. HISTORY.json is a JSON
array of {"client", "input", "output", "call", "return"}; output null means the
outcome is unknown, return null that the operation never returned. See
docs/lincheck.md.
  --model       register (one register, starting at null) or kv (string keys,
                checked one key at a time)
  --json        print one JSON object
  --timeout-ms  give up after this long (default: no limit)
  --max-states  give up on a partition once its search holds this many states;
                bounds memory, about 150 bytes a state (default: ${DEFAULT_MAX_STATES})
  --max-steps   give up after about this many model steps (default: no limit)
Exit 0 when linearizable, 1 when not (the longest linearizable prefix found and
the operation that cannot follow it are printed), 2 for verdict unknown (a limit
stopped the check before it decided: the verdict line on stdout says so) and for
unreadable input or bad usage (the problem on stderr, nothing on stdout).`

/** `lockstep lincheck`: decide whether a recorded history is linearizable. */
export async function lincheckCommand(args: string[], io: Pick<Io, 'stdout' | 'stderr' | 'readFile'>): Promise<number> {
  let values: { model?: string; json?: boolean; 'timeout-ms'?: string; 'max-steps'?: string; 'max-states'?: string; help?: boolean }
  let positionals: string[]
  let timeoutMs: number | undefined
  let maxSteps: number | undefined
  let maxStates: number | undefined
  try {
    const flags = parseFlags('lincheck', args, {
      model: { type: 'string', short: 'm' },
      json: { type: 'boolean' },
      'timeout-ms': { type: 'string' },
      'max-steps': { type: 'string' },
      'max-states': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    })
    values = flags.values as typeof values
    positionals = flags.positionals
    if (values.help) {
      io.stdout(lincheckUsage)
      return ExitCode.OK
    }
    if (values['timeout-ms'] !== undefined) timeoutMs = intFlag('lincheck', 'timeout-ms', values['timeout-ms'], 0, 1)
    if (values['max-steps'] !== undefined) maxSteps = intFlag('lincheck', 'max-steps', values['max-steps'], 0, 1)
    if (values['max-states'] !== undefined) maxStates = intFlag('lincheck', 'max-states', values['max-states'], 0, 1)
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${lincheckUsage}`)
    return ExitCode.USAGE
  }
  if (positionals.length !== 1) {
    io.stderr(`lockstep lincheck: expected one HISTORY.json, got ${positionals.length}\n\n${lincheckUsage}`)
    return ExitCode.USAGE
  }
  if (values.model === undefined) {
    io.stderr(`lockstep lincheck: --model is required (one of ${Object.keys(models).join(', ')})\n\n${lincheckUsage}`)
    return ExitCode.USAGE
  }
  const file = positionals[0]!
  let model: Model
  try {
    model = modelByName(values.model)
  } catch (error) {
    io.stderr(`lockstep lincheck: ${(error as Error).message}`)
    return ExitCode.USAGE
  }
  let text: string
  try {
    text = await io.readFile(file)
  } catch (error) {
    io.stderr(`lockstep lincheck: cannot read ${file}: ${(error as Error).message}`)
    return ExitCode.USAGE
  }
  let result: LinearizabilityResult
  try {
    const history = parseHistory(text)
    result = checkLinearizability(history, model, {
      ...(timeoutMs === undefined ? {} : { timeoutMs, now: () => performance.now() }),
      ...(maxSteps === undefined ? {} : { maxSteps }),
      ...(maxStates === undefined ? {} : { maxStates }),
    })
  } catch (error) {
    if (!isLockstepError(error)) throw error
    io.stderr(`lockstep lincheck: ${file}: ${error.message}`)
    return error.code === 'INVALID_CONFIG' ? ExitCode.USAGE : ExitCode.FAILED
  }
  if (values.json) io.stdout(JSON.stringify(resultJson(file, result)))
  else io.stdout(resultText(file, result))
  if (result.verdict === 'linearizable') return ExitCode.OK
  return result.verdict === 'not-linearizable' ? ExitCode.FAILED : LINCHECK_UNDECIDED
}

function operationJson(indexed: IndexedOperation) {
  const { client, input, output, call } = indexed.operation
  return { index: indexed.index, client, input, output, call, return: indexed.operation.return, description: indexed.description }
}

function resultJson(file: string, result: LinearizabilityResult) {
  const { ok, verdict, model, operations, partitions, statesExplored, steps, violation, reason } = result
  return {
    ok,
    verdict,
    file,
    model,
    operations,
    partitions,
    statesExplored,
    steps,
    ...(reason === undefined ? {} : { reason }),
    ...(violation === undefined
      ? {}
      : {
          partition: violation.partition,
          prefix: violation.prefix.map(operationJson),
          failedOperation: operationJson(violation.failedOperation),
          stateAfterPrefix: violation.stateAfterPrefix,
          message: violation.message,
          ...(violation.horizon === undefined ? {} : { horizon: violation.horizon }),
        }),
  }
}

function when(operation: Operation): string {
  return operation.return === null ? `called ${operation.call}, never returned` : `called ${operation.call}, returned ${operation.return}`
}

function resultText(file: string, result: LinearizabilityResult): string {
  const summary = `model ${result.model}, ${result.operations} operation${result.operations === 1 ? '' : 's'}, ${result.partitions} partition${result.partitions === 1 ? '' : 's'}, ${result.statesExplored} states explored`
  if (result.verdict === 'linearizable') return `${file}: linearizable (${summary})`
  const lines = [
    result.verdict === 'not-linearizable' ? `${file}: NOT linearizable (${summary})` : `${file}: unknown (${summary}): ${result.reason}`,
  ]
  const violation = result.violation
  if (violation === undefined) return lines.join('\n')
  const shown = violation.prefix.slice(-PREFIX_SHOWN)
  const rows = [...shown, violation.failedOperation]
  const indexWidth = Math.max(...rows.map((r) => `#${r.index}`.length))
  const clientWidth = Math.max(...rows.map((r) => String(r.operation.client).length))
  const descriptionWidth = Math.max(...rows.map((r) => r.description.length))
  const row = (r: IndexedOperation) =>
    `#${r.index}`.padEnd(indexWidth) + `  client ${String(r.operation.client).padEnd(clientWidth)}  ${r.description.padEnd(descriptionWidth)}  ${when(r.operation)}`
  if (violation.horizon !== undefined) {
    lines.push(`Assuming every operation with an unknown outcome takes effect within ${violation.horizon} time units of its call (or never):`)
  }
  if (violation.partition !== null) lines.push(`In ${violation.partition}:`)
  const count = violation.prefix.length
  lines.push(`Longest linearizable prefix found (${count} operation${count === 1 ? '' : 's'}, in linearization order):`)
  if (count === 0) lines.push('  (none: not even the first operation fits)')
  if (count > PREFIX_SHOWN) lines.push(`  … ${count - PREFIX_SHOWN} earlier operations (all of them with --json)`)
  shown.forEach((r, i) => lines.push(`  ${String(count - shown.length + i + 1).padStart(String(count).length)}. ${row(r)}`))
  lines.push(`State after it: ${violation.stateAfterPrefix}`)
  lines.push('Operation that cannot be placed after it (the first to return of those left):')
  lines.push(`  ${' '.repeat(String(count).length)}  ${row(violation.failedOperation)}`)
  return lines.join('\n')
}
