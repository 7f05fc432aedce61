import { mutex } from '@lockstep/machines'
import { describe, expect, it } from 'vitest'
import { SummaryLimits, emitTypeScript, type DslMachine } from '../src/index'
import { compileOk, loadGenerated, readSpec } from './helpers'

// A DSL machine's summary (StateMachine.summary: what a replica's GET /status reports): its state variables,
// collections cut to their first 20 elements plus a count, the whole within 4096 characters of JSON. The
// interpreter's machine and the generated TypeScript give the same summary, character for character.

type Machine = Pick<DslMachine, 'init' | 'apply' | 'summary'>

/** The interpreted and the generated machine of `source`. */
function both(source: string, file = 'test.sm'): [Machine, Machine] {
  const { program, machine } = compileOk(source, file)
  const generated = loadGenerated(emitTypeScript(program))[/^export const (\S+):/m.exec(emitTypeScript(program))![1]!] as Machine
  return [machine, generated]
}

/** Runs `steps` on both machines and returns their summaries, checked equal as JSON text. */
function summaries(machines: [Machine, Machine], steps: readonly [string, { name: string; args?: object }, number?][]): unknown {
  const texts = machines.map((machine) => {
    const state = machine.init()
    steps.forEach(([client, command, time], i) => machine.apply(state, command as never, { client, position: i + 1, time: time ?? 0 }))
    return JSON.stringify(machine.summary(state))
  })
  expect(texts[1], 'generated vs interpreted').toBe(texts[0])
  expect(texts[0]!.length).toBeLessThanOrEqual(SummaryLimits.jsonChars)
  return JSON.parse(texts[0]!) as unknown
}

const big = `big: state_machine
  var
    xs: list of int init Φ
    names: set of string init Φ
    nested: map of int to list of int init Φ
    label: string init ""
    count: int init 0
  add(n: int, t: string): command
    if true ->
      xs := xs ● n; names := names ● t; nested[n] := xs; label := label ● t; count := count + 1
  end add
end big
`

