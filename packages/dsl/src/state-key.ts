import type { CheckedProgram } from './checker'
import type { Type } from './types'
import { compareScalars, keyToString, type Scalar, type Value } from './values'

/** Largest number that fits one UTF-16 unit below the surrogates (minus the Φ and escape codes). */
const SMALL_LIMIT = 0xd000 - 2
const NIL = '\u0000'
const ESCAPE = '\uffff'

/**
 * A compact canonical encoding of states, for the model checker's visited
 * set: equal states give equal keys and different states different keys (like
 * the snapshot bytes), in a few characters instead of a JSON document.
 *
 * Every part is prefix-free, so concatenations are unambiguous: Φ is `\0`;
 * strings are interned to one character (or `\uffff` + their JSON text once
 * the table is full); small non-negative ints are one character, others
 * `\uffff` + decimal + `;`; bools are one character; lists, sets and maps are
 * their length followed by their elements (sets sorted, maps by key).
 */
export class StateKeys {
  private readonly interned = new Map<string, string>()
  private readonly encoders: readonly ((value: Value) => string)[]

  constructor(program: CheckedProgram) {
    this.encoders = program.vars.map((v) => this.compile(v.type))
  }

  /** The key of a state (values in declaration order). */
  key(state: readonly Value[]): string {
    let out = ''
    for (let i = 0; i < this.encoders.length; i++) out += this.encoders[i]!(state[i]!)
    return out
  }

  private text(value: string): string {
    let code = this.interned.get(value)
    if (code === undefined) {
      code = this.interned.size < SMALL_LIMIT ? String.fromCharCode(1 + this.interned.size) : ESCAPE + JSON.stringify(value)
      if (this.interned.size < SMALL_LIMIT) this.interned.set(value, code)
    }
    return code
  }

  private compile(type: Type): (value: Value) => string {
    const int = (n: number): string => (n >= 0 && n < SMALL_LIMIT ? String.fromCharCode(1 + n) : `${ESCAPE}${n};`)
    switch (type.kind) {
      case 'client_id':
      case 'string':
        return (value) => (value === null ? NIL : this.text(value as string))
      case 'int':
        return (value) => (value === null ? NIL : int(value as number))
      case 'bool':
        return (value) => (value === null ? NIL : value ? '\u0002' : '\u0001')
      case 'list': {
        const element = this.compile(type.element)
        return (value) => {
          const items = value as readonly Value[]
          let out = int(items.length)
          for (let i = 0; i < items.length; i++) out += element(items[i]!)
          return out
        }
      }
      case 'set': {
        const element = this.compile(type.element)
        return (value) => {
          const items = [...(value as ReadonlySet<Scalar>)].sort(compareScalars)
          let out = int(items.length)
          for (const item of items) out += element(item)
          return out
        }
      }
      case 'map': {
        const key = this.compile(type.key)
        const element = this.compile(type.value)
        return (value) => {
          const entries = [...(value as ReadonlyMap<Scalar, Value>)].sort(([a], [b]) => {
            const x = keyToString(a)
            const y = keyToString(b)
            return x < y ? -1 : x > y ? 1 : 0
          })
          let out = int(entries.length)
          for (const [k, v] of entries) out += key(k) + element(v)
          return out
        }
      }
      default:
        return () => NIL
    }
  }
}
