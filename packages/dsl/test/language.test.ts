import { describe, expect, it } from 'vitest'
import { DiagnosticBag, SourceText } from '../src/diagnostics'
import { compile, formatDiagnostic } from '../src/index'
import { scan } from '../src/scanner'
import { compileOk } from './helpers'

function tokens(text: string) {
  const bag = new DiagnosticBag(new SourceText('t.sm', text))
  return scan(text, bag).map((t) => `${t.kind}:${t.value}`)
}

const run = (source: string, steps: [string, string, Record<string, unknown>?][]) => {
  const { machine } = compileOk(source)
  const state = machine.init()
  const outputs = steps.map(([client, name, args]) => machine.apply(state, args ? { name, args } : { name }, { client, position: 1, time: 0 }))
  return { outputs, state: machine.toJSON(state) }
}

describe('the scanner', () => {
  it('reads Unicode symbols as their ASCII spellings', () => {
    expect(tokens('Φ ● ∘ ≠ → ≤ ≥')).toEqual(['keyword:nil', 'punct:++', 'punct:++', 'punct:!=', 'punct:->', 'punct:<=', 'punct:>=', 'eof:'])
    expect(tokens('nil ++ != -> <= >= :=')).toEqual(['keyword:nil', 'punct:++', 'punct:!=', 'punct:->', 'punct:<=', 'punct:>=', 'punct::=', 'eof:'])
  })

  it('tells atoms, names and keywords apart, and skips comments', () => {
    expect(tokens('OK NOT_HOLDER x2 waiting client -- a comment := Φ\nend')).toEqual([
      'atom:OK', 'atom:NOT_HOLDER', 'ident:x2', 'ident:waiting', 'keyword:client', 'keyword:end', 'eof:',
    ])
  })

  it('decodes string escapes', () => {
    expect(tokens('"a\\tb\\"c\\u0041"')).toEqual(['string:a\tb"cA', 'eof:'])
  })

  it('marks tokens that start a line (statements may end at line breaks)', () => {
    const bag = new DiagnosticBag(new SourceText('t.sm', ''))
    expect(scan('a b\nc\r\nd', bag).map((t) => t.newlineBefore)).toEqual([false, false, true, true, true])
  })
})

describe('the grammar', () => {
  it('separates statements by ; or line breaks, and lets expressions span lines', () => {
    const source = `m: state_machine
  var x: int init 0; y: int init 0
  go: command
    if x = 0 and
       y = 0 -> x := 1; y := x + 1
             send x +
               y to client
  end go
end m
`
    expect(run(source, [['c1', 'go']]).outputs).toEqual([[{ to: 'c1', value: 3 }]])
  })

  it('accepts CRLF line breaks and a byte order mark', () => {
    const source = '\ufeffm: state_machine\r\n  var x: int init 1\r\n  go: command\r\n    send x to client\r\n  end go\r\nend m\r\n'
    expect(run(source, [['c1', 'go']]).outputs).toEqual([[{ to: 'c1', value: 1 }]])
  })

  it('binds operators by precedence: not < comparison < append < + < * < unary', () => {
    const source = `m: state_machine
  var xs: list of int init Φ
  go(a: int): command
    xs := xs ● a + 2 * 3 ● -a
    send not a + 1 in xs to client
    send 7 % 3 - 10 / 4 to client
  end go
end m
`
    expect(run(source, [['c1', 'go', { a: 1 }]]).outputs).toEqual([[{ to: 'c1', value: true }, { to: 'c1', value: -1 }]])
    expect(run(source, [['c1', 'go', { a: 1 }]]).state).toEqual({ xs: [7, -1] })
  })

  it('short-circuits and / or, so a guard can test before it reads', () => {
    const source = `m: state_machine
  var xs: list of client_id init Φ
  go: command
    if xs ≠ Φ and head(xs) = client -> send FIRST to client
    if xs = Φ or head(xs) ≠ client -> xs := xs ● client
  end go
end m
`
    expect(run(source, [['c1', 'go'], ['c1', 'go'], ['c2', 'go']]).outputs).toEqual([[], [{ to: 'c1', value: 'FIRST' }], []])
  })

  it('uses the Φ of the right type: empty collections, null scalars', () => {
    const source = `m: state_machine
  var
    s: set of int init Φ
    m: map of string to list of int init Φ
    name: string
  go: command
    send s = Φ to client
    send name = Φ to client
    m["a"] := Φ ● 1
    send m to client
  end go
end m
`
    expect(run(source, [['c1', 'go']]).outputs).toEqual([[{ to: 'c1', value: true }, { to: 'c1', value: true }, { to: 'c1', value: { a: [1] } }]])
  })
})

describe('diagnostics', () => {
  it('are data with file, line, column, length, severity, code and message; every error in one run', () => {
    const source = 'm: state_machine\n  var x: int init 0\n  go: command\n    x := y\n    x := "s"\n  end go\nend m\n'
    const { diagnostics, machine } = compile(source, { file: 'm.sm' })
    expect(machine).toBeUndefined()
    expect(diagnostics).toEqual([
      { file: 'm.sm', start: 60, length: 1, line: 4, column: 10, severity: 'error', code: 'DSL3001', message: "unknown name 'y'" },
      { file: 'm.sm', start: 71, length: 3, line: 5, column: 10, severity: 'error', code: 'DSL3006', message: "cannot assign string to 'x' of type int" },
    ])
  })

  it('format as FILE:LINE:COL, the source line and a caret line that keeps tabs', () => {
    const source = 'm: state_machine\n\tvar x: int init 0\n\tgo: command\n\t\tx := zz\n\tend go\nend m\n'
    const [diagnostic] = compile(source, { file: 'tabs.sm' }).diagnostics
    expect(formatDiagnostic(diagnostic!, source)).toBe("tabs.sm:4:8: error: unknown name 'zz' [DSL3001]\n\t\tx := zz\n\t\t     ^^")
  })

  it('warn about guards that overlap, with an example, but still compile', () => {
    const source = 'm: state_machine\n  var x: int init 0\n  go(a: int): command\n    if a > 1 -> x := 1\n    if a < 3 -> x := 2\n  end go\nend m\n'
    const result = compile(source)
    expect(result.machine).toBeDefined()
    expect(result.diagnostics.map((d) => [d.severity, d.code, d.message])).toEqual([
      ['warning', 'DSL4001', 'this guard and the guard on line 4 can both hold (for example when a = 2); only the first of the two arms runs'],
    ])
  })

  it('do not warn about guards that exclude each other', () => {
    const source = 'm: state_machine\n  var x: int init 0\n  go(a: int): command\n    if a > 1 -> x := 1\n    if a <= 1 -> x := 2\n    if x = 5 and a = 1 -> skip\n  end go\nend m\n'
    expect(compile(source).diagnostics).toEqual([
      expect.objectContaining({ code: 'DSL3015', message: 'this arm can never run: the earlier arms on lines 4, 5 take every case where its guard holds' }),
    ])
  })
})
