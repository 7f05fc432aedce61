import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { ErrorCodes, LockstepError } from '@lockstep/interface'

/** Checks commands against a machine's JSON Schema before they are ordered. */
export interface CommandValidator {
  /** Returns undefined for a valid command, otherwise the error to reply with. */
  validate(command: unknown): LockstepError | undefined
}

/** Compiled schemas, shared by every engine in the process (compiling costs milliseconds). */
const compiled = new WeakMap<object, ValidateFunction>()

/** Builds a validator; without a schema every command is accepted. */
export function createCommandValidator(machineName: string, schema: object | undefined): CommandValidator {
  if (!schema) return { validate: () => undefined }
  let check = compiled.get(schema)
  if (!check) check = compileSchema(machineName, schema)
  compiled.set(schema, check)
  const validate = check
  return {
    validate(command) {
      if (validate(command)) return undefined
      return describeFailure(machineName, validate.errors ?? [])
    },
  }
}

function compileSchema(machineName: string, schema: object): ValidateFunction {
  try {
    const ajv = new Ajv({ allErrors: false, discriminator: true, strict: false })
    return ajv.compile(schema)
  } catch (cause) {
    throw new LockstepError(ErrorCodes.INVALID_CONFIG, `machine '${machineName}': its commandSchema is not a valid JSON Schema: ${(cause as Error).message}`, undefined, { cause })
  }
}

function describeFailure(machineName: string, errors: ErrorObject[]): LockstepError {
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
  if (first.keyword === 'discriminator' || (first.keyword === 'enum' && path === '/name')) {
    path = '/name'
    what = 'is not a command of this machine'
  }
  const field = path === '' ? 'command' : `command${path.replaceAll('/', '.')}`
  return new LockstepError(ErrorCodes.INVALID_COMMAND, `invalid command for machine '${machineName}': ${field} ${what}`, { path: path || '/' })
}
