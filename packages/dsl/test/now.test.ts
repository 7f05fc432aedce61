import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ErrorCodes, type StateMachine } from '@lockstep/interface'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DiagnosticBag, SourceText } from '../src/diagnostics'
import { compile, compileInvariant, emitTypeScript, formatDiagnostic, modelCheck, timeModel } from '../src/index'
import { scan } from '../src/scanner'
import { compileOk, loadGenerated } from './helpers'

const here = dirname(fileURLToPath(import.meta.url))
const leaseSource = readFileSync(join(here, 'fixtures', 'lease.sm'), 'utf8')

type Machine = Omit<StateMachine, 'toJSON'> & { toJSON(state: unknown): Record<string, any> }

function bothMachines(source: string): [string, Machine][] {
  const { program, machine } = compileOk(source, 'lease.sm')
  const generated = loadGenerated(emitTypeScript(program))[program.name] as Machine
  return [['interpreter', machine as Machine], ['generated code', generated]]
}

/** Runs `[client, command, time]` steps; returns every step's outputs (or error message) and the final state. */
function run(machine: Machine, steps: readonly [string, string, number][]) {
  const state = machine.init()
  const outputs = steps.map(([client, name, time], i) => {
    try {
      return machine.apply(state, { name }, { client, position: i + 1, time })
    } catch (error) {
      return (error as Error).message
    }
  })
  return { outputs, state: machine.toJSON(state) }
}

function errorsOf(source: string) {
  return compile(source, { file: 'now.sm' }).diagnostics.map((d) => `${d.line}:${d.column} ${d.severity} ${d.code} ${d.message}`)
}

describe('now in the language', () => {
  it('is a reserved word', () => {
    const bag = new DiagnosticBag(new SourceText('t.sm', ''))
    expect(scan('now nowhere', bag).map((t) => `${t.kind}:${t.value}`)).toEqual(['keyword:now', 'ident:nowhere', 'eof:'])
    expect(errorsOf('m: state_machine\n  var now: int\n  go: command\n    skip\n  end go\nend m\n')).toEqual([
      "2:7 error DSL2001 expected a command ('NAME: command … end NAME') or a 'var' section but found 'now'",
    ])
  })

  it('is an int: it adds, compares and can be stored', () => {
    const { machine } = compileOk('m: state_machine\n  var at: int; later: bool\n  go: command\n    at := now + 5\n    later := now > 10\n    send now to client\n  end go\nend m\n')
    const state = machine.init()
    expect(machine.apply(state, { name: 'go' }, { client: 'c1', position: 1, time: 42 })).toEqual([{ to: 'c1', value: 42 }])
    expect(machine.toJSON(state)).toEqual({ at: 47, later: true })
  })

  it('cannot be assigned: an error at the assignment, with a caret', () => {
    const source = 'm: state_machine\n  var x: int\n  go: command\n    now := 5\n    x := now\n  end go\nend m\n'
    const { diagnostics } = compile(source, { file: 'now.sm' })
    expect(diagnostics).toEqual([
      expect.objectContaining({ line: 4, column: 5, length: 3, severity: 'error', code: 'DSL3022',
        message: "cannot assign to 'now': it is the agreed time of the command; store it in a state variable instead" }),
    ])
    expect(formatDiagnostic(diagnostics[0]!, source)).toBe(
      "now.sm:4:5: error: cannot assign to 'now': it is the agreed time of the command; store it in a state variable instead [DSL3022]\n    now := 5\n    ^^^")
  })

  it('has no value in an init expression or an invariant', () => {
    expect(errorsOf('m: state_machine\n  var x: int init now + 1\n  go: command\n    x := now\n  end go\nend m\n')).toEqual([
      "2:19 error DSL3023 'now' has no value in an init expression; initial values are constants",
    ])
    const { program } = compileOk(leaseSource, 'lease.sm')
    const invariant = compileInvariant(program, 'expires > now')
    expect(invariant.invariant).toBeUndefined()
    expect(invariant.diagnostics.map((d) => `${d.line}:${d.column} ${d.code} ${d.message}`)).toEqual([
      "1:11 DSL3023 'now' has no value in an invariant; invariants read state variables only",
    ])
    expect(() => modelCheck(compileOk(leaseSource).machine, { clients: 1, depth: 1, invariants: ['now >= 0'] })).toThrow(/'now' has no value in an invariant/)
  })

  it('is known to the guard analysis: overlaps are shown with a value of now, exclusive guards pass', () => {
    const overlapping = 'm: state_machine\n  var until: int init 0\n  go: command\n    if now < 10 -> until := now\n    if now > 3 -> skip\n  end go\nend m\n'
    expect(errorsOf(overlapping)).toEqual([
      '5:8 warning DSL4001 this guard and the guard on line 4 can both hold (for example when now = 9); only the first of the two arms runs',
    ])
    const unreachable = 'm: state_machine\n  var until: int init 0\n  go: command\n    if now >= until -> until := now\n    if until <= now -> skip\n  end go\nend m\n'
    expect(errorsOf(unreachable)).toEqual([
      '5:8 error DSL3015 this arm can never run: the earlier arm on line 4 takes every case where its guard holds',
    ])
    expect(compile(leaseSource).diagnostics).toEqual([])
  })
})

