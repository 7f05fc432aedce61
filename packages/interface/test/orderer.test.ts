import { describe, expect, it } from 'vitest'
import { crashTolerantOrderer, isCrashTolerant, type Orderer } from '../src/index'

function plainOrderer(): Orderer {
  return { name: 'plain', submit() {}, receive() {}, tick() {}, flush() {}, viewChanged() {}, pendingCount: () => 0 }
}

describe('isCrashTolerant', () => {
  it('recognises an orderer by its brand, registered with Symbol.for so two installed copies agree', () => {
    expect(crashTolerantOrderer).toBe(Symbol.for('@lockstep/crash-tolerant-orderer'))
    const branded = { ...plainOrderer(), [Symbol.for('@lockstep/crash-tolerant-orderer')]: true, freeze: () => ({}), mergeReports: () => ({}), install: () => true }
    expect(isCrashTolerant(branded)).toBe(true)
  })

  it('does not take an orderer that merely has methods named freeze, mergeReports and install', () => {
    const lookalike = { ...plainOrderer(), freeze: () => ({}), mergeReports: () => ({}), install: () => true }
    expect(isCrashTolerant(lookalike)).toBe(false)
    expect(isCrashTolerant(plainOrderer())).toBe(false)
  })
})
