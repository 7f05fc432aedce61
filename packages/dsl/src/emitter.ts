import { ErrorCodes, LockstepError } from '@lockstep/interface'
import type { Arm, Expr, Span, Stmt } from './ast'
import type { CheckedProgram, CommandInfo } from './checker'
import { helpersFor, runtimeHelpers } from './emitter-runtime'
import { escapingMaps, evaluateInitialValues, siteOf } from './interpreter'
import { commandSchema } from './schema'
import { isScalar, type Type } from './types'
import type { Scalar, Site, Value } from './values'

/** Options for {@link emitTypeScript}. */
export interface EmitOptions {
  /** Where the generated module imports `LockstepError` and the contracts from. Default `@lockstep/interface`. */
  readonly interfaceModule?: string
  /** The exported name of the machine. Default: the machine's name (with `_` appended if it is a reserved word). */
  readonly exportName?: string
}

const reservedWords = new Set([
  'break', 'case', 'catch', 'class', 'const', 'continue', 'debugger', 'default', 'delete', 'do', 'else', 'enum', 'export',
  'extends', 'false', 'finally', 'for', 'function', 'if', 'import', 'in', 'instanceof', 'new', 'null', 'return', 'super',
  'switch', 'this', 'throw', 'true', 'try', 'typeof', 'var', 'void', 'while', 'with', 'yield', 'let', 'static',
  'implements', 'interface', 'package', 'private', 'protected', 'public', 'await', 'async', 'arguments', 'eval', 'undefined',
  'NaN', 'Infinity', 'of', 'type', 'declare', 'module', 'namespace', 'abstract', 'as', 'any', 'boolean', 'number', 'string',
  'symbol', 'object', 'never', 'unknown', 'readonly', 'keyof', 'infer', 'is', 'asserts', 'get', 'set', 'constructor',
])

/**
 * Names the generated module itself uses at the top level: its imports and the JavaScript globals its code
 * calls. A machine named like one of them would shadow it (`export const ErrorCodes` hides the import).
 */
const moduleNames = new Set([
  'ErrorCodes', 'LockstepError', 'ClientId', 'Output', 'StateMachine',
  'TextEncoder', 'TextDecoder', 'JSON', 'Object', 'Array', 'Set', 'Map', 'Number', 'String', 'Boolean', 'Error', 'Math',
  'RegExp', 'Symbol', 'Promise', 'Uint8Array', 'ReadonlySet', 'ReadonlyMap', 'ReadonlyArray', 'Record', 'Readonly', 'Parameters',
  'Extract', 'globalThis',
])

function safeIdentifier(name: string): string {
  return reservedWords.has(name) ? `${name}_` : name
}

/** The exported name of the machine: reserved words and the module's own names get a trailing `_`. */
function machineExportName(name: string): string {
  return reservedWords.has(name) || moduleNames.has(name) ? `${name}_` : name
}

