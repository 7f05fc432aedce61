import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { Reply } from '@lockstep/interface'
import { DataDrivenError, describeMismatches, parseBlocks, rewrite, runBlocks } from './scenario/datadriven'
import { formatMessage, isRoutine, messageKind } from './scenario/format'
import { InteractionEnv } from './scenario/interaction-env'
import { InvariantChecker, type Incarnation } from './scenario/invariants'
import { runBlock, runScenarioFile } from './scenario/run-scenario'
import { unifiedDiff } from './scenario/unified-diff'

const r1: Incarnation = { replica: 'r1', incarnation: 1 }
const r2: Incarnation = { replica: 'r2', incarnation: 1 }
const r1again: Incarnation = { replica: 'r1', incarnation: 2 }

function violations(observe: (checker: InvariantChecker) => void): string[] {
  const checker = new InvariantChecker()
  observe(checker)
  return checker.take().map((v) => v.message)
}

describe('invariant checks fire on fabricated bad observations', () => {
  it('position never decreases within an incarnation (a new incarnation starts afresh)', () => {
    expect(violations((c) => {
      c.position(r1, 5)
      c.position(r1, 3)
    })).toEqual(['position never decreases: r1 was at position 5 and is now at position 3'])
    expect(violations((c) => {
      c.position(r1, 5)
      c.position(r1again, 0)
    })).toEqual([])
  })

  it('no delivery while joining, recovering or transferring', () => {
    expect(violations((c) => c.delivered(r2, 1, 'c1#1', true, 'joining'))).toEqual([
      'no delivery while not serving: r2 delivered c1#1 at position 1 while joining',
    ])
    expect(violations((c) => c.delivered(r2, 1, 'c1#1', true, 'recovering'))).toHaveLength(1)
  })

  it('no delivery while frozen, except the flush that ends the view (a view is installed in the same event)', () => {
    expect(violations((c) => {
      c.delivered(r1, 1, 'c1#1', true, 'frozen')
      c.eventEnded(r1)
    })).toEqual([
      'no delivery while not serving: r1 delivered c1#1 at position 1 while frozen, and installed no view after it (only the flush that ends a view may deliver while frozen)',
    ])
    expect(violations((c) => {
      c.delivered(r1, 1, 'c1#1', true, 'frozen')
      c.viewInstalled(r1, { id: 2, members: ['r1', 'r2'] }, 1)
      c.eventEnded(r1)
    })).toEqual([])
  })

  it('one view per view number', () => {
    expect(violations((c) => {
      c.view(r1, { id: 2, members: ['r1', 'r2'] })
      c.view(r2, { id: 2, members: ['r1', 'r3'] })
    })).toEqual(['one view per view number: r2 has view 2 with members (r1,r3), but r1 had view 2 with members (r1,r2)'])
  })

  it('delivered sequences agree position by position, across replicas and incarnations', () => {
    expect(violations((c) => {
      c.delivered(r1, 1, 'c1#1', true, 'normal')
      c.delivered(r1again, 1, 'c2#1', true, 'normal')
    })).toEqual(['delivered sequences agree: r1 (run 2) delivered c2#1 at position 1, but r1 delivered c1#1 there'])
  })

  it('a delivery the cluster lost is no violation only if no client was answered for it, no live run holds it, and no majority of disks held it', () => {
    const refill = (c: InvariantChecker, setup: (c: InvariantChecker) => void) => {
      c.delivered(r1, 1, 'c1#1', true, 'normal')
      setup(c)
      c.delivered(r1again, 1, 'c2#1', true, 'normal')
      // The lost request, retried, is executed at another position.
      c.delivered(r1again, 2, 'c1#1', true, 'normal')
    }
    const mayLose = (c: InvariantChecker) => c.disks((position, request) => position === 1 && request === 'c1#1')
    expect(violations((c) => refill(c, (c) => (mayLose(c), c.dropped(r1))))).toEqual([])
    const conflict = 'delivered sequences agree: r1 (run 2) delivered c2#1 at position 1, but r1 delivered c1#1 there'
    const twice = 'executed at most once: r1 (run 2) executed c1#1 at position 2, but r1 executed it at position 1'
    // Answered: the cluster promised it.
    expect(violations((c) => refill(c, (c) => (mayLose(c), c.dropped(r1), c.reply('r1', { client: 'c1', seq: 1, ok: true, outputs: [], position: 1 }))))).toEqual([conflict, twice])
    // Still held by a live run.
    expect(violations((c) => refill(c, (c) => (mayLose(c), c.delivered(r2, 1, 'c1#1', true, 'normal'), c.dropped(r1))))).toEqual([conflict, twice])
    // A majority's disks held it (or the cluster has no disks: a view change carries what any member held).
    expect(violations((c) => refill(c, (c) => c.dropped(r1)))).toEqual([conflict, twice])
  })

  it('no request is executed twice', () => {
    expect(violations((c) => {
      c.delivered(r1, 1, 'c1#1', true, 'normal')
      c.delivered(r2, 1, 'c1#1', true, 'normal')
      c.delivered(r2, 2, 'c1#1', true, 'normal')
    })).toEqual(['executed at most once: r2 executed c1#1 at position 2, but r1 executed it at position 1'])
    // Delivered again as a duplicate (not executed) is fine.
    expect(violations((c) => {
      c.delivered(r1, 1, 'c1#1', true, 'normal')
      c.delivered(r1, 2, 'c1#1', false, 'normal')
    })).toEqual([])
  })

  it('a client gets one answer per ordered request', () => {
    const reply = (position: number): Reply => ({ client: 'c1', seq: 1, ok: true, outputs: [], position })
    expect(violations((c) => {
      c.reply('r1', reply(1))
      c.reply('r2', reply(2))
    })).toEqual([
      'replies agree: c1 got {"client":"c1","seq":1,"ok":true,"outputs":[],"position":2} from r2 for request c1#1, but {"client":"c1","seq":1,"ok":true,"outputs":[],"position":1} from r1',
    ])
  })

  it('a violation fails the scenario with the file and line of the command after which it was seen', () => {
    const env = new InteractionEnv()
    const [setup, next] = parseBlocks('add-replicas 3\n----\nx\n\nstatus r1\n----\nx\n', 'bad.txt')
    runBlock(env, setup!, 'bad.txt')
    env.checker.view(r2, { id: 1, members: ['r2'] }) // fabricated: contradicts the view the replicas started in
    expect(() => runBlock(env, next!, 'bad.txt')).toThrow(/^bad\.txt:5: invariant violated after 'status r1' \(t=0 ms\):\n {2}- one view per view number: /)
  })

  it('with `invariants record`, a violation is printed as output instead (for scenarios that show a bug)', () => {
    const env = new InteractionEnv()
    const [setup, record, next] = parseBlocks('add-replicas 1\n----\nx\n\ninvariants record\n----\nx\n\nstatus\n----\nx\n', 'f.txt')
    runBlock(env, setup!, 'f.txt')
    runBlock(env, record!, 'f.txt')
    env.checker.position(r1, 9)
    expect(runBlock(env, next!, 'f.txt')).toMatch(/\nINVARIANT VIOLATED: position never decreases: r1 was at position 9 and is now at position 0$/)
  })
})

