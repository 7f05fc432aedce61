import { describe, expect, it } from 'vitest'
import { checkLinearizability, registerModel, type Operation } from '../src/lincheck/index'
import { isValidLinearization, op } from './lincheck-helpers'

type H = Operation[]

/** Check against the register model, asking for a witness. */
function check(history: H) {
  return checkLinearizability(history, registerModel, { witness: true })
}

describe('register model: linearizable histories', () => {
  it('accepts the empty history', () => {
    const result = check([])
    expect(result).toMatchObject({ ok: true, verdict: 'linearizable', operations: 0, partitions: 1 })
  })

  it('accepts a sequential write then read, and the initial null', () => {
    const history: H = [
      op('a', { f: 'read' }, { value: null }, 0, 1),
      op('a', { f: 'write', value: 1 }, {}, 2, 3),
      op('b', { f: 'read' }, { value: 1 }, 4, 5),
    ]
    const result = check(history)
    expect(result.ok).toBe(true)
    expect(result.witness).toEqual([[0, 1, 2]])
  })

  it('reorders concurrent operations: a read inside a write may see the old or the new value', () => {
    const write = op('a', { f: 'write', value: 1 }, {}, 0, 100)
    expect(check([write, op('b', { f: 'read' }, { value: 1 }, 10, 20)]).ok).toBe(true)
    expect(check([write, op('b', { f: 'read' }, { value: null }, 10, 20)]).ok).toBe(true)
  })

  it('orders two overlapping writes either way to explain a later read', () => {
    const writes: H = [op('a', { f: 'write', value: 1 }, {}, 0, 10), op('b', { f: 'write', value: 2 }, {}, 5, 15)]
    expect(check([...writes, op('c', { f: 'read' }, { value: 1 }, 20, 30)]).ok).toBe(true)
    expect(check([...writes, op('c', { f: 'read' }, { value: 2 }, 20, 30)]).ok).toBe(true)
  })

  it('must linearize a later-called operation first when an earlier one returns later', () => {
    // The read is called after the cas but must come before it: the cas saw 1 only after w(1),
    // and the read, concurrent with both, saw the initial null.
    const history: H = [
      op('a', { f: 'cas', from: 1, to: 2 }, { ok: true }, 0, 50),
      op('b', { f: 'read' }, { value: null }, 5, 10),
      op('c', { f: 'write', value: 1 }, {}, 1, 20),
      op('d', { f: 'read' }, { value: 2 }, 60, 70),
    ]
    const result = check(history)
    expect(result.ok).toBe(true)
    expect(isValidLinearization(history, result.witness![0]!, registerModel, true)).toBe(true)
  })

  it('compares values by JSON equality, whatever the key order', () => {
    const history: H = [
      op('a', { f: 'write', value: { a: 1, b: [1, { c: null }] } }, {}, 0, 1),
      op('b', { f: 'read' }, { value: { b: [1, { c: null }], a: 1 } }, 2, 3),
      op('b', { f: 'cas', from: { b: [1, { c: null }], a: 1 }, to: 'x' }, { ok: true }, 4, 5),
      op('b', { f: 'read' }, { value: 'x' }, 6, 7),
    ]
    expect(check(history).ok).toBe(true)
  })

  it('treats operations that touch (return time = call time) as concurrent', () => {
    const history: H = [op('a', { f: 'write', value: 1 }, {}, 0, 10), op('b', { f: 'read' }, { value: null }, 10, 20)]
    expect(check(history).ok).toBe(true)
  })
})

describe('register model: violations', () => {
  it('rejects the classic stale read and explains it', () => {
    const history: H = [
      op('a', { f: 'write', value: 1 }, {}, 0, 10),
      op('b', { f: 'read' }, { value: null }, 20, 30),
    ]
    const result = check(history)
    expect(result).toMatchObject({ ok: false, verdict: 'not-linearizable' })
    const violation = result.violation!
    expect(violation.partition).toBeNull()
    expect(violation.prefix.map((p) => p.index)).toEqual([0])
    expect(violation.prefix[0]!.description).toBe('write 1')
    expect(violation.failedOperation.index).toBe(1)
    expect(violation.failedOperation.description).toBe('read -> null')
    expect(violation.stateAfterPrefix).toBe('value 1')
    expect(violation.message).toContain('operation #1 (client b, read -> null)')
    expect(result.witness).toBeUndefined()
  })

  it('rejects a read of a value never written', () => {
    const history: H = [op('a', { f: 'write', value: 1 }, {}, 0, 10), op('b', { f: 'read' }, { value: 3 }, 0, 10)]
    expect(check(history).ok).toBe(false)
  })

  it('rejects reads that see two concurrent writes in both orders', () => {
    const history: H = [
      op('a', { f: 'write', value: 1 }, {}, 0, 100),
      op('b', { f: 'write', value: 2 }, {}, 0, 100),
      op('c', { f: 'read' }, { value: 1 }, 10, 20),
      op('c', { f: 'read' }, { value: 2 }, 30, 40),
      op('c', { f: 'read' }, { value: 1 }, 50, 60),
    ]
    const result = check(history)
    expect(result.ok).toBe(false)
    expect(result.violation!.failedOperation.index).toBe(4)
    expect(result.violation!.prefix.map((p) => p.index)).toEqual([0, 2, 1, 3])
  })

  it('rejects a read that goes back to an older value after a newer one was read', () => {
    const history: H = [
      op('a', { f: 'write', value: 1 }, {}, 0, 10),
      op('a', { f: 'write', value: 2 }, {}, 20, 30),
      op('b', { f: 'read' }, { value: 2 }, 25, 35),
      op('c', { f: 'read' }, { value: 1 }, 40, 50),
    ]
    expect(check(history).ok).toBe(false)
  })
})