/** Text that is safe inside a generated comment (line or block): no line breaks, no `*\/`. */
function commentText(text: string): string {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`).replace(/\*\//g, '*\\/')
}

function pascalCase(name: string): string {
  const out = name.split('_').filter(Boolean).map((part) => part[0]!.toUpperCase() + part.slice(1)).join('')
  return out.length > 0 ? out : 'Machine'
}

/** The TypeScript type of a run-time value (never `Φ`). */
function tsValueType(type: Type): string {
  switch (type.kind) {
    case 'client_id':
      return 'ClientId'
    case 'string':
      return 'string'
    case 'int':
      return 'number'
    case 'bool':
      return 'boolean'
    case 'list': {
      // `readonly readonly T[][]` is not TypeScript: an element that is itself an array type gets parentheses.
      const element = tsValueType(type.element)
      return type.element.kind === 'list' ? `readonly (${element})[]` : `readonly ${element}[]`
    }
    case 'set':
      return `ReadonlySet<${tsValueType(type.element)}>`
    case 'map':
      return `ReadonlyMap<${tsValueType(type.key)}, ${tsValueType(type.value)}>`
    default:
      return 'null'
  }
}

/** The TypeScript type of a state variable: scalars may be `Φ` (null). */
function tsStateType(type: Type): string {
  return isScalar(type) ? `${tsValueType(type)} | null` : tsValueType(type)
}

/** The TypeScript type of a value as JSON (arguments and outputs). */
function tsJsonType(type: Type): string {
  switch (type.kind) {
    case 'list':
    case 'set':
      return `${tsJsonType(type.element)}[]`
    case 'map':
      return `Record<string, ${tsJsonType(type.value)}>`
    default:
      return tsValueType(type)
  }
}

/** Hoists `$Type` descriptors into module constants (`$T0`, `$T1`, …). */
class TypeTable {
  readonly entries: string[] = []
  private readonly byCode = new Map<string, string>()

  ref(type: Type): string {
    const code = typeLiteral(type)
    let name = this.byCode.get(code)
    if (name === undefined) {
      name = `$T${this.entries.length}`
      this.entries.push(`const ${name}: $Type = ${code};`)
      this.byCode.set(code, name)
    }
    return name
  }
}

/** A type as a `$Type` descriptor literal. */
function typeLiteral(type: Type): string {
  switch (type.kind) {
    case 'list':
    case 'set':
      return `{ kind: '${type.kind}', element: ${typeLiteral(type.element)} }`
    case 'map':
      return `{ kind: 'map', key: ${typeLiteral(type.key)}, value: ${typeLiteral(type.value)} }`
    default:
      return `{ kind: '${type.kind}' }`
  }
}

/** A value as a TypeScript expression that builds a fresh copy of it. */
function valueLiteral(value: Value, type: Type): string {
  switch (type.kind) {
    case 'list':
      return `[${(value as readonly Value[]).map((item) => valueLiteral(item, type.element)).join(', ')}] as ${tsValueType(type)}`
    case 'set':
      return `new Set<${tsValueType(type.element)}>([${[...(value as ReadonlySet<Scalar>)].map((item) => JSON.stringify(item)).join(', ')}])`
    case 'map':
      return `new Map<${tsValueType(type.key)}, ${tsValueType(type.value)}>([${[...(value as ReadonlyMap<Scalar, Value>)]
        .map(([key, item]) => `[${JSON.stringify(key)}, ${valueLiteral(item, type.value)}]`).join(', ')}])`
    default:
      return value === null ? 'null' : JSON.stringify(value)
  }
}

/** True when the parentheses in `code` balance, so outer parentheses can be dropped. */
function balanced(code: string): boolean {
  let depth = 0
  let quote: string | undefined
  for (let i = 0; i < code.length; i++) {
    const ch = code[i]!
    if (quote) {
      if (ch === '\\') i++
      else if (ch === quote) quote = undefined
    } else if (ch === '"' || ch === "'" || ch === '`') quote = ch
    else if (ch === '(') depth++
    else if (ch === ')' && --depth < 0) return false
  }
  return depth === 0
}

function isLiteralExpr(e: Expr): boolean {
  return e.kind === 'Int' || e.kind === 'String' || e.kind === 'Atom' || e.kind === 'Bool' || e.kind === 'Nil'
}

class CommandEmitter {
  private readonly assigned = new Set<number>()
  private readonly referenced = new Set<number>()
  /** Parameters the command reads (only those get a local). */
  readonly usedParams = new Set<number>()
  usesClient = false
  usesNow = false
  usesOwned = false

  constructor(
    private readonly program: CheckedProgram,
    private readonly command: CommandInfo,
    private readonly sites: SiteTable,
    private readonly copyOnce: ReadonlySet<number>,
    private readonly types: TypeTable,
  ) {}

  private site(span: Span): number {
    return this.sites.add(siteOf({ source: this.program.source, command: this.command.name, inCommand: true }, span))
  }

  private varRef(index: number): string {
    this.referenced.add(index)
    return `v_${this.program.vars[index]!.name}`
  }

