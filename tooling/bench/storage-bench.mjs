#!/usr/bin/env node
// Benchmark of @lockstep/storage-file: appends/s and syncs/s of 100-byte
// records under each sync policy. Runs against the built package:
//
//   (cd packages/storage-file && npx tsup) && node tooling/bench/storage-bench.mjs [--seconds=2] [--dir=/path] [--out=file.json]
//
// Prints a table, then the results as JSON. Numbers depend on the disk:
// fsync latency dominates 'batch'. Not a test: nothing here is asserted.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir, cpus, release, platform } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { realScheduler, silentLogger } from '../../packages/interface/dist/index.js'
import { fileStorage } from '../../packages/storage-file/dist/index.js'

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')))
const seconds = Number(args.seconds ?? 2)
const baseDir = args.dir ?? tmpdir()
const RECORD_BYTES = 100

const scenarios = [
  { name: 'batch, 1 record per sync', sync: 'batch', batch: 1 },
  { name: 'batch, 16 records per sync', sync: 'batch', batch: 16 },
  { name: 'batch, 256 records per sync', sync: 'batch', batch: 256 },
  { name: 'batch, 256 concurrent append+sync (group commit)', sync: 'batch', batch: 1, concurrent: 256 },
  { name: 'interval 10 ms, 256 concurrent append+sync', sync: 'interval', syncIntervalMs: 10, batch: 1, concurrent: 256 },
  { name: 'never, 1 record per sync', sync: 'never', batch: 1 },
  { name: 'never, 16 records per sync', sync: 'never', batch: 16 },
  { name: 'never, 256 records per sync', sync: 'never', batch: 256 },
]

const payload = new Uint8Array(RECORD_BYTES)
for (let i = 0; i < RECORD_BYTES; i++) payload[i] = (i * 37) & 0xff

function percentile(sorted, p) {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]
}

async function run(scenario) {
  const dir = await mkdtemp(join(baseDir, 'lockstep-storage-bench-'))
  const options = { dir, sync: scenario.sync }
  if (scenario.syncIntervalMs !== undefined) options.syncIntervalMs = scenario.syncIntervalMs
  const storage = fileStorage(options)({ self: 'bench', scheduler: realScheduler(), log: silentLogger })
  await storage.open()
  let position = 0
  let syncs = 0
  const latenciesUs = []
  const start = performance.now()
  const deadline = start + seconds * 1000
  const oneSync = async () => {
    const records = []
    for (let i = 0; i < scenario.batch; i++) records.push({ position: ++position, data: payload })
    const t0 = performance.now()
    storage.append(records)
    await storage.sync()
    latenciesUs.push((performance.now() - t0) * 1000)
    syncs++
  }
  if (scenario.concurrent === undefined) {
    while (performance.now() < deadline) await oneSync()
  } else {
    // Like the engine: many requests in flight, each acknowledged when its sync() resolves.
    const worker = async () => {
      while (performance.now() < deadline) await oneSync()
    }
    await Promise.all(Array.from({ length: scenario.concurrent }, worker))
  }
  const elapsedS = (performance.now() - start) / 1000
  const stats = storage.stats()
  await storage.close()
  await rm(dir, { recursive: true, force: true })
  latenciesUs.sort((a, b) => a - b)
  return {
    scenario: scenario.name,
    sync: scenario.sync,
    recordsPerSync: scenario.batch,
    concurrent: scenario.concurrent ?? 1,
    seconds: Number(elapsedS.toFixed(3)),
    records: position,
    syncCalls: syncs,
    fsyncs: stats.logFsyncs,
    appendsPerSec: Math.round(position / elapsedS),
    syncsPerSec: Math.round(syncs / elapsedS),
    fsyncsPerSec: Math.round(stats.logFsyncs / elapsedS),
    megabytesPerSec: Number(((stats.logBytesWritten / elapsedS) / 1e6).toFixed(2)),
    syncLatencyUs: { p50: Math.round(percentile(latenciesUs, 50)), p99: Math.round(percentile(latenciesUs, 99)) },
  }
}

const results = []
for (const scenario of scenarios) results.push(await run(scenario))

const header = ['scenario', 'appends/s', 'syncs/s', 'fsyncs/s', 'MB/s', 'sync p50 µs', 'sync p99 µs']
const rows = results.map((r) => [r.scenario, r.appendsPerSec, r.syncsPerSec, r.fsyncsPerSec, r.megabytesPerSec, r.syncLatencyUs.p50, r.syncLatencyUs.p99].map(String))
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)))
const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
console.log(`storage-file benchmark: ${RECORD_BYTES}-byte records, ${seconds} s per scenario, in ${baseDir}`)
console.log(line(header))
console.log(widths.map((w) => '-'.repeat(w)).join('  '))
for (const row of rows) console.log(line(row))
const report = {
  benchmark: 'storage-file',
  recordBytes: RECORD_BYTES,
  secondsPerScenario: seconds,
  dir: baseDir,
  machine: { platform: platform(), release: release(), cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
  results,
}
console.log(JSON.stringify(report, null, 2))
if (args.out !== undefined) await writeFile(args.out, JSON.stringify(report, null, 2) + '\n')
