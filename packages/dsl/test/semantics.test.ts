import { ErrorCodes, isLockstepError, type StateMachine } from '@lockstep/interface'
import { describe, expect, it } from 'vitest'
import { emitTypeScript } from '../src/index'
import { compileOk, loadGenerated } from './helpers'

type Machine = Omit<StateMachine, 'toJSON'> & { toJSON(state: unknown): Record<string, any> }

/** The interpreted machine and the generated one: every behaviour below must hold for both. */
function bothMachines(source: string): [string, Machine][] {
  const { program, machine } = compileOk(source, 'prog.sm')
  const generated = loadGenerated(emitTypeScript(program))[program.name] as Machine
  return [['interpreter', machine as Machine], ['generated code', generated]]
}

function run(machine: Machine, steps: [string, string, Record<string, unknown>?][]) {
  const state = machine.init()
  const outputs: unknown[] = []
  for (const [client, name, args] of steps) {
    outputs.push(machine.apply(state, args ? { name, args } : { name }, { client, position: 1, time: 0 }))
  }
  return { state: machine.toJSON(state), outputs, raw: state }
}

function failure(machine: Machine, state: unknown, command: object): Error {
  try {
    machine.apply(state, command, { client: 'c1', position: 1, time: 0 })
  } catch (error) {
    return error as Error
  }
  throw new Error('expected the command to fail')
}

const program = `
p: state_machine
  var
    n: int init 0
    xs: list of int init Φ
    m: map of string to int init Φ
    copy: map of string to int init Φ
    s: set of string init Φ
    text: string init "x"
    flag: bool init Φ
    who: client_id init Φ
  seq: command
    n := n + 1
    n := n * 10          -- sees the previous assignment
    xs := xs ● n
    send n to client
  end seq
  first(v: int): command
    if v > 0 -> send POSITIVE to client
    if v > 10 -> send BIG to client   -- never chosen: the first true arm runs
    if v = 0 -> send ZERO to client
  end first
  put(k: string, v: int): command
    m[k] := v
    m[k] := m[k] + 1
  end put
  alias(k: string): command
    copy := m
    m[k] := 99
  end alias
  drop(k: string): command
    m[k] := Φ
  end drop
  get(k: string): command
    send m[k] to client
  end get
  div(a: int, b: int): command
    n := 7
    send OK to client
    n := a / b
    send n % 4 to client
  end div
  big: command
    n := 9007199254740991
    n := n + 1
  end big
  pop: command
    who := client
    send head(xs) to client
    xs := tail(xs)
  end pop
  tell: command
    send OK to who
  end tell
  neg: command
    if flag -> skip
  end neg
  add(x: string): command
    s := s ● x
    text := text ● x
    send len(s) to client
    send len(text) to client
    send x in s to client
    send s to client
  end add
  tag(x: string): command
    s := s ● x
  end tag
  both: command
    send xs ● xs to client
    send xs = Φ to client
    send m to client
  end both
end p
`

