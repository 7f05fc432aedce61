import { afterEach, describe, expect, it } from 'vitest'
import { LockstepError, realScheduler } from '@lockstep/interface'
import type { Scheduler } from '@lockstep/interface'
import { FrameType } from '../src/envelope'
import type { TcpTransport } from '../src/index'
import { ACK_DELAY_MS } from '../src/reliable-link'
import { CLUSTER, HOST, REPLICA_SECRET, buildTcp, dataFrame } from './helpers'
import { RawPeer } from './raw-peer'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

/** The real scheduler, recording the delay of every timer asked for. */
function recordingScheduler(): Scheduler & { readonly delays: number[] } {
  const real = realScheduler()
  const delays: number[] = []
  return {
    delays,
    now: () => real.now(),
    setTimer: (delayMs, fn) => (delays.push(delayMs), real.setTimer(delayMs, fn)),
    clearTimer: (handle) => real.clearTimer(handle),
    defer: (fn) => real.defer(fn),
  }
}

/**
 * Replica r1, and a hand-driven replica r0 linked to it (r0 sorts first, so it dials): r0 sends one message and
 * nothing goes back but what the link itself writes. Resolves once r1 delivered the message.
 */
async function oneMessageFromR0(options: { peerAckDelayMs?: number }, scheduler: Scheduler): Promise<RawPeer> {
  const transport: TcpTransport = buildTcp({
    self: 'r1',
    clusterId: CLUSTER,
    listen: { host: HOST, port: 0 },
    peers: [
      { id: 'r0', host: HOST, port: 1 },
      { id: 'r1', host: HOST, port: 0 },
    ],
    auth: { secret: REPLICA_SECRET },
    scheduler,
    ...options,
  })
  cleanups.push(() => transport.stop())
  const { port } = await transport.bind()
  let delivered!: () => void
  const arrived = new Promise<void>((resolve) => (delivered = resolve))
  await transport.start({ onPeerMessage: () => delivered(), onClientMessage: () => {} })
  const peer = await RawPeer.connect(port)
  cleanups.push(() => peer.destroy())
  expect(await peer.authenticate('r0', 'replica', REPLICA_SECRET, 'r1')).toBe(true)
  peer.write(dataFrame(1, { heartbeat: 1 }))
  await arrived
  return peer
}

describe('peerAckDelayMs: how long a replica link waits to acknowledge with data going back', () => {
  it('is the delay of the acknowledgement timer of a replica link (default: the link default)', async () => {
    for (const [given, expected] of [
      [250, 250],
      [undefined, ACK_DELAY_MS],
    ] as const) {
      const scheduler = recordingScheduler()
      const peer = await oneMessageFromR0(given === undefined ? {} : { peerAckDelayMs: given }, scheduler)
      // The acknowledgement waits for data going back: a timer of the configured delay, no ACK written yet.
      expect(scheduler.delays).toContain(expected)
      expect(scheduler.delays.filter((delay) => delay === ACK_DELAY_MS || delay === 250)).toEqual([expected])
      expect(peer.envelopes.filter((e) => e.type === FrameType.ACK)).toEqual([])
      // With nothing to ride on, it goes alone once the timer fires.
      expect(await peer.waitForFrame(FrameType.ACK)).toEqual({ type: FrameType.ACK, upTo: 1 })
      await cleanups.pop()!()
      await cleanups.pop()!()
    }
  })

  it('0 acknowledges at the end of the socket read, with no timer', async () => {
    const scheduler = recordingScheduler()
    const peer = await oneMessageFromR0({ peerAckDelayMs: 0 }, scheduler)
    expect(await peer.waitForFrame(FrameType.ACK)).toEqual({ type: FrameType.ACK, upTo: 1 })
    expect(scheduler.delays.filter((delay) => delay < 1_000)).toEqual([])
  })

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY, '75'])('refuses %s with INVALID_CONFIG naming the option', (value) => {
    const build = () =>
      buildTcp({ self: 'r1', clusterId: CLUSTER, listen: { host: HOST, port: 0 }, peers: [], auth: { secret: REPLICA_SECRET }, peerAckDelayMs: value as number })
    expect(build).toThrow(LockstepError)
    expect(build).toThrow(/peerAckDelayMs must be a number of milliseconds >= 0/)
  })
})
