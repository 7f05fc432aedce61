/**
 * The command shape every machine in this package (and every DSL machine)
 * accepts: the command's name and its named arguments.
 */
export interface Command<N extends string = string, A = Record<string, unknown>> {
  readonly name: N
  readonly args?: A
}

/** JSON Schema for a family of commands: `{ name, args }` with one branch per command. */
export function commandSchema(commands: Record<string, { properties?: Record<string, object>; required?: string[] }>): object {
  return {
    type: 'object',
    required: ['name'],
    // ajv's `discriminator` picks the branch by `name`, so errors name the offending field.
    discriminator: { propertyName: 'name' },
    oneOf: Object.entries(commands).map(([name, args]) => ({
      type: 'object',
      additionalProperties: false,
      properties: {
        name: { const: name },
        args: {
          type: 'object',
          additionalProperties: false,
          properties: args.properties ?? {},
          required: args.required ?? [],
        },
      },
      ...(args.required && args.required.length > 0 ? { required: ['name', 'args'] } : {}),
    })),
  }
}
