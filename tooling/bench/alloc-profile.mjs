// Where a benchmark script allocates: runs it in this process under V8's sampling heap profiler (through
// `node:inspector`, keeping the samples of objects that scavenges and mark-compacts collected, which `--heap-prof`
// drops), then prints the functions that allocated most, by bytes sampled.
// `node tooling/bench/alloc-profile.mjs tooling/bench/in-process-rows.mjs realtime 64` (the script's own arguments
// follow it). ALLOC_TOP: how many functions to print (default 30); ALLOC_INTERVAL: sampling interval in bytes (8192).
import { Session } from 'node:inspector/promises'
import { pathToFileURL } from 'node:url'
import path from 'node:path'

const script = process.argv[2]
if (!script) {
  console.error('usage: node tooling/bench/alloc-profile.mjs SCRIPT [ARGS...]')
  process.exit(2)
}
const session = new Session()
session.connect()
await session.post('HeapProfiler.enable')
await session.post('HeapProfiler.startSampling', { samplingInterval: Number(process.env.ALLOC_INTERVAL ?? 8192), includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
process.argv.splice(1, 1) // the script sees its own arguments where it expects them
await import(pathToFileURL(path.resolve(script)).href)
const { profile } = await session.post('HeapProfiler.stopSampling')
session.disconnect()

const bytes = new Map()
const visit = (node) => {
  const frame = node.callFrame
  const key = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').slice(-3).join('/')}:${frame.lineNumber + 1}`
  bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize)
  for (const child of node.children) visit(child)
}
visit(profile.head)
let total = 0
for (const size of bytes.values()) total += size
console.log(`sampled ${(total / 1e6).toFixed(1)} MB allocated; by function (self):`)
for (const [key, size] of [...bytes].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.ALLOC_TOP ?? 30))) {
  console.log(`${(size / 1e6).toFixed(1).padStart(8)} MB ${((size / total) * 100).toFixed(1).padStart(5)} %  ${key}`)
}
