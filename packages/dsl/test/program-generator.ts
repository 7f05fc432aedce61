/**
 * Generates random well-typed DSL programs (for the differential and fuzz
 * tests), from a seeded PRNG so every run sees the same programs.
 */

type GenType =
  | { kind: 'int' | 'bool' | 'string' | 'client_id' }
  | { kind: 'list' | 'set'; element: GenType }
  | { kind: 'map'; key: GenType; value: GenType }

interface Named {
  name: string
  type: GenType
}

const int: GenType = { kind: 'int' }
const bool: GenType = { kind: 'bool' }
const string: GenType = { kind: 'string' }
const clientId: GenType = { kind: 'client_id' }

const varTypes: GenType[] = [
  int, int, bool, string, clientId,
  { kind: 'list', element: int },
  { kind: 'list', element: clientId },
  { kind: 'set', element: string },
  { kind: 'set', element: int },
  { kind: 'map', key: string, value: int },
  { kind: 'map', key: int, value: { kind: 'list', element: int } },
  { kind: 'map', key: clientId, value: bool },
]

const paramTypes: GenType[] = [int, int, bool, string, clientId]

export function typeText(type: GenType): string {
  switch (type.kind) {
    case 'list':
    case 'set':
      return `${type.kind} of ${typeText(type.element)}`
    case 'map':
      return `map of ${typeText(type.key)} to ${typeText(type.value)}`
    default:
      return type.kind
  }
}

function same(a: GenType, b: GenType): boolean {
  return typeText(a) === typeText(b)
}

/** A generated program and what is needed to drive it. */
export interface GeneratedProgram {
  readonly source: string
  /** The machine's name (`gen` unless the generator was given other names). */
  readonly name: string
  readonly commands: readonly { name: string; params: readonly Named[] }[]
}

/** Opt-in variations for the emitter's property test; the defaults reproduce the original programs. */
export interface GeneratorOptions {
  /** Machine names to draw from (default: always `gen`). */
  readonly machineNames?: readonly string[]
  /** Also use nested collection types (`list of list of int`, maps of sets). */
  readonly nestedTypes?: boolean
}

const nestedVarTypes: GenType[] = [
  { kind: 'list', element: { kind: 'list', element: int } },
  { kind: 'list', element: { kind: 'list', element: { kind: 'list', element: clientId } } },
  { kind: 'map', key: string, value: { kind: 'set', element: int } },
  { kind: 'map', key: bool, value: { kind: 'map', key: int, value: string } },
]

export class ProgramGenerator {
  private vars: Named[] = []
  private params: Named[] = []
  private useUnicode = false
  /** In guards, constant true/false would make arms unreachable (a checker error), so they are avoided. */
  private noBoolLiterals = false

  constructor(private readonly random: () => number, private readonly options: GeneratorOptions = {}) {}

  private int(n: number): number {
    return Math.floor(this.random() * n)
  }

