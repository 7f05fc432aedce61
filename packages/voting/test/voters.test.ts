import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { byzantine, first, majority, type VoteOutcome, type VoterFactory } from '../src/index'

const three = ['r1', 'r2', 'r3']
const five = ['r1', 'r2', 'r3', 'r4', 'r5']

/** Casts the ballots in order and returns the last outcome. */
function run(factory: VoterFactory, replicas: string[], ballots: [string, unknown][]): VoteOutcome<unknown> {
  const tally = factory(replicas).tally()
  let outcome = tally.outcome()
  for (const [replica, value] of ballots) outcome = tally.cast(replica, value)
  return outcome
}

/** Every ordering of a list. */
function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]]
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]))
}

describe('the rules and their thresholds', () => {
  it('first decides on one ballot, majority on more than half, byzantine(t) on t+1', () => {
    expect(first()(five).needed).toBe(1)
    expect(majority()(three).needed).toBe(2)
    expect(majority()(['r1', 'r2', 'r3', 'r4']).needed).toBe(3)
    expect(majority()(five).needed).toBe(3)
    expect(byzantine(1)(three).needed).toBe(2)
    expect(byzantine(2)(five).needed).toBe(3)
    expect(byzantine(1)(five).needed).toBe(2)
    expect(byzantine(2)(five).rule).toBe('byzantine(2)')
  })

  it('byzantine(t) refuses fewer than 2t+1 replicas with INVALID_CONFIG, saying why', () => {
    expect(() => byzantine(1)(['r1', 'r2'])).toThrow(expect.objectContaining({
      code: 'INVALID_CONFIG',
      message: 'voter byzantine(1): 2 replicas cannot outvote 1 faulty one; byzantine(t) needs at least 2t+1 = 3 replicas (or a smaller t)',
    }))
    expect(() => byzantine(2)(['r1', 'r2', 'r3', 'r4'])).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining('at least 2t+1 = 5 replicas') }))
  })

  it.each([[-1], [1.5], [Number.NaN]])('byzantine(%s) is refused: t must be a non-negative integer', (t) => {
    expect(() => byzantine(t)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining('non-negative integer') }))
  })

  it('a voter needs a non-empty list of distinct replicas', () => {
    expect(() => majority()([])).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining('no replicas given') }))
    expect(() => majority()(['r1', 'r1', 'r2'])).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining("replica 'r1' is listed twice") }))
  })

  it('a ballot from a replica the voter does not list is refused with UNKNOWN_PEER', () => {
    const tally = majority()(three).tally()
    expect(() => tally.cast('r9', 1)).toThrow(expect.objectContaining({ code: 'UNKNOWN_PEER', message: expect.stringContaining("'r9', which is not one of the replicas r1, r2, r3") }))
  })
})

describe('a tally', () => {
  it('is undecided until enough identical ballots arrive, then decided with who agreed and who dissented', () => {
    const tally = byzantine(1)(three).tally<{ n: number }>()
    expect(tally.cast('r2', { n: 1 })).toEqual({ status: 'undecided', voted: 1, needed: 2, leading: 1 })
    expect(tally.cast('r3', { n: 2 })).toEqual({ status: 'undecided', voted: 2, needed: 2, leading: 1 })
    expect(tally.cast('r1', { n: 1 })).toMatchObject({ status: 'decided', value: { n: 1 }, agreeing: ['r1', 'r2'], dissenting: ['r3'] })
  })

  it('compares ballots by canonical encoding: key order does not matter', () => {
    const outcome = run(byzantine(1), three, [['r1', { a: 1, b: [1, 2] }], ['r2', { b: [1, 2], a: 1 }]])
    expect(outcome).toMatchObject({ status: 'decided', agreeing: ['r1', 'r2'] })
  })

  it('counts duplicate ballots from one replica once', () => {
    const tally = byzantine(1)(three).tally()
    tally.cast('r1', 'x')
    expect(tally.cast('r1', 'x')).toEqual({ status: 'undecided', voted: 1, needed: 2, leading: 1 })
    expect(tally.cast('r1', 'x').status).toBe('undecided')
    expect(tally.cast('r2', 'x')).toMatchObject({ status: 'decided', value: 'x', agreeing: ['r1', 'r2'], dissenting: [] })
  })

  it('a replica that changes its ballot counts for nothing and is reported as dissenting (equivocation)', () => {
    const tally = byzantine(1)(three).tally()
    tally.cast('r1', 'x')
    expect(tally.cast('r1', 'y')).toEqual({ status: 'undecided', voted: 1, needed: 2, leading: 0 })
    expect(tally.dissenters()).toEqual(['r1'])
    expect(tally.cast('r1', 'x').status).toBe('undecided') // going back does not restore it
    expect(tally.cast('r2', 'x').status).toBe('undecided')
    expect(tally.cast('r3', 'x')).toMatchObject({ status: 'decided', value: 'x', agreeing: ['r2', 'r3'], dissenting: ['r1'] })
  })

  it('keeps reporting dissenters after the decision, which never changes', () => {
    const tally = majority()(five).tally()
    for (const replica of ['r1', 'r2', 'r3']) tally.cast(replica, 'x')
    expect(tally.dissenters()).toEqual([])
    expect(tally.cast('r5', 'late and wrong')).toMatchObject({ status: 'decided', value: 'x', dissenting: ['r5'] })
    tally.cast('r2', 'changed its mind')
    expect(tally.dissenters()).toEqual(['r2', 'r5'])
    expect(tally.outcome()).toMatchObject({ status: 'decided', value: 'x', agreeing: ['r1', 'r3'], dissenting: ['r2', 'r5'] })
  })

  it('is impossible once no value can reach the threshold, before every replica voted if need be', () => {
    const byz = byzantine(2)(five).tally()
    for (const [replica, value] of [['r1', 'a'], ['r2', 'b'], ['r3', 'c']] as const) expect(byz.cast(replica, value).status).toBe('undecided')
    const outcome = byz.cast('r4', 'd')
    expect(outcome).toEqual({
      status: 'impossible',
      voted: 4,
      needed: 3,
      reason: 'voter byzantine(2): 4 of 5 replicas voted for 4 different values; the most any value has is 1, and with the 1 replica yet to vote no value can reach the 3 identical ballots needed',
    })
    expect(run(majority(), ['r1', 'r2', 'r3', 'r4'], [['r1', 'a'], ['r2', 'a'], ['r3', 'b']]).status).toBe('undecided')
    expect(run(majority(), ['r1', 'r2', 'r3', 'r4'], [['r1', 'a'], ['r2', 'a'], ['r3', 'b'], ['r4', 'b']]).status).toBe('impossible')
  })

  it('counts equivocators as having voted when it judges what is still possible', () => {
    const outcome = run(byzantine(1), three, [['r1', 'a'], ['r1', 'b'], ['r2', 'c']])
    expect(outcome).toMatchObject({ status: 'undecided', voted: 2, leading: 1 })
    expect(run(byzantine(1), three, [['r1', 'a'], ['r1', 'b'], ['r2', 'c'], ['r3', 'a']])).toMatchObject({
      status: 'impossible',
      reason: expect.stringContaining('1 changed their ballot (r1)'),
    })
  })
})

