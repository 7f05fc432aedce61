const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Canonical JSON: object keys sorted, so equal states give equal bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (inner && typeof inner === 'object' && !Array.isArray(inner)) {
      const sorted: Record<string, unknown> = {}
      for (const key of Object.keys(inner).sort()) sorted[key] = (inner as Record<string, unknown>)[key]
      return sorted
    }
    return inner
  })
}

/** Encodes a JSON-compatible value as canonical UTF-8 JSON bytes. */
export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(canonicalJson(value))
}

/** Decodes bytes written by {@link encodeJson}. */
export function decodeJson<T>(bytes: Uint8Array): T {
  return JSON.parse(decoder.decode(bytes)) as T
}
