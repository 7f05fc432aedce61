/** A DSL type. `nil` is the type of a `Φ` whose type no context decides; `error` marks an expression already reported. */
export type Type =
  | { readonly kind: 'client_id' }
  | { readonly kind: 'int' }
  | { readonly kind: 'bool' }
  | { readonly kind: 'string' }
  | { readonly kind: 'list'; readonly element: Type }
  | { readonly kind: 'set'; readonly element: Type }
  | { readonly kind: 'map'; readonly key: Type; readonly value: Type }
  | { readonly kind: 'nil' }
  | { readonly kind: 'error' }

/** The scalar types: the only ones allowed as set elements and map keys. */
export type ScalarType = Extract<Type, { kind: 'client_id' | 'int' | 'bool' | 'string' }>

/** Shared instances of the types without parameters. */
export const Types = {
  clientId: { kind: 'client_id' } as Type,
  int: { kind: 'int' } as Type,
  bool: { kind: 'bool' } as Type,
  string: { kind: 'string' } as Type,
  nil: { kind: 'nil' } as Type,
  error: { kind: 'error' } as Type,
  list: (element: Type): Type => ({ kind: 'list', element }),
  set: (element: Type): Type => ({ kind: 'set', element }),
  map: (key: Type, value: Type): Type => ({ kind: 'map', key, value }),
} as const

/** True for client_id, int, bool and string. */
export function isScalar(type: Type): type is ScalarType {
  return type.kind === 'client_id' || type.kind === 'int' || type.kind === 'bool' || type.kind === 'string'
}

/** True for list, set and map. */
export function isCollection(type: Type): boolean {
  return type.kind === 'list' || type.kind === 'set' || type.kind === 'map'
}

/** Structural equality of types. */
export function typeEquals(a: Type, b: Type): boolean {
  if (a.kind !== b.kind) return false
  switch (a.kind) {
    case 'list':
    case 'set':
      return typeEquals(a.element, (b as typeof a).element)
    case 'map':
      return typeEquals(a.key, (b as typeof a).key) && typeEquals(a.value, (b as typeof a).value)
    default:
      return true
  }
}

/** True when a value of type `from` may be used where `to` is expected (`Φ` fits anything; errors fit silently). */
export function isAssignable(from: Type, to: Type): boolean {
  if (from.kind === 'nil' || from.kind === 'error' || to.kind === 'error') return true
  return typeEquals(from, to)
}

/** The type as the DSL spells it: `list of client_id`. */
export function typeToString(type: Type): string {
  switch (type.kind) {
    case 'list':
      return `list of ${typeToString(type.element)}`
    case 'set':
      return `set of ${typeToString(type.element)}`
    case 'map':
      return `map of ${typeToString(type.key)} to ${typeToString(type.value)}`
    case 'nil':
      return 'Φ'
    case 'error':
      return '<error>'
    default:
      return type.kind
  }
}

/** True when the type contains an `error` part (already reported). */
export function containsError(type: Type): boolean {
  switch (type.kind) {
    case 'error':
      return true
    case 'list':
    case 'set':
      return containsError(type.element)
    case 'map':
      return containsError(type.key) || containsError(type.value)
    default:
      return false
  }
}