for (const [label, machine] of bothMachines(leaseSource)) {
  describe(`a lease machine (${label})`, () => {
    it('grants a free lock and refuses others while the lease runs', () => {
      const { outputs, state } = run(machine, [['c1', 'acquire', 1000], ['c2', 'acquire', 1050], ['c2', 'acquire', 1099]])
      expect(outputs).toEqual([[{ to: 'c1', value: 1 }], [{ to: 'c2', value: 'BUSY' }], [{ to: 'c2', value: 'BUSY' }]])
      expect(state).toMatchObject({ holder: 'c1', since: 1000, expires: 1100 })
    })

    it('lets another client take the lock over once the lease expired (now >= expires)', () => {
      const { outputs, state } = run(machine, [['c1', 'acquire', 1000], ['c2', 'acquire', 1100], ['c1', 'release', 1150]])
      expect(outputs).toEqual([[{ to: 'c1', value: 1 }], [{ to: 'c2', value: 2 }], [{ to: 'c1', value: 'NOT_HOLDER' }]])
      expect(state).toEqual({ holder: 'c2', since: 1100, expires: 1200, token: 2, handovers: 1 })
    })

    it('releases for the holder within its lease; a renewal extends the lease', () => {
      const { outputs, state } = run(machine, [['c1', 'acquire', 0], ['c1', 'acquire', 90], ['c2', 'acquire', 150], ['c1', 'release', 189], ['c2', 'acquire', 189]])
      expect(outputs).toEqual([[{ to: 'c1', value: 1 }], [{ to: 'c1', value: 2 }], [{ to: 'c2', value: 'BUSY' }], [{ to: 'c1', value: 'OK' }], [{ to: 'c2', value: 3 }]])
      expect(state).toEqual({ holder: 'c2', since: 189, expires: 289, token: 3, handovers: 0 })
    })

    it('does not release for a holder whose lease expired', () => {
      const { outputs, state } = run(machine, [['c1', 'acquire', 0], ['c1', 'release', 100]])
      expect(outputs).toEqual([[{ to: 'c1', value: 1 }], [{ to: 'c1', value: 'NOT_HOLDER' }]])
      expect(state.holder).toBe('c1')
    })

    it('fails a command that reads now when the agreed time is not an integer, leaving the state unchanged', () => {
      const { outputs, state } = run(machine, [['c1', 'acquire', 1.5]])
      expect(outputs).toEqual([
        "lease.sm:19:34: acquire failed: the agreed time (ApplyContext.time) is not an integer number of milliseconds in 'now'; the command was aborted and the state is unchanged",
      ])
      expect(state).toEqual({ holder: null, since: null, expires: null, token: 0, handovers: 0 })
    })
  })
}

describe('interpreter and generated code agree on now', () => {
  it('on the lease machine with random non-decreasing times (fast-check, fixed seed)', () => {
    const [[, interpreted], [, generated]] = bothMachines(leaseSource) as [[string, Machine], [string, Machine]]
    const step = fc.record({ client: fc.constantFrom('c1', 'c2', 'c3'), name: fc.constantFrom('acquire', 'release'), elapsed: fc.constantFrom(0, 1, 50, 99, 100, 101, 250) })
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 41 }), fc.array(step, { maxLength: 40 }), (start, steps) => {
        let time = start
        const timed = steps.map(({ client, name, elapsed }) => {
          time += elapsed
          return [client, name, time] as [string, string, number]
        })
        const a = run(interpreted, timed)
        const b = run(generated, timed)
        expect(b).toEqual(a)
        expect(Buffer.from(generated.snapshot(generated.restore(interpreted.snapshot(interpreted.init())))).toString()).toBe(Buffer.from(interpreted.snapshot(interpreted.init())).toString())
      }),
      { seed: 12, numRuns: 200 },
    )
  })

  it('the generated command functions take the time from the context', () => {
    const code = emitTypeScript(compileOk(leaseSource).program)
    expect(code).toContain('function $command_acquire(state: LeaseState, client: ClientId, now: number, _args: readonly unknown[])')
    expect(code).toContain('return $command_acquire(state, ctx.client, ctx.time, $args(')
    // A machine that never reads now does not name it.
    expect(emitTypeScript(compileOk('m: state_machine\n  var x: int\n  go: command\n    x := 1\n  end go\nend m\n').program)).toContain('_now: number')
  })
})

