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

describe('isLockstepError', () => {
  it('recognises an error of another installed copy of this package by its Symbol.for brand', () => {
    // What a second copy's class produces: its own prototype, the same registered symbol.
    class OtherCopyError extends Error {
      readonly code = 'TIMEOUT'
    }
    Object.defineProperty(OtherCopyError.prototype, Symbol.for('@lockstep/error'), { value: true })
    expect(isLockstepError(new OtherCopyError('from elsewhere'))).toBe(true)
  })

  it('does not take an error that only looks like one', () => {
    const lookalike = Object.assign(new Error('x'), { name: 'LockstepError', code: 'TIMEOUT' })
    expect(isLockstepError(lookalike)).toBe(false)
    expect(isLockstepError(undefined)).toBe(false)
    expect(isLockstepError('LockstepError')).toBe(false)
  })

  it('keeps the brand out of the error’s own enumerable properties', () => {
    const error = new LockstepError(ErrorCodes.TIMEOUT, 'late')
    expect(Object.getOwnPropertySymbols(error)).toEqual([])
  })
})
