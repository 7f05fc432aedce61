/**
 * The JSON text of a value with object keys sorted, so that two values are
 * equal as JSON exactly when their canonical texts are equal. `undefined`
 * (a missing value) is written as `null`.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return 'null'
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value)
    case 'number':
      // JSON has no NaN or Infinity; JSON.stringify writes them as null too.
      return Number.isFinite(value) ? String(value) : 'null'
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
      const record = value as Record<string, unknown>
      const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort()
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`
    }
    default:
      return 'null'
  }
}
