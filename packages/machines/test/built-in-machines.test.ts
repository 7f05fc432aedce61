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
