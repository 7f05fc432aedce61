import { LockstepError } from '@lockstep/interface'
import { describe, expect, it } from 'vitest'
import { parseHistory } from '../src/lincheck/index'

const good = { client: 'a', input: { f: 'read' }, output: { value: null }, call: 0, return: 1 }

function rejection(json: unknown): LockstepError {
  try {
    parseHistory(json)
  } catch (error) {
    expect(error).toBeInstanceOf(LockstepError)
    return error as LockstepError
  }
  throw new Error('parseHistory accepted an invalid history')
}

describe('parseHistory', () => {
  it('returns the operations with exactly the five history fields', () => {
    const history = parseHistory([{ ...good, extra: true }, { client: 7, input: { f: 'write', value: 1 }, output: null, call: 2, return: null }])
    expect(history).toEqual([good, { client: 7, input: { f: 'write', value: 1 }, output: null, call: 2, return: null }])
  })

  it('accepts JSON text', () => {
    expect(parseHistory(JSON.stringify([good]))).toEqual([good])
  })

  it('rejects JSON text that does not parse', () => {
    const error = rejection('[{"client": ')
    expect(error.code).toBe('INVALID_CONFIG')
    expect(error.message).toMatch(/not valid JSON/)
  })

  it('rejects anything but an array', () => {
    expect(rejection({ operations: [] }).message).toMatch(/history is an object; expected an array/)
  })

  const cases: [string, unknown, string, RegExp][] = [
    ['a non-object operation', 42, '/1', /operation 1 is number 42/],
    ['a missing field', { client: 'a', input: {}, output: null, call: 0 }, '/1/return', /"return": missing/],
    ['a bad client', { ...good, client: true }, '/1/client', /string or a number/],
    ['an input that is not an object', { ...good, input: 'read' }, '/1/input', /expected an object/],
    ['an output that is not an object or null', { ...good, output: [1] }, '/1/output', /is an array/],
    ['a call that is not a number', { ...good, call: '0' }, '/1/call', /finite number/],
    ['a call that is not finite', { ...good, call: null }, '/1/call', /finite number/],
    ['a return before the call', { ...good, call: 5, return: 4 }, '/1/return', /before the call time 5/],
    ['an output without a return', { ...good, return: null }, '/1/output', /never returned has no output/],
  ]
  for (const [name, operation, path, message] of cases) {
    it(`rejects ${name}, naming the index and field`, () => {
      const error = rejection([good, operation, good])
      expect(error.code).toBe('INVALID_CONFIG')
      expect(error.details?.path).toBe(path)
      expect(error.message).toMatch(/^history operation 1/)
      expect(error.message).toMatch(message)
    })
  }
})
