import { describe, expect, it } from 'vitest'
import { ErrorCodes, LockstepError } from '@lockstep/interface'
import { flush, harness, okReply, track } from './harness'

describe('the client never throws from a timer (Found 3)', () => {
  it('a link that stays full (BACKPRESSURE) is retried by the request timer, never thrown from it', async () => {
    const h = harness()
    await h.client.start()
    h.failSendWith(() => new LockstepError(ErrorCodes.BACKPRESSURE, 'Link client c1 -> r1 holds 64 MiB of unacknowledged messages'))
    const pending = track(h.client.submit({ name: 'get' }))
    h.advance(1000)
    expect(h.thrownFromTimers).toEqual([])
    h.failSendWith(undefined)
    h.advance(100)
    h.receive('r2', { type: 'reply', from: 'r2', reply: okReply(1) })
    await flush()
    expect(pending).toMatchObject({ settled: true, value: { ok: true } })
  })

  it("the output-sync timer of nextNotice never throws, whatever the transport's send throws (BACKPRESSURE from a plug-in's own error class included)", async () => {
    const h = harness()
    await h.client.start()
    const waiting = track(h.client.nextNotice())
    h.failSendWith(() => new LockstepError(ErrorCodes.BACKPRESSURE, 'full'))
    h.advance(300)
    h.failSendWith(() => Object.assign(new Error('send buffer full'), { code: 'BACKPRESSURE' }))
    h.advance(300)
    h.failSendWith(() => new TypeError('socket.write is not a function'))
    h.advance(300)
    expect(h.thrownFromTimers).toEqual([])
    // Nothing is swallowed silently: an unexpected error is logged at error level.
    expect(h.logged.some((l) => l.level === 'error' && /socket\.write is not a function/.test(l.message))).toBe(true)
    h.failSendWith(undefined)
    h.advance(100)
    expect(h.sent.at(-1)!.message).toMatchObject({ type: 'outputs' })
    expect(waiting.settled).toBe(false)
  })

  it('a request whose retry throws an unexpected error settles with that error, and nothing stays pending', async () => {
    const h = harness()
    await h.client.start()
    const pending = track(h.client.submit({ name: 'get' }))
    h.failSendWith(() => new TypeError('socket.write is not a function'))
    h.advance(100)
    await flush()
    expect(h.thrownFromTimers).toEqual([])
    expect(pending.settled).toBe(true)
    expect(h.client.inFlight).toBe(0)
  })
})

