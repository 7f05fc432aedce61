import { it } from 'vitest'
import { writeFileSync } from 'node:fs'
import { realtimeSimulation } from '@lockstep/order-realtime'
import { simulate, workloads } from '@lockstep/testkit'
it('dbg', async () => {
  const lines: string[] = []
  const r = await simulate({ seed: 42, workload: workloads.kv!, orderer: realtimeSimulation, replicas: 5, clients: 3, ops: 40, faults: ['crash','restart','amnesia','partition','slow','delay','blackout','client-restart'], durable: true, overlap: true, trace: (l) => lines.push(l) })
  writeFileSync('/tmp/rt-trace.txt', lines.join('\n'))
  console.log(r.violations.map(v => v.slice(0, 300)))
}, 60000)
