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

  it('counts a replica that left the view silent as unheard until its next message, and one that left it unreachable until a probe goes through', () => {
    const d = detector()
    d.heard('r2', 10)
    d.heard('r3', 45)
    d.watch(['r1', 'r3'], 70) // r2 left silent (60 ms > 50)
    expect(d.unheard(70)).toEqual(['r2'])
    expect(d.probe('r2')).toBe(false) // silent, not unreachable: no probe lifts it
    d.heard('r2', 80)
    expect(d.unheard(80)).toEqual([])
    // A replica that left unreachable stays unheard however often it is heard, until a probe is sent to it.
    d.watch(['r1', 'r2', 'r3'], 90)
    d.markUnreachable('r3')
    d.watch(['r1', 'r2'], 95)
    d.heard('r3', 96)
    expect(d.unheard(96)).toEqual(['r3'])
    expect(d.probe('r3')).toBe(true)
    expect(d.unheard(96)).toEqual([])
    // The probe could not be sent either: unheard again.
    d.markUnreachable('r3')
    expect(d.unheard(97)).toEqual(['r3'])
    // Without outsideSilentAfterMs, silence alone never makes a replica outside the view unheard.
    expect(d.unheard(10_000)).toEqual(['r3'])
    // A member is never unheard (it is suspected or not).
    d.watch(['r1', 'r2', 'r3'], 100)
    expect(d.unheard(100)).toEqual([])
  })

  it('counts a replica outside the view that it heard and then did not hear for outsideSilentAfterMs as unheard, until its next message', () => {
    const d = new FailureDetector('r1', { heartbeatMs: 10, suspectAfterMs: 50, outsideSilentAfterMs: 80 })
    d.watch(['r1', 'r2', 'r3'], 0)
    d.heard('r3', 40)
    d.watch(['r1', 'r2'], 45) // r3 leaves heard: not silenced
    expect(d.unheard(100)).toEqual([])
    expect(d.isUnheard('r3', 120)).toBe(false)
    expect(d.unheard(121)).toEqual(['r3']) // 81 ms since its last message
    expect(d.isUnheard('r3', 121)).toBe(true)
    d.heard('r3', 130)
    expect(d.unheard(130)).toEqual([])
    // Never heard here: not counted; a member: never counted.
    expect(d.isUnheard('r4', 1000)).toBe(false)
    expect(d.isUnheard('r2', 1000)).toBe(false)
    d.watch(['r1', 'r2', 'r3'], 300)
    expect(d.unheard(1000)).toEqual([])
  })

  it('names the members that report this replica unheard and hear less than a majority of the view (every link into them cut)', () => {
    const d = detector()
    d.watch(['r1', 'r2', 'r3', 'r4', 'r5'], 0)
    d.reported('r2', ['r1', 'r3', 'r4']) // hears itself and r5: 2 of 5
    d.reported('r3', ['r1', 'r2']) // hears 3 of 5: it can ask for the view change itself
    d.reported('r4', ['r2', 'r3', 'r5']) // does not name r1
    expect(d.deafMembers()).toEqual(['r2'])
    d.reported('r2', ['r1', 'r3']) // hears 3 of 5 now
    expect(d.deafMembers()).toEqual([])
    d.reported('r2', ['r1', 'r3', 'r4'])
    d.watch(['r1', 'r2', 'r3', 'r4', 'r5'], 100) // a new view: reports of this one are gone
    expect(d.deafMembers()).toEqual([])
  })

  it("names the replicas it has not heard from by hearing alone, not the ones it could not send to", () => {
    const d = detector()
    d.heard('r2', 30)
    d.markUnreachable('r2') // suspected until the next view, yet heard
    expect(d.suspects(60)).toEqual(['r2', 'r3'])
    expect(d.silent(60, ['r1', 'r2', 'r3', 'r4'])).toEqual(['r3', 'r4']) // r4: outside the view, never heard
    d.heard('r4', 70)
    expect(d.silent(81, ['r1', 'r2', 'r3', 'r4'])).toEqual(['r2', 'r3'])
  })

  it("gives a member's report of whom it has not heard as fresh only for suspectAfterMs after it came, and only in its view", () => {
    const d = detector()
    d.reportedSilent('r2', ['r1', 'r3'], 100)
    expect(d.freshSilentOf('r2', 150)).toEqual(['r1', 'r3'])
    expect(d.freshSilentOf('r2', 151)).toBeUndefined() // from before a silence or a restart
    d.reportedSilent('r2', ['r3'], 160)
    expect(d.freshSilentOf('r2', 170)).toEqual(['r3'])
    d.reportedSilent('r3', ['r1', 'r2'], 180)
    d.watch(['r1', 'r2', 'r3'], 190) // a new view: reports of the last one say nothing of it
    expect(d.freshSilentOf('r3', 190)).toBeUndefined()
    d.reportedSilent('r3', ['r1'], 200)
    d.watch(['r1', 'r2'], 210) // r3 leaves: its report is a member's no longer
    d.reportedSilent('r3', ['r1'], 210)
    expect(d.freshSilentOf('r3', 210)).toBeUndefined()
  })

  it('cannot send to a member marked unreachable until the next view, nor to a replica outside the view until a probe; counts every failed send', () => {
    const d = detector()
    d.watch(['r1', 'r2', 'r3'], 0)
    expect(d.cannotSendTo('r2')).toBe(false)
    d.markUnreachable('r2')
    expect(d.cannotSendTo('r2')).toBe(true)
    expect(d.markUnreachable('r2')).toBe(false) // marked already, yet counted
    expect(d.failedSends('r2')).toBe(2)
    d.watch(['r1', 'r3'], 10) // r2 leaves unreachable
    expect(d.cannotSendTo('r2')).toBe(true)
    expect(d.probe('r2')).toBe(true)
    expect(d.cannotSendTo('r2')).toBe(false)
    d.markUnreachable('r3')
    d.watch(['r1', 'r3'], 20) // a new view: members start reachable
    expect(d.cannotSendTo('r3')).toBe(false)
  })

  it("keeps what the members that stay reported of the replicas outside the new view, and nothing else", () => {
    const d = detector()
    d.reported('r2', ['r3'])
    d.reported('r3', ['r2'])
    d.watch(['r1', 'r2'], 100) // r3 leaves: r2's report of it stays, r3's reports go
    expect(d.reportedByAnother('r3')).toBe(true)
    expect(d.suspicionCount('r2', [])).toBe(0)
    d.reported('r2', [])
    expect(d.reportedByAnother('r3')).toBe(false)
  })

  it('sends each member a heartbeat every heartbeatMs, on its own schedule', () => {
    const d = detector()
    expect(d.heartbeatsDue(0)).toEqual(['r2', 'r3'])
    expect(d.heartbeatsDue(9)).toEqual([])
    expect(d.heartbeatsDue(10)).toEqual(['r2', 'r3'])
  })
})
