import { describe, expect, it } from 'vitest'
import { ErrorCodes, type Request } from '@lockstep/interface'
import { BINARY_RECORD_TAG, decodeLogEntry, encodeLogEntry, type LogEntry } from '../src/host/durable-codec'

const request: Request = {
  client: 'client-é-1',
  seq: 12_345,
  incarnation: 1_796_107_646_198_469,
  command: { name: 'put', args: { key: 'k', value: 'v ✓', list: [1, -2, 3.5, null, true, { deep: ['x'] }], big: 2 ** 53 - 1 } },
  time: 1_796_107_646_198,
  ackedBelow: 12_000,
}

const entries: [string, LogEntry][] = [
  ['a delivered request', { request, at: 123_456 }],
  ['a delivered request of a version 2 order digest history', { request, at: 123_457, dv: 2 }],
  ['a view with its configuration and commit', { view: { id: 7, members: ['r1', 'r3'] }, configuration: ['r1', 'r2', 'r3'], commit: { view: { id: 7, members: ['r1', 'r3'] }, configuration: ['r1', 'r2', 'r3'], joining: ['r3'], incarnations: { r3: 2 }, boundary: { counts: { r1: 4 } } } }],
  ['votes', { votes: { instance: 3, promised: { round: 2, replica: 'r2' }, accepted: null } }],
] as [string, LogEntry][]

describe('log records', () => {
  it.each(entries)('%s is written in the binary format and read back as JSON would have kept it', (_, entry) => {
    const bytes = encodeLogEntry(entry)
    expect(bytes[0]).toBe(BINARY_RECORD_TAG)
    expect(bytes.includes(0x7b)).toBe(false) // not JSON anywhere: no `{`
    expect(decodeLogEntry(bytes)).toEqual(JSON.parse(JSON.stringify(entry)))
  })

  it('leaves out fields that hold undefined, as JSON does, so a replayed request has the same keys', () => {
    const withHoles = { request: { ...request, outputsAckedBelow: undefined, replyFromAll: undefined }, at: 9 } as LogEntry
    const decoded = decodeLogEntry(encodeLogEntry(withHoles)) as { request: Request }
    expect(Object.keys(decoded.request)).toEqual(Object.keys(JSON.parse(JSON.stringify(withHoles)).request))
    expect('outputsAckedBelow' in decoded.request).toBe(false)
  })

  it('is smaller than the JSON record it replaces', () => {
    const entry: LogEntry = { request, at: 123_456 }
    expect(encodeLogEntry(entry).length).toBeLessThan(new TextEncoder().encode(JSON.stringify(entry)).length)
  })

  it('reads the JSON records of earlier versions', () => {
    for (const [, entry] of entries) expect(decodeLogEntry(new TextEncoder().encode(JSON.stringify(entry)))).toEqual(JSON.parse(JSON.stringify(entry)))
  })

  it.each([
    ['an empty record', new Uint8Array(0)],
    ['an unknown first byte', new Uint8Array([0x00, 0x01])],
    ['a binary record cut short', encodeLogEntry({ request, at: 1 }).subarray(0, 20)],
    ['a binary record of something else', Uint8Array.of(BINARY_RECORD_TAG, 0x93, 1, 2, 3)],
    ['JSON that is not an entry', new TextEncoder().encode('{"x":1}')],
    ['JSON cut short', new TextEncoder().encode('{"request":')],
  ])('calls %s corrupt', (_, bytes) => {
    expect(() => decodeLogEntry(bytes)).toThrow(expect.objectContaining({ code: ErrorCodes.STORAGE_CORRUPT }))
  })
})
