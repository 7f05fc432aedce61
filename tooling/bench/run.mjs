// `npm run bench`: every benchmark, one after another (they share 2 cores; running them together would
// measure the contention). Each prints a readable table and one JSON line; pass names to run only some:
//   node tooling/bench/run.mjs cluster transport
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const benches = {
  cluster: 'cluster-bench.mjs',
  'process-cluster': 'process-cluster-bench.mjs',
  'one-process-tcp': 'one-process-tcp.mjs',
  transport: 'transport-bench.mjs',
  storage: 'storage-bench.mjs',
  lincheck: 'lincheck-bench.mjs',
  dsl: 'dsl-bench.mjs',
  'dsl-check': 'dsl-check-bench.mjs',
  snapshot: 'snapshot-bench.mjs',
  ordering: 'ordering-bench.mjs',
  voting: 'voting-bench.mjs',
  // Last: it rewrites the etcd section of docs/benchmarks.md and docs/images/benchmarks.svg.
  etcd: 'etcd-bench.mjs',
}
const wanted = process.argv.slice(2)
const unknown = wanted.filter((name) => !(name in benches))
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${Object.keys(benches).join(', ')}`)
  process.exit(2)
}
let failed = 0
for (const [name, file] of Object.entries(benches)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue
  console.log(`\n=== ${name} (${file})`)
  const result = spawnSync(process.execPath, [join(here, file)], { stdio: 'inherit' })
  if (result.status !== 0) {
    failed++
    console.error(`benchmark ${name} exited with ${result.status ?? result.signal}`)
  }
}
process.exit(failed === 0 ? 0 : 1)
