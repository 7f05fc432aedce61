import { describe, expect, it } from 'vitest'
import type { ReplicaToClient } from '@lockstep/interface'
import { DurableReplies } from '../src/engine/durable-replies'

const reply = (position: number): ReplicaToClient => ({ type: 'reply', from: 'r1', reply: { client: 'c1', seq: position, ok: true, outputs: [], position } })

/** r1 of three: replies wait for one peer's disk, or with `confirmOrder` (an orderer resting on timing) for one peer to confirm the order. */
function replicaOne(confirmOrder: boolean) {
  const sent: number[] = []
  // One array for the view, as the engine passes its view's members (the covered position is reused while it is the same).
  const members = ['r1', 'r2', 'r3']
  const replies = new DurableReplies({
    self: 'r1',
    members: () => members,
    quorum: () => 2,
    sendToClient: (_to, message) => sent.push(message.type === 'reply' ? message.reply.position! : -1),
    sendToPeer: () => {},
    confirmOrder,
  })
  return { replies, sent }
}

function confirming() {
  const { replies, sent } = replicaOne(true)
  /** r1 delivers up to `position`, its digest at `p` being `d<p>`, and reports it. */
  const deliver = (from: number, to: number) => {
    for (let p = from; p <= to; p++) replies.noteDigest(p, `d${p}`)
    replies.ownProgress(to)
  }
  return { replies, sent, deliver }
}

describe('replies confirmed by the order digests of a majority', () => {
  it('counts a peer report whose digest matches this replica’s own at that position, after many thousand deliveries', () => {
    const { replies, sent, deliver } = confirming()
    deliver(1, 50_000) // the kept digests wrap around three times
    replies.send('c1', reply(49_990))
    expect(sent).toEqual([])
    replies.peerProgress('r2', 49_995, 'd49995')
    expect(sent).toEqual([49_990])
    expect(replies.position('r2')).toBe(49_995)
  })

  it('ignores a report with another digest, and one too far back to check', () => {
    const { replies, sent, deliver } = confirming()
    deliver(1, 40_000)
    replies.send('c1', reply(39_000))
    replies.peerProgress('r2', 39_500, 'other')
    // Position 100 shares its slot of the kept digests with 16,484, 32,868, …: the slot no longer holds it.
    replies.peerProgress('r3', 100, 'd100')
    // A report for 16,484 must not be checked against the digest now in its slot (that of 32,868).
    replies.peerProgress('r3', 100 + 16_384, `d${100 + 2 * 16_384}`)
    expect(replies.position('r3')).toBe(0)
    replies.peerProgress('r3', 100 + 2 * 16_384, `d${100 + 2 * 16_384}`)
    expect(sent).toEqual([])
    expect(replies.position('r2')).toBe(0)
    expect(replies.position('r3')).toBe(100 + 2 * 16_384)
  })

  it('checks a report ahead of this replica once it gets there', () => {
    const { replies, sent, deliver } = confirming()
    deliver(1, 20_000)
    replies.send('c1', reply(20_000))
    replies.peerProgress('r2', 20_010, 'd20010')
    expect(replies.position('r2')).toBe(0)
    deliver(20_001, 20_009)
    expect(replies.position('r2')).toBe(0)
    deliver(20_010, 20_010)
    expect(replies.position('r2')).toBe(20_010)
    expect(sent).toEqual([20_000])
  })

  it('releases what a majority’s disks cover, in the order it was held, and keeps the rest', () => {
    const { replies, sent } = replicaOne(false)
    for (const position of [5, 3, 8, 4]) replies.send('c1', reply(position))
    replies.ownProgress(9)
    expect(sent).toEqual([])
    replies.peerProgress('r3', 4)
    expect(sent).toEqual([3, 4])
    expect(replies.waiting).toBe(2)
    replies.peerProgress('r2', 6)
    expect(sent).toEqual([3, 4, 5])
    replies.peerProgress('r2', 8)
    expect(sent).toEqual([3, 4, 5, 8])
    expect(replies.waiting).toBe(0)
    replies.send('c1', reply(7))
    expect(sent).toEqual([3, 4, 5, 8, 7])
  })
})

