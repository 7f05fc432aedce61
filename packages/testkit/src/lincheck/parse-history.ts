import { LockstepError } from '@lockstep/interface'
import type { Operation } from './operation'

const operationFields = ['client', 'input', 'output', 'call', 'return'] as const

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`
  return `${typeof value} ${String(value)}`
}

function invalid(index: number, field: string, message: string): LockstepError {
  return new LockstepError(
    'INVALID_CONFIG',
    `history operation ${index}, field "${field}": ${message}`,
    { path: `/${index}/${field}`, index, field },
  )
}

/** Check one operation's shape and return a copy holding only the five history fields. */
export function checkOperationShape(value: unknown, index: number): Operation {
  if (!isPlainObject(value)) {
    throw new LockstepError(
      'INVALID_CONFIG',
      `history operation ${index} is ${describe(value)}; expected an object with fields ${operationFields.join(', ')}`,
      { path: `/${index}`, index },
    )
  }
  for (const field of operationFields) {
    if (!(field in value)) {
      throw invalid(index, field, `missing; every operation needs ${operationFields.join(', ')} (use null for an unknown output or a missing return)`)
    }
  }
  const { client, input, output, call } = value
  const ret = value.return
  if (!(typeof client === 'string' || (typeof client === 'number' && Number.isFinite(client)))) {
    throw invalid(index, 'client', `is ${describe(client)}; expected a string or a number`)
  }
  if (!isPlainObject(input)) throw invalid(index, 'input', `is ${describe(input)}; expected an object such as {"f":"read"}`)
  if (output !== null && !isPlainObject(output)) {
    throw invalid(index, 'output', `is ${describe(output)}; expected an object, or null when the outcome is unknown`)
  }
  if (typeof call !== 'number' || !Number.isFinite(call)) {
    throw invalid(index, 'call', `is ${describe(call)}; expected a finite number (the invocation time)`)
  }
  if (ret !== null) {
    if (typeof ret !== 'number' || !Number.isFinite(ret)) {
      throw invalid(index, 'return', `is ${describe(ret)}; expected a finite number, or null when the operation never returned`)
    }
    if (ret < call) throw invalid(index, 'return', `${ret} is before the call time ${call}; an operation cannot return before it is called`)
  } else if (output !== null) {
    throw invalid(index, 'output', 'is set but "return" is null; an operation that never returned has no output: set output to null')
  }
  return { client, input, output, call, return: ret }
}

/**
 * Validate a history (parsed JSON, or JSON text) and return its operations.
 * Throws `LockstepError` `INVALID_CONFIG` naming the index and field of the
 * first bad operation.
 */
export function parseHistory(json: unknown): Operation[] {
  let value = json
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value)
    } catch (error) {
      throw new LockstepError('INVALID_CONFIG', `history is not valid JSON (${(error as Error).message}); expected a JSON array of operations`, { path: '' }, { cause: error })
    }
  }
  if (!Array.isArray(value)) {
    throw new LockstepError('INVALID_CONFIG', `history is ${describe(value)}; expected an array of operations {"client","input","output","call","return"}`, { path: '' })
  }
  return value.map((operation, index) => checkOperationShape(operation, index))
}
