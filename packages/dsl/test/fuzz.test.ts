import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compile, compileInvariant, decodeSource, emitTypeScript, formatDiagnostic, type Diagnostic } from '../src/index'
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

/**
 * The fuzz test: FUZZ_INPUTS inputs mutated from the spec corpus (the example specs, the baseline
 * cases, random programs), as bytes: byte flips, deletions, duplicated spans, two specs spliced, deep
 * nesting, long operator chains, long lines and random bytes inserted. Each is decoded and compiled as the
 * CLI does; no exception may escape, every diagnostic must point into the text, and each input must finish
 * within BUDGET_MS + BUDGET_MS_PER_KB per kilobyte (best of three runs when the first is over: a garbage
 * collection or a busy scheduler stalls single runs). Measured on the loaded 2-core machine: 100,000 inputs
 * of 2.0 KB on average in 21 s (20 s CPU, 220 MB); the slowest single run 30–170 ms, always a stall (that
 * input takes under 1 ms when run again); the slowest real input, a 6,000-character unknown name, took
 * 8–33 ms until typo suggestions stopped comparing names of very different lengths, now under 2 ms. The
 * budget (500 ms and more; the bound is 2 s per input) keeps a margin of 20 and more over every
 * repeatable time seen: a fresh-clone CI run on the loaded machine once saw a valid 9.4 KB leased mutex take
 * 146 ms at best of three under the old budget of 100 ms + 4 ms/KB (guard analysis: its overlap search threw
 * thousands of errors with stack traces; without them it takes 30 ms). The slowest input's time is printed.
 */
const FUZZ_INPUTS = 100_000
const BUDGET_MS = 500
const BUDGET_MS_PER_KB = 20

const corpusDir = join(import.meta.dirname, 'cases')

function corpus(): Uint8Array[] {
  const encoder = new TextEncoder()
  const texts = [
    ...readdirSync(specsDir).filter((f) => f.endsWith('.sm')).map(readSpec),
    ...readdirSync(corpusDir).filter((f) => f.endsWith('.sm')).map((f) => readFileSync(join(corpusDir, f), 'utf8')),
  ]
  const generator = new ProgramGenerator(seededRandom(5))
  for (let i = 0; i < 40; i++) texts.push(generator.program().source)
  return texts.map((text) => encoder.encode(text))
}

const insertions = [
  (random: () => number) => '('.repeat(1 + Math.floor(random() * 4000)),
  (random: () => number) => `(${'('.repeat(Math.floor(random() * 3000))}1${')'.repeat(Math.floor(random() * 3000))}`,
  (random: () => number) => ` + 1`.repeat(1 + Math.floor(random() * 3000)),
  (random: () => number) => ` and b`.repeat(1 + Math.floor(random() * 600)),
  (random: () => number) => ` ● client`.repeat(1 + Math.floor(random() * 600)),
  (random: () => number) => 'not '.repeat(1 + Math.floor(random() * 3000)),
  (random: () => number) => 'list of '.repeat(1 + Math.floor(random() * 600)),
  (random: () => number) => `len(`.repeat(1 + Math.floor(random() * 400)),
  (random: () => number) => 'x'.repeat(1 + Math.floor(random() * 8000)),
  (random: () => number) => `"${'s'.repeat(Math.floor(random() * 8000))}`,
  (random: () => number) => `-- ${'c'.repeat(Math.floor(random() * 8000))}`,
  (random: () => number) => '@#$`'.repeat(1 + Math.floor(random() * 500)),
]

/** One to three mutations of `input`; `other` is a second corpus file for splicing. */
function mutateBytes(input: Uint8Array, other: Uint8Array, random: () => number): Uint8Array {
  let out = input
  const encoder = new TextEncoder()
  const mutations = 1 + Math.floor(random() * 3)
  for (let m = 0; m < mutations; m++) {
    const at = Math.floor(random() * (out.length + 1))
    const span = Math.min(out.length - at, Math.floor(random() * 64))
    const insert = (bytes: Uint8Array) => Uint8Array.from([...out.subarray(0, at), ...bytes, ...out.subarray(at)])
    switch (Math.floor(random() * 7)) {
      case 0: {
        // Flip bits of a few bytes.
        out = out.slice()
        for (let k = 0; k < 1 + Math.floor(random() * 4) && out.length > 0; k++) out[Math.floor(random() * out.length)]! ^= 1 << Math.floor(random() * 8)
        break
      }
      case 1:
        out = Uint8Array.from([...out.subarray(0, at), ...out.subarray(at + span)])
        break
      case 2: {
        const copies = 1 + Math.floor(random() * 4)
        const piece = out.subarray(at, at + span)
        out = insert(Uint8Array.from({ length: piece.length * copies }, (_, i) => piece[i % piece.length]!))
        break
      }
      case 3: {
        const cut = Math.floor(random() * (other.length + 1))
        out = Uint8Array.from([...out.subarray(0, at), ...other.subarray(cut)])
        break
      }
      case 4:
      case 5:
        out = insert(encoder.encode(insertions[Math.floor(random() * insertions.length)]!(random)))
        break
      default:
        out = insert(Uint8Array.from({ length: 1 + Math.floor(random() * 32) }, () => Math.floor(random() * 256)))
    }
  }
  return out
}

