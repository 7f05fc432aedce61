import { ErrorCodes, LockstepError } from '@lockstep/interface'
import type { CompiledMachine, DslMachine } from './interpreter'
import type { TraceStep, Violation } from './model-checker'
import { typeToString, type Type } from './types'
import { compareScalars, type Scalar, type Value } from './values'

/** An ITF value: ints as `{"#bigint": "…"}`, sets as `{"#set": […]}`, maps as `{"#map": [[k, v], …]}`, lists as arrays. */
export type ItfValue = string | boolean | { readonly [key: string]: unknown } | readonly ItfValue[]

/** A trace in the Informal Trace Format (ITF) of Apalache: `{ "#meta", vars, states, loop? }`. */
export interface ItfTrace {
  readonly '#meta': Readonly<Record<string, unknown>>
  readonly vars: readonly string[]
  readonly states: readonly Readonly<Record<string, unknown>>[]
  /** For a lasso: the index of the state the cycle returns to. */
  readonly loop?: number
}

/** A value in ITF. Φ of a scalar has no ITF form: `{"#unserializable": "Φ"}`. */
export function toItfValue(value: Value, type: Type): ItfValue {
  switch (type.kind) {
    case 'list': {
      const element = type.element
      return (value as readonly Value[]).map((item) => toItfValue(item, element))
    }
    case 'set':
      return { '#set': [...(value as ReadonlySet<Scalar>)].sort(compareScalars).map((item) => toItfValue(item, type.element)) }
    case 'map':
      return { '#map': [...(value as ReadonlyMap<Scalar, Value>)].sort(([a], [b]) => compareScalars(a, b)).map(([k, v]) => [toItfValue(k, type.key), toItfValue(v, type.value)]) }
    default:
      if (value === null) return { '#unserializable': 'Φ' }
      if (type.kind === 'int') return { '#bigint': String(value) }
      return value as string | boolean
  }
}

/**
 * A counterexample in the Informal Trace Format: the states from the initial
 * one through every step of `trace` (and, for a lasso, of `cycle`, with `loop`
 * the index of the state the cycle returns to). Each state's `#meta` holds its
 * `index`, the step that reached it (`action`, as a `lockstep exec` line), its
 * agreed `time`, and for the aborted step of an `abort` violation the `error`.
 */
export function itfTrace(machine: DslMachine | CompiledMachine, violation: Violation, description = ''): ItfTrace {
  const compiled = 'compiled' in machine ? machine.compiled : machine
  const program = compiled.program
  const vars = program.vars.map((v) => v.name)
  const states: Record<string, unknown>[] = []
  const push = (state: readonly Value[], meta: Record<string, unknown>): void => {
    const out: Record<string, unknown> = { '#meta': { index: states.length, ...meta } }
    for (const info of program.vars) out[info.name] = toItfValue(state[info.index]!, info.type)
    states.push(out)
  }
  let current: Value[] = compiled.init()
  push(current, {})
  const run = (steps: readonly TraceStep[]): void => {
    for (const step of steps) {
      const index = compiled.commandIndex.get(step.command)
      if (index === undefined) throw new LockstepError(ErrorCodes.INVALID_CONFIG, `the trace names an unknown command '${step.command}'`)
      const args = compiled.argsFromJson(index, step.args)
      try {
        current = compiled.exec(current, index, step.client, args, step.time).state
        push(current, { action: step.line, time: step.time })
      } catch (error) {
        push(current, { action: step.line, time: step.time, error: (error as Error).message })
      }
    }
  }
  run(violation.trace)
  const loop = violation.cycle === undefined ? undefined : states.length - 1
  if (violation.cycle !== undefined && violation.cycle.length > 0) {
    run(violation.cycle)
    // The last state of the cycle is the state the loop starts from: ITF lists it once.
    states.pop()
  }
  const varTypes: Record<string, string> = {}
  for (const info of program.vars) varTypes[info.name] = typeToString(info.type)
  return {
    '#meta': {
      format: 'ITF',
      'format-description': 'https://apalache-mc.org/docs/adr/015adr-trace.html',
      source: program.file,
      description: description || `${violation.kind} violation of ${violation.invariant}: ${violation.message}`,
      varTypes,
    },
    vars,
    states,
    ...(loop === undefined ? {} : { loop }),
  }
}
