#!/usr/bin/env node
// Linearizability checker benchmark: a deterministic 10,000-operation kv history
// from 10 concurrent clients (5 keys, some unknown outcomes), checked once cold,
// and the 2,000-operation kv history from 50 concurrent clients of issue 11
// (Found 6), as it is and made non-linearizable: one get per key in turn reads a
// value never written (the slowest of the five is shown), and a stale read.
// Prints a table, then the results as one JSON line; exits 1 if the 10-client
// check took 1 s or more, a 50-client check 10 s or more, or a verdict is wrong;
// 2 if the checker cannot be loaded.
// A register history (one key, so no partitioning) is measured for information.
//
//   (cd packages/testkit && npx tsup) && node tooling/bench/lincheck-bench.mjs [--module path/to/testkit/dist/index.js]
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { resolve } from 'node:path'
import { machineInfo, report } from './table.mjs'

const LIMIT_MS = 1000
const MANY_CLIENTS_LIMIT_MS = 10_000
// Keep in step with packages/testkit/test/lincheck-bench-history.test.ts.
const KV_HISTORY = { seed: 1, operations: 10_000, clients: 10, keys: 5 }
// Keep in step with packages/testkit/test/lincheck-many-clients.test.ts.
const MANY_CLIENTS_HISTORY = { seed: 1, operations: 2000, clients: 50, keys: 5 }
const REGISTER_HISTORY = { seed: 1, operations: 10_000, clients: 10 }

const args = process.argv.slice(2)
const moduleFlag = args.indexOf('--module')
const modulePath = moduleFlag >= 0 && args[moduleFlag + 1]
  ? resolve(args[moduleFlag + 1])
  : fileURLToPath(new URL('../../packages/testkit/dist/index.js', import.meta.url))

let testkit
try {
  testkit = await import(pathToFileURL(modulePath).href)
} catch (error) {
  console.error(`lincheck-bench: cannot load ${modulePath} (${error.message}); build it first: cd packages/testkit && npx tsup`)
  process.exit(2)
}
const { checkLinearizability, generateKvHistory, generateRegisterHistory, kvModel, registerModel } = testkit
if (typeof checkLinearizability !== 'function') {
  console.error(`lincheck-bench: ${modulePath} does not export checkLinearizability; testkit's index must re-export ./lincheck/index`)
  process.exit(2)
}

function measure(name, history, model, gated, expected = 'linearizable', limitMs = LIMIT_MS) {
  const started = performance.now()
  const result = checkLinearizability(history, model)
  const coldMs = performance.now() - started
  const warm = []
  for (let run = 0; run < 3; run++) {
    const t = performance.now()
    checkLinearizability(history, model)
    warm.push(performance.now() - t)
  }
  warm.sort((a, b) => a - b)
  return {
    name,
    gated,
    limitMs,
    expected,
    verdict: result.verdict,
    operations: result.operations,
    unknownOutcomes: history.filter((o) => o.output === null || o.return === null).length,
    partitions: result.partitions,
    ms: Math.round(coldMs * 10) / 10,
    warmMedianMs: Math.round(warm[1] * 10) / 10,
    statesExplored: result.statesExplored,
    steps: result.steps,
  }
}

/** The last get of `key` with a known value, made to read a value never written (as in the test). */
function withImpossibleRead(history, key) {
  const copy = history.slice()
  let index = copy.length - 1
  while (copy[index].input.f !== 'get' || copy[index].input.key !== key || copy[index].output === null) index--
  copy[index] = { ...copy[index], output: { value: `${copy[index].output.value}X` } }
  return copy
}

/** A get a quarter into the history returns a value its key held much later (as in the test). */
function withStaleRead(history) {
  const copy = history.slice()
  const gets = copy.map((_, i) => i).filter((i) => copy[i].input.f === 'get' && copy[i].output !== null)
  const early = gets[Math.floor(gets.length / 4)]
  const late = gets.reverse().find((i) => copy[i].input.key === copy[early].input.key && copy[i].output.value !== copy[early].output.value)
  copy[early] = { ...copy[early], output: copy[late].output }
  return copy
}

const many = generateKvHistory(MANY_CLIENTS_HISTORY)
const impossible = ['k0', 'k1', 'k2', 'k3', 'k4'].map((key) =>
  measure(`kv, 50 clients, 2,000 ops, last get of ${key} never written`, withImpossibleRead(many, key), kvModel, true, 'not-linearizable', MANY_CLIENTS_LIMIT_MS),
)
const slowestImpossible = impossible.reduce((a, b) => (b.ms > a.ms ? b : a))
const rows = [
  measure('kv, 10 clients, 5 keys, 10,000 ops', generateKvHistory(KV_HISTORY), kvModel, true),
  measure('kv, 50 clients, 5 keys, 2,000 ops', many, kvModel, true, 'linearizable', MANY_CLIENTS_LIMIT_MS),
  { ...slowestImpossible, name: `${slowestImpossible.name} (slowest of 5 keys)` },
  measure('kv, 50 clients, 2,000 ops, a stale read', withStaleRead(many), kvModel, true, 'not-linearizable', MANY_CLIENTS_LIMIT_MS),
  measure('register, 10 clients, 1 key, 10,000 ops (informational)', generateRegisterHistory(REGISTER_HISTORY), registerModel, false),
]
const failed = [...rows, ...impossible].filter((row) => row.gated && (row.ms >= row.limitMs || row.verdict !== row.expected))
report('lincheck: histories checked cold (ms) and warm (median of 3)', rows, { ok: failed.length === 0, machine: await machineInfo() })
for (const row of failed) console.error(`lincheck-bench: ${row.name}: ${row.verdict} (expected ${row.expected}) in ${row.ms} ms (limit ${row.limitMs} ms)`)
process.exit(failed.length === 0 ? 0 : 1)
