import { describe, expect, it } from 'vitest'
import { ErrorCodes, LockstepError, type StateMachine } from '@lockstep/interface'
import { kv, mutex, register } from '@lockstep/machines'
import { decodePeerMessage, encodePeerMessage, type PeerMessage } from '../src/index'
import { singleReplica } from './helpers'

describe('exactly-once client sessions', () => {
  it('a retried request (client, seq) executes once and returns the same reply', () => {
    const r = singleReplica(kv)
    r.request('c1', 1, { name: 'append', args: { key: 'k', value: 'x' } })
    r.request('c1', 1, { name: 'append', args: { key: 'k', value: 'x' } })
    r.request('c1', 1, { name: 'append', args: { key: 'k', value: 'x' } })
    r.request('c1', 2, { name: 'get', args: { key: 'k' } })
    expect(r.delivered.filter((d) => d.key === 'c1#1')).toHaveLength(1)
    expect(r.engine.stateJSON()).toEqual({ k: 'x' })
    const replies = r.replies()
    const first = replies.filter((reply) => reply.seq === 1)
    expect(first).toHaveLength(3)
    expect(first[1]).toEqual(first[0])
    expect(first[2]).toEqual(first[0])
    expect(replies.find((reply) => reply.seq === 2)).toMatchObject({ ok: true, outputs: [{ outputSeq: 2, value: { value: 'x' } }] })
  })

  it('a retry ordered twice (submitted at two replicas) executes once and answers from the session table', () => {
    const r = singleReplica(register)
    r.request('c1', 1, { name: 'write', args: { value: 7 } })
    // The same request delivered again by the orderer, as after a retry at another replica.
    ;(r.engine as unknown as { deliver(request: unknown): void }).deliver({ client: 'c1', seq: 1, command: { name: 'write', args: { value: 7 } } })
    expect(r.delivered.map((d) => d.executed)).toEqual([true, false])
    expect(r.engine.executed).toBe(1)
    expect(r.engine.position).toBe(2)
    // It entered the order elsewhere the second time: the replica it entered at answers, not this one.
    expect(r.replies()).toHaveLength(1)
    // A retry here is answered from the session table, with the same reply.
    r.request('c1', 1, { name: 'write', args: { value: 7 } })
    expect(r.engine.executed).toBe(1)
    expect(r.replies()).toHaveLength(2)
    expect(r.replies()[1]).toEqual(r.replies()[0])
    // A voting client's request (replyFromAll) is answered by every replica that executes it, wherever it entered.
    ;(r.engine as unknown as { deliver(request: unknown): void }).deliver({ client: 'c2', seq: 1, command: { name: 'read' }, replyFromAll: true })
    ;(r.engine as unknown as { deliver(request: unknown): void }).deliver({ client: 'c3', seq: 1, command: { name: 'read' } })
    expect(r.replies().map((reply) => reply.client)).toEqual(['c1', 'c1', 'c2'])
  })

  it("a client's first reply carries the cluster's configuration as of the replica's view; later ones do not repeat it", () => {
    const r = singleReplica(register)
    r.request('c1', 1, { name: 'write', args: { value: 1 } })
    r.request('c1', 2, { name: 'read' })
    r.request('c2', 1, { name: 'drop', args: {} }) // refused before ordering: a reply too
    r.request('c2', 2, { name: 'read' })
    const messages = r.toClients.map((m) => m.message as { type: string; configuration?: unknown })
    expect(messages.map((m) => m.type)).toEqual(['reply', 'reply', 'reply', 'reply'])
    expect(messages.map((m) => m.configuration)).toEqual([{ view: r.engine.view.id, replicas: ['r1'] }, undefined, { view: r.engine.view.id, replicas: ['r1'] }, undefined])
    expect(messages[2]!.configuration).toBe(messages[0]!.configuration) // made once while it holds
  })

  it('forgets replies the client acknowledged and answers older retries with SESSION_EXPIRED', () => {
    const r = singleReplica(register)
    r.request('c1', 1, { name: 'write', args: { value: 1 } })
    r.request('c1', 2, { name: 'read' }, 2)
    r.request('c1', 1, { name: 'write', args: { value: 1 } })
    expect(r.engine.executed).toBe(2)
    expect(r.replies().at(-1)).toMatchObject({ seq: 1, ok: false, error: { code: 'SESSION_EXPIRED' } })
  })
})