describe('a state replaced by a transfer (found by the world simulator, real time, seed 2014)', () => {
  it('a peer reporting its disk along another branch of the order does not release a reply; one along this replica’s does', () => {
    const { replies, sent, deliver } = confirming()
    deliver(1, 136)
    replies.send('c5', reply(136))
    replies.peerProgress('r3', 136, 'another branch at 136')
    expect(sent).toEqual([])
    replies.peerProgress('r2', 136, 'd136')
    expect(sent).toEqual([136])
  })

  it('after the state is replaced, the old replies, the disks known before and the old digests no longer count', () => {
    const { replies, sent, deliver } = confirming()
    deliver(1, 142)
    replies.peerProgress('r2', 142, 'd142')
    replies.send('c5', reply(140)) // covered at once: r1 and r2 hold up to 142
    replies.send('c6', reply(143)) // held
    expect(sent).toEqual([140])
    // The cluster resumed at 136 from another replica's state: this one takes it (its digest there: t136).
    replies.orderReplaced(136, 't136')
    expect(replies.waiting).toBe(0) // the reply held from the old state is dropped
    replies.send('c7', reply(136))
    expect(sent).toEqual([140]) // no disk is known to hold the new order at 136 yet
    // Its disk still reports the old order's positions until the snapshot of the new state is on it: not counted.
    expect(replies.ownProgress(142)).toBe(false)
    expect(replies.position('r1')).toBe(0)
    // A stale report of the old order from a peer: its digest is no longer this replica's.
    replies.peerProgress('r2', 136, 'd136')
    expect(sent).toEqual([140])
    expect(replies.ownProgress(136)).toBe(true)
    replies.peerProgress('r3', 136, 't136')
    expect(sent).toEqual([140, 136])
  })
})

describe('reports that came before the state was replaced', () => {
  it('are checked again against the new order: one at the new state with its digest counts, one of another branch does not', () => {
    const { replies, sent, deliver } = confirming()
    deliver(1, 9)
    // While this replica takes the order up to 97 by transfer, r2 reports 97 (on installing the view) and r3 a
    // position of another branch; neither peer reports again (their positions do not move).
    replies.peerProgress('r2', 97, 't97')
    replies.peerProgress('r3', 97, 'other branch at 97')
    for (let p = 10; p <= 97; p++) replies.noteDigest(p, `t${p}`) // the replayed suffix counts r2's report…
    replies.orderReplaced(97, 't97') // …and taking the state drops what was known
    expect(replies.position('r2')).toBe(97) // checked again: r2's report is about this order
    expect(replies.position('r3')).toBe(0)
    replies.send('c1', reply(86)) // a retried request answered from the session table
    expect(sent).toEqual([])
    expect(replies.ownProgress(97)).toBe(true)
    expect(sent).toEqual([86])
  })

  it('of a joiner are forgotten with its disk', () => {
    const { replies, deliver } = confirming()
    deliver(1, 9)
    replies.peerProgress('r2', 97, 't97')
    replies.forget(['r2'])
    replies.orderReplaced(97, 't97')
    expect(replies.position('r2')).toBe(0)
  })

  it('no longer cover a reply once its disk is forgotten', () => {
    const { replies, sent, deliver } = confirming()
    deliver(1, 9)
    replies.peerProgress('r2', 9, 'd9')
    replies.send('c1', reply(8)) // this replica's disk and r2's hold it
    expect(sent).toEqual([8])
    replies.forget(['r2']) // r2 rejoins afresh: what its disk held no longer counts
    replies.send('c1', reply(9))
    expect(sent).toEqual([8])
  })
})

describe('the latest report, repeated on a new view', () => {
  it('is sent again to every other member, and not once the order it was about was replaced', () => {
    const sentTo: string[] = []
    const replies = new DurableReplies({ self: 'r1', members: () => ['r1', 'r2', 'r3'], quorum: () => 2, sendToClient: () => {}, sendToPeer: (to, m) => sentTo.push(`${to} ${(m as { position: number }).position}`), confirmOrder: true })
    replies.repeatOwnReport()
    expect(sentTo).toEqual([]) // nothing reported yet
    for (let p = 1; p <= 57; p++) replies.noteDigest(p, `d${p}`)
    replies.ownProgress(57)
    expect(sentTo).toEqual(['r2 57', 'r3 57'])
    replies.repeatOwnReport() // a link refused the first one: the next view repeats it
    expect(sentTo).toEqual(['r2 57', 'r3 57', 'r2 57', 'r3 57'])
    replies.orderReplaced(40, 't40')
    replies.repeatOwnReport()
    expect(sentTo).toHaveLength(4)
  })
})

describe('reports of a peer ahead of this replica', () => {
  it('are each counted as this replica reaches its position, not only the latest (a reply does not wait for it to catch up with the newest)', () => {
    const { replies, sent, deliver } = confirming()
    deliver(1, 100)
    replies.send('c1', reply(100))
    replies.peerProgress('r2', 102, 'd102') // r2 is ahead: not checkable yet
    replies.peerProgress('r2', 110, 'd110') // and reports again before this replica reaches 102
    expect(sent).toEqual([])
    deliver(101, 102)
    expect(sent).toEqual([100])
    expect(replies.position('r2')).toBe(102)
    deliver(103, 110)
    expect(replies.position('r2')).toBe(110)
  })
})

