import { describe, expect, it } from 'vitest'
import { silentLogger, type ApplyContext, type Request, type StateMachine } from '@lockstep/interface'
import { ReplicatedState } from '../src/engine/replicated-state'
import { RequestPath } from '../src/engine/request-path'

// Agreed time (issue 12): ApplyContext.time is the time a request entered the cluster, carried with it in the
// order and made non-decreasing along it, so every replica sees the same time at every position.

/** A machine that records the context of every apply in `seen`. */
function recorder(seen: ApplyContext[] = []): StateMachine<ApplyContext[]> {
  return {
    name: 'recorder',
    init: () => [],
    apply: (state, _command, ctx) => {
      state.push(ctx)
      seen.push(ctx)
      return []
    },
    snapshot: (state) => new TextEncoder().encode(JSON.stringify(state)),
    restore: (bytes) => JSON.parse(new TextDecoder().decode(bytes)) as ApplyContext[],
  }
}

const request = (seq: number, time?: number): Request => ({ client: 'c', seq, command: {}, ...(time === undefined ? {} : { time }) })

describe('agreed time', () => {
  it('is the entering time, never decreasing along the order (a request ordered after a later one keeps the later time)', () => {
    const seen: ApplyContext[] = []
    const state = new ReplicatedState(recorder(seen))
    const times = [100, 90, 120, undefined, 130].map((time, i) => state.execute(request(i + 1, time)).time)
    expect(times).toEqual([100, 100, 120, 120, 130])
    expect(seen.map((ctx) => [ctx.position, ctx.time])).toEqual([
      [1, 100],
      [2, 100],
      [3, 120],
      [4, 120],
      [5, 130],
    ])
  })

  it('a duplicate (answered from the session table) moves it too, so it depends on the order alone', () => {
    const state = new ReplicatedState(recorder())
    state.execute(request(1, 10))
    expect(state.execute(request(1, 50))).toMatchObject({ executed: false, time: 50 })
    expect(state.execute(request(2, 20)).time).toBe(50)
  })

  it('travels in images: a replica that took the state goes on from the same time', () => {
    const source = new ReplicatedState(recorder())
    source.execute(request(1, 500))
    const taker = new ReplicatedState(recorder())
    taker.restore(source.image())
    expect(taker.time).toBe(500)
    expect(taker.execute(request(2, 400)).time).toBe(500)
  })

  it('is set by the replica a request enters, whatever the client sent', () => {
    const ordered: Request[] = []
    const path = new RequestPath(recorder(), {
      self: 'r1',
      effects: { sendToPeer: () => {}, sendToClient: () => {} },
      log: silentLogger,
      status: () => 'normal',
      order: (r) => ordered.push(r),
      now: () => 1_700_000_000_123.75,
      startingCluster: () => false,
    })
    path.onClientMessage('c', { type: 'request', request: { client: 'c', seq: 1, command: {}, time: 5 } })
    expect(ordered).toEqual([{ client: 'c', seq: 1, command: {}, time: 1_700_000_000_123 }])
  })
})
