import { lamportSimulation } from '../packages/order-lamport/dist/index.js'
import { realtimeSimulation } from '../packages/order-realtime/dist/index.js'
import { simulate, workloads } from '../packages/testkit/dist/index.js'
const orderers = { lamport: lamportSimulation, realtime: realtimeSimulation }
const from = Number(process.argv[2]), n = Number(process.argv[3])
let failed = 0
for (let seed = from; seed < from + n; seed++) {
  let state = Math.imul(seed, 0x85ebca6b) >>> 0
  const next = () => { state = (state + 0x6d2b79f5) >>> 0; let t = Math.imul(state ^ (state >>> 15), 1 | state); t ^= t + Math.imul(t ^ (t >>> 7), 61 | t); return ((t ^ (t >>> 14)) >>> 0) / 4294967296 }
  const pick = (a) => a[Math.floor(next() * a.length)]
  const machine = pick(['kv', 'register', 'mutex'])
  const replicas = pick([3, 5, 5, 7])
  const f = (replicas - 1) / 2
  const durable = next() < 0.6
  const extra = ['crash', 'restart', 'amnesia', 'partition', 'slow', 'delay', 'pause', 'client-restart'].filter(() => next() < 0.45)
  const voter = pick(['majority', 'byzantine'])
  const liars = 1 + Math.floor(next() * f)
  const lieMode = pick(['outputs', 'state'])
  const order = pick(['lamport', 'realtime'])
  const options = { seed, workload: workloads[machine], orderer: orderers[order], replicas, clients: 1 + Math.floor(next() * 5), inFlight: machine === 'mutex' ? 1 : pick([1, 2]), ops: 150, faults: ['lie', ...extra], durable, overlap: true, voter, liars, lieMode,
    ...(next() < 0.3 ? { linkCapacity: pick([16, 32]) } : {}), ...(next() < 0.3 ? { heldForRestart: true } : {}), ...(next() < 0.2 ? { connectDelayMaxMs: 300 } : {}) }
  const r = await simulate(options)
  if (!r.ok) { failed++; console.log(`FAILED ${seed}: ${r.violations.slice(0, 2).join('; ').slice(0, 500)}\n  rerun: ${r.rerun}`) }
}
console.log(`${n - failed}/${n} passed from ${from}`)