describe('a peer whose disk goes back, or holds another order', () => {
  it('counts up to its latest checked report, even below an earlier one, and not at all after a report on another order', () => {
    const { replies, sent, deliver } = confirming()
    deliver(1, 142)
    replies.peerProgress('r2', 142, 'd142')
    expect(replies.position('r2')).toBe(142)
    // r2 took a state at 136 by transfer: its disk now holds this replica's order only up to there.
    replies.peerProgress('r2', 136, 'd136')
    expect(replies.position('r2')).toBe(136)
    replies.send('c1', reply(140))
    expect(sent).toEqual([])
    // A report whose digest is not this replica's: r2's disk holds another order.
    replies.send('c1', reply(130)) // covered while r2's disk held this order up to 136
    expect(sent).toEqual([130])
    replies.peerProgress('r2', 138, 'another order at 138')
    expect(replies.position('r2')).toBe(0)
    replies.send('c1', reply(131)) // no longer: only this replica's disk is known to hold it
    expect(sent).toEqual([130])
    replies.peerProgress('r3', 140, 'd140')
    expect(sent).toEqual([130, 140, 131]) // in the order held
  })
})

describe('a pending report this replica will never reach', () => {
  it('does not hold back a lower report the peer sends after its disk went back', () => {
    const { replies, sent, deliver } = confirming()
    deliver(1, 140)
    replies.send('c1', reply(140))
    replies.peerProgress('r2', 150, 'a branch this replica never takes') // pending: this replica is at 140
    replies.peerProgress('r2', 140, 'd140') // r2 took the cluster's state at 140
    expect(sent).toEqual([140])
  })
})

describe('a peer disk that reports less than it held', () => {
  /** r1 of `replicas` with the digests of positions 1 to `delivered` noted, recording each disk loss it is told of. */
  function watching(replicas = 3, delivered = 20) {
    const losses: string[] = []
    const members = Array.from({ length: replicas }, (_, i) => `r${i + 1}`)
    const replies = new DurableReplies({
      self: 'r1',
      members: () => members,
      quorum: () => Math.floor(replicas / 2) + 1,
      sendToClient: () => {},
      sendToPeer: () => {},
      confirmOrder: true,
      diskWentBack: (replica, position, held) => losses.push(`${replica} ${position} < ${held}`),
    })
    for (let p = 1; p <= delivered; p++) replies.noteDigest(p, `d${p}`)
    replies.ownProgress(delivered)
    return { replies, losses }
  }

  it('is a disk that lost what it had synced, said once, by a report or by a restarted replica’s recover', () => {
    const { replies, losses } = watching()
    replies.peerProgress('r2', 12, 'd12')
    replies.peerProgress('r2', 15, 'd15')
    replies.peerProgress('r2', 15, 'd15') // said again (a new view): no loss
    expect(losses).toEqual([])
    replies.peerProgress('r2', 11, 'd11') // r2 restarted from a disk that ends at 11
    expect(losses).toEqual(['r2 11 < 15'])
    replies.peerProgress('r2', 11, 'd11') // and says so again: told once
    expect(losses).toEqual(['r2 11 < 15'])
    replies.peerProgress('r3', 9, 'd9')
    replies.diskClaim('r3', 0) // a recover at position 0 (nothing reported after the restart)
    expect(losses).toEqual(['r2 11 < 15', 'r3 0 < 9'])
  })

  it('is no loss when the peer starts afresh, or its reports were of another order, or this replica’s order was replaced', () => {
    const { replies, losses } = watching()
    replies.peerProgress('r2', 15, 'd15')
    replies.forget(['r2']) // r2 joins a view by transfer: what its disk held before no longer counts
    replies.peerProgress('r2', 4, 'd4')
    replies.peerProgress('r3', 15, 'other') // another order at 15: r3's disk never held this replica's
    replies.peerProgress('r3', 5, 'd5')
    replies.peerProgress('r3', 8, 'd8')
    replies.orderReplaced(3, 'd3') // this replica took a state: what it knew of the disks was of its old order
    replies.diskClaim('r3', 2)
    expect(losses).toEqual([])
  })

  it('is no loss when the disk goes back only below what it reported and no majority’s disks held (the cluster resumed without it)', () => {
    const { replies, losses } = watching(5, 31)
    replies.peerProgress('r2', 30, 'd30')
    replies.peerProgress('r3', 31, 'd31') // r1's and r3's disks hold 31, r2's 30: a majority holds 30
    replies.peerProgress('r3', 30, 'd30') // the cluster resumed at 30 from a majority's disks: r3 dropped 31
    expect(losses).toEqual([])
    replies.peerProgress('r3', 29, 'd29') // but 30 was on a majority's disks: r3's disk lost it
    expect(losses).toEqual(['r3 29 < 30'])
  })
})
