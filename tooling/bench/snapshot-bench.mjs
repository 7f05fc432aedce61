#!/usr/bin/env node
// Benchmark of state snapshots of the built-in kv machine: what a whole `snapshot` costs (it stops the
// replica for all of it) beside `snapshotChunks` (a cheap capture, then chunks produced one at a time while
// the replica goes on). Runs against the built packages:
//
//   (cd packages/machines && npx tsup) && node tooling/bench/snapshot-bench.mjs
//
// Prints a table, then the results as JSON. Not a test: nothing here is asserted.
import { performance } from 'node:perf_hooks'
import { kv } from '../../packages/machines/dist/index.js'
import { machineInfo, report } from './table.mjs'

const shapes = [
  { name: '200 keys x 1 MiB', keys: 200, valueBytes: 1024 * 1024 },
  { name: '1,000,000 keys x 100 B', keys: 1_000_000, valueBytes: 100 },
]

const ms = (from) => performance.now() - from

function measure(shape) {
  const state = kv.init()
  const value = 'x'.repeat(shape.valueBytes)
  for (let i = 0; i < shape.keys; i++) kv.apply(state, { name: 'put', args: { key: `key${i}`, value: `${i}:${value}` } }, { client: 'bench', time: 0 })
  let t = performance.now()
  const whole = kv.snapshot(state)
  const snapshotMs = ms(t)
  t = performance.now()
  kv.restore(whole)
  const restoreMs = ms(t)
  const bytes = whole.length
  t = performance.now()
  const chunks = kv.snapshotChunks(state)
  const captureMs = ms(t)
  // Chunks are produced one at a time (between them, a replica serves other work).
  let longestChunkMs = 0
  let count = 0
  const produced = []
  const started = performance.now()
  const iterator = chunks[Symbol.iterator]()
  for (;;) {
    const one = performance.now()
    const next = iterator.next()
    longestChunkMs = Math.max(longestChunkMs, ms(one))
    if (next.done) break
    produced.push(next.value)
    count++
  }
  const produceMs = ms(started)
  t = performance.now()
  kv.restoreChunks(produced)
  const restoreChunksMs = ms(t)
  return {
    state: shape.name,
    MB: Math.round(bytes / 1e6),
    'snapshot ms (blocking)': snapshotMs,
    'restore ms': restoreMs,
    'chunks: capture ms (blocking)': captureMs,
    'chunks: count': count,
    'chunks: longest chunk ms': longestChunkMs,
    'chunks: all ms': produceMs,
    'restoreChunks ms': restoreChunksMs,
  }
}

const rows = shapes.map(measure)
report('kv snapshots: whole vs chunked', rows, { machine: await machineInfo() })
