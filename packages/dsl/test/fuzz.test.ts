import { readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { compile, compileInvariant, emitTypeScript, formatDiagnostic } from '../src/index'
import { readSpec, seededRandom, specsDir } from './helpers'
import { ProgramGenerator } from './program-generator'

const vocabulary = [
  'state_machine', 'var', 'init', 'command', 'end', 'if', 'send', 'to', 'skip', 'and', 'or', 'not', 'in', 'list', 'set',
  'map', 'of', 'client', 'now', 'true', 'false', 'nil', 'client_id', 'int', 'bool', 'string', 'head', 'tail', 'len', 'x', 'y',
  'm', 'OK', 'Φ', '●', '∘', '≠', '→', '≤', '≥', ':=', ':', ';', ',', '(', ')', '[', ']', '=', '!=', '<', '<=', '>', '>=',
  '+', '-', '*', '/', '%', '++', '->', '"s"', '"', '0', '1', '9007199254740992', '\n', '  ', '--', '&&', '!', '==', '\t', "'",
  '\u0000', '😀', '\r\n', '\\', 'p(a: int)', 'end x', 'x: command',
]

/** Compiling must never throw, and everything it returns must be usable. */
function mustSurvive(source: string): void {
  let result
  try {
    result = compile(source, { file: 'fuzz.sm' })
  } catch (error) {
    throw new Error(`the compiler threw on:\n${JSON.stringify(source)}\n${(error as Error).stack}`)
  }
  for (const d of result.diagnostics) {
    expect(d.start).toBeGreaterThanOrEqual(0)
    expect(d.start + d.length).toBeLessThanOrEqual(source.length)
    expect(d.line).toBeGreaterThanOrEqual(1)
    expect(d.column).toBeGreaterThanOrEqual(1)
    expect(d.message.length).toBeGreaterThan(0)
    expect(formatDiagnostic(d, source)).toContain(`fuzz.sm:${d.line}:${d.column}: ${d.severity}: `)
  }
  if (result.program) {
    expect(result.diagnostics.every((d) => d.severity === 'warning')).toBe(true)
    expect(emitTypeScript(result.program)).toContain(`export const `)
    const machine = result.machine!
    expect(machine.restore(machine.snapshot(machine.init()))).toEqual(machine.init())
  } else {
    expect(result.diagnostics.some((d) => d.severity === 'error')).toBe(true)
  }
}

function mutate(source: string, random: () => number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!
  const at = () => Math.floor(random() * (source.length + 1))
  let out = source
  const mutations = 1 + Math.floor(random() * 3)
  for (let i = 0; i < mutations; i++) {
    const a = at()
    const b = Math.min(out.length, a + Math.floor(random() * 12))
    switch (Math.floor(random() * 7)) {
      case 0:
        out = out.slice(0, a) + out.slice(b)
        break
      case 1:
        out = out.slice(0, a) + pick(vocabulary) + out.slice(a)
        break
      case 2:
        out = out.slice(0, a) + pick(vocabulary) + out.slice(b)
        break
      case 3: {
        const lines = out.split('\n')
        const i1 = Math.floor(random() * lines.length)
        const i2 = Math.floor(random() * lines.length)
        ;[lines[i1], lines[i2]] = [lines[i2]!, lines[i1]!]
        out = lines.join('\n')
        break
      }
      case 4: {
        const lines = out.split('\n')
        lines.splice(Math.floor(random() * lines.length), 1)
        out = lines.join('\n')
        break
      }
      case 5:
        out = out.slice(0, a)
        break
      default:
        out = out.slice(0, a) + String.fromCharCode(Math.floor(random() * 0x3000)) + out.slice(a)
    }
  }
  return out
}

describe('the compiler never throws', () => {
  const specs = readdirSync(specsDir).filter((f) => f.endsWith('.sm')).map(readSpec)

  it('on 3,000 mutations of valid programs (seed 1)', () => {
    const random = seededRandom(1)
    const generator = new ProgramGenerator(random)
    for (let i = 0; i < 3000; i++) {
      const base = i % 3 === 0 ? generator.program().source : specs[i % specs.length]!
      mustSurvive(mutate(base, random))
    }
  })

  it('on 1,500 token soups (seed 2)', () => {
    const random = seededRandom(2)
    for (let i = 0; i < 1500; i++) {
      const length = Math.floor(random() * 60)
      const tokens = Array.from({ length }, () => vocabulary[Math.floor(random() * vocabulary.length)]!)
      const source = random() < 0.5 ? `m: state_machine ${tokens.join(' ')} end m` : tokens.join(random() < 0.5 ? ' ' : '')
      mustSurvive(source)
    }
  })

  it('on 500 strings of random characters (seed 3)', () => {
    const random = seededRandom(3)
    for (let i = 0; i < 500; i++) {
      const length = Math.floor(random() * 200)
      mustSurvive(Array.from({ length }, () => String.fromCharCode(Math.floor(random() * (random() < 0.8 ? 128 : 0xffff)))).join(''))
    }
  })

  it('on 1,000 random invariants (seed 4)', () => {
    const random = seededRandom(4)
    const { program } = compile(readSpec('safe-mutex.sm'))
    for (let i = 0; i < 1000; i++) {
      const length = Math.floor(random() * 12)
      const text = Array.from({ length }, () => [...vocabulary, 'user', 'waiting', 'token'][Math.floor(random() * (vocabulary.length + 3))]!).join(' ')
      const result = compileInvariant(program!, text)
      expect(result.invariant !== undefined || result.diagnostics.some((d) => d.severity === 'error')).toBe(true)
    }
  })
})