  expr(e: Expr): string {
    const type = e.type!
    switch (e.kind) {
      case 'Int':
      case 'Bool':
        return String(e.value)
      case 'String':
        return JSON.stringify(e.value)
      case 'Atom':
        return JSON.stringify(e.name)
      case 'Nil':
        if (type.kind === 'list') return `([] as ${tsValueType(type)})`
        if (type.kind === 'set') return `new Set<${tsValueType(type.element)}>()`
        if (type.kind === 'map') return `new Map<${tsValueType(type.key)}, ${tsValueType(type.value)}>()`
        return 'null'
      case 'Client':
        this.usesClient = true
        return 'client'
      case 'Now':
        this.usesNow = true
        return `$now(now, ${this.site(e)})`
      case 'Name':
        if (e.binding!.kind === 'var') return this.varRef(e.binding!.index)
        this.usedParams.add(e.binding!.index)
        return `p_${e.name}`
      case 'Unary':
        return e.op === 'not' ? `!${this.bool(e.operand, e)}` : `$neg(${this.expr(e.operand)}, ${this.site(e)})`
      case 'Binary':
        return this.binary(e)
      case 'Call': {
        const arg = this.expr(e.args[0]!)
        switch (e.callee.name) {
          case 'head':
            return `$head(${arg}, ${this.site(e)})`
          case 'tail':
            return `$tail(${arg}, ${this.site(e)})`
          default: {
            const argType = e.args[0]!.type!
            if (argType.kind === 'list') return `(${arg}).length`
            if (argType.kind === 'set' || argType.kind === 'map') return `(${arg}).size`
            return `$strlen(${arg}, ${this.site(e)})`
          }
        }
      }
      case 'Index':
        return `$get(${this.expr(e.object)}, ${this.expr(e.index)}, ${this.site(e)})`
      case 'Error':
        throw new LockstepError(ErrorCodes.DSL_ERROR, 'cannot emit a program that has errors: fix its diagnostics first')
    }
  }

  /** A bool operand; checked for Φ only where it can be Φ (a scalar state variable, or Φ itself). */
  bool(e: Expr, siteSpan: Span, code = this.expr(e)): string {
    const mayBeNil = e.kind === 'Nil' || (e.kind === 'Name' && e.binding?.kind === 'var')
    return mayBeNil ? `$b(${code}, ${this.site(siteSpan)})` : code
  }

  private binary(e: Extract<Expr, { kind: 'Binary' }>): string {
    const l = this.expr(e.left)
    const r = this.expr(e.right)
    const site = () => this.site(e)
    switch (e.op) {
      case 'and':
        return `(${this.bool(e.left, e, l)} && ${this.bool(e.right, e, r)})`
      case 'or':
        return `(${this.bool(e.left, e, l)} || ${this.bool(e.right, e, r)})`
      case '+':
        return `$add(${l}, ${r}, ${site()})`
      case '-':
        return `$sub(${l}, ${r}, ${site()})`
      case '*':
        return `$mul(${l}, ${r}, ${site()})`
      case '/':
        return `$div(${l}, ${r}, ${site()})`
      case '%':
        return `$mod(${l}, ${r}, ${site()})`
      case '<':
        return `$lt(${l}, ${r}, ${site()})`
      case '<=':
        return `$le(${l}, ${r}, ${site()})`
      case '>':
        return `$gt(${l}, ${r}, ${site()})`
      case '>=':
        return `$ge(${l}, ${r}, ${site()})`
      case '=':
      case '!=': {
        const type = e.left.type!.kind === 'nil' ? e.right.type! : e.left.type!
        let equal: string
        if (type.kind === 'list' || type.kind === 'set' || type.kind === 'map') {
          equal = e.right.kind === 'Nil' ? `$isEmpty(${l})` : e.left.kind === 'Nil' ? `$isEmpty(${r})` : `$eq(${l}, ${r})`
        } else if (e.right.kind === 'Nil' && !isLiteralExpr(e.left)) {
          equal = `(${l} === null)`
        } else if (e.left.kind === 'Nil' && !isLiteralExpr(e.right)) {
          equal = `(${r} === null)`
        } else {
          // A call, not ===: TypeScript's narrowing would reject comparisons it can prove constant.
          equal = `$is<${type.kind === 'nil' ? 'null' : tsStateType(type)}>(${l}, ${r})`
        }
        return e.op === '=' ? equal : `!${equal}`
      }
      case 'in': {
        const collection = e.right.type!
        if (collection.kind === 'list') return isScalar(collection.element) ? `$inList(${r}, ${l})` : `$inListDeep(${r}, ${l})`
        return `$has(${r}, ${l})`
      }
      case '++':
        switch (e.appendKind!) {
          case 'list-element':
            return `$push(${l}, ${r}, ${site()})`
          case 'list-concat':
            return `$concat(${l}, ${r}, ${site()})`
          case 'set-element':
            return `$setAdd(${l}, ${r}, ${site()})`
          case 'set-union':
            return `$union(${l}, ${r}, ${site()})`
          case 'string-concat':
            return `$str(${l}, ${r}, ${site()})`
        }
    }
  }

