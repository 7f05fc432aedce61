#!/usr/bin/env node
// Linearizability checker benchmark: a deterministic 10,000-operation kv history
// from 10 concurrent clients (5 keys, some unknown outcomes), checked once cold.
// Prints a table, then the results as one JSON line; exits 1 if the check took
// 1 s or more (or did not say "linearizable"), 2 if the checker cannot be loaded.
// A register history (one key, so no partitioning) is measured for information.
//
//   (cd packages/testkit && npx tsup) && node tooling/bench/lincheck-bench.mjs [--module path/to/testkit/dist/index.js]
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { resolve } from 'node:path'
import { machineInfo, report } from './table.mjs'

const LIMIT_MS = 1000
// Keep in step with packages/testkit/test/lincheck-bench-history.test.ts.
const KV_HISTORY = { seed: 1, operations: 10_000, clients: 10, keys: 5 }
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

function measure(name, history, model, gated) {
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

const rows = [
  measure('kv, 10 clients, 5 keys', generateKvHistory(KV_HISTORY), kvModel, true),
  measure('register, 10 clients, 1 key (informational)', generateRegisterHistory(REGISTER_HISTORY), registerModel, false),
]
const failed = rows.filter((row) => row.gated && (row.ms >= LIMIT_MS || row.verdict !== 'linearizable'))
report('lincheck: 10,000-operation histories, checked cold (ms) and warm (median of 3)', rows, { limitMs: LIMIT_MS, ok: failed.length === 0, machine: await machineInfo() })
for (const row of failed) console.error(`lincheck-bench: ${row.name}: ${row.verdict} in ${row.ms} ms (limit ${LIMIT_MS} ms)`)
process.exit(failed.length === 0 ? 0 : 1)
