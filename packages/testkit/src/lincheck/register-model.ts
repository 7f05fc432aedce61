import { canonicalJson } from './canonical-json'
import type { Model, OperationProblem } from './model'
import type { Operation } from './operation'

/** An input of the register model. Values are any JSON; they are compared by JSON equality. */
export type RegisterInput =
  | { readonly f: 'read' }
  | { readonly f: 'write'; readonly value: unknown }
  | { readonly f: 'cas'; readonly from: unknown; readonly to: unknown }

/** An output of the register model: `{value}` for read, `{}` for write, `{ok}` for cas. */
export interface RegisterOutput {
  readonly value?: unknown
  readonly ok?: boolean
}

/** The register's state: the canonical JSON text of its value (`"null"` initially). */
export type RegisterState = string

const registerFunctions = ['read', 'write', 'cas']

function hasOwn(value: object, field: string): boolean {
  return Object.prototype.hasOwnProperty.call(value, field)
}

function checkRegisterOperation(operation: Operation<RegisterInput, RegisterOutput>): OperationProblem | undefined {
  const input = operation.input as unknown as Record<string, unknown>
  if (!registerFunctions.includes(input.f as string)) {
    return { path: '/input/f', message: `is ${JSON.stringify(input.f)}; the register model accepts "read", "write" and "cas"` }
  }
  if (input.f === 'write' && !hasOwn(input, 'value')) return { path: '/input/value', message: 'missing; a write needs {"f":"write","value":v}' }
  if (input.f === 'cas') {
    if (!hasOwn(input, 'from')) return { path: '/input/from', message: 'missing; a cas needs {"f":"cas","from":a,"to":b}' }
    if (!hasOwn(input, 'to')) return { path: '/input/to', message: 'missing; a cas needs {"f":"cas","from":a,"to":b}' }
  }
  const output = operation.output as Record<string, unknown> | null
  if (output !== null) {
    if (input.f === 'read' && !hasOwn(output, 'value')) return { path: '/output/value', message: 'missing; a read returns {"value":v}, or use output null if unknown' }
    if (input.f === 'cas' && typeof output.ok !== 'boolean') return { path: '/output/ok', message: `is ${JSON.stringify(output.ok)}; a cas returns {"ok":true|false}` }
  }
  return undefined
}

/**
 * One register holding a JSON value, initially `null`: `read` → `{value}`,
 * `write value` → `{}`, `cas from to` → `{ok}` (JSON equality).
 */
export const registerModel: Model<RegisterState, RegisterInput, RegisterOutput> = {
  name: 'register',
  init: () => 'null',
  step(state, input, output) {
    switch (input.f) {
      case 'read':
        return { ok: output === null || canonicalJson(output.value) === state, state }
      case 'write':
        return { ok: true, state: canonicalJson(input.value) }
      case 'cas': {
        const matches = canonicalJson(input.from) === state
        if (output !== null && output.ok !== matches) return { ok: false, state }
        return { ok: true, state: matches ? canonicalJson(input.to) : state }
      }
      default:
        return { ok: false, state }
    }
  },
  key: (state) => state,
  // A read never changes the register; neither does a cas known to have failed.
  readOnly: (input, output) => input.f === 'read' || (input.f === 'cas' && output !== null && output.ok === false),
  readSources(read, writes) {
    if (read.input.f !== 'read' || read.output === null) return undefined
    const value = canonicalJson(read.output.value)
    // The last write (or successful cas) before the read must have left its value.
    const sources: number[] = []
    writes.forEach((write, position) => {
      const { input } = write
      if ((input.f === 'write' && canonicalJson(input.value) === value) || (input.f === 'cas' && canonicalJson(input.to) === value)) sources.push(position)
    })
    return { sources, reachableFrom: (state) => state === value }
  },
  describeState: (state) => `value ${state}`,
  describeOperation({ input, output }) {
    switch (input.f) {
      case 'read':
        return `read -> ${output === null ? '?' : canonicalJson(output.value)}`
      case 'write':
        return `write ${canonicalJson(input.value)}${output === null ? ' -> ?' : ''}`
      case 'cas':
        return `cas ${canonicalJson(input.from)} -> ${canonicalJson(input.to)} = ${output === null ? '?' : output.ok ? 'ok' : 'failed'}`
      default:
        return canonicalJson(input)
    }
  },
  checkOperation: checkRegisterOperation,
}
