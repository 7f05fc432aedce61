import type { CheckedProgram, CommandInfo } from './checker'
import type { Type } from './types'

const MAX_INT = Number.MAX_SAFE_INTEGER

/** Integer map keys as JSON object keys: decimal, no leading zeros, at most 16 digits (the value must also be within ±2^53 - 1). */
export const INT_KEY_PATTERN = '^(0|-?[1-9][0-9]{0,15})$'

/** JSON Schema of a value of `type`, as it appears in command arguments (never `Φ`). */
export function typeSchema(type: Type): Record<string, unknown> {
  switch (type.kind) {
    case 'client_id':
      return { type: 'string', minLength: 1 }
    case 'string':
      return { type: 'string' }
    case 'int':
      return { type: 'integer', minimum: -MAX_INT, maximum: MAX_INT }
    case 'bool':
      return { type: 'boolean' }
    case 'list':
      return { type: 'array', items: typeSchema(type.element) }
    case 'set':
      return { type: 'array', items: typeSchema(type.element), uniqueItems: true }
    case 'map': {
      const keys = type.key.kind === 'int' ? { pattern: INT_KEY_PATTERN }
        : type.key.kind === 'bool' ? { enum: ['true', 'false'] }
        : type.key.kind === 'client_id' ? { minLength: 1 }
        : undefined
      return { type: 'object', ...(keys ? { propertyNames: keys } : {}), additionalProperties: typeSchema(type.value) }
    }
    default:
      return {}
  }
}

/** JSON Schema of one command's `args` object. */
export function argsSchema(command: CommandInfo): Record<string, unknown> {
  const properties: Record<string, unknown> = {}
  for (const param of command.params) properties[param.name] = typeSchema(param.type)
  return {
    type: 'object',
    additionalProperties: false,
    properties,
    required: command.params.map((p) => p.name),
  }
}

/** JSON Schema of each command's `args`, by command name. */
export function commandSchemas(program: CheckedProgram): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {}
  for (const command of program.commands) out[command.name] = argsSchema(command)
  return out
}

/**
 * JSON Schema of a whole command, `{ name, args? }`, with one `oneOf` branch per
 * command and an ajv `discriminator` on `name` (the layout of
 * `@lockstep/machines`), so validation errors name the offending field.
 * `args` is required when the command has parameters.
 */
export function commandSchema(program: CheckedProgram): Record<string, unknown> {
  return {
    type: 'object',
    required: ['name'],
    discriminator: { propertyName: 'name' },
    oneOf: program.commands.map((command) => ({
      type: 'object',
      additionalProperties: false,
      properties: {
        name: { const: command.name },
        args: argsSchema(command),
      },
      ...(command.params.length > 0 ? { required: ['name', 'args'] } : {}),
    })),
  }
}