describe('client incarnations', () => {
  const send = (r: ReturnType<typeof singleReplica>, seq: number, incarnation: number, command: unknown) =>
    r.engine.onClientMessage('c1', { type: 'request', request: { client: 'c1', seq, command, incarnation } })

  it('a restarted client under the same id starts a fresh session instead of getting the old run\'s replies', () => {
    const r = singleReplica(kv)
    send(r, 1, 100, { name: 'put', args: { key: 'a', value: 'x' } })
    send(r, 1, 200, { name: 'get', args: { key: 'a' } }) // the same (client, seq), a new run: executes
    expect(r.engine.executed).toBe(2)
    expect(r.replies()[1]).toMatchObject({ seq: 1, ok: true, outputs: [{ value: { value: 'x' } }], outputsFrom: 2, incarnation: 200 })
    expect(r.replies()[0]).toMatchObject({ incarnation: 100 })
    send(r, 2, 100, { name: 'put', args: { key: 'a', value: 'stale' } }) // the old run is over
    expect(r.replies().at(-1)).toMatchObject({ seq: 2, ok: false, error: { code: 'SESSION_EXPIRED' } })
    expect(r.engine.stateJSON()).toEqual({ a: 'x' })
  })

  it('a new run does not get the previous run\'s outputs when it asks for missed ones', () => {
    const r = singleReplica(mutex)
    r.engine.onClientMessage('c2', { type: 'request', request: { client: 'c2', seq: 1, command: { name: 'acquire' } } })
    send(r, 1, 100, { name: 'acquire' }) // queued behind c2
    r.engine.onClientMessage('c2', { type: 'request', request: { client: 'c2', seq: 2, command: { name: 'release' } } }) // grants c1 (run 100)
    send(r, 1, 200, { name: 'release' }) // c1 restarted: releases, and its outputs start after the old grant
    r.toClients.length = 0
    r.engine.onClientMessage('c1', { type: 'outputs', from: 1 })
    // Nothing to re-send, said so: the replica serves (a client keeps asking a replica that answers).
    expect(r.toClients.map((m) => m.message)).toEqual([{ type: 'no-outputs', from: 'r1', since: 1 }])
  })
})

describe('command validation', () => {
  it('a schema-invalid command is rejected with a field-level message and never ordered', () => {
    const r = singleReplica(kv)
    r.request('c1', 1, { name: 'put', args: { key: 'a', value: 3 } })
    r.request('c1', 2, { name: 'put', args: { key: 'a' } })
    r.request('c1', 3, { name: 'drop', args: {} })
    r.request('c1', 4, { name: 'get', args: { key: 'a', extra: 1 } })
    expect(r.delivered).toEqual([])
    expect(r.engine.pending).toBe(0)
    const [wrongType, missing, unknown, extra] = r.replies()
    expect(wrongType).toMatchObject({ seq: 1, ok: false, error: { code: 'INVALID_COMMAND', path: '/args/value' } })
    expect(wrongType!.ok === false && wrongType!.error.message).toContain('command.args.value must be string')
    expect(missing).toMatchObject({ ok: false, error: { code: 'INVALID_COMMAND', path: '/args/value' } })
    expect(missing!.ok === false && missing!.error.message).toContain('command.args.value is required')
    expect(unknown).toMatchObject({ ok: false, error: { code: 'INVALID_COMMAND', path: '/name' } })
    // The name given, and the machine's commands: what was wrong and what would do.
    expect(unknown!.ok === false && unknown!.error.message).toBe("invalid command for machine 'kv': command.name 'drop' is not a command of this machine (its commands: append, get, put)")
    expect(extra).toMatchObject({ ok: false, error: { code: 'INVALID_COMMAND', path: '/args/extra' } })
  })

  it('drops messages that are not requests, and requests in another client\'s name', () => {
    const r = singleReplica(kv)
    r.engine.onClientMessage('c1', 'garbage')
    r.engine.onClientMessage('c1', { type: 'request', request: { client: 'c1', seq: 0, command: {} } })
    r.engine.onClientMessage('c1', { type: 'request', request: { client: 'c2', seq: 1, command: { name: 'get', args: { key: 'a' } } } })
    expect(r.toClients).toEqual([])
    expect(r.delivered).toEqual([])
  })
})