describe('datadriven files', () => {
  const folder = mkdtempSync(join(tmpdir(), 'lockstep-scenarios-'))
  afterAll(() => rmSync(folder, { recursive: true, force: true }))
  const file = (name: string, text: string) => {
    const path = join(folder, name)
    writeFileSync(path, text)
    return path
  }

  it('parses blocks of several commands, comments, continuations and double-separator outputs', () => {
    const blocks = parseBlocks('# a comment\n\nfirst a \\\n  b\nsecond\n----\none\ntwo\n\n# between\nthird\n----\n----\nx\n\ny\n----\n----\n', 'f.txt')
    expect(blocks.map((b) => ({ line: b.line, commands: b.commands.map((c) => `${c.line}:${c.text}`), expected: b.expected }))).toEqual([
      { line: 3, commands: ['3:first a b', '5:second'], expected: 'one\ntwo' },
      { line: 11, commands: ['11:third'], expected: 'x\n\ny' },
    ])
  })

  it('a block without ---- is an error naming file and line', () => {
    expect(() => parseBlocks('add-replicas 3\n----\nok\n\nstatus\n', 'f.txt')).toThrow(new DataDrivenError("f.txt:5: the block 'status' has no '----' line after its commands (every block needs '----' and its expected output)"))
    expect(() => parseBlocks('status\ntick 10\n\n', 'f.txt')).toThrow(/^f\.txt:1: the block 'status' has no '----'/)
  })

  it('unknown commands and bad arguments fail with file:line and the usage', () => {
    const unknown = file('unknown.txt', 'add-replicas 3\n----\nx\n\nfrobnicate r1\n----\nok\n')
    expect(() => runScenarioFile(unknown, 'unknown.txt', { rewrite: false })).toThrow(/^unknown\.txt:5: frobnicate r1\nunknown command 'frobnicate' \(commands: add-replicas, /)
    const bad = file('bad.txt', 'add-replicas 3\n----\nx\n\ntick soon\n----\nok\n')
    expect(() => runScenarioFile(bad, 'bad.txt', { rewrite: false })).toThrow(/^bad\.txt:5: tick soon\ntick: the milliseconds must be a non-negative integer, got 'soon' \(usage: tick MS/)
    const option = file('option.txt', 'add-replicas 3 colour=red\n----\nx\n')
    expect(() => runScenarioFile(option, 'option.txt', { rewrite: false })).toThrow(/^option\.txt:1: add-replicas 3 colour=red\nadd-replicas: unknown option 'colour='/)
    const replica = file('replica.txt', 'add-replicas 3\n----\nx\n\ncrash r7\n----\nok\n')
    expect(() => runScenarioFile(replica, 'replica.txt', { rewrite: false })).toThrow(/^replica\.txt:5: crash r7\nunknown replica 'r7' \(replicas: r1, r2, r3\)/)
  })

  it('a message kind no message has (a typo, or a kind since renamed) is an error, not a selection of nothing', () => {
    // `drop-msgs type=state?` once dropped nothing, silently (the kind is `stateRequest`), and a scenario's story of
    // lost state requests did not happen.
    for (const command of ['drop-msgs type=state?', 'deliver-msgs r1 type=prepare,promse']) {
      const path = file('kind.txt', `add-replicas 3\n----\nx\n\n${command}\n----\nok\n`)
      expect(() => runScenarioFile(path, 'kind.txt', { rewrite: false })).toThrow(/^kind\.txt:5: .*\n.*: no message is of kind '(state\?|promse)' \(kinds: accept, accepted, admit, /)
    }
    const known = file('known.txt', 'add-replicas 3\n----\nx\n\ndrop-msgs type=stateRequest,lamport,realtime,reply\n----\nok\n')
    expect(() => runScenarioFile(known, 'known.txt', { rewrite: false })).not.toThrow()
  })

  it('a link or replica no message can be on (a typo, a replica to itself) is an error, not a selection of nothing', () => {
    // `deliver-msgs r1->r1 type=commit` once delivered nothing, silently: a replica sends nothing to itself.
    const cases: [string, RegExp][] = [
      ['deliver-msgs r1->r1 type=commit', /deliver-msgs: 'r1->r1' is a link from r1 to itself, which no message is on/],
      ['drop-msgs r1->r7', /drop-msgs: no replica or client 'r7' \(replicas: r1, r2, r3; clients: none yet\)/],
      ['msgs c9', /msgs: no replica or client 'c9'/],
    ]
    for (const [command, message] of cases) {
      const path = file('link.txt', `add-replicas 3\n----\nx\n\n${command}\n----\nok\n`)
      expect(() => runScenarioFile(path, 'link.txt', { rewrite: false })).toThrow(message)
    }
    const known = file('link-known.txt', 'add-replicas 3\n----\nx\n\nsubmit r1 c1 put x 1\nmsgs r1->* *->r2 c1->r1 r3\n----\nok\n')
    // Accepted: rewritten, the block lists the request in flight on the link it names.
    expect(runScenarioFile(known, 'link-known.txt', { rewrite: true }).failure).toBeUndefined()
    expect(readFileSync(known, 'utf8')).toMatch(/msgs r1->\* \*->r2 c1->r1 r3\n----\nc1->r1 c1#1 put x 1\n/)
  })

  it('a mismatch reads as a unified diff naming the file and line of the block', () => {
    const path = file('diff.txt', 'add-replicas 1 membership=off\n----\nx\n\nsubmit r1 c1 put k v\nstabilize\n----\nc1->r1 c1#1 put k w\n  r1 delivered 1: c1#1 put k v\n')
    const result = runScenarioFile(path, 'diff.txt', { rewrite: false })
    expect(result.failure).toContain('diff.txt:1: the output differs from the expected output of\n  add-replicas 1 membership=off\n--- expected\n+++ actual\n@@ -1,1 +1,3 @@\n-x\n+replicas r1 in view 1(r1)')
    expect(result.failure).toContain('(and 1 later block differ too, at line 5)')
    expect(result.failure).toContain('LOCKSTEP_REWRITE=1 npx vitest run test/scenarios.test.ts')
  })

  it('rewriting replaces every expected output and keeps comments; a second run then passes', () => {
    const path = file('rewrite.txt', '# keep me\nadd-replicas 1 membership=off\n----\nstale\n\n# and me\nstatus\n----\n')
    expect(runScenarioFile(path, 'rewrite.txt', { rewrite: true }).rewritten).toBe(true)
    const text = readFileSync(path, 'utf8')
    expect(text).toBe(
      '# keep me\nadd-replicas 1 membership=off\n----\nreplicas r1 in view 1(r1)\nmembership off\nmachine kv, no disks, order heartbeat 1000 ms\n\n# and me\nstatus\n----\nr1: normal view=1(r1) position=0 pending=0 state={}\n',
    )
    expect(runScenarioFile(path, 'rewrite.txt', { rewrite: false }).failure).toBeUndefined()
  })

  it('rewrites an output with blank lines between double separators', () => {
    const text = 'cmd\n----\nold\n'
    const [block] = parseBlocks(text, 'f.txt')
    const mismatches = runBlocks([block!], () => 'a\n\nb')
    const rewritten = rewrite(text, mismatches)
    expect(rewritten).toBe('cmd\n----\n----\na\n\nb\n----\n----\n')
    expect(parseBlocks(rewritten, 'f.txt')[0]!.expected).toBe('a\n\nb')
    expect(describeMismatches('f.txt', [], '')).toBe('')
  })

  it('the diff shows context around changes', () => {
    expect(unifiedDiff('a\nb\nc\nd\ne\nf\ng\nh\ni', 'a\nb\nc\nd\nE\nf\ng\nh\ni')).toBe('--- expected\n+++ actual\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h')
  })
})

describe('message printing', () => {
  it('prints the engine\'s message kinds in full words', () => {
    expect(formatMessage({ k: 'prepare', v: 2, b: [1, 'r1'] })).toBe('prepare view=2 ballot=(1,r1)')
    expect(formatMessage({ k: 'hb', v: 1, s: ['r3'] })).toBe('heartbeat view=1 suspects=[r3]')
    expect(formatMessage({ k: 'o', v: 1, m: { t: 'lamport', c: 4, a: { r1: 1, r2: 0 }, r: [[3, 1, { client: 'c1', seq: 1, command: { name: 'put', args: { key: 'x', value: '1' } } }]] } })).toBe(
      'lamport view=1 clock=4 acks=(r1:1) requests=[c1#1 put x 1 @3]',
    )
  })

  it('prints renamed and unknown kinds generically, and still knows heartbeats and bare acknowledgements', () => {
    const heartbeat = { kind: 'heartbeat', view: 1, suspects: [] }
    expect(formatMessage(heartbeat)).toBe('heartbeat view=1 suspects=[]')
    expect(isRoutine(heartbeat)).toBe(true)
    const ack = { kind: 'ordering', view: 1, m: { t: 'lamport', c: 4, a: { r1: 1 } } }
    expect(messageKind(ack)).toBe('lamport')
    expect(formatMessage(ack)).toBe('lamport view=1 clock=4 acks=(r1:1)')
    expect(isRoutine(ack)).toBe(true)
    expect(formatMessage({ k: 'gossip', rumour: 'a b', depth: { r1: 2 }, blob: new Uint8Array(3) })).toBe('gossip rumour="a b" depth=(r1:2) blob=<3 bytes>')
    expect(isRoutine({ k: 'gossip' })).toBe(false)
  })
})
