import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { ErrorCodes, LockstepError } from '@lockstep/interface'

/** Checks commands against a machine's JSON Schema before they are ordered. */
export interface CommandValidator {
  /** Returns undefined for a valid command, otherwise the error to reply with. */
  validate(command: unknown): LockstepError | undefined
}

/** Compiled schemas, shared by every engine in the process (compiling costs milliseconds), with the command names they list. */
const compiled = new WeakMap<object, { readonly validate: ValidateFunction; readonly names: readonly string[] }>()

/** Builds a validator; without a schema every command is accepted. */
export function createCommandValidator(machineName: string, schema: object | undefined): CommandValidator {
  if (!schema) return { validate: () => undefined }
  let check = compiled.get(schema)
  if (!check) check = { validate: compileSchema(machineName, schema), names: commandNames(schema) }
  compiled.set(schema, check)
  const { validate, names } = check
  return {
    validate(command) {
      if (validate(command)) return undefined
      return describeFailure(machineName, validate.errors ?? [], command, names)
    },
  }
}

/**
 * The command names a schema lists, sorted: each branch's `name` constant (or enum) of a `oneOf`/`anyOf`, as
 * `commandSchema` of `@lockstep/machines` writes them, or the enum of `properties.name`; empty when it lists none.
 */
function commandNames(schema: object): string[] {
  const names = new Set<string>()
  const constants = (property: unknown): void => {
    if (typeof property !== 'object' || property === null) return
    const { const: constant, enum: values } = property as { const?: unknown; enum?: unknown }
    if (typeof constant === 'string') names.add(constant)
    if (Array.isArray(values)) for (const value of values) if (typeof value === 'string') names.add(value)
  }
  const nameOf = (branch: unknown): void => {
    if (typeof branch === 'object' && branch !== null) constants((branch as { properties?: { name?: unknown } }).properties?.name)
  }
  const { oneOf, anyOf } = schema as { oneOf?: unknown; anyOf?: unknown }
  for (const branches of [oneOf, anyOf]) if (Array.isArray(branches)) branches.forEach(nameOf)
  nameOf(schema)
  return [...names].sort()
}

function compileSchema(machineName: string, schema: object): ValidateFunction {
  try {
    const ajv = new Ajv({ allErrors: false, discriminator: true, strict: false })
    return ajv.compile(schema)
  } catch (cause) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `machine '${machineName}': its commandSchema is not a valid JSON Schema: ${(cause as Error).message}`, undefined, { cause })
  }
}

function describeFailure(machineName: string, errors: ErrorObject[], command: unknown, names: readonly string[]): LockstepError {
  const first = errors[0]
  if (!first) return new LockstepError(ErrorCodes.INVALID_COMMAND, `invalid command for machine '${machineName}'`)
  let path = first.instancePath || ''
  let what = first.message ?? 'is invalid'
  if (first.keyword === 'required') {
    path = `${path}/${(first.params as { missingProperty: string }).missingProperty}`
    what = 'is required'
  }
  if (first.keyword === 'additionalProperties') {
    path = `${path}/${(first.params as { additionalProperty: string }).additionalProperty}`
    what = 'is not a parameter of this command'
  }
  let given = ''
  if (first.keyword === 'discriminator' || (first.keyword === 'enum' && path === '/name')) {
    path = '/name'
    what = `is not a command of this machine${names.length > 0 ? ` (its commands: ${names.join(', ')})` : ''}`
    const name = (command as { name?: unknown }).name
    given = ` ${typeof name === 'string' ? `'${name.length > 64 ? `${name.slice(0, 64)}…` : name}'` : JSON.stringify(name) ?? 'undefined'}`
  }
  const field = `${path === '' ? 'command' : `command${path.replaceAll('/', '.')}`}${given}`
  return new LockstepError(ErrorCodes.INVALID_COMMAND, `invalid command for machine '${machineName}': ${field} ${what}`, { path: path || '/' })
}