describe('voting against liars', () => {
  it('first() returns the liar\'s value when its reply arrives first', () => {
    expect(run(first(), three, [['r3', 'lie'], ['r1', 'truth'], ['r2', 'truth']])).toMatchObject({
      status: 'decided',
      value: 'lie',
      agreeing: ['r3'],
      dissenting: ['r1', 'r2'],
    })
  })

  it('byzantine(1) with one liar among 3 decides the right value in every arrival order', () => {
    const truth = { balance: 10, owner: 'alice' }
    for (const liar of three) {
      const ballots: [string, unknown][] = three.map((replica) => [replica, replica === liar ? { balance: 11, owner: 'alice' } : { owner: 'alice', balance: 10 }])
      for (const order of permutations(ballots)) {
        const outcome = run(byzantine(1), three, order)
        expect(outcome, JSON.stringify(order)).toMatchObject({ status: 'decided', value: truth, dissenting: [liar] })
      }
    }
  })

  /**
   * Honest replicas send the truth (maybe more than once); the liars send anything, any number of times (a lie,
   * the truth then a lie, several lies), in any interleaving. The tally must never decide a lie, and must decide
   * the truth once every honest ballot is in.
   */
  function liarsProperty(t: number, replicas: string[]) {
    const ballotValue = fc.oneof(fc.constant('truth'), fc.constant('lie'), fc.jsonValue({ maxDepth: 2 }))
    return fc.property(
      fc.shuffledSubarray(replicas, { minLength: t, maxLength: t }),
      fc.array(fc.tuple(fc.nat(), ballotValue), { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 4 }),
      fc.infiniteStream(fc.nat()),
      (liars, liarBallots, honestRepeats, shuffle) => {
        const honest = replicas.filter((replica) => !liars.includes(replica))
        const ballots: [string, unknown][] = [
          ...honest.map((replica): [string, unknown] => [replica, 'truth']),
          ...honestRepeats.map((i): [string, unknown] => [honest[i % honest.length]!, 'truth']),
          ...liarBallots.map(([i, value]): [string, unknown] => [liars[i % liars.length]!, value]),
        ]
        // A seeded shuffle of every ballot (Fisher–Yates driven by the stream).
        const random = shuffle[Symbol.iterator]()
        for (let i = ballots.length - 1; i > 0; i--) {
          const j = (random.next().value as number) % (i + 1)
          ;[ballots[i], ballots[j]] = [ballots[j]!, ballots[i]!]
        }
        const tally = byzantine(t)(replicas).tally()
        for (const [replica, value] of ballots) {
          const outcome = tally.cast(replica, value)
          if (outcome.status === 'decided') expect(outcome.value).toBe('truth')
          expect(outcome.status).not.toBe('impossible')
        }
        const final = tally.outcome()
        expect(final).toMatchObject({ status: 'decided', value: 'truth' })
        if (final.status !== 'decided') return
        expect(final.agreeing.filter((replica) => honest.includes(replica))).toEqual(honest)
        for (const replica of final.dissenting) expect(liars).toContain(replica)
      },
    )
  }

  it('byzantine(1) with one liar among 3 decides the truth whatever the liar sends and whatever the order (property)', () => {
    fc.assert(liarsProperty(1, three), { seed: 31, numRuns: 300 })
  })

  it('byzantine(2) with 2 liars among 5 decides the truth whatever they send and whatever the order (property)', () => {
    fc.assert(liarsProperty(2, five), { seed: 52, numRuns: 300 })
  })

  it('byzantine(2) with 2 colluding liars among 5: their common lie never decides', () => {
    const ballots: [string, unknown][] = [['r4', 'lie'], ['r5', 'lie'], ['r1', 'truth'], ['r2', 'truth'], ['r3', 'truth']]
    for (const order of permutations(ballots)) {
      expect(run(byzantine(2), five, order)).toMatchObject({ status: 'decided', value: 'truth', dissenting: ['r4', 'r5'] })
    }
  })

  it('majority() decides with more than half, like byzantine(1) on 3 replicas', () => {
    expect(run(majority(), three, [['r3', 'lie'], ['r1', 'truth'], ['r2', 'truth']])).toMatchObject({ status: 'decided', value: 'truth', dissenting: ['r3'] })
  })
})
