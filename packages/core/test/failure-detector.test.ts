import { describe, expect, it } from 'vitest'
import { FailureDetector } from '../src/engine/failure-detector'

const detector = () => {
  const d = new FailureDetector('r1', { heartbeatMs: 10, suspectAfterMs: 50 })
  d.watch(['r1', 'r2', 'r3'], 0)
  return d
}

describe('the failure detector', () => {
  it('suspects a member silent for longer than suspectAfterMs, and only that one', () => {
    const d = detector()
    d.heard('r2', 40)
    expect(d.suspects(50)).toEqual([])
    expect(d.suspects(51)).toEqual(['r3'])
    expect(d.suspects(91)).toEqual(['r2', 'r3'])
  })

  it('never suspects itself, and suspects an unreachable member at once until the next view', () => {
    const d = detector()
    expect(d.markUnreachable('r2')).toBe(true)
    expect(d.markUnreachable('r2')).toBe(false)
    expect(d.suspects(1)).toEqual(['r2'])
    d.watch(['r1', 'r2'], 5)
    expect(d.suspects(6)).toEqual([])
  })

  it("counts a member's suspicion by this replica and by every other member that reported it, not by the suspect itself", () => {
    const d = detector()
    d.reported('r2', ['r3'])
    d.reported('r3', ['r3', 'r2'])
    expect(d.suspicionCount('r3', ['r3'])).toBe(2)
    expect(d.suspicionCount('r3', [])).toBe(1)
    expect(d.suspicionCount('r2', [])).toBe(1)
    d.watch(['r1', 'r2', 'r3'], 100) // a new view forgets old reports
    expect(d.suspicionCount('r3', [])).toBe(0)
  })

  it('sends each member a heartbeat every heartbeatMs, on its own schedule', () => {
    const d = detector()
    expect(d.heartbeatsDue(0)).toEqual(['r2', 'r3'])
    expect(d.heartbeatsDue(9)).toEqual([])
    expect(d.heartbeatsDue(10)).toEqual(['r2', 'r3'])
  })
})
