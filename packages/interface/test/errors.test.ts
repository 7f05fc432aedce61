import { describe, expect, it } from 'vitest'
import { ErrorCodes, LockstepError, isLockstepError } from '../src/index'

describe('LockstepError', () => {
  it('carries a stable code and turns into reply data with the offending path', () => {
    const error = new LockstepError(ErrorCodes.INVALID_COMMAND, 'command/key must be string', { path: '/key' })
    expect(error.code).toBe('INVALID_COMMAND')
    expect(error.toInfo()).toEqual({ code: 'INVALID_COMMAND', message: 'command/key must be string', path: '/key' })
    expect(isLockstepError(error)).toBe(true)
    expect(isLockstepError(new Error('x'))).toBe(false)
  })
})