/** Decodes and compiles as the CLI does; throws (with the input) when something escapes or a diagnostic is malformed. */
function survive(input: Uint8Array, index: number): void {
  const fail = (why: string): never => {
    throw new Error(`fuzz input ${index} (${input.length} bytes): ${why}\ninput (base64): ${Buffer.from(input).toString('base64')}`)
  }
  const checkDiagnostics = (source: string, diagnostics: readonly Diagnostic[]) => {
    if (diagnostics.length > 100) fail(`${diagnostics.length} diagnostics kept`)
    for (const d of diagnostics) {
      if (d.start < 0 || d.start + d.length > source.length || d.line < 1 || d.column < 1 || d.message.length === 0) fail(`malformed diagnostic ${JSON.stringify(d)}`)
    }
    const first = diagnostics[0]
    if (first && !formatDiagnostic(first, source).startsWith(`fuzz.sm:${first.line}:${first.column}: ${first.severity}: `)) fail('malformed diagnostic text')
  }
  try {
    const decoded = decodeSource(input, { file: 'fuzz.sm' })
    if (decoded.diagnostics.length > 0) {
      checkDiagnostics(decoded.source, decoded.diagnostics)
      if (decoded.diagnostics.some((d) => d.code !== 'DSL1005')) fail('a decoding diagnostic that is not DSL1005')
      return
    }
    const result = compile(decoded.source, { file: 'fuzz.sm' })
    checkDiagnostics(decoded.source, result.diagnostics)
    if (result.errorCount > 0 && result.program) fail('a program despite errors')
    if (result.errorCount === 0 && !result.program) fail('no program and no error')
    if (result.program) {
      emitTypeScript(result.program)
      const machine = result.machine!
      machine.restore(machine.snapshot(machine.init()))
    }
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('fuzz input')) throw error
    fail(`it threw ${(error as Error).stack}`)
  }
}

describe('fuzz: mutations of the spec corpus', () => {
  it(`${FUZZ_INPUTS.toLocaleString('en')} inputs: no exception escapes, each finishes within its time budget (seed 17)`, () => {
    const random = seededRandom(17)
    const files = corpus()
    let slowest: { ms: number; input: Uint8Array; index: number } = { ms: 0, input: new Uint8Array(), index: -1 }
    let totalBytes = 0
    const started = performance.now()
    for (let i = 0; i < FUZZ_INPUTS; i++) {
      const input = mutateBytes(files[i % files.length]!, files[Math.floor(random() * files.length)]!, random)
      totalBytes += input.length
      const budget = BUDGET_MS + BUDGET_MS_PER_KB * (input.length / 1024)
      // An input over its budget runs twice more and counts its fastest run: a garbage collection or the
      // scheduler of a loaded machine can stall any one run, a slow input is slow every time.
      let ms = Infinity
      for (let attempt = 0; attempt < 3 && ms > budget; attempt++) {
        const before = performance.now()
        survive(input, i)
        ms = Math.min(ms, performance.now() - before)
      }
      if (ms > slowest.ms) slowest = { ms, input, index: i }
      if (ms > budget) {
        throw new Error(`fuzz input ${i} (${input.length} bytes) took ${ms.toFixed(1)} ms at best of 3 runs, over its budget of ${budget.toFixed(0)} ms\ninput (base64): ${Buffer.from(input).toString('base64')}`)
      }
    }
    const seconds = (performance.now() - started) / 1000
    // The slowest input once more, three times: its best time is what the input costs, without stalls.
    let best = Infinity
    for (let attempt = 0; attempt < 3; attempt++) {
      const before = performance.now()
      survive(slowest.input, slowest.index)
      best = Math.min(best, performance.now() - before)
    }
    console.log(`fuzz: ${FUZZ_INPUTS} inputs, ${(totalBytes / FUZZ_INPUTS / 1024).toFixed(1)} KB on average, in ${seconds.toFixed(1)} s; the slowest, input ${slowest.index} (${slowest.input.length} bytes), took ${slowest.ms.toFixed(1)} ms (${best.toFixed(1)} ms at best of 3 more runs)`)
  }, 600_000)
})