describe('outputs addressed to any client', () => {
  it("a queued acquire's OK goes to the waiting client when the holder releases", () => {
    const r = singleReplica(mutex)
    r.request('c1', 1, { name: 'acquire' })
    r.request('c2', 1, { name: 'acquire' })
    r.request('c1', 2, { name: 'release' })
    const replies = r.replies()
    expect(replies[0]).toMatchObject({ client: 'c1', ok: true, outputs: [{ outputSeq: 1, value: 'OK' }] })
    expect(replies[1]).toMatchObject({ client: 'c2', ok: true, outputs: [] })
    const notices = r.toClients.filter((m) => m.message.type === 'output')
    expect(notices).toEqual([
      { to: 'c2', message: { type: 'output', from: 'r1', output: { to: 'c2', outputSeq: 1, value: 'OK', cause: { client: 'c1', seq: 2 }, position: 3, incarnation: 0 } } },
    ])
    expect(r.engine.stateJSON()).toEqual({ user: 'c2', waiting: [] })
  })

  it('a command that throws gets an error reply and leaves the state unchanged', () => {
    const failing: StateMachine<{ n: number }, { name: string }> = {
      name: 'failing',
      init: () => ({ n: 0 }),
      apply(state, command) {
        if (command.name === 'boom') throw new LockstepError(ErrorCodes.COMMAND_FAILED, 'boom: division by zero')
        state.n++
        return []
      },
      snapshot: (s) => new TextEncoder().encode(JSON.stringify(s)),
      restore: (b) => JSON.parse(new TextDecoder().decode(b)),
      toJSON: (s) => s,
    }
    const r = singleReplica(failing)
    r.request('c1', 1, { name: 'inc' })
    r.request('c1', 2, { name: 'boom' })
    expect(r.replies()[1]).toMatchObject({ ok: false, error: { code: 'COMMAND_FAILED', message: 'boom: division by zero' }, position: 2 })
    expect(r.engine.stateJSON()).toEqual({ n: 1 })
  })
})