describe('per-call timeoutMs and AbortSignal', () => {
  it('submit({ timeoutMs }) rejects with TIMEOUT once the time is up, though maxAttempts is unlimited', async () => {
    const h = harness()
    await h.client.start()
    const pending = track(h.client.submit({ name: 'get' }, { timeoutMs: 250 }))
    h.advance(249)
    await flush()
    expect(pending.settled).toBe(false)
    h.advance(1)
    await flush()
    expect(pending.error).toMatchObject({ code: 'TIMEOUT', message: "client 'c1': request #1 got no reply within 250 ms (timeoutMs; 3 attempts)" })
    expect(h.client.inFlight).toBe(0)
    const attempts = h.sent.length
    h.advance(1000)
    expect(h.sent).toHaveLength(attempts) // no retries after the timeout
  })

  it('call(command, { timeoutMs }) throws TIMEOUT the same way', async () => {
    const h = harness()
    await h.client.start()
    const pending = track(h.client.call({ name: 'get' }, { timeoutMs: 50 }))
    h.advance(50)
    await flush()
    expect(pending.error).toMatchObject({ code: 'TIMEOUT' })
  })

  it('a reply within timeoutMs resolves, and the deadline is forgotten', async () => {
    const h = harness()
    await h.client.start()
    const pending = track(h.client.submit({ name: 'get' }, { timeoutMs: 250 }))
    h.receive('r1', { type: 'reply', from: 'r1', reply: okReply(1) })
    h.advance(1000)
    await flush()
    expect(pending).toMatchObject({ settled: true, value: { ok: true } })
    expect(h.thrownFromTimers).toEqual([])
  })

  it('an aborted signal settles the request with ABORTED (the reason as its cause) and stops its retries', async () => {
    const h = harness()
    await h.client.start()
    const controller = new AbortController()
    const pending = track(h.client.submit({ name: 'get' }, { signal: controller.signal }))
    h.advance(100)
    const reason = new Error('the user pressed Ctrl-C')
    controller.abort(reason)
    await flush()
    expect(pending.error).toMatchObject({ code: 'ABORTED' })
    expect((pending.error as LockstepError).message).toMatch(/^client 'c1': request #1 was abandoned \(its signal aborted\) after 2 attempts; it may still execute$/)
    expect((pending.error as LockstepError).cause).toBe(reason)
    expect(h.client.inFlight).toBe(0)
    const attempts = h.sent.length
    h.advance(1000)
    expect(h.sent).toHaveLength(attempts)
  })

  it('call() with a signal that already aborted rejects at once and sends nothing', async () => {
    const h = harness()
    await h.client.start()
    await expect(h.client.call({ name: 'get' }, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORTED' })
    expect(h.sent).toHaveLength(0)
    expect(h.client.inFlight).toBe(0)
  })

  it('a reply before the abort wins; a later abort changes nothing', async () => {
    const h = harness()
    await h.client.start()
    const controller = new AbortController()
    const pending = h.client.submit({ name: 'get' }, { signal: controller.signal })
    h.receive('r1', { type: 'reply', from: 'r1', reply: okReply(1) })
    controller.abort()
    await expect(pending).resolves.toMatchObject({ ok: true })
  })

  it('rejects a timeoutMs that is not a positive number with INVALID_CONFIG', async () => {
    const h = harness()
    await h.client.start()
    await expect(h.client.submit({ name: 'get' }, { timeoutMs: 0 })).rejects.toMatchObject({ code: 'INVALID_CONFIG' })
    await expect(h.client.submit({ name: 'get' }, { timeoutMs: Number.NaN })).rejects.toMatchObject({ code: 'INVALID_CONFIG' })
    expect(h.sent).toHaveLength(0)
  })
})

describe('refused connections fail fast (Found 5)', () => {
  const refusal = (code: 'AUTH_FAILED' | 'CLUSTER_MISMATCH' | 'UNREACHABLE', replica: string, reason: string) => new LockstepError(code, `${replica}: ${reason}`)

  it('once every replica refused the client (a wrong secret), pending requests settle with AUTH_FAILED and every reason', async () => {
    const h = harness()
    await h.client.start()
    const first = track(h.client.submit({ name: 'get' }))
    const second = track(h.client.call({ name: 'put' }))
    h.refused('r1', refusal('AUTH_FAILED', 'r1', 'authentication failed: "r1" did not prove the client secret'))
    h.refused('r2', refusal('AUTH_FAILED', 'r2', 'authentication failed: "r2" did not prove the client secret'))
    await flush()
    expect(first.settled).toBe(false) // r3 has not answered yet
    h.refused('r3', refusal('AUTH_FAILED', 'r3', 'authentication failed: "r3" did not prove the client secret'))
    await flush()
    for (const request of [first, second]) {
      expect(request.error).toMatchObject({ code: 'AUTH_FAILED' })
      expect((request.error as Error).message).toMatch(/^client 'c1': every replica refused it: r1: authentication failed: .*; r2: .*; r3: .*did not prove the client secret/)
    }
    expect(h.client.inFlight).toBe(0)
  })

  it('a request submitted while every replica refuses fails at once with the same error', async () => {
    const h = harness({ replicas: ['r1'] })
    await h.client.start()
    h.refused('r1', refusal('CLUSTER_MISMATCH', 'r1', 'node "c1" belongs to cluster "prod", not "test"'))
    await expect(h.client.submit({ name: 'get' })).rejects.toMatchObject({ code: 'CLUSTER_MISMATCH', message: expect.stringMatching(/cluster "prod", not "test"/) })
    expect(h.client.inFlight).toBe(0)
  })

  it('connection refused on every replica is UNREACHABLE; an authentication refusal says more and wins over it', async () => {
    const down = harness()
    await down.client.start()
    const pending = track(down.client.submit({ name: 'get' }))
    for (const r of ['r1', 'r2', 'r3']) down.refused(r, refusal('UNREACHABLE', r, 'connection refused (ECONNREFUSED)'))
    await flush()
    expect(pending.error).toMatchObject({ code: 'UNREACHABLE' })

    const mixed = harness()
    await mixed.client.start()
    const other = track(mixed.client.submit({ name: 'get' }))
    mixed.refused('r1', refusal('UNREACHABLE', 'r1', 'connection refused (ECONNREFUSED)'))
    mixed.refused('r2', refusal('CLUSTER_MISMATCH', 'r2', 'belongs to cluster "prod"'))
    mixed.refused('r3', refusal('UNREACHABLE', 'r3', 'connection refused (ECONNREFUSED)'))
    await flush()
    expect(other.error).toMatchObject({ code: 'CLUSTER_MISMATCH' })
  })

  it('a replica that is only slow (no refusal) keeps the requests waiting; one that connected after refusing clears its refusal', async () => {
    const h = harness()
    await h.client.start()
    const pending = track(h.client.submit({ name: 'get' }))
    h.refused('r1', refusal('UNREACHABLE', 'r1', 'connection refused'))
    h.refused('r2', refusal('UNREACHABLE', 'r2', 'connection refused'))
    h.advance(1000) // r3 never answers: slow, not refused
    await flush()
    expect(pending.settled).toBe(false)
    h.connected('r1')
    h.refused('r3', refusal('UNREACHABLE', 'r3', 'connection refused'))
    await flush()
    expect(pending.settled).toBe(false) // r1 is back
    h.receive('r1', { type: 'reply', from: 'r1', reply: okReply(1) })
    await flush()
    expect(pending).toMatchObject({ settled: true, value: { ok: true } })
  })

  it('ignores refusals of replicas it does not use', async () => {
    const h = harness({ replicas: ['r1'] })
    await h.client.start()
    const pending = track(h.client.submit({ name: 'get' }))
    h.refused('r9', refusal('AUTH_FAILED', 'r9', 'no'))
    await flush()
    expect(pending.settled).toBe(false)
  })
})