  statements(statements: readonly Stmt[], indent: string, outType: string): string[] {
    const lines: string[] = []
    for (const statement of statements) {
      switch (statement.kind) {
        case 'Skip':
          lines.push(`${indent}// skip`)
          break
        case 'Assign': {
          const index = this.program.vars.find((v) => v.name === statement.target.name)!.index
          const value = this.expr(statement.value)
          this.assigned.add(index)
          lines.push(`${indent}${this.varRef(index)} = ${value};`)
          break
        }
        case 'IndexAssign': {
          const index = this.program.vars.find((v) => v.name === statement.target.name)!.index
          const key = this.expr(statement.index)
          const value = this.expr(statement.value)
          this.assigned.add(index)
          const owned = this.copyOnce.has(index) ? '$owned' : 'null'
          if (owned === '$owned') this.usesOwned = true
          const target = this.varRef(index)
          lines.push(`${indent}${target} = $put(${target}, ${key}, ${value}, ${this.site(statement)}, ${owned});`)
          break
        }
        case 'Send': {
          const valueType = statement.value.type!
          const value = this.expr(statement.value)
          const to = this.expr(statement.to)
          const plain = isScalar(valueType) || valueType.kind === 'nil'
          const json = plain ? value : `$toJson(${value}, ${this.types.ref(valueType)}) as ${tsJsonType(valueType)}`
          lines.push(`${indent}{`)
          lines.push(`${indent}  const value: ${outType} = ${json};`)
          // `client` is never Φ; any other recipient is checked.
          const recipient = statement.to.kind === 'Client' ? to : `$to(${to}, ${this.site(statement.to)})`
          lines.push(`${indent}  out.push({ to: ${recipient}, value });`)
          lines.push(`${indent}}`)
          break
        }
      }
    }
    return lines
  }

  arms(arms: readonly Arm[], outType: string): string[] {
    const lines: string[] = []
    arms.forEach((arm, i) => {
      if (!arm.guard) {
        lines.push(...this.statements(arm.statements, '  ', outType))
        return
      }
      const guard = this.bool(arm.guard, arm.guard)
      lines.push(`  ${i === 0 ? 'if' : '} else if'} (${guard.startsWith('(') && guard.endsWith(')') && balanced(guard.slice(1, -1)) ? guard.slice(1, -1) : guard}) {`)
      lines.push(...this.statements(arm.statements, '    ', outType))
    })
    if (arms.some((arm) => arm.guard)) lines.push('  }')
    return lines
  }

  prologue(stateName: string): string[] {
    return [...this.referenced].sort((a, b) => a - b).map((index) => {
      const info = this.program.vars[index]!
      const keyword = this.assigned.has(index) ? 'let' : 'const'
      return `  ${keyword} v_${info.name}: ${tsStateType(info.type)} = ${stateName}.${info.name};`
    })
  }

