import { describe, expect, it } from 'vitest'
import { SimCluster } from '@lockstep/testkit'
import { kv } from '@lockstep/machines'
import { lamport } from '@lockstep/order-lamport'

// Found with real processes (the lock service's and the dashboard's process tests, CI): r1 and r2 confirmed each
// other and started the new cluster about 10 ms before r3 listened. r3 could no longer start with them; a view
// change added it two seconds later, and a request submitted at once was ordered again in view 2. Here r3's links
// connect 30 ms late (`connectsAt`). Fresh replicas now wait up to `suspectAfterMs` for the rest of the
// configuration once a majority confirmed each other; with no grace this test fails (all three end in view 2).
describe('a replica slower to listen when the cluster first starts', () => {
  it('starts with the others in view 1, and a put submitted at once takes one position', async () => {
    const cluster = new SimCluster({
      machine: kv,
      orderer: lamport({ heartbeatMs: 10 }),
      replicas: 3,
      seed: 1,
      delay: { minMs: 1, maxMs: 2 },
      connectsAt: (from, to) => (from === 'r3' || to === 'r3' ? 30 : 0),
    })
    await cluster.start()
    const writer = await cluster.client('writer', ['r1', 'r2', 'r3'])
    // Settles within 10 s of virtual time, without failing (`until` throws otherwise).
    await cluster.until(writer.submit({ name: 'put', args: { key: 'x', value: '1' } }), 10_000)
    await cluster.runFor(3_000) // past every timeout: nothing changes the view
    const engines = ['r1', 'r2', 'r3'].map((id) => cluster.host(id).engine)
    expect(engines.map((e) => `${e.status} view ${e.view.id} at ${e.position}`)).toEqual(Array(3).fill('normal view 1 at 1'))
    await cluster.stop()
  })
})
