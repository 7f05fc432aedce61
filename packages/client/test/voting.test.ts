import { describe, expect, it } from 'vitest'
import { ErrorCodes, type OutputNotice, type Reply } from '@lockstep/interface'
import { byzantine, first, majority, type DissentEvent } from '../src/index'
import { flush, harness, track } from './harness'

const reply = (seq: number, value: unknown, extra: Partial<Reply> = {}): Reply => ({ client: 'c1', seq, ok: true, outputs: [{ outputSeq: seq, value }], position: seq, ...extra }) as Reply
const answer = (from: string, r: Reply) => ({ type: 'reply', from, reply: r })
const requestsTo = (sent: { to: string; message: any }[]) => sent.filter((s) => s.message.type === 'request').map((s) => s.to)
const notice = (outputSeq: number, value: unknown): OutputNotice => ({ to: 'c1', outputSeq, value, cause: { client: 'c2', seq: 1 }, position: 9 })

describe('a client that votes on the replicas\' replies', () => {
  it('byzantine(1): a lying replica answering first does not decide; t+1 identical replies do, and the liar is reported', async () => {
    const h = harness({ voter: byzantine(1) })
    await h.client.start()
    const dissent: DissentEvent[] = []
    h.client.onDissent((event) => dissent.push(event))
    const result = track(h.client.call({ name: 'get' }))
    h.receive('r3', answer('r3', reply(1, 'wrong')))
    h.receive('r1', answer('r1', reply(1, 'right')))
    await flush()
    expect(result.settled).toBe(false) // one each: undecided
    h.receive('r2', answer('r2', reply(1, 'right')))
    await flush()
    expect(result.value).toEqual(['right'])
    expect(dissent).toEqual([{ kind: 'reply', seq: 1, rule: 'byzantine(1)', agreeing: ['r1', 'r2'], dissenting: ['r3'] }])
    expect(h.client.dissent).toEqual({ events: 1, byReplica: { r3: 1 } })
  })

  it('first(): the liar whose reply arrives first fools the client (why voting exists)', async () => {
    for (const voter of [undefined, first()]) {
      const h = harness(voter ? { voter } : {})
      await h.client.start()
      const result = track(h.client.call({ name: 'get' }))
      h.receive('r3', answer('r3', reply(1, 'wrong')))
      await flush()
      expect(result.value).toEqual(['wrong'])
      expect(h.client.voting).toBe('first')
    }
  })

  it('reports a replica whose different reply comes after the decision, once', async () => {
    const h = harness({ voter: majority() })
    await h.client.start()
    const result = track(h.client.call({ name: 'get' }))
    h.receive('r1', answer('r1', reply(1, 'right')))
    h.receive('r2', answer('r2', reply(1, 'right')))
    await flush()
    expect(result.value).toEqual(['right'])
    expect(h.client.dissent.events).toBe(0)
    h.receive('r3', answer('r3', reply(1, 'late lie')))
    h.receive('r3', answer('r3', reply(1, 'late lie')))
    expect(h.client.dissent).toEqual({ events: 1, byReplica: { r3: 1 } })
  })

  it('compares replies by canonical encoding: key order does not matter', async () => {
    const h = harness({ voter: byzantine(1) })
    await h.client.start()
    const result = track(h.client.call({ name: 'get' }))
    h.receive('r1', answer('r1', reply(1, { a: 1, b: 2 })))
    h.receive('r2', answer('r2', reply(1, { b: 2, a: 1 })))
    await flush()
    expect(result.value).toEqual([{ a: 1, b: 2 }])
    expect(h.client.dissent.events).toBe(0)
  })

  it('a replica that answers twice counts once; one that changes its answer counts for nothing', async () => {
    const h = harness({ voter: byzantine(1) })
    await h.client.start()
    const result = track(h.client.call({ name: 'get' }))
    h.receive('r3', answer('r3', reply(1, 'wrong')))
    h.receive('r3', answer('r3', reply(1, 'wrong')))
    await flush()
    expect(result.settled).toBe(false)
    h.receive('r1', answer('r1', reply(1, 'right')))
    h.receive('r1', answer('r1', reply(1, 'other'))) // equivocation: r1 counts for nothing now
    h.receive('r2', answer('r2', reply(1, 'right')))
    await flush()
    // r2 alone says 'right', r3 'wrong', r1 nothing that counts: two faulty replicas out of three, beyond t = 1.
    expect(result.error).toMatchObject({ code: ErrorCodes.VOTE_FAILED })
    expect(h.client.dissent.byReplica).toEqual({})
  })

  it('fails with VOTE_FAILED when no reply can reach the threshold any more', async () => {
    const h = harness({ voter: byzantine(1) })
    await h.client.start()
    const result = track(h.client.submit({ name: 'get' }))
    h.receive('r1', answer('r1', reply(1, 'a')))
    h.receive('r2', answer('r2', reply(1, 'b')))
    h.receive('r3', answer('r3', reply(1, 'c')))
    await flush()
    expect(result.error).toMatchObject({ code: ErrorCodes.VOTE_FAILED })
    expect((result.error as Error).message).toMatch(/request #1 cannot be decided by byzantine\(1\)/)
  })

  it('a refusal before ordering (no position) goes to every replica, so each can give it', async () => {
    const h = harness({ voter: byzantine(1) })
    await h.client.start()
    const result = track(h.client.submit({ name: 'bad' }))
    expect(requestsTo(h.sent)).toEqual(['r1'])
    const refusal: Reply = { client: 'c1', seq: 1, ok: false, error: { code: ErrorCodes.INVALID_COMMAND, message: 'bad' } }
    h.receive('r1', answer('r1', refusal))
    expect(requestsTo(h.sent)).toEqual(['r1', 'r2', 'r3'])
    h.receive('r2', answer('r2', refusal))
    await flush()
    expect(result.value).toMatchObject({ ok: false, error: { code: ErrorCodes.INVALID_COMMAND } })
  })

  it('makes itself known to every replica at start (so that each answers it); a client that takes the first answer does not', async () => {
    const voting = harness({ voter: byzantine(1) })
    await voting.client.start()
    expect(voting.sent.map((s) => [s.to, s.message])).toEqual(['r1', 'r2', 'r3'].map((r) => [r, { type: 'outputs', from: 1 }]))
    const plain = harness()
    await plain.client.start()
    expect(plain.sent).toEqual([])
  })

  it("asks every replica to answer its requests (replyFromAll); a client that takes the first answer lets the one it asked answer", async () => {
    for (const [voter, expected] of [[byzantine(1), true], [majority(), true], [first(), undefined], [undefined, undefined]] as const) {
      const h = harness(voter ? { voter } : {})
      await h.client.start()
      track(h.client.submit({ name: 'get' }))
      const requests = h.sent.filter((s) => s.message.type === 'request')
      expect(requests, String(voter?.name)).toHaveLength(1)
      expect(requests[0]!.message.request.replyFromAll, String(voter?.name)).toBe(expected)
    }
  })

  it('a refusal before ordering is no dissent: correct replicas may refuse a late retry of a request they answered', async () => {
    const h = harness({ voter: byzantine(1) })
    await h.client.start()
    const result = track(h.client.call({ name: 'get' }))
    const expired: Reply = { client: 'c1', seq: 1, ok: false, error: { code: ErrorCodes.SESSION_EXPIRED, message: 'older than acknowledged' } }
    h.receive('r3', answer('r3', expired)) // refused before ordering: no position
    h.receive('r1', answer('r1', reply(1, 'right')))
    h.receive('r2', answer('r2', reply(1, 'right')))
    await flush()
    expect(result.value).toEqual(['right'])
    h.receive('r1', answer('r1', expired)) // a late retry, refused after the decision
    expect(h.client.dissent.events).toBe(0)
  })

  it('a retry goes to every replica', async () => {
    const h = harness({ voter: byzantine(1), retryAfterMs: 100 })
    await h.client.start()
    track(h.client.submit({ name: 'get' }))
    h.advance(100)
    expect(requestsTo(h.sent)).toEqual(['r1', 'r1', 'r2', 'r3'])
  })

  it('takes no configuration from a reply: a liar naming itself alone does not get the first attempts', async () => {
    const h = harness({ voter: byzantine(1), retryAfterMs: 100 })
    await h.client.start()
    const first = track(h.client.submit({ name: 'get' }))
    h.receive('r3', { ...answer('r3', reply(1, 'lie')), configuration: { view: 1_000_000, replicas: ['r3'] } })
    h.receive('r1', answer('r1', reply(1, 'v')))
    h.receive('r2', answer('r2', reply(1, 'v')))
    await flush()
    expect(first.settled).toBe(true)
    track(h.client.submit({ name: 'get' }))
    expect(requestsTo(h.sent).at(-1)).toBe('r1')
  })

  it('votes on the outputs addressed to it: a lying replica\'s notice is outvoted and reported', async () => {
    const h = harness({ voter: byzantine(1) })
    await h.client.start()
    const dissent: DissentEvent[] = []
    h.client.onDissent((event) => dissent.push(event))
    const next = track(h.client.nextNotice())
    h.receive('r3', { type: 'output', from: 'r3', output: notice(1, { granted: 'lie' }) })
    h.receive('r1', { type: 'output', from: 'r1', output: notice(1, { granted: true }) })
    await flush()
    expect(next.settled).toBe(false)
    h.receive('r2', { type: 'output', from: 'r2', output: notice(1, { granted: true }) })
    await flush()
    expect((next.value as OutputNotice).value).toEqual({ granted: true })
    expect(dissent).toEqual([{ kind: 'output', outputSeq: 1, rule: 'byzantine(1)', agreeing: ['r1', 'r2'], dissenting: ['r3'] }])
  })

  it('the outputs in a decided reply are the decided ones', async () => {
    const h = harness({ voter: byzantine(1) })
    await h.client.start()
    const result = track(h.client.call({ name: 'acquire' }))
    h.receive('r1', answer('r1', reply(1, 'token 7')))
    h.receive('r3', answer('r3', reply(1, 'token 99')))
    h.receive('r2', answer('r2', reply(1, 'token 7')))
    await flush()
    expect(result.value).toEqual(['token 7'])
  })
})