  epilogue(stateName: string): string[] {
    return [...this.assigned].sort((a, b) => a - b).map((index) => {
      const name = this.program.vars[index]!.name
      return `  ${stateName}.${name} = v_${name};`
    })
  }
}

class SiteTable {
  readonly sites: Site[] = []
  private readonly byKey = new Map<string, number>()

  add(site: Site): number {
    const key = JSON.stringify(site)
    let index = this.byKey.get(key)
    if (index === undefined) {
      index = this.sites.length
      this.sites.push(site)
      this.byKey.set(key, index)
    }
    return index
  }
}

/** The TypeScript type of the output values: a union over every `send`. */
function outputType(program: CheckedProgram): string {
  const members = new Set<string>()
  const nullable = (e: Expr) => (e.kind === 'Name' && e.binding?.kind === 'var' && isScalar(e.type!)) || e.kind === 'Nil'
  for (const command of program.commands) {
    for (const arm of command.decl.arms) {
      for (const statement of arm.statements) {
        if (statement.kind !== 'Send') continue
        const value = statement.value
        if (value.kind === 'Atom') members.add(JSON.stringify(value.name))
        else if (value.kind === 'String') members.add(JSON.stringify(value.value))
        else if (value.type!.kind === 'nil') members.add('null')
        else {
          members.add(tsJsonType(value.type!))
          if (nullable(value)) members.add('null')
        }
      }
    }
  }
  return members.size === 0 ? 'never' : [...members].join(' | ')
}

/**
 * Generates a self-contained TypeScript module for a checked program: the
 * state type, the command and output types, the `StateMachine` (same
 * semantics and failure messages as the interpreter), and a typed client class
 * with one method per command that sends through an injected `submit`.
 */
