import { describe, expect, it } from 'vitest'
import { builtInMachine, builtInMachineNames, builtInMachines, isBuiltInMachineName, kv, mutex, register } from '../src/index'

describe('the built-in machine registry', () => {
  it('lists mutex, register and kv, each under its own name', () => {
    expect(builtInMachineNames).toEqual(['mutex', 'register', 'kv'])
    expect(builtInMachines).toEqual({ mutex, register, kv })
    for (const name of builtInMachineNames) expect(builtInMachine(name).name).toBe(name)
  })

  it('tells built-in names from anything else, inherited properties included', () => {
    expect(isBuiltInMachineName('kv')).toBe(true)
    expect(isBuiltInMachineName('queue')).toBe(false)
    expect(isBuiltInMachineName('toString')).toBe(false)
  })

  it('refuses an unknown name with INVALID_CONFIG, listing the built-in machines', () => {
    expect(() => builtInMachine('mutexx')).toThrow(expect.objectContaining({
      code: 'INVALID_CONFIG',
      message: 'unknown machine "mutexx"; the built-in machines are mutex, register, kv (or pass your own StateMachine)',
    }))
  })
})

describe('the mutex summary (what GET /status reports of it)', () => {
  const run = (steps: [string, 'acquire' | 'release'][]) => {
    const state = mutex.init()
    steps.forEach(([client, name], i) => mutex.apply(state, { name }, { client, position: i + 1, time: 0 }))
    return state
  }

  it('is the holder and the queue in grant order, with its length', () => {
    expect(mutex.summary!(mutex.init())).toEqual({ user: null, waiting: { count: 0, items: [] } })
    const state = run([['alice', 'acquire'], ['bob', 'acquire'], ['carol', 'acquire']])
    expect(mutex.summary!(state)).toEqual({ user: 'alice', waiting: { count: 2, items: ['bob', 'carol'] } })
    mutex.apply(state, { name: 'release' }, { client: 'alice', position: 4, time: 0 })
    expect(mutex.summary!(state)).toEqual({ user: 'bob', waiting: { count: 1, items: ['carol'] } })
  })

  it('is bounded: the first 20 of a long queue, long ids cut at 200 characters, at most 4096 characters of JSON', () => {
    const many = run(Array.from({ length: 100 }, (_, i): [string, 'acquire'] => [`c${i}`, 'acquire']))
    expect(mutex.summary!(many)).toEqual({ user: 'c0', waiting: { count: 99, items: Array.from({ length: 20 }, (_, i) => `c${i + 1}`) } })
    const long = run([['h'.repeat(1000), 'acquire'], ...Array.from({ length: 30 }, (_, i): [string, 'acquire'] => [`${i}`.padEnd(300, 'w'), 'acquire'])])
    const summary = mutex.summary!(long) as { user: string; waiting: { count: number; items: string[] } }
    expect(summary.user).toBe(`${'h'.repeat(200)}…`)
    // 20 ids of 201 characters and the holder pass 4096 characters: the queue shows only its count.
    expect(summary.waiting).toEqual({ count: 30, items: [] })
    expect(JSON.stringify(summary).length).toBeLessThanOrEqual(4096)
    const fits = run([['h', 'acquire'], ...Array.from({ length: 30 }, (_, i): [string, 'acquire'] => [`${i}`.padEnd(150, 'w'), 'acquire'])])
    expect((mutex.summary!(fits) as { waiting: { items: string[] } }).waiting.items).toHaveLength(20)
  })

  it('does not change the state', () => {
    const state = run([['alice', 'acquire'], ['bob', 'acquire']])
    const before = JSON.stringify(mutex.toJSON!(state))
    const summary = mutex.summary!(state) as { waiting: { items: string[] } }
    summary.waiting.items.push('mallory')
    expect(JSON.stringify(mutex.toJSON!(state))).toBe(before)
  })
})