describe('the model checker and now', () => {
  const { machine, program } = compileOk(leaseSource, 'lease.sm')

  it('by default lets 0, 1 or any positive constant of the commands that read now pass, up to twice the largest', () => {
    expect(timeModel(program)).toEqual({ startTime: 0, steps: [0, 1, 100], maxTime: 200 })
    expect(timeModel(compileOk('m: state_machine\n  var x: int\n  go: command\n    x := 7\n  end go\nend m\n').program)).toBeUndefined()
  })

  it('finds a violation that needs a lease to expire, with the time of every step', () => {
    const result = modelCheck(machine, { clients: 2, depth: 6, invariants: ['handovers = 0'] })
    expect(result.ok).toBe(false)
    expect(result.violation!.trace.map((s) => [s.line, s.time])).toEqual([['c1 acquire', 0], ['c2 acquire', 100]])
    expect(result.violation!.state).toEqual({ holder: 'c2', since: 100, expires: 200, token: 2, handovers: 1 })
    expect(result.time).toEqual({ startTime: 0, steps: [0, 1, 100], maxTime: 200 })
  })

  it('does not find it when time cannot pass far enough (so time really is explored)', () => {
    const result = modelCheck(machine, { clients: 2, depth: 8, invariants: ['handovers = 0'], timeSteps: [0, 1] })
    expect(result).toMatchObject({ ok: true, depthReached: 8, time: { steps: [0, 1], maxTime: 2 } })
    const later = modelCheck(machine, { clients: 2, depth: 6, invariants: ['handovers = 0'], timeSteps: [0, 30], startTime: 5000, maxTime: 120 })
    expect(later.violation!.trace.map((s) => [s.line, s.time])).toEqual([['c1 acquire', 5000], ['c2 acquire', 5030], ['c2 acquire', 5060], ['c2 acquire', 5090], ['c2 acquire', 5120]])
  })

  it('proves a correct lease spec', () => {
    const result = modelCheck(machine, { clients: 2, depth: 8, invariants: ['holder = Φ or expires = since + 100', 'handovers < token or handovers = 0', 'token >= handovers'] })
    expect(result).toMatchObject({ ok: true, depthReached: 8, truncated: false })
    expect(result.statesExplored).toBeGreaterThan(1000)
  })

  it('gives every command one time, never decreasing along a trace', () => {
    const source = `clock: state_machine
  var last: int; first: int; second: int; backwards: bool init false
  tick: command
    backwards := backwards or (last ≠ Φ and now < last)
    first := now
    second := now
    last := now
  end tick
end clock
`
    const result = modelCheck(compileOk(source).machine, { clients: 2, depth: 6, invariants: ['not backwards', 'first = second'], timeSteps: [0, 1, 3], maxTime: 9 })
    // Every time 0 … 9 is reached (last = now), plus the initial state.
    expect(result).toMatchObject({ ok: true, exhausted: true, statesExplored: 11 })
    // The same invariants do catch a clock whose second reading is one later.
    const skewed = compileOk(source.replace('second := now', 'second := now + 1')).machine
    expect(modelCheck(skewed, { clients: 1, depth: 2, invariants: ['not backwards', 'first = second'] }).violation!.trace.map((s) => s.time)).toEqual([0])
  })

  it('lets time pass only before commands that read now, so other commands do not multiply states', () => {
    const source = 'm: state_machine\n  var n: int init 0; last: int\n  stamp: command\n    last := now\n  end stamp\n  bump: command\n    if n < 2 -> n := n + 1\n  end bump\nend m\n'
    const result = modelCheck(compileOk(source).machine, { clients: 1, depth: 30, invariants: [], timeSteps: [0, 5], maxTime: 10 })
    // n in {0, 1, 2} times (last = Φ at time 0, or last = the time, 0, 5 or 10): 3 × 4 states.
    expect(result).toMatchObject({ ok: true, exhausted: true, statesExplored: 12 })
  })

  it('rejects bad time options with INVALID_CONFIG', () => {
    const bad = (options: object) => () => modelCheck(machine, { clients: 1, depth: 1, invariants: [], ...options })
    expect(bad({ timeSteps: [] })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_CONFIG, message: 'timeSteps must hold at least one step (0 lets time stand still)' }))
    expect(bad({ timeSteps: [0, -1] })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_CONFIG, message: 'a time step must be a whole number of milliseconds ≥ 0, got -1' }))
    expect(bad({ timeSteps: [0.5] })).toThrow(/a time step must be a whole number/)
    expect(bad({ maxTime: -3 })).toThrow(/maxTime must be a whole number of milliseconds ≥ 0, got -3/)
    expect(bad({ startTime: 1.5 })).toThrow(/startTime must be a whole number of milliseconds, got 1.5/)
  })
})