describe('register model: compare-and-set', () => {
  const write1 = op('a', { f: 'write', value: 1 }, {}, 0, 10)

  it('accepts a successful cas from the current value', () => {
    const history: H = [write1, op('b', { f: 'cas', from: 1, to: 2 }, { ok: true }, 20, 30), op('c', { f: 'read' }, { value: 2 }, 40, 50)]
    expect(check(history).ok).toBe(true)
  })

  it('rejects a successful cas from a value the register never held', () => {
    expect(check([write1, op('b', { f: 'cas', from: 5, to: 2 }, { ok: true }, 20, 30)]).ok).toBe(false)
  })

  it('rejects a failed cas when the register held `from` the whole time', () => {
    expect(check([write1, op('b', { f: 'cas', from: 1, to: 2 }, { ok: false }, 20, 30)]).ok).toBe(false)
  })

  it('accepts a failed cas that overlaps the write that made it possible', () => {
    const history: H = [op('a', { f: 'write', value: 1 }, {}, 0, 30), op('b', { f: 'cas', from: 1, to: 2 }, { ok: false }, 10, 20)]
    expect(check(history).ok).toBe(true)
  })

  it('lets a cas with an unknown outcome succeed or fail, whichever a later read needs', () => {
    const cas = op('b', { f: 'cas', from: 1, to: 2 }, null, 20, 30)
    expect(check([write1, cas, op('c', { f: 'read' }, { value: 2 }, 100, 110)]).ok).toBe(true)
    expect(check([write1, cas, op('c', { f: 'read' }, { value: 1 }, 100, 110)]).ok).toBe(true)
    expect(check([write1, cas, op('c', { f: 'read' }, { value: 3 }, 100, 110)]).ok).toBe(false)
  })

  it('rejects two successful cas from the same value with no write between', () => {
    const history: H = [
      write1,
      op('b', { f: 'cas', from: 1, to: 2 }, { ok: true }, 20, 30),
      op('c', { f: 'cas', from: 1, to: 3 }, { ok: true }, 20, 30),
    ]
    expect(check(history).ok).toBe(false)
  })
})

describe('register model: unknown outcomes and operations that never returned', () => {
  it('an unknown write may have taken effect, or not', () => {
    const write = op('a', { f: 'write', value: 1 }, null, 0, 10)
    expect(check([write, op('b', { f: 'read' }, { value: 1 }, 20, 30)]).ok).toBe(true)
    expect(check([write, op('b', { f: 'read' }, { value: null }, 20, 30)]).ok).toBe(true)
  })

  it('an unknown write may take effect after its client gave up on it', () => {
    const history: H = [
      op('a', { f: 'write', value: 1 }, null, 0, 10),
      op('b', { f: 'read' }, { value: null }, 20, 30),
      op('b', { f: 'read' }, { value: 1 }, 40, 50),
    ]
    const result = check(history)
    expect(result.ok).toBe(true)
  })

  it('an unknown write takes effect at most once', () => {
    const history: H = [
      op('a', { f: 'write', value: 1 }, null, 0, 10),
      op('c', { f: 'write', value: 2 }, {}, 0, 10),
      op('b', { f: 'read' }, { value: 1 }, 20, 30),
      op('b', { f: 'read' }, { value: 2 }, 40, 50),
      op('b', { f: 'read' }, { value: 1 }, 60, 70),
    ]
    expect(check(history).ok).toBe(false)
  })

  it('an unknown write cannot take effect before it was called', () => {
    const history: H = [op('b', { f: 'read' }, { value: 1 }, 0, 10), op('a', { f: 'write', value: 1 }, null, 20, 30)]
    expect(check(history).ok).toBe(false)
  })

  it('a write that never returned may take effect at any later time, or never', () => {
    const write = op('a', { f: 'write', value: 7 }, null, 0, null)
    expect(check([write, op('b', { f: 'read' }, { value: null }, 100, 110), op('b', { f: 'read' }, { value: 7 }, 1000, 1010)]).ok).toBe(true)
    expect(check([write, op('b', { f: 'read' }, { value: null }, 100, 110)]).ok).toBe(true)
    expect(check([write, op('b', { f: 'read' }, { value: 8 }, 100, 110)]).ok).toBe(false)
  })

  it('a read with an unknown output constrains nothing', () => {
    const history: H = [op('a', { f: 'write', value: 1 }, {}, 0, 10), op('b', { f: 'read' }, null, 20, 30), op('b', { f: 'read' }, null, 20, null)]
    expect(check(history).ok).toBe(true)
  })

  it('still reports a stale read among unknown operations', () => {
    const history: H = [
      op('x', { f: 'write', value: 9 }, null, 0, null),
      op('a', { f: 'write', value: 1 }, {}, 0, 10),
      op('b', { f: 'read' }, { value: null }, 20, 30),
    ]
    const result = check(history)
    expect(result.ok).toBe(false)
    expect(result.violation!.failedOperation.index).toBe(2)
  })
})

describe('register model: descriptions', () => {
  it('describes operations', () => {
    expect(registerModel.describeOperation!(op('a', { f: 'cas', from: null, to: { z: 1, a: 2 } }, { ok: false }, 0, 1))).toBe('cas null -> {"a":2,"z":1} = failed')
    expect(registerModel.describeOperation!(op('a', { f: 'write', value: 'v' }, null, 0, 1))).toBe('write "v" -> ?')
    expect(registerModel.describeOperation!(op('a', { f: 'read' }, null, 0, 1))).toBe('read -> ?')
  })
})
