import { describe, expect, it } from 'vitest'
import { fnv1a64 } from '../src/engine/digest'

describe('fnv1a64', () => {
  it('matches the FNV-1a 64-bit reference values', () => {
    const bytes = (s: string) => new TextEncoder().encode(s)
    expect(fnv1a64(bytes(''))).toBe('cbf29ce484222325')
    expect(fnv1a64(bytes('a'))).toBe('af63dc4c8601ec8c')
    expect(fnv1a64(bytes('foobar'))).toBe('85944171f73967e8')
  })
})
