import { ErrorCodes } from '@lockstep/interface'
import { describe, expect, it } from 'vitest'
import { compile, describeDomains, modelCheck, parseDomain } from '../src/index'
import { compileOk, readSpec } from './helpers'

describe('the model checker', () => {
  it("finds the seed mutex's flaw: the holder acquires twice and queues behind itself (two steps)", () => {
    const { machine } = compileOk(readSpec('seed-mutex.sm'))
    const result = modelCheck(machine, { clients: 2, depth: 4, invariants: ['not (user in waiting)'] })
    expect(result.ok).toBe(false)
    expect(result.violation!.trace.map((s) => s.line)).toEqual(['c1 acquire', 'c1 acquire'])
    expect(result.violation!.trace[0]!.outputs).toEqual([{ to: 'c1', value: 'OK' }])
    expect(result.violation!.state).toEqual({ user: 'c1', waiting: ['c1'] })
    expect(result.violation!.invariant).toBe('not (user in waiting)')
    expect(result.violation!.message).toBe('the invariant does not hold')
  })

  it('passes the safe mutex with 3 clients to depth 8', () => {
    const { machine } = compileOk(readSpec('safe-mutex.sm'))
    const result = modelCheck(machine, {
      clients: 3,
      depth: 8,
      invariants: ['not (user in waiting)', 'user ≠ Φ or waiting = Φ', 'token >= 0', 'len(waiting) <= 2'],
    })
    expect(result).toMatchObject({ ok: true, depthReached: 8, truncated: false })
    expect(result.statesExplored).toBeGreaterThan(10)
    expect(result.violation).toBeUndefined()
  })

  it('reports a shortest trace (breadth first)', () => {
    const { machine } = compileOk(readSpec('counter.sm'))
    const result = modelCheck(machine, { clients: 2, depth: 10, invariants: ['count < 4'], domains: { amount: [0, 1, 2] } })
    // Two adds of 2 reach 4; nothing shorter does.
    expect(result.violation!.trace.map((s) => s.line)).toEqual(['c1 add {"amount":2}', 'c1 add {"amount":2}'])
    expect(result.violation!.state).toEqual({ count: 4 })
  })

  it('explores every value of the argument domains, and skips failed commands with allowAbort', () => {
    const { machine } = compileOk(readSpec('kv.sm'))
    const result = modelCheck(machine, { clients: 1, depth: 3, invariants: ['len(data) < 2'], domains: { 'put.key': ['a', 'b'], value: [1] }, allowAbort: true })
    expect(result.violation!.trace.map((s) => s.line)).toEqual(['c1 put {"key":"a","value":1}', 'c1 put {"key":"b","value":1}'])
    const defaults = modelCheck(machine, { clients: 1, depth: 2, invariants: [], allowAbort: true })
    expect(defaults.ok).toBe(true)
    expect(describeDomains(compile(readSpec('kv.sm')).program!, 2)['put.key']).toEqual(['a', 'b'])
  })

  it('knows when it has seen the whole state space', () => {
    const { machine } = compileOk(readSpec('semaphore.sm'))
    const result = modelCheck(machine, { clients: 3, depth: 20, invariants: ['permits + len(holders) = 2', 'permits >= 0'], symmetry: false })
    expect(result).toMatchObject({ ok: true, exhausted: true, statesExplored: 10 })
    // Under symmetry, the 10 states are 4 up to renaming the clients (none, one, two holders; two holders and a waiter).
    expect(modelCheck(machine, { clients: 3, depth: 20, invariants: ['permits + len(holders) = 2'] })).toMatchObject({ ok: true, exhausted: true, statesExplored: 4 })
    expect(result.depthReached).toBeLessThan(20)
  })

  it('reports an invariant that cannot be evaluated as a violation', () => {
    const { machine } = compileOk(readSpec('seed-mutex.sm'))
    const result = modelCheck(machine, { clients: 1, depth: 2, invariants: ['head(waiting) = user'] })
    expect(result.violation!.trace).toEqual([])
    expect(result.violation!.message).toMatch(/^evaluating the invariant failed: <invariant>:1:1: invariant failed: head of an empty list in 'head\(waiting\)'$/)
  })

  it('is deterministic', () => {
    const { machine } = compileOk(readSpec('safe-mutex.sm'))
    const options = { clients: 2, depth: 6, invariants: ['not (user in waiting)'] }
    expect(modelCheck(machine, options)).toEqual(modelCheck(machine, options))
  })

  it('rejects bad invariants, domains and bounds with clear errors', () => {
    const { machine, program } = compileOk(readSpec('kv.sm'))
    expect(() => modelCheck(machine, { clients: 1, depth: 1, invariants: ['len(dta) > 0'] })).toThrow(expect.objectContaining({ code: ErrorCodes.DSL_ERROR, message: expect.stringContaining("unknown name 'dta'; did you mean 'data'?") }))
    expect(() => modelCheck(machine, { clients: 1, depth: 1, invariants: ['len(data)'] })).toThrow(/an invariant must be a bool, found int/)
    expect(() => modelCheck(machine, { clients: 1, depth: 1, invariants: ['client = Φ'] })).toThrow(/'client' has no value in an invariant/)
    expect(() => modelCheck(machine, { clients: 1, depth: 1, invariants: [], domains: { nope: [1] } })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_CONFIG }))
    expect(() => modelCheck(machine, { clients: 1, depth: 1, invariants: [], domains: { value: ['x'] } })).toThrow(/bad domain value: put.value must be an integer/)
    expect(() => modelCheck(machine, { clients: 0, depth: 1, invariants: [] })).toThrow(/at least one client/)
    expect(() => modelCheck(machine, { clients: 1, depth: -1, invariants: [] })).toThrow(/depth/)
    expect(parseDomain(program, 'value=1,2,-3')).toEqual({ key: 'value', values: [1, 2, -3] })
    expect(parseDomain(program, 'put.key=a,b')).toEqual({ key: 'put.key', values: ['a', 'b'] })
    expect(() => parseDomain(program, 'value=1,x')).toThrow(/'x' is not an integer/)
    expect(() => parseDomain(program, 'novalue')).toThrow(/must look like PARAM=v1,v2/)
  })

  it('stops at maxStates and says so', () => {
    const { machine } = compileOk(readSpec('seed-mutex.sm'))
    const result = modelCheck(machine, { clients: 3, depth: 30, invariants: [], maxStates: 500 })
    expect(result).toMatchObject({ ok: true, truncated: true, statesExplored: 500 })
  })
})
