import { describe, expect, it } from 'vitest'
import { OPERATOR_AUTH_WINDOW_MS, operatorAuthProblem, signOperatorRequest } from '../src/operator-auth'

const secret = 'r'.repeat(32)
const body = JSON.stringify({ action: 'remove', replica: 'r3' })
const at = 1_800_000_000_000
const sign = (overrides: Partial<{ secret: string; cluster: string; replica: string; path: string; body: string; time: number }> = {}) =>
  signOperatorRequest(overrides.secret ?? secret, overrides.cluster ?? 'c', overrides.replica ?? 'r1', 'POST', overrides.path ?? '/members', overrides.body ?? body, overrides.time ?? at)
const check = (header: string | undefined, seen = new Map<string, number>(), nowMs = at) => operatorAuthProblem(header, secret, 'c', 'r1', 'POST', '/members', body, nowMs, seen)

describe('signed operator requests', () => {
  it('accept a fresh request signed with the replica secret, once', () => {
    const seen = new Map<string, number>()
    expect(check(sign(), seen)).toBeUndefined()
    expect(check(sign(), seen)).toBe('this signed request was already used (replayed)')
  })

  it('refuse a missing or malformed header, another secret, replica, cluster, path or body', () => {
    expect(check(undefined)).toMatch(/^no Authorization header/)
    expect(check('Bearer abc')).toMatch(/is not "Lockstep-HMAC-SHA256 time=<ms>,mac=<hex>"/)
    for (const wrong of [{ secret: 's'.repeat(32) }, { replica: 'r2' }, { cluster: 'other' }, { path: '/other' }, { body: '{}' }]) {
      expect(check(sign(wrong)), JSON.stringify(wrong)).toMatch(/^the signature does not match/)
    }
  })

  it('refuse a signature older or newer than the window', () => {
    expect(check(sign({ time: at - OPERATOR_AUTH_WINDOW_MS - 1 }))).toMatch(/^the signature's time is -60 s from this replica's clock/)
    expect(check(sign({ time: at + OPERATOR_AUTH_WINDOW_MS + 1000 }))).toMatch(/^the signature's time is 61 s from/)
    expect(check(sign({ time: at - OPERATOR_AUTH_WINDOW_MS }))).toBeUndefined()
  })
})
