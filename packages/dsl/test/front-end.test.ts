import { describe, expect, it } from 'vitest'
import { compile, compileInvariant, formatDiagnostic, formatDiagnostics } from '../src/index'

const machine = (body: string) => `m: state_machine\n  var x: int init 0\n  l: list of client_id\n  b: bool init true\n  s: string\n${body}\nend m\n`
const command = (statements: string) => machine(`  go: command\n${statements}\n  end go`)

function errorsOf(source: string): string[] {
  const result = compile(source, { file: 'f.sm' })
  return result.diagnostics.map((d) => formatDiagnostic(d, source).split('\n')[0]!)
}

describe('the front end never crashes on hostile input', () => {
  const deep: [string, string][] = [
    ['750 nested parentheses', command(`    x := ${'('.repeat(750)}1${')'.repeat(750)}`)],
    ['1,500 ● terms', command(`    l := Φ${' ● client'.repeat(1500)}`)],
    ['1,950 and terms', command(`    b := b${' and b'.repeat(1950)}`)],
    ['1,950 + terms', command(`    x := x${' + 1'.repeat(1950)}`)],
    ['1,000 nots', command(`    b := ${'not '.repeat(1000)}b`)],
    ['1,000 minus signs', command(`    x := ${'- '.repeat(1000)}1`)],
    ['nested indexing', command(`    x := ${'len('.repeat(600)}l${')'.repeat(600)}`)],
  ]
  for (const [name, source] of deep) {
    it(`${name}: a nesting diagnostic, not a stack overflow`, () => {
      const errors = errorsOf(source)
      expect(errors.some((e) => /^f\.sm:\d+:\d+: error: expression nested deeper than 256 levels \[DSL2011\]$/.test(e)), errors.join('\n')).toBe(true)
    })
  }

  it('a type nested 5,000 levels deep', () => {
    const errors = errorsOf(`m: state_machine\n  var x: ${'list of '.repeat(5000)}int\nend m\n`)
    expect(errors.some((e) => /^f\.sm:2:\d+: error: type nested deeper than 256 levels \[DSL2011\]$/.test(e)), errors.join('\n')).toBe(true)
  })

  it('a chain of 256 operators is still fine', () => {
    expect(compile(command(`    x := x${' + 1'.repeat(255)}\n    send x to client`)).program).toBeDefined()
  })

  it('an invariant keeps at most 100 diagnostics too, and counts the rest', () => {
    const { program } = compile(command('    x := 1'))
    const result = compileInvariant(program!, Array.from({ length: 500 }, () => '@ x').join(' '))
    expect(result.invariant).toBeUndefined()
    expect(result.diagnostics.length).toBe(100)
    expect(result.omittedDiagnostics).toBeGreaterThan(0)
  })

  it('keeps at most 100 diagnostics, says how many more, and cuts long lines around the caret', () => {
    const junk = Array.from({ length: 25_000 }, (_, i) => '@#$`'[i % 4]! + (i % 7 === 0 ? ' x ' : '')).join('')
    const result = compile(junk, { file: 'junk.sm' })
    expect(result.diagnostics.length).toBeLessThanOrEqual(100)
    expect(result.omittedDiagnostics).toBeGreaterThan(0)
    const text = formatDiagnostics(result.diagnostics, junk, result.omittedDiagnostics)
    expect(text).toMatch(/\nand \d+ more diagnostics$/)
    for (const line of text.split('\n')) expect(line.length).toBeLessThan(400)
    const last = formatDiagnostic(result.diagnostics[99]!, junk).split('\n')
    // The caret is under the offending character of the shown window.
    const caretAt = last[2]!.indexOf('^')
    expect(last[1]![caretAt]).toBe(junk[result.diagnostics[99]!.start])
  })
})

describe('fixes to the front end', () => {
  it('the == hint fires', () => {
    expect(errorsOf(command('    if x == 1 -> skip'))).toContain("f.sm:7:10: error: unexpected '=='; write '=' to compare (':=' assigns) [DSL1001]")
  })

  it('typo suggestions find transpositions', () => {
    const errors = errorsOf(machine('  count: int\n  go: command\n    cuont := 1\n    send OK to clinet\n  end go').replace('  var x', '  var count: int init 0\n  x'))
    expect(errors.join('\n')).toContain("did you mean 'count'?")
    expect(errors.join('\n')).toContain("did you mean 'client'?")
  })

  it('Φ ● client = l is accepted like l = Φ ● client', () => {
    expect(errorsOf(command('    if Φ ● client = l -> skip')).filter((e) => e.includes('error'))).toEqual([])
    expect(errorsOf(command('    if l = Φ ● client -> skip')).filter((e) => e.includes('error'))).toEqual([])
  })

  it('string literals obey the value size limit', () => {
    const errors = errorsOf(machine(`  go: command\n    s := "${'a'.repeat(1_048_577)}"\n  end go`))
    expect(errors).toContain('f.sm:7:10: error: string literal of 1048577 characters is too long; values are limited to 1048576 characters [DSL1006]')
  })

  it('`--` always starts a comment, and says so when it follows an operand directly', () => {
    const result = compile(command('    x := x --1\n    send x to client'), { file: 'f.sm' })
    expect(result.diagnostics.filter((d) => d.code !== 'DSL4002').map((d) => `${d.severity} ${d.code}`)).toEqual(['warning DSL1007'])
    const state = result.machine!.init()
    expect(result.machine!.apply(state, { name: 'go' }, { client: 'c', position: 1, time: 0 })).toEqual([{ to: 'c', value: 0 }])
    const minus = compile(command('    x := x - -1\n    send x to client')).machine!
    expect(minus.apply(minus.init(), { name: 'go' }, { client: 'c', position: 1, time: 0 })).toEqual([{ to: 'c', value: 1 }])
  })

  it('reports control characters in strings and comments, and lone surrogates anywhere', () => {
    const errors = errorsOf(command('    s := "a\u0000b" -- c\u0001\n    s := "\ud800"'))
    expect(errors).toContain('f.sm:7:12: error: unexpected control character U+0000 in a string; write it as \\u0000 [DSL1001]')
    expect(errors).toContain('f.sm:7:20: error: unexpected control character U+0001 in a comment [DSL1001]')
    expect(errors).toContain('f.sm:8:11: error: invalid Unicode: a lone surrogate U+D800 (the file is not valid UTF-8 text) [DSL1005]')
  })
})