  private pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }

  private chance(p: number): boolean {
    return this.random() < p
  }

  private nil(): string {
    return this.useUnicode ? 'Φ' : 'nil'
  }

  private names(type: GenType, includeParams = true): string[] {
    return [...this.vars, ...(includeParams ? this.params : [])].filter((n) => same(n.type, type)).map((n) => n.name)
  }

  private collections(): Named[] {
    return this.vars.filter((n) => n.type.kind === 'list' || n.type.kind === 'set' || n.type.kind === 'map')
  }

  /** An expression of `type`; `depth` bounds nesting. */
  expr(type: GenType, depth: number): string {
    const leaf = depth <= 0 || this.chance(0.3)
    const names = this.names(type)
    if (leaf || this.chance(0.25)) {
      // Generated expressions only appear in commands, where `now` (the agreed time) has a value.
      if (type.kind === 'int' && this.chance(0.15)) return 'now'
      if (names.length > 0 && this.chance(0.6)) return this.pick(names)
      return this.literal(type)
    }
    const d = depth - 1
    switch (type.kind) {
      case 'int': {
        const options: (() => string)[] = [
          () => `${this.expr(int, d)} ${this.pick(['+', '-', '*', '/', '%'])} ${this.expr(int, d)}`,
          () => `-${this.atomic(int, d)}`,
          () => `(${this.expr(int, d)})`,
        ]
        const collections = this.collections()
        if (collections.length > 0) options.push(() => `len(${this.pick(collections).name})`)
        const intLists = this.names({ kind: 'list', element: int })
        if (intLists.length > 0) options.push(() => `head(${this.pick(intLists)})`)
        const intMaps = this.names({ kind: 'map', key: string, value: int })
        if (intMaps.length > 0) options.push(() => `${this.pick(intMaps)}[${this.expr(string, d)}]`)
        return this.pick(options)()
      }
      case 'bool': {
        const options: (() => string)[] = [
          () => `${this.atomic(int, d)} ${this.pick(['<', '<=', '>', '>=', this.useUnicode ? '≤' : '>=', this.useUnicode ? '≥' : '<='])} ${this.atomic(int, d)}`,
          () => {
            const t = this.pick(this.typesWithValues())
            return `${this.atomic(t, d)} ${this.pick(['=', this.useUnicode ? '≠' : '!='])} ${this.atomic(t, d)}`
          },
          () => `${this.atomic(bool, d)} ${this.pick(['and', 'or'])} ${this.atomic(bool, d)}`,
          () => `not ${this.atomic(bool, d)}`,
        ]
        const collections = this.collections()
        if (collections.length > 0) {
          options.push(() => {
            const c = this.pick(collections)
            const element = c.type.kind === 'map' ? c.type.key : (c.type as { element: GenType }).element
            return `${this.atomic(element, d)} in ${c.name}`
          })
        }
        const nilable = this.vars.filter((v) => v.type.kind !== 'bool')
        if (nilable.length > 0) options.push(() => `${this.pick(nilable).name} = ${this.nil()}`)
        return this.pick(options)()
      }
      case 'string':
        return `${this.atomic(string, d)} ${this.pick(['●', '++', '∘'])} ${this.atomic(string, d)}`
      case 'client_id': {
        const lists = this.names({ kind: 'list', element: clientId })
        if (lists.length > 0 && this.chance(0.5)) return `head(${this.pick(lists)})`
        return 'client'
      }
      case 'list': {
        if (this.names(type).length === 0) return this.nil()
        const options: (() => string)[] = [
          () => `${this.atomic(type, d)} ${this.pick(['●', '++'])} ${this.atomic(type.element, d)}`,
          () => `${this.atomic(type, d)} ● ${this.atomic(type, d)}`,
          () => `tail(${this.atomic(type, d)})`,
        ]
        return this.pick(options)()
      }
      case 'set':
        if (this.names(type).length === 0) return this.nil()
        return `${this.atomic(type, d)} ● ${this.atomic(type.element, d)}`
      case 'map': {
        const maps = this.names(type)
        return maps.length > 0 ? this.pick(maps) : this.nil()
      }
    }
  }

  /** Scalar types, and collection types some variable has (so operands are never an untyped Φ). */
  private typesWithValues(): GenType[] {
    return (this.options.nestedTypes ? [...varTypes, ...nestedVarTypes] : varTypes).filter((t) => t.kind === 'int' || t.kind === 'bool' || t.kind === 'string' || t.kind === 'client_id' || this.names(t, false).length > 0)
  }

  /** An expression safe to use as an operand (parenthesized unless a leaf). */
  private atomic(type: GenType, depth: number): string {
    const e = this.expr(type, depth)
    return /^[A-Za-z0-9_"Φ]+$/.test(e) || /^[a-z]+\([a-z_0-9]+\)$/.test(e) ? e : `(${e})`
  }

  private literal(type: GenType): string {
    switch (type.kind) {
      case 'int':
        return this.pick(['0', '1', '2', '3', '7', '10', '9007199254740991'])
      case 'bool':
        if (this.noBoolLiterals) return `${this.pick(this.vars).name} ${this.pick(['=', this.useUnicode ? '≠' : '!='])} ${this.nil()}`
        return this.pick(['true', 'false'])
      case 'string':
        return this.pick(['"a"', '"b"', '""', 'OK', 'DONE', '"x\\ty"'])
      case 'client_id':
        return 'client'
      default:
        return this.nil()
    }
  }

  private statement(indent: string): string {
    const roll = this.random()
    if (roll < 0.5 && this.vars.length > 0) {
      const target = this.pick(this.vars)
      return `${indent}${target.name} := ${this.expr(target.type, 3)}`
    }
    const maps = this.vars.filter((v) => v.type.kind === 'map')
    if (roll < 0.65 && maps.length > 0) {
      const target = this.pick(maps)
      const t = target.type as { key: GenType; value: GenType }
      const value = this.chance(0.2) ? this.nil() : this.expr(t.value, 2)
      return `${indent}${target.name}[${this.expr(t.key, 2)}] := ${value}`
    }
    if (roll < 0.92) {
      const t = this.pick(this.typesWithValues())
      const recipients = ['client', ...this.names(clientId)]
      return `${indent}send ${this.expr(t, 2)} to ${this.pick(recipients)}`
    }
    return `${indent}skip`
  }

  /** A whole program. */
  program(): GeneratedProgram {
    this.useUnicode = this.chance(0.5)
    this.vars = []
    const varCount = 1 + this.int(4)
    const decls: string[] = []
    for (let i = 0; i < varCount; i++) {
      const type = this.pick(this.options.nestedTypes ? [...varTypes, ...nestedVarTypes] : varTypes)
      const name = `v${i}`
      const init = type.kind === 'int' ? this.pick(['0', '5', '-3', '2 * 3']) : type.kind === 'bool' ? this.pick(['true', 'false', this.nil()]) : type.kind === 'string' ? this.pick(['"s"', 'OK', this.nil()]) : this.nil()
      decls.push(`    ${name}: ${typeText(type)}${this.chance(0.9) ? ` init ${init}` : ''}${this.chance(0.5) ? ';' : ''}`)
      this.vars.push({ name, type })
    }
    const commands: { name: string; params: Named[] }[] = []
    const bodies: string[] = []
    const commandCount = 1 + this.int(3)
    for (let c = 0; c < commandCount; c++) {
      const name = `cmd${c}`
      const params: Named[] = []
      const paramCount = this.int(3)
      for (let p = 0; p < paramCount; p++) params.push({ name: `p${p}`, type: this.pick(paramTypes) })
      this.params = params
      const header = params.length > 0 ? `${name}(${params.map((p) => `${p.name}: ${typeText(p.type)}`).join(', ')}): command` : `${name}: command`
      const lines = [`  ${header}`]
      if (this.chance(0.25)) {
        const count = 1 + this.int(3)
        for (let s = 0; s < count; s++) lines.push(this.statement('    ') + (s < count - 1 && this.chance(0.5) ? ';' : ''))
      } else {
        const arms = 1 + this.int(3)
        for (let a = 0; a < arms; a++) {
          this.noBoolLiterals = true
          lines.push(`    if ${this.expr(bool, 2)} ${this.chance(0.5) ? '→' : '->'}`)
          this.noBoolLiterals = false
          const count = 1 + this.int(3)
          for (let s = 0; s < count; s++) lines.push(this.statement('      ') + (this.chance(0.4) ? ';' : ''))
        }
      }
      lines.push(`  end ${name}`)
      bodies.push(lines.join('\n'))
      commands.push({ name, params })
    }
    const name = this.options.machineNames ? this.pick(this.options.machineNames) : 'gen'
    const source = `${name}: state_machine\n  var\n${decls.join('\n')}\n${bodies.join('\n')}\nend ${name}\n`
    return { source, name, commands }
  }

  /** A JSON argument value for a parameter type. */
  argument(type: GenType): unknown {
    switch (type.kind) {
      case 'int':
        return this.pick([0, 1, 2, -1, 3, 9007199254740991])
      case 'bool':
        return this.chance(0.5)
      case 'string':
        return this.pick(['a', 'b', '', 'OK'])
      case 'client_id':
        return this.pick(['c1', 'c2', 'c3'])
      default:
        return null
    }
  }
}