describe('peer messages', () => {
  it('drops messages from replicas outside the configuration without failing', () => {
    const r = singleReplica(kv)
    r.engine.onPeerMessage('r9', { kind: 'orderer', view: 1, message: {} })
    expect(r.delivered).toEqual([])
  })

  it('the wire codec refuses malformed messages with an error naming the field, and round-trips every kind', () => {
    expect(() => decodePeerMessage('r2', 42)).toThrow(/message from replica 'r2': message must be a non-empty array/)
    expect(() => decodePeerMessage('r2', [99])).toThrow(/kind must be one of the codes/)
    expect(() => decodePeerMessage('r2', [2, 3, -1, 'r2'])).toThrow(/\(prepare\): ballot round must be a non-negative integer/)
    expect(() => decodePeerMessage('r2', [1, 3, [7]])).toThrow(/\(heartbeat\): suspects must be a list of replica ids/)
    // The orderer's messages have a path of their own (they are nearly all of them); a bad view still fails there.
    for (const view of [-1, 1.5, '3', undefined, 2 ** 53]) {
      expect(() => decodePeerMessage('r2', [0, view, {}])).toThrow(/message from replica 'r2' \(orderer\): view must be a non-negative integer/)
    }
    expect(decodePeerMessage('r2', [0, 0, { t: 'x' }])).toEqual({ kind: 'orderer', view: 0, message: { t: 'x' } })
    // A report of how far a disk or a delivery reached; a bad position or digest is named.
    for (const position of [-1, 1.5, '3', undefined]) {
      expect(() => decodePeerMessage('r2', [16, position])).toThrow(/message from replica 'r2' \(durable\): position must be a non-negative integer/)
    }
    expect(() => decodePeerMessage('r2', [16, 4, 17])).toThrow(/message from replica 'r2' \(durable\): digest must be a string/)
    expect(decodePeerMessage('r2', [16, 4, 'ab', 'later field'])).toEqual({ kind: 'durable', position: 4, digest: 'ab' })
    const value = { view: { id: 3, members: ['r1', 'r2'] }, configuration: ['r1', 'r2', 'r3'], joining: ['r2'], incarnations: { r2: 17 }, boundary: { any: 'thing' } }
    const recovery = { ...value, boundary: undefined, source: 'r1' }
    const carrying = { ...value, admitted: { r1: 0 } }
    const removing = { ...value, changes: { r4: 2, r5: 3 } }
    const ballot = { round: 2, coordinator: 'r1' }
    const messages: PeerMessage[] = [
      { kind: 'orderer', view: 2, message: { t: 'x' } },
      { kind: 'heartbeat', view: 2, suspects: ['r3'] },
      { kind: 'heartbeat', view: 1, suspects: [], started: { r2: 200, r3: 1_764_000_000_123.5 } },
      { kind: 'prepare', view: 3, ballot },
      { kind: 'promise', view: 3, ballot, holding: { kind: 'live', report: [1] }, suspects: [], accepted: { ballot, value }, incarnation: 4 },
      { kind: 'promise', view: 3, ballot, holding: { kind: 'disk', view: { id: 2, members: ['r1'] }, position: 9 }, suspects: ['r3'], accepted: null, incarnation: 5 },
      { kind: 'promise', view: 3, ballot, holding: { kind: 'disk', view: { id: 2, members: ['r1'] }, position: 9, damaged: true }, suspects: [], accepted: null, incarnation: 7 },
      { kind: 'promise', view: 3, ballot, holding: { kind: 'none' }, suspects: [], accepted: { ballot, value: recovery }, incarnation: 6 },
      { kind: 'nack', view: 3, ballot, knownView: 2 },
      { kind: 'nack', view: 3, ballot: null, knownView: 5 },
      { kind: 'accept', view: 3, ballot, value },
      { kind: 'accepted', view: 3, ballot },
      { kind: 'commit', value },
      { kind: 'commit', value: carrying },
      { kind: 'commit', value: removing },
      { kind: 'commit', value: { ...carrying, changes: { r4: 2 } } },
      { kind: 'query', view: 4 },
      { kind: 'removed', view: { id: 3, members: ['r1'] } },
      { kind: 'join', incarnation: 12.5, fresh: true },
      { kind: 'join', incarnation: 13, fresh: false, started: true },
      { kind: 'join', incarnation: 14, fresh: true, knows: { r1: 100, r3: 1_764_000_000_123.5 } },
      { kind: 'remove', replica: 'r3' },
      { kind: 'remove', replica: 'r3', view: 6 },
      { kind: 'admit', replica: 'r4' },
      { kind: 'admit', replica: 'r4', view: 11 },
      { kind: 'recover', view: { id: 2, members: ['r1', 'r2', 'r3'] }, position: 40, incarnation: 9 },
      { kind: 'durable', position: 41 },
      { kind: 'stateRequest', view: 3, offset: 1048576 },
      { kind: 'stateSuffix', view: 3, from: 0, target: 2, digest: '0123456789abcdef', requests: [{ client: 'c1', seq: 1, command: null }] },
      { kind: 'stateSuffix', view: 3, from: 0, target: 2, digest: '0123456789abcdef', requests: [], digestVersion: 2 },
      { kind: 'stateChunk', view: 3, position: 7, offset: 1048576, bytes: new Uint8Array([1, 2]) },
      { kind: 'stateChunk', view: 3, position: 7, offset: 1048576, bytes: new Uint8Array([1, 2]), end: { totalBytes: 1_048_578, digest: '0123456789abcdef' } },
    ]
    for (const message of messages) expect(decodePeerMessage('r2', encodePeerMessage(message))).toEqual(message)
    // A value from a version before `admitted` (seven fields) still decodes; a bad `admitted` is named.
    const wire = [3, ['r1', 'r2'], ['r2'], { r2: 17 }, null, ['r1', 'r2', 'r3'], null]
    expect(decodePeerMessage('r2', [7, wire])).toEqual({ kind: 'commit', value: { ...value, boundary: null } })
    expect(() => decodePeerMessage('r2', [7, [...wire, { r1: 'x' }]])).toThrow(/admitted must be an object of numbers/)
    // `changes` (the ninth field) follows an empty `admitted` where a value has none, which an earlier version reads
    // as no admitted incarnations (and ignores the ninth field); bad `changes` are named.
    expect(encodePeerMessage({ kind: 'commit', value: removing })).toEqual([7, [...wire.slice(0, 4), { any: 'thing' }, ...wire.slice(5), {}, { r4: 2, r5: 3 }]])
    expect(() => decodePeerMessage('r2', [7, [...wire, {}, ['r4']]])).toThrow(/changes must be an object of numbers/)
    // An operator's command of an earlier version names no view; a bad view is named.
    expect(() => decodePeerMessage('r2', [11, 'r3', -1])).toThrow(/view must be a non-negative integer/)
    // A fresh join of an earlier version has no `knows` (it confirms nobody); a bad one is named.
    expect(decodePeerMessage('r2', [10, 7, true])).toEqual({ kind: 'join', incarnation: 7, fresh: true })
    expect(() => decodePeerMessage('r2', [10, 7, true, { r1: 'x' }])).toThrow(/knows/)
    // A heartbeat of an earlier version names nobody it started with; a bad `started` is named. Earlier versions
    // read the first three fields only.
    expect(decodePeerMessage('r2', [1, 1, []])).toEqual({ kind: 'heartbeat', view: 1, suspects: [] })
    expect(() => decodePeerMessage('r2', [1, 1, [], { r1: 'x' }])).toThrow(/\(heartbeat\): started must be an object of numbers/)
    expect(encodePeerMessage({ kind: 'heartbeat', view: 1, suspects: ['r3'], started: { r2: 200 } }).slice(0, 3)).toEqual([1, 1, ['r3']])
    // `silent` comes fifth, after an empty `started` (names nobody, as none does) where there is none; a bad one is named.
    expect(encodePeerMessage({ kind: 'heartbeat', view: 1, suspects: ['r3'], silent: ['r3'] })).toEqual([1, 1, ['r3'], {}, ['r3']])
    expect(decodePeerMessage('r2', [1, 1, ['r3'], {}, ['r3']])).toEqual({ kind: 'heartbeat', view: 1, suspects: ['r3'], silent: ['r3'] })
    expect(decodePeerMessage('r2', encodePeerMessage({ kind: 'heartbeat', view: 2, suspects: [], started: { r2: 200 }, silent: ['r1'] }))).toEqual({ kind: 'heartbeat', view: 2, suspects: [], started: { r2: 200 }, silent: ['r1'] })
    expect(() => decodePeerMessage('r2', [1, 1, [], {}, [7]])).toThrow(/\(heartbeat\): silent must be a list of replica ids/)
    // The order's suffix from a version before order digest versions (no seventh field) is version 1's; an unknown version is named.
    expect(decodePeerMessage('r2', [17, 3, 0, 2, '0123456789abcdef', []])).not.toHaveProperty('digestVersion')
    expect(() => decodePeerMessage('r2', [17, 3, 0, 2, '0123456789abcdef', [], 3])).toThrow(/digestVersion must be an order digest version this version knows \(1 or 2\)/)
  })
})