for (const [label, machine] of bothMachines(program)) {
  describe(`the semantics (${label})`, () => {
    it('runs the statements of an arm in order, each seeing the previous', () => {
      const { outputs, state } = run(machine, [['c1', 'seq'], ['c2', 'seq']])
      expect(outputs).toEqual([[{ to: 'c1', value: 10 }], [{ to: 'c2', value: 110 }]])
      expect(state.xs).toEqual([10, 110])
    })

    it('runs only the first arm whose guard holds, and nothing when none holds', () => {
      const { outputs } = run(machine, [['c1', 'first', { v: 50 }], ['c1', 'first', { v: 0 }], ['c1', 'first', { v: -5 }]])
      expect(outputs).toEqual([[{ to: 'c1', value: 'POSITIVE' }], [{ to: 'c1', value: 'ZERO' }], []])
    })

    it('updates maps with value semantics: a copy does not see later updates', () => {
      const { state } = run(machine, [['c1', 'put', { k: 'a', v: 1 }], ['c1', 'alias', { k: 'a' }], ['c1', 'put', { k: 'b', v: 5 }]])
      expect(state.copy).toEqual({ a: 2 })
      expect(state.m).toEqual({ a: 99, b: 6 })
    })

    it('removes a key when Φ is stored', () => {
      const { state } = run(machine, [['c1', 'put', { k: 'a', v: 1 }], ['c1', 'put', { k: 'b', v: 1 }], ['c1', 'drop', { k: 'a' }]])
      expect(state.m).toEqual({ b: 2 })
    })

    it('aborts a failing command: error reply, no outputs, state unchanged', () => {
      const state = machine.init()
      machine.apply(state, { name: 'seq' }, { client: 'c1', position: 1, time: 0 })
      const before = JSON.stringify(machine.toJSON(state))
      const error = failure(machine, state, { name: 'div', args: { a: 1, b: 0 } })
      expect(isLockstepError(error) && error.code).toBe(ErrorCodes.COMMAND_FAILED)
      expect(error.message).toBe("prog.sm:40:10: div failed: division by zero in 'a / b'; the command was aborted and the state is unchanged")
      expect(JSON.stringify(machine.toJSON(state))).toBe(before)
      expect((error as unknown as { details: object }).details).toEqual({ command: 'div', file: 'prog.sm', line: 40, column: 10 })
    })

    it('divides truncating toward zero; % takes the sign of the dividend', () => {
      const { outputs } = run(machine, [['c1', 'div', { a: -7, b: 2 }]])
      expect(outputs).toEqual([[{ to: 'c1', value: 'OK' }, { to: 'c1', value: -3 }]])
    })

    it('reports each kind of run-time failure with where and what', () => {
      const state = machine.init()
      expect(failure(machine, state, { name: 'get', args: { k: 'zz' } }).message).toBe(
        `prog.sm:35:10: get failed: the map has no key "zz" in 'm[k]'; the command was aborted and the state is unchanged`)
      expect(failure(machine, state, { name: 'big' }).message).toMatch(/^prog\.sm:45:10: big failed: integer overflow .* in 'n \+ 1'/)
      expect(failure(machine, state, { name: 'pop' }).message).toMatch(/^prog\.sm:49:10: pop failed: head of an empty list in 'head\(xs\)'/)
      expect(failure(machine, state, { name: 'tell' }).message).toMatch(/^prog\.sm:53:16: tell failed: the recipient is Φ in 'who'/)
      expect(failure(machine, state, { name: 'neg' }).message).toMatch(/^prog\.sm:56:8: neg failed: the value is Φ in 'flag'/)
      expect(machine.toJSON(state)).toEqual(machine.toJSON(machine.init()))
    })

    it('treats sets, strings and lists as values', () => {
      const { outputs, state } = run(machine, [['c1', 'add', { x: 'b' }], ['c1', 'add', { x: 'a' }], ['c1', 'add', { x: 'b' }]])
      expect(outputs[2]).toEqual([
        { to: 'c1', value: 2 }, { to: 'c1', value: 4 }, { to: 'c1', value: true }, { to: 'c1', value: ['a', 'b'] },
      ])
      expect(state.s).toEqual(['a', 'b'])
      expect(state.text).toBe('xbab')
    })

    it('sends collections as JSON', () => {
      const { outputs } = run(machine, [['c1', 'seq'], ['c1', 'put', { k: 'k', v: 1 }], ['c1', 'both']])
      expect(outputs[2]).toEqual([{ to: 'c1', value: [10, 10] }, { to: 'c1', value: false }, { to: 'c1', value: { k: 2 } }])
    })

    it('validates arguments before running', () => {
      const state = machine.init()
      const error = failure(machine, state, { name: 'put', args: { k: 'a', v: 1.5 } })
      expect(error.message).toBe('p.put: invalid arguments: /args/v must be an integer within ±9007199254740991, got number 1.5')
      expect((error as unknown as { details: { path: string } }).details.path).toBe('/args/v')
      expect(failure(machine, state, { name: 'put', args: { k: 'a' } }).message).toBe("p.put: invalid arguments: 'put' needs the argument 'v'")
    })

    it('snapshots equal states to equal bytes and restores them', () => {
      const a = run(machine, [['c1', 'put', { k: 'b', v: 1 }], ['c1', 'put', { k: 'a', v: 1 }], ['c1', 'tag', { x: 'z' }], ['c1', 'tag', { x: 'y' }]])
      const b = run(machine, [['c1', 'put', { k: 'a', v: 1 }], ['c1', 'put', { k: 'b', v: 1 }], ['c1', 'tag', { x: 'y' }], ['c1', 'tag', { x: 'z' }]])
      expect(machine.snapshot(a.raw)).toEqual(machine.snapshot(b.raw))
      const restored = machine.restore(machine.snapshot(a.raw))
      expect(machine.toJSON(restored)).toEqual(a.state)
      expect(machine.snapshot(restored)).toEqual(machine.snapshot(a.raw))
      expect(() => machine.restore(new TextEncoder().encode('{"n":1}'))).toThrow(/cannot restore a p snapshot: state variable 'xs' is missing/)
    })
  })
}

describe('interpreter and generated code agree on failure messages', () => {
  it('word for word', () => {
    const [interpretedEntry, generatedEntry] = bothMachines(program)
    const [interpreted, generated] = [interpretedEntry![1], generatedEntry![1]]
    for (const command of [{ name: 'get', args: { k: 'q' } }, { name: 'big' }, { name: 'pop' }, { name: 'tell' }, { name: 'neg' }, { name: 'nope' }, { name: 'put', args: { k: 3 } }, { name: 'div', args: [] }]) {
      expect(failure(generated, generated.init(), command).message).toBe(failure(interpreted, interpreted.init(), command).message)
    }
  })
})
