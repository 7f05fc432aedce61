import { describe, expect, it } from 'vitest'
import { watchAlone, type FaultRecord } from '../src/run'

const fault = (kind: FaultRecord['kind'], target: string): FaultRecord => ({ kind, target, detail: '', start: 0, end: 0 })

describe('the member nemesis counts views as churn while no other fault strikes', () => {
  it('a fault of the other loop already held when the watch began counts, even once healed', () => {
    // Found: 5 replicas, real-time ordering, seed 44002: r5's clock skew (held 124.7–130.4 s) was in progress when
    // r2's removal began (127.4 s) and healed before its watch ended; the views the skew caused were taken for
    // churn with r2 out ("the others installed 4 views in 2.5 s ... and no other fault struck").
    const held = { busy: new Set(['r5', 'r2']), partitioned: new Set<string>() }
    const log = [fault('skew', 'r5'), fault('member', 'r2')]
    const alone = watchAlone(held, log)
    held.busy.delete('r5')
    expect(alone()).toBe(false)
  })

  it('no other fault held when it began and none begun since: alone', () => {
    const held = { busy: new Set(['r2']), partitioned: new Set<string>() }
    const log = [fault('member', 'r2')]
    const alone = watchAlone(held, log)
    expect(alone()).toBe(true)
    log.push(fault('kill', 'r4'))
    held.busy.add('r4')
    expect(alone()).toBe(false)
    held.busy.delete('r4')
    expect(alone()).toBe(false)
  })

  it('a replica another loop keeps partitioned is a fault too', () => {
    const held = { busy: new Set(['r2']), partitioned: new Set(['r4']) }
    const alone = watchAlone(held, [fault('member', 'r2')])
    held.partitioned.clear()
    expect(alone()).toBe(false)
  })
})
