import { describe, expect, it } from 'vitest'
import * as dsl from '../src/index'
import { readSpec } from './helpers'

const encode = (text: string): Uint8Array => new TextEncoder().encode(text)
const concat = (...parts: (string | number[])[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...encode(p)] : p)))

/** `decodeSource`, looked up at run time so the test fails (instead of not compiling) where it is missing. */
function decode(bytes: Uint8Array, file = 'f.sm'): dsl.DecodedSource {
  const decodeSource = (dsl as Record<string, unknown>).decodeSource as typeof dsl.decodeSource | undefined
  expect(decodeSource, '@lockstep/dsl exports decodeSource').toBeTypeOf('function')
  return decodeSource!(bytes, { file })
}

function headers(bytes: Uint8Array): string[] {
  const { source, diagnostics } = decode(bytes)
  return diagnostics.map((d) => dsl.formatDiagnostic(d, source).split('\n')[0]!)
}

describe('spec files are decoded as bytes, and invalid UTF-8 is reported where it is', () => {
  it('valid UTF-8 decodes as it is (a byte order mark is dropped)', () => {
    const spec = readSpec('safe-mutex.sm')
    expect(decode(encode(spec))).toEqual({ source: spec, diagnostics: [], omittedDiagnostics: 0 })
    expect(decode(concat([0xef, 0xbb, 0xbf], 'm Φ ●')).source).toBe('m Φ ●')
  })

  it('reports each invalid sequence at its line and column, naming its first byte', () => {
    const bytes = concat('m: state_machine\n  var x: string init "a', [0xff], 'b" -- c', [0xc3], '\n', [0x80], 'Φ', [0xe2, 0x82], 'x', [0xed, 0xa0, 0x80], [0xf0, 0x82, 0x82, 0xac], '\n')
    expect(headers(bytes)).toEqual([
      'f.sm:2:24: error: invalid UTF-8 byte 0xFF [DSL1005]',
      'f.sm:2:32: error: invalid UTF-8 byte 0xC3 [DSL1005]',
      'f.sm:3:1: error: invalid UTF-8 byte 0x80 [DSL1005]',
      'f.sm:3:3: error: invalid UTF-8 byte 0xE2 [DSL1005]',
      // A surrogate (ED A0 80) and an overlong form (F0 82 82 AC) are each one bad byte then stray continuations.
      'f.sm:3:5: error: invalid UTF-8 byte 0xED [DSL1005]',
      'f.sm:3:6: error: invalid UTF-8 byte 0xA0 [DSL1005]',
      'f.sm:3:7: error: invalid UTF-8 byte 0x80 [DSL1005]',
      'f.sm:3:8: error: invalid UTF-8 byte 0xF0 [DSL1005]',
      'f.sm:3:9: error: invalid UTF-8 byte 0x82 [DSL1005]',
      'f.sm:3:10: error: invalid UTF-8 byte 0x82 [DSL1005]',
      'f.sm:3:11: error: invalid UTF-8 byte 0xAC [DSL1005]',
    ])
    // The shown line has a replacement character where the bad byte was, and the caret under it.
    const { source, diagnostics } = decode(bytes)
    expect(dsl.formatDiagnostic(diagnostics[0]!, source).split('\n').slice(1)).toEqual(['  var x: string init "a\ufffdb" -- c\ufffd', '                       ^'])
  })

  it('a truncated sequence at the end of the file', () => {
    expect(headers(concat('x', [0xf0, 0x9f, 0x98]))).toEqual(['f.sm:1:2: error: invalid UTF-8 byte 0xF0 [DSL1005]'])
  })

  it('keeps 100 diagnostics of a megabyte of random bytes and counts the rest', () => {
    const bytes = new Uint8Array(1 << 20)
    let state = 7
    for (let i = 0; i < bytes.length; i++) bytes[i] = (state = (state * 1103515245 + 12345) >>> 0) >>> 24
    const result = decode(bytes)
    expect(result.diagnostics.length).toBe(100)
    expect(result.omittedDiagnostics).toBeGreaterThan(100_000)
  })

  it('compileOrThrow takes bytes and throws DSL_ERROR for invalid UTF-8', () => {
    const spec = readSpec('safe-mutex.sm')
    expect(dsl.compileOrThrow(encode(spec) as never, { file: 'safe-mutex.sm' }).machine.name).toBe('safe_mutex')
    expect(() => dsl.compileOrThrow(concat(spec, [0xfe]) as never, { file: 's.sm' })).toThrow(/^s\.sm has 1 error:\ns\.sm:\d+:\d+: error: invalid UTF-8 byte 0xFE \[DSL1005\]/)
  })
})
