import { describe, expect, it } from 'vitest'
import { LinkProxy } from '../src/proxy'
import { diskLossIn } from '../src/processes'
import { cutLink, falseDiskLosses, healCut, watchAlone, type FaultRecord } from '../src/run'

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

describe('the cut nemesis stops one link between two replicas, both ways or one way', () => {
  /** Three replicas' links (a proxy per dialing direction), as the chaos cluster holds them, not listening. */
  function links() {
    const proxies = new Map<string, LinkProxy>()
    for (const from of ['r1', 'r2', 'r3']) for (const to of ['r1', 'r2', 'r3']) if (from !== to) proxies.set(`${from}>${to}`, new LinkProxy(from, to, () => 0))
    const link = (from: string, to: string) => proxies.get(`${from}>${to}`)!
    return { link, linksBetween: (a: string, b: string) => [link(a, b), link(b, a)], modes: () => Object.fromEntries([...proxies].map(([key, proxy]) => [key, proxy.current])) }
  }
  const pass = { kind: 'pass' }

  it('both ways: the two proxies between them down, every other link passes; healed, all pass', () => {
    const cluster = links()
    expect(cutLink(cluster, 'r1', 'r3', 'both')).toBe('its link to r3 down')
    expect(cluster.modes()).toEqual({ 'r1>r2': pass, 'r1>r3': { kind: 'down' }, 'r2>r1': pass, 'r2>r3': pass, 'r3>r1': { kind: 'down' }, 'r3>r2': pass })
    healCut(cluster, 'r1', 'r3', new Set())
    expect(Object.values(cluster.modes())).toEqual(Array(6).fill(pass))
  })

  it("one way: the target's bytes to the other lost (out) or the other's to it (in), whichever side dialed", () => {
    const out = links()
    expect(cutLink(out, 'r2', 'r1', 'out')).toBe('its link to r1 one way (from it) lost')
    expect(out.link('r2', 'r1').current).toEqual({ kind: 'drop', direction: 'forward' })
    expect(out.link('r1', 'r2').current).toEqual({ kind: 'drop', direction: 'backward' })
    const into = links()
    expect(cutLink(into, 'r2', 'r1', 'in')).toBe('its link to r1 one way (to it) lost')
    expect(into.link('r2', 'r1').current).toEqual({ kind: 'drop', direction: 'backward' })
    expect(into.link('r1', 'r2').current).toEqual({ kind: 'drop', direction: 'forward' })
  })

  it('leaves the links of a replica another loop keeps partitioned as that loop set them', () => {
    const cluster = links()
    cutLink(cluster, 'r1', 'r3', 'both')
    healCut(cluster, 'r1', 'r3', new Set(['r3']))
    expect(cluster.link('r1', 'r3').current).toEqual({ kind: 'down' })
  })
})

describe('a disk said to have lost what it synced is one a fault touched', () => {
  const line = (msg: string, level = 'error') => JSON.stringify({ level, time: '2026-12-07T23:32:53.629Z', replica: 'r3', msg })
  const said = "replica 'r1' reports that its disk holds the order up to position 101, but it had reported that its disk held 105, which a majority's disks held: its storage lost positions 102–105, …"

  it('reads the peer and the positions from the replicas\' error line, and nothing from other lines', () => {
    expect(diskLossIn(line(said))).toEqual({ of: 'r1', position: 101, held: 105 })
    expect(diskLossIn(line(said, 'info'))).toBeUndefined()
    expect(diskLossIn(line("replica 'r1' restarted from its disk; it rejoins by state transfer"))).toBeUndefined()
  })

  it('a loss said of a replica no disk or lost-tail fault touched before is a violation; one after such a fault is not', () => {
    const started = 1_000
    const loss = (of: string, at: number) => ({ by: 'r3', of, position: 101, held: 105, at: started + at })
    const faults = [{ ...fault('kill', 'r2'), start: 100 }, { ...fault('lost-tail', 'r1'), start: 500 }, { ...fault('disk', 'r2'), start: 900 }]
    expect(falseDiskLosses([loss('r1', 600), loss('r2', 950)], faults, started)).toEqual([])
    // Said of r1 before its disk lost anything, and of r3, whose disk no fault touched (r2's kill does not count).
    expect(falseDiskLosses([loss('r1', 400), loss('r3', 950)], faults, started)).toEqual([
      'replica r3 said at error level that the disk of r1 lost records it had synced (it reports the order up to 101, after 105), but no fault touched that disk',
      'replica r3 said at error level that the disk of r3 lost records it had synced (it reports the order up to 101, after 105), but no fault touched that disk',
    ])
  })
})