describe('the summary of a DSL machine', () => {
  it('the lock service (leased-mutex.sm): the holder, its lease, the queue in order and the last token', () => {
    const machines = both(readSpec('leased-mutex.sm'), 'leased-mutex.sm')
    const summary = summaries(machines, [
      ['alice', { name: 'acquire', args: { ttl: 0 } }, 1000],
      ['bob', { name: 'acquire', args: { ttl: 500 } }, 1001],
      ['carol', { name: 'acquire', args: { ttl: 0 } }, 1002],
    ])
    expect(summary).toEqual({ user: 'alice', expires: 11_000, waiting: { count: 2, items: ['bob', 'carol'] }, ttls: { count: 2, items: { bob: 500, carol: 10_000 } }, token: 1 })
    expect(summaries(machines, [])).toEqual({ user: null, expires: 0, waiting: { count: 0, items: [] }, ttls: { count: 0, items: {} }, token: 0 })
  })

  it('the seed mutex in the DSL summarises as the built-in mutex does', () => {
    const machines = both(readSpec('seed-mutex.sm'), 'seed-mutex.sm')
    const steps: [string, { name: string }][] = [['c1', { name: 'acquire' }], ['c2', { name: 'acquire' }], ['c3', { name: 'acquire' }], ['c1', { name: 'release' }]]
    const state = mutex.init()
    steps.forEach(([client, command], i) => mutex.apply(state, command as never, { client, position: i + 1, time: 0 }))
    expect(summaries(machines, steps)).toEqual(mutex.summary!(state))
    expect(mutex.summary!(state)).toEqual({ user: 'c2', waiting: { count: 1, items: ['c3'] } })
  })

  it('shows the first 20 elements of each collection (lists in order, sets and maps in JSON order) and its count, nested ones too', () => {
    const steps = Array.from({ length: 50 }, (_, i): [string, { name: string; args: object }] => ['c1', { name: 'add', args: { n: 49 - i, t: `n${String(49 - i).padStart(2, '0')}` } }])
    const summary = summaries(both(big), steps) as Record<string, { count: number; items: unknown }>
    expect(summary.xs).toEqual({ count: 50, items: Array.from({ length: 20 }, (_, i) => 49 - i) })
    expect(summary.names).toEqual({ count: 50, items: Array.from({ length: 20 }, (_, i) => `n${String(i).padStart(2, '0')}`) })
    // Map keys are taken in JSON order, as strings ('0', '1', '10', ..., '19', '2', '20', ...), while the 400
    // elements in all last: xs and names take 40, each key of nested 1 + 20 for its list; the 18th gets 2.
    const items = summary.nested!.items as Record<string, { count: number; items: number[] }>
    expect(Object.keys(items).sort()).toEqual(Array.from({ length: 50 }, (_, i) => String(i)).sort().slice(0, 18))
    expect(summary.nested!.count).toBe(50)
    // nested[0] was set last, to the whole list: cut to its first 20 too.
    expect(items['0']).toEqual({ count: 50, items: Array.from({ length: 20 }, (_, i) => 49 - i) })
    expect(items['24']).toEqual({ count: 26, items: [49, 48] })
    expect(summary.count).toBe(50)
  })

  it('cuts long strings at 200 characters, and stays within 4096 characters of JSON: items go first, from the last variable back', () => {
    const long = 'x'.repeat(150)
    const steps = Array.from({ length: 30 }, (_, i): [string, { name: string; args: object }] => ['c1', { name: 'add', args: { n: i, t: `${String(i).padStart(2, '0')}${long}` } }])
    const summary = summaries(both(big), steps) as Record<string, { count: number; items: unknown[] }>
    // label, all the names one after the other, is cut.
    expect(summary.label).toBe(`00${'x'.repeat(150)}01${'x'.repeat(46)}…`)
    // names (20 strings of 152 characters) and nested (20 lists of 20 ints) do not both fit: nested, declared
    // after names, loses its items; xs and names keep theirs.
    expect(summary.xs!.items).toHaveLength(20)
    expect(summary.names).toEqual({ count: 30, items: Array.from({ length: 20 }, (_, i) => `${String(i).padStart(2, '0')}${long}`) })
    expect(summary.nested).toEqual({ count: 30, items: {} })
    expect(summary.count).toBe(30)
  })

  it('leaves out the last variables, saying how many, when even their scalars do not fit', () => {
    const wide = (count: number) => {
      const vars = Array.from({ length: count }, (_, i) => `    s${i}: string init Φ`).join('\n')
      const assignments = Array.from({ length: count }, (_, i) => `s${i} := t`).join('; ')
      const source = `wide: state_machine\n  var\n${vars}\n  put(t: string): command\n    if true ->\n      ${assignments}\n  end put\nend wide\n`
      return summaries(both(source), [['c1', { name: 'put', args: { t: 'y'.repeat(500) } }]]) as Record<string, unknown>
    }
    // 19 variables of 200 characters (and '…') fit in 4096 characters; from 20 on, the last ones are left out.
    for (const count of [19, 20, 21, 30]) {
      const summary = wide(count)
      const shown = Object.keys(summary).filter((key) => key !== '$omitted')
      expect(shown, `${count} variables`).toEqual(Array.from({ length: Math.min(count, 19) }, (_, i) => `s${i}`))
      expect(summary.$omitted, `${count} variables`).toBe(count > 19 ? count - 19 : undefined)
    }
  })

  it('shows at most 400 elements in all, however deep the nesting', () => {
    const source = `deep: state_machine
  var
    grid: list of list of list of int init Φ
    row: list of list of int init Φ
    cell: list of int init Φ
  grow(n: int): command
    if true ->
      cell := cell ● n ● n ● n ● n ● n ● n ● n ● n ● n ● n ● n ● n ● n ● n ● n ● n ● n ● n ● n ● n ● n; row := Φ; row := row ● cell; grid := grid ● row
  end grow
end deep
`
    const steps = Array.from({ length: 25 }, (_, i): [string, { name: string; args: object }] => ['c1', { name: 'grow', args: { n: i } }])
    const summary = summaries(both(source), steps) as { grid: { count: number; items: { count: number; items: { count: number; items: number[] }[] }[] } }
    expect(summary.grid.count).toBe(25)
    let shown = 0
    for (const row of summary.grid.items) {
      shown++
      for (const cell of row.items) shown += 1 + cell.items.length
    }
    expect(shown).toBeLessThanOrEqual(SummaryLimits.itemsInAll)
  })
})
