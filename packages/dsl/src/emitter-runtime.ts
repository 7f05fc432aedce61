import { SummaryLimits } from './summary'
import { MAX_VALUE_SIZE, Reasons } from './values'

const tooLarge = JSON.stringify(Reasons.tooLarge)

/**
 * The helpers generated modules inline: each one's TypeScript source and the
 * helpers it calls. They mirror the interpreter (values.ts, interpreter.ts)
 * exactly, down to the failure messages; the differential tests hold them to it.
 */
export const runtimeHelpers: Readonly<Record<string, { readonly deps: readonly string[]; readonly code: string }>> = {
  $Types: {
    deps: [],
    code: `type $Scalar = string | number | boolean
type $Type =
  | { readonly kind: 'client_id' | 'int' | 'bool' | 'string' | 'nil' }
  | { readonly kind: 'list' | 'set'; readonly element: $Type }
  | { readonly kind: 'map'; readonly key: $Type; readonly value: $Type }`,
  },
  $fail: {
    deps: [],
    code: `function $fail(site: number, reason: string): never {
  const [location, command, line, column, snippet, inCommand] = $sites[site]!
  const suffix = inCommand ? '; the command was aborted and the state is unchanged' : ''
  throw new LockstepError(ErrorCodes.COMMAND_FAILED, \`\${location}: \${command} failed: \${reason} in '\${snippet}'\${suffix}\`, { command, file: $file, line, column })
}`,
  },
  $n: {
    deps: ['$fail'],
    code: `function $n(value: number | null, site: number): number {
  if (value === null) $fail(site, ${JSON.stringify(Reasons.nilOperand)})
  return value
}`,
  },
  $b: {
    deps: ['$fail'],
    code: `function $b(value: boolean | null, site: number): boolean {
  if (value === null) $fail(site, ${JSON.stringify(Reasons.nilOperand)})
  return value
}`,
  },
  $int: {
    deps: ['$fail'],
    code: `function $int(value: number, site: number): number {
  if (value > 9007199254740991 || value < -9007199254740991) $fail(site, ${JSON.stringify(Reasons.overflow)})
  return value === 0 ? 0 : value
}`,
  },
  $now: {
    deps: ['$fail'],
    code: `function $now(time: number, site: number): number {
  if (!Number.isSafeInteger(time)) $fail(site, ${JSON.stringify(Reasons.noTime)})
  return time
}`,
  },
  $neg: { deps: ['$n', '$int'], code: `function $neg(a: number | null, site: number): number {\n  return $int(0 - $n(a, site), site)\n}` },
  $add: { deps: ['$n', '$int'], code: `function $add(a: number | null, b: number | null, site: number): number {\n  return $int($n(a, site) + $n(b, site), site)\n}` },
  $sub: { deps: ['$n', '$int'], code: `function $sub(a: number | null, b: number | null, site: number): number {\n  return $int($n(a, site) - $n(b, site), site)\n}` },
  $mul: { deps: ['$n', '$int'], code: `function $mul(a: number | null, b: number | null, site: number): number {\n  return $int($n(a, site) * $n(b, site), site)\n}` },
  $div: {
    deps: ['$n', '$int', '$fail'],
    code: `function $div(a: number | null, b: number | null, site: number): number {
  const x = $n(a, site)
  const y = $n(b, site)
  if (y === 0) $fail(site, ${JSON.stringify(Reasons.divisionByZero)})
  return $int(Math.trunc(x / y), site)
}`,
  },
  $mod: {
    deps: ['$n', '$int', '$fail'],
    code: `function $mod(a: number | null, b: number | null, site: number): number {
  const x = $n(a, site)
  const y = $n(b, site)
  if (y === 0) $fail(site, ${JSON.stringify(Reasons.divisionByZero)})
  return $int(x % y, site)
}`,
  },
  $lt: { deps: ['$n'], code: `function $lt(a: number | null, b: number | null, site: number): boolean {\n  return $n(a, site) < $n(b, site)\n}` },
  $le: { deps: ['$n'], code: `function $le(a: number | null, b: number | null, site: number): boolean {\n  return $n(a, site) <= $n(b, site)\n}` },
  $gt: { deps: ['$n'], code: `function $gt(a: number | null, b: number | null, site: number): boolean {\n  return $n(a, site) > $n(b, site)\n}` },
  $ge: { deps: ['$n'], code: `function $ge(a: number | null, b: number | null, site: number): boolean {\n  return $n(a, site) >= $n(b, site)\n}` },
  $is: { deps: [], code: `function $is<T>(a: T, b: T): boolean {\n  return a === b\n}` },
  $isEmpty: {
    deps: [],
    code: `function $isEmpty(value: unknown): boolean {
  if (value === null) return true
  if (Array.isArray(value)) return value.length === 0
  if (value instanceof Set || value instanceof Map) return value.size === 0
  return false
}`,
  },
  $eq: {
    deps: [],
    code: `function $eq(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!$eq(a[i], b[i])) return false
    return true
  }
  if (a instanceof Set) {
    if (!(b instanceof Set) || a.size !== b.size) return false
    for (const item of a) if (!b.has(item)) return false
    return true
  }
  if (!(a instanceof Map) || !(b instanceof Map) || a.size !== b.size) return false
  for (const [key, value] of a) if (!b.has(key) || !$eq(value, b.get(key))) return false
  return true
}`,
  },
  $inList: {
    deps: [],
    code: `function $inList<T>(list: readonly T[], item: T | null): boolean {
  return item !== null && list.includes(item)
}`,
  },
  $inListDeep: {
    deps: ['$eq'],
    code: `function $inListDeep(list: readonly unknown[], item: unknown): boolean {
  return list.some((other) => $eq(item, other))
}`,
  },
  $has: {
    deps: [],
    code: `function $has<T>(collection: ReadonlySet<T> | ReadonlyMap<T, unknown>, item: T | null): boolean {
  return item !== null && collection.has(item)
}`,
  },
  $push: {
    deps: ['$fail'],
    code: `function $push<T>(list: readonly T[], item: T | null, site: number): readonly T[] {
  if (item === null) $fail(site, ${JSON.stringify(Reasons.appendNil)})
  if (list.length >= ${MAX_VALUE_SIZE}) $fail(site, ${tooLarge})
  const out = list.slice()
  out.push(item)
  return out
}`,
  },
  $concat: {
    deps: ['$fail'],
    code: `function $concat<T>(a: readonly T[], b: readonly T[], site: number): readonly T[] {
  if (a.length + b.length > ${MAX_VALUE_SIZE}) $fail(site, ${tooLarge})
  return b.length === 0 ? a : a.length === 0 ? b : [...a, ...b]
}`,
  },
  $setAdd: {
    deps: ['$fail'],
    code: `function $setAdd<T>(set: ReadonlySet<T>, item: T | null, site: number): ReadonlySet<T> {
  if (item === null) $fail(site, ${JSON.stringify(Reasons.appendNil)})
  if (set.has(item)) return set
  if (set.size >= ${MAX_VALUE_SIZE}) $fail(site, ${tooLarge})
  const out = new Set(set)
  out.add(item)
  return out
}`,
  },
  $union: {
    deps: ['$fail'],
    code: `function $union<T>(a: ReadonlySet<T>, b: ReadonlySet<T>, site: number): ReadonlySet<T> {
  if (b.size === 0) return a
  if (a.size === 0) return b
  const out = new Set(a)
  for (const item of b) out.add(item)
  if (out.size > ${MAX_VALUE_SIZE}) $fail(site, ${tooLarge})
  return out
}`,
  },
  $str: {
    deps: ['$fail'],
    code: `function $str(a: string | null, b: string | null, site: number): string {
  if (a === null || b === null) $fail(site, ${JSON.stringify(Reasons.nilOperand)})
  if (a.length + b.length > ${MAX_VALUE_SIZE}) $fail(site, ${tooLarge})
  return a + b
}`,
  },
  $head: {
    deps: ['$fail'],
    code: `function $head<T>(list: readonly T[], site: number): T {
  if (list.length === 0) $fail(site, ${JSON.stringify(Reasons.emptyHead)})
  return list[0]!
}`,
  },
  $tail: {
    deps: ['$fail'],
    code: `function $tail<T>(list: readonly T[], site: number): readonly T[] {
  if (list.length === 0) $fail(site, ${JSON.stringify(Reasons.emptyTail)})
  return list.slice(1)
}`,
  },
  $strlen: {
    deps: ['$fail'],
    code: `function $strlen(text: string | null, site: number): number {
  if (text === null) $fail(site, ${JSON.stringify(Reasons.nilOperand)})
  return text.length
}`,
  },
  $get: {
    deps: ['$fail'],
    code: `function $get<K, V>(map: ReadonlyMap<K, V>, key: K | null, site: number): V {
  if (key === null) $fail(site, ${JSON.stringify(Reasons.nilKey)})
  const value = map.get(key)
  if (value === undefined) $fail(site, ${JSON.stringify(Reasons.missingKeyPrefix)} + JSON.stringify(key))
  return value
}`,
  },
  $put: {
    deps: ['$fail', '$isEmpty'],
    code: `function $put<K, V>(map: ReadonlyMap<K, V>, key: K | null, value: V | null, site: number, owned: Set<object> | null): ReadonlyMap<K, V> {
  if (key === null) $fail(site, ${JSON.stringify(Reasons.nilKey)})
  // Copy once per command unless the map may be shared; a map holds no Φ, so storing Φ removes the key.
  const out = owned !== null && owned.has(map) ? (map as Map<K, V>) : new Map(map)
  if (owned !== null) owned.add(out)
  if (value === null || $isEmpty(value)) out.delete(key)
  else if (!out.has(key) && out.size >= ${MAX_VALUE_SIZE}) $fail(site, ${tooLarge})
  else out.set(key, value)
  return out
}`,
  },
  $to: {
    deps: ['$fail'],
    code: `function $to(recipient: string | null, site: number): string {
  if (recipient === null) $fail(site, ${JSON.stringify(Reasons.sendToNil)})
  return recipient
}`,
  },
  $cmp: {
    deps: ['$Types'],
    code: `function $cmp(a: $Scalar, b: $Scalar): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  const x = String(a)
  const y = String(b)
  return x < y ? -1 : x > y ? 1 : 0
}
function $keyCmp(a: $Scalar, b: $Scalar): number {
  const x = String(a)
  const y = String(b)
  return x < y ? -1 : x > y ? 1 : 0
}`,
  },
  $toJson: {
    deps: ['$Types', '$cmp'],
    code: `function $toJson(value: unknown, type: $Type): unknown {
  switch (type.kind) {
    case 'list':
      return (value as readonly unknown[]).map((item) => $toJson(item, type.element))
    case 'set':
      return [...(value as ReadonlySet<$Scalar>)].sort($cmp)
    case 'map': {
      const out: Record<string, unknown> = {}
      for (const [key, item] of [...(value as ReadonlyMap<$Scalar, unknown>)].sort(([a], [b]) => $keyCmp(a, b))) {
        const k = String(key)
        if (k === '__proto__') Object.defineProperty(out, k, { value: $toJson(item, type.value), enumerable: true, writable: true, configurable: true })
        else out[k] = $toJson(item, type.value)
      }
      return out
    }
    default:
      return value
  }
}`,
  },
  $summary: {
    deps: ['$Types', '$cmp'],
    code: `type $Json = null | boolean | number | string | readonly $Json[] | { readonly [key: string]: $Json }
function $cut(text: string): string {
  return text.length > ${SummaryLimits.stringChars} ? text.slice(0, ${SummaryLimits.stringChars}) + '…' : text
}
function $setOwn(target: Record<string, $Json>, key: string, value: $Json): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}
function $smallest<T>(items: Iterable<T>, k: number, compare: (a: T, b: T) => number): T[] {
  const best: T[] = []
  if (k <= 0) return best
  for (const item of items) {
    if (best.length === k && compare(item, best[k - 1]!) >= 0) continue
    let at = best.length
    while (at > 0 && compare(item, best[at - 1]!) < 0) at--
    best.splice(at, 0, item)
    if (best.length > k) best.pop()
  }
  return best
}
function $summarize(value: unknown, type: $Type, budget: { items: number }): $Json {
  switch (type.kind) {
    case 'list': {
      const list = value as readonly unknown[]
      const items: $Json[] = []
      for (let i = 0; i < list.length && items.length < ${SummaryLimits.itemsPerCollection} && budget.items > 0; i++) {
        budget.items--
        items.push($summarize(list[i], type.element, budget))
      }
      return { count: list.length, items }
    }
    case 'set': {
      const set = value as ReadonlySet<$Scalar>
      const first = $smallest(set, Math.min(${SummaryLimits.itemsPerCollection}, budget.items), $cmp)
      budget.items -= first.length
      return { count: set.size, items: first.map((item) => (typeof item === 'string' ? $cut(item) : item)) }
    }
    case 'map': {
      const map = value as ReadonlyMap<$Scalar, unknown>
      const items: Record<string, $Json> = {}
      for (const key of $smallest(map.keys(), Math.min(${SummaryLimits.itemsPerCollection}, budget.items), $keyCmp)) {
        if (budget.items <= 0) break
        budget.items--
        $setOwn(items, $cut(String(key)), $summarize(map.get(key), type.value, budget))
      }
      return { count: map.size, items }
    }
    default:
      return typeof value === 'string' ? $cut(value) : (value as $Json)
  }
}
function $entryChars(name: string, summary: $Json): number {
  return JSON.stringify(name).length + 1 + JSON.stringify(summary).length
}
/** The state bounded for operators (GET /status): as @lockstep/dsl's summarizeState. */
function $summary(vars: readonly (readonly [string, $Type])[], values: readonly unknown[]): { [name: string]: $Json } {
  const budget = { items: ${SummaryLimits.itemsInAll} }
  const entries = vars.map(([name, type], i) => {
    const summary = $summarize(values[i], type, budget)
    return { name, type, summary, chars: $entryChars(name, summary) }
  })
  const textChars = (omitted: number) =>
    entries.reduce((sum, e) => sum + e.chars, 2 + Math.max(0, entries.length - 1)) + (omitted > 0 ? $entryChars('$omitted', omitted) + (entries.length > 0 ? 1 : 0) : 0)
  for (let i = entries.length - 1; i >= 0 && textChars(0) > ${SummaryLimits.jsonChars}; i--) {
    const entry = entries[i]!
    if (entry.type.kind !== 'list' && entry.type.kind !== 'set' && entry.type.kind !== 'map') continue
    const summary: $Json = { count: (entry.summary as { count: number }).count, items: entry.type.kind === 'map' ? {} : [] }
    entries[i] = { ...entry, summary, chars: $entryChars(entry.name, summary) }
  }
  let omitted = 0
  while (entries.length > 0 && textChars(omitted) > ${SummaryLimits.jsonChars}) {
    entries.pop()
    omitted++
  }
  const out: Record<string, $Json> = {}
  for (const entry of entries) $setOwn(out, entry.name, entry.summary)
  if (omitted > 0) out.$omitted = omitted
  return out
}`,
  },
  $enc: {
    deps: ['$Types', '$cmp'],
    code: `function $enc(value: unknown, type: $Type): string {
  switch (type.kind) {
    case 'list':
      return '[' + (value as readonly unknown[]).map((item) => $enc(item, type.element)).join(',') + ']'
    case 'set':
      return '[' + [...(value as ReadonlySet<$Scalar>)].sort($cmp).map((item) => JSON.stringify(item)).join(',') + ']'
    case 'map':
      return '{' + [...(value as ReadonlyMap<$Scalar, unknown>)].sort(([a], [b]) => $keyCmp(a, b))
        .map(([key, item]) => JSON.stringify(String(key)) + ':' + $enc(item, type.value)).join(',') + '}'
    default:
      return value === null ? 'null' : JSON.stringify(value)
  }
}`,
  },
  $fromJson: {
    deps: ['$Types'],
    code: `class $ConversionError extends Error {
  readonly path: string
  constructor(path: string, message: string) {
    super(message)
    this.path = path
  }
}
function $describe(json: unknown): string {
  if (json === undefined) return 'nothing'
  if (json === null) return 'null'
  if (Array.isArray(json)) return 'an array'
  if (typeof json === 'object') return 'an object'
  const text = JSON.stringify(json)
  return \`\${typeof json} \${text.length > 40 ? text.slice(0, 37) + '...' : text}\`
}
function $typeName(type: $Type): string {
  switch (type.kind) {
    case 'list':
      return \`list of \${$typeName(type.element)}\`
    case 'set':
      return \`set of \${$typeName(type.element)}\`
    case 'map':
      return \`map of \${$typeName(type.key)} to \${$typeName(type.value)}\`
    case 'nil':
      return 'Φ'
    default:
      return type.kind
  }
}
function $key(key: string, type: $Type, path: string): $Scalar {
  switch (type.kind) {
    case 'int': {
      const value = Number(key)
      if (!/^(0|-?[1-9][0-9]{0,15})$/.test(key) || !Number.isSafeInteger(value)) throw new $ConversionError(path, \`key '\${key}' at \${path} must be an integer within ±9007199254740991\`)
      return value
    }
    case 'bool':
      if (key !== 'true' && key !== 'false') throw new $ConversionError(path, \`key '\${key}' at \${path} must be true or false\`)
      return key === 'true'
    case 'client_id':
      if (key.length === 0) throw new $ConversionError(path, \`key at \${path} must be a non-empty client id\`)
      return key
    default:
      return key
  }
}
function $fromJson(json: unknown, type: $Type, path: string, nullable: boolean): unknown {
  const fail = (expected: string): never => {
    throw new $ConversionError(path, \`\${path || 'value'} must be \${expected}, got \${$describe(json)}\`)
  }
  if (json === null && nullable && (type.kind === 'client_id' || type.kind === 'int' || type.kind === 'bool' || type.kind === 'string')) return null
  switch (type.kind) {
    case 'client_id':
      if (typeof json !== 'string' || json.length === 0) fail('a client id (a non-empty string)')
      return json
    case 'string':
      if (typeof json !== 'string') fail('a string')
      return json
    case 'int':
      if (typeof json !== 'number' || !Number.isSafeInteger(json)) fail('an integer within ±9007199254740991')
      return json === 0 ? 0 : json
    case 'bool':
      if (typeof json !== 'boolean') fail('a boolean')
      return json
    case 'list':
      if (!Array.isArray(json)) fail(\`an array (\${$typeName(type)})\`)
      return (json as unknown[]).map((item, i) => $fromJson(item, type.element, \`\${path}/\${i}\`, false))
    case 'set': {
      if (!Array.isArray(json)) fail(\`an array (\${$typeName(type)})\`)
      const out = new Set<unknown>()
      ;(json as unknown[]).forEach((item, i) => {
        const value = $fromJson(item, type.element, \`\${path}/\${i}\`, false)
        if (out.has(value)) throw new $ConversionError(\`\${path}/\${i}\`, \`\${path}/\${i} repeats \${JSON.stringify(value)}; a set holds each value once\`)
        out.add(value)
      })
      return out
    }
    case 'map': {
      if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(\`an object (\${$typeName(type)})\`)
      const out = new Map<unknown, unknown>()
      for (const key of Object.keys(json as object)) {
        const keyPath = \`\${path}/\${key.replace(/~/g, '~0').replace(/\\//g, '~1')}\`
        out.set($key(key, type.key, keyPath), $fromJson((json as Record<string, unknown>)[key], type.value, keyPath, false))
      }
      return out
    }
    default:
      return fail('a value of a known type')
  }
}`,
  },
  $args: {
    deps: ['$fromJson'],
    code: `function $args(machine: string, command: string, args: unknown, params: readonly (readonly [string, $Type])[]): unknown[] {
  try {
    if (args === undefined) {
      if (params.length === 0) return []
      args = {}
    }
    if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new $ConversionError('/args', \`the arguments of '\${command}' must be an object\`)
    const record = args as Record<string, unknown>
    const known = new Set(params.map(([name]) => name))
    for (const key of Object.keys(record)) {
      if (!known.has(key)) throw new $ConversionError(\`/args/\${key}\`, \`'\${command}' has no parameter '\${key}'\${params.length === 0 ? ' (it takes no arguments)' : \`; its parameters are \${params.map(([name]) => name).join(', ')}\`}\`)
    }
    return params.map(([name, type]) => {
      if (!Object.prototype.hasOwnProperty.call(record, name)) throw new $ConversionError(\`/args/\${name}\`, \`'\${command}' needs the argument '\${name}'\`)
      return $fromJson(record[name], type, \`/args/\${name}\`, false)
    })
  } catch (error) {
    if (!(error instanceof $ConversionError)) throw error
    throw new LockstepError(ErrorCodes.COMMAND_FAILED, \`\${machine}.\${command}: invalid arguments: \${error.message}\`, { path: error.path })
  }
}`,
  },
}

/** The helpers `code` refers to, with everything they need, in a stable order. */
export function helpersFor(code: string): string[] {
  const needed = new Set<string>()
  const visit = (name: string): void => {
    if (needed.has(name)) return
    needed.add(name)
    for (const dep of runtimeHelpers[name]!.deps) visit(dep)
  }
  for (const name of Object.keys(runtimeHelpers)) {
    const pattern = name === '$Types' ? /\$Type\b|\$Scalar\b/ : new RegExp(`\\${name}[(<]`)
    if (pattern.test(code)) visit(name)
  }
  return Object.keys(runtimeHelpers).filter((name) => needed.has(name))
}