export function emitTypeScript(program: CheckedProgram, options: EmitOptions = {}): string {
  const initial = evaluateInitialValues(program)
  if ('failures' in initial) throw new LockstepError(ErrorCodes.DSL_ERROR, `cannot emit ${program.name}: ${initial.failures.map((f) => f.reason).join('; ')}`)
  const machineName = options.exportName ?? machineExportName(program.name)
  const prefix = pascalCase(program.name)
  const stateType = `${prefix}State`
  const commandType = `${prefix}Command`
  const outType = `${prefix}Output`
  const sites = new SiteTable()
  const types = new TypeTable()
  const body: string[] = []

  body.push(`/** The state of \`${program.name}\`: one field per state variable; \`null\` is Φ for scalars. */`)
  body.push(`export interface ${stateType} {`)
  for (const info of program.vars) body.push(`  ${info.name}: ${tsStateType(info.type)}`)
  body.push('}', '')

  body.push(`/** The commands of \`${program.name}\`, as clients send them. */`)
  body.push(`export type ${commandType} =`)
  for (const command of program.commands) {
    const args = command.params.length === 0
      ? 'readonly args?: Record<string, never>'
      : `readonly args: { ${command.params.map((p) => `readonly ${p.name}: ${tsJsonType(p.type)}`).join('; ')} }`
    body.push(`  | { readonly name: ${JSON.stringify(command.name)}; ${args} }`)
  }
  body.push('')
  body.push(`/** The values \`${program.name}\` sends to clients. */`)
  body.push(`export type ${outType} = ${outputType(program)}`, '')

  const commandFunctions: string[] = []
  for (const command of program.commands) {
    const escaping = escapingMaps(command.decl)
    const copyOnce = new Set(program.vars.filter((v) => v.type.kind === 'map' && !escaping.has(v.index)).map((v) => v.index))
    const emitter = new CommandEmitter(program, command, sites, copyOnce, types)
    const armLines = emitter.arms(command.decl.arms, outType)
    const params = command.params.filter((_p, i) => emitter.usedParams.has(i)).map((p) => `  const p_${p.name} = args[${p.index}] as ${tsValueType(p.type)};`)
    const prologue = emitter.prologue('state')
    // A command that reads no state variable must not leave \`state\` unused (noUnusedParameters).
    const stateParam = prologue.length > 0 ? 'state' : '_state'
    const lines = [
      `/** \`${command.name}\` (${commentText(program.file)} line ${program.source.position(command.decl.start).line}). */`,
      `function $command_${command.name}(${stateParam}: ${stateType}, ${emitter.usesClient ? 'client' : '_client'}: ClientId, ${emitter.usesNow ? 'now' : '_now'}: number, ${params.length > 0 ? 'args' : '_args'}: readonly unknown[]): Output<${outType}>[] {`,
      `  const out: Output<${outType}>[] = [];`,
      ...params,
      ...prologue,
      ...(emitter.usesOwned ? ['  const $owned = new Set<object>();'] : []),
      ...armLines,
      ...emitter.epilogue('state'),
      '  return out;',
      '}',
      '',
    ]
    commandFunctions.push(...lines)
  }

  const sortedVars = [...program.vars].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const encodeParts = sortedVars.map((info, i) => `${JSON.stringify((i === 0 ? '{' : ',') + JSON.stringify(info.name) + ':')} + $enc(state.${info.name}, ${types.ref(info.type)})`)
  const machine: string[] = [
    `const $encoder = new TextEncoder();`,
    `const $decoder = new TextDecoder();`,
    `/** The JSON Schema of the commands (a constant of its own: checking it inside the machine's type costs compilers dearly). */`,
    `const $commandSchema: object = ${JSON.stringify(commandSchema(program), null, 2)};`,
    `const $vars: readonly (readonly [string, $Type])[] = [${program.vars.map((v) => `[${JSON.stringify(v.name)}, ${types.ref(v.type)}]`).join(', ')}];`,
    '',
    `/** The \`${program.name}\` state machine, compiled from ${commentText(program.file)}. */`,
    `export const ${machineName}: StateMachine<${stateType}, ${commandType}, ${outType}> & { readonly commandSchema: object; toJSON(state: ${stateType}): Record<string, unknown>; summary(state: ${stateType}): { [name: string]: $Json } } = {`,
    `  name: ${JSON.stringify(program.name)},`,
    `  init: () => ({ ${program.vars.map((v, i) => `${v.name}: ${valueLiteral(initial.values[i]!, v.type)}`).join(', ')} }),`,
    `  apply(state, command, ctx) {`,
    `    const name: unknown = command !== null && typeof command === 'object' ? (command as { name?: unknown }).name : undefined`,
    `    if (typeof name !== 'string') throw new LockstepError(ErrorCodes.COMMAND_FAILED, ${JSON.stringify(`a command for ${program.name} must be an object with a string 'name'`)}, { path: '/name' })`,
    `    switch (name) {`,
    ...program.commands.map((c) => `      case ${JSON.stringify(c.name)}:\n        return $command_${c.name}(state, ctx.client, ctx.time, $args(${JSON.stringify(program.name)}, ${JSON.stringify(c.name)}, (command as { args?: unknown }).args, [${c.params.map((p) => `[${JSON.stringify(p.name)}, ${types.ref(p.type)}]`).join(', ')}]))`),
    `      default:`,
    `        throw new LockstepError(ErrorCodes.COMMAND_FAILED, \`${program.name} has no command '\${name}'; its commands are ${program.commands.map((c) => c.name).join(', ')}\`, { path: '/name' })`,
    `    }`,
    `  },`,
    `  snapshot: (state) => $encoder.encode(${encodeParts.length > 0 ? encodeParts.join(' + ') + " + '}'" : "'{}'"}),`,
    `  restore(bytes) {`,
    `    try {`,
    `      const json: unknown = JSON.parse($decoder.decode(bytes))`,
    `      if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new $ConversionError('', 'the state must be a JSON object')`,
    `      const record = json as Record<string, unknown>`,
    `      for (const key of Object.keys(record)) if (!$vars.some(([name]) => name === key)) throw new $ConversionError(\`/\${key}\`, \`unknown state variable '\${key}'\`)`,
    `      const values = $vars.map(([name, type]) => {`,
    `        if (!Object.prototype.hasOwnProperty.call(record, name)) throw new $ConversionError(\`/\${name}\`, \`state variable '\${name}' is missing\`)`,
    `        return $fromJson(record[name], type, \`/\${name}\`, true)`,
    `      })`,
    `      return { ${program.vars.map((v, i) => `${v.name}: values[${i}] as ${tsStateType(v.type)}`).join(', ')} }`,
    `    } catch (error) {`,
    `      throw new LockstepError(ErrorCodes.STORAGE_CORRUPT, \`cannot restore a ${program.name} snapshot: \${(error as Error).message}\`, undefined, { cause: error })`,
    `    }`,
    `  },`,
    `  toJSON: (state) => ({ ${program.vars.map((v) => `${v.name}: ${isScalar(v.type) ? `state.${v.name}` : `$toJson(state.${v.name}, ${types.ref(v.type)})`}`).join(', ')} }),`,
    `  summary: (state) => $summary($vars, [${program.vars.map((v) => `state.${v.name}`).join(', ')}]),`,
    `  commandSchema: $commandSchema,`,
    `};`,
    '',
  ]

  const client: string[] = [
    `/** A typed client for \`${program.name}\`: one method per command, sent through the injected \`submit\` (any client library). */`,
    `export class ${prefix}Client<R = unknown> {`,
    `  readonly #submit: (command: ${commandType}) => Promise<R>`,
    '',
    `  constructor(submit: (command: ${commandType}) => Promise<R>) {`,
    `    this.#submit = submit;`,
    `  }`,
    ...program.commands.flatMap((c) => {
      const params = c.params.map((p) => `${safeIdentifier(p.name)}: ${tsJsonType(p.type)}`).join(', ')
      const args = c.params.length === 0 ? '' : `, args: { ${c.params.map((p) => `${p.name}: ${safeIdentifier(p.name)}`).join(', ')} }`
      return ['', `  /** Sends \`${c.name}\`. */`, `  ${c.name}(${params}): Promise<R> {`, `    return this.#submit({ name: ${JSON.stringify(c.name)}${args} });`, `  }`]
    }),
    `}`,
  ]

  const code = [...commandFunctions, ...machine].join('\n')
  const helperNames = helpersFor(code)
  const siteLines = [
    `const $file = ${JSON.stringify(program.file)};`,
    `/** Failure sites: [location, command, line, column, source text, inside a command]. */`,
    `const $sites: readonly (readonly [string, string, number, number, string, boolean])[] = [`,
    ...sites.sites.map((s) => `  [${JSON.stringify(s.location)}, ${JSON.stringify(s.command)}, ${s.line}, ${s.column}, ${JSON.stringify(s.snippet)}, ${s.inCommand}],`),
    `];`,
    '',
  ]
  const header = [
    `// Generated by @lockstep/dsl from ${commentText(program.file)}. Do not edit: change the .sm file and run \`lockstep compile\` again.`,
    `import { ErrorCodes, LockstepError } from ${JSON.stringify(options.interfaceModule ?? '@lockstep/interface')};`,
    `import type { ClientId, Output, StateMachine } from ${JSON.stringify(options.interfaceModule ?? '@lockstep/interface')};`,
    '',
  ]
  const helpers = [...new Set([...helperNames, '$fromJson', '$Types'])]
    .filter((name) => runtimeHelpers[name] !== undefined)
    .sort((a, b) => Object.keys(runtimeHelpers).indexOf(a) - Object.keys(runtimeHelpers).indexOf(b))
    .map((name) => runtimeHelpers[name]!.code)
  const needsSites = helpers.some((h) => h.includes('$sites'))
  return [
    ...header,
    ...body,
    ...(needsSites ? siteLines : []),
    ...helpers.flatMap((h) => [h, '']),
    ...types.entries,
    '',
    ...commandFunctions,
    ...machine,
    ...client,
    '',
  ].join('\n')
}
