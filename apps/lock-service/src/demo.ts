import { mutex } from '@lockstep/machines'
import { checkMutualExclusion, type WorkloadEvent } from '@lockstep/testkit'
import { startInProcessCluster } from './in-process-cluster'
import { LockClient } from './lock-client'

const CLIENTS = 5
const ROUNDS = 20

/**
 * The lock-service demo: three replicas of the seed's mutex in this process,
 * ordered by Lamport clocks; five clients contend for the lock. Each grant is
 * printed as it happens; at the end the recorded history is checked for
 * mutual exclusion.
 */
async function demo(): Promise<number> {
  const cluster = await startInProcessCluster({ machine: mutex, replicas: 3, delay: { minMs: 0, maxMs: 1 } })
  console.log(`lock service: ${cluster.replicaIds.length} replicas (${cluster.replicaIds.join(', ')}), Lamport ordering, in-process network`)
  console.log(`${CLIENTS} clients each acquire and release the lock ${ROUNDS} times\n`)
  const started = performance.now()
  const events: WorkloadEvent[] = []
  let tick = 0
  let grants = 0
  const at = () => (performance.now() - started).toFixed(1).padStart(7)
  const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => cluster.client(`client-${i + 1}`, i)))
  await Promise.all(
    clients.map(async (client) => {
      const lock = new LockClient(client)
      for (let round = 0; round < ROUNDS; round++) {
        await lock.acquire()
        grants++
        events.push({ kind: 'grant', client: client.id, tick: ++tick, time: performance.now() })
        console.log(`[${at()} ms] grant ${String(grants).padStart(3)} → ${client.id}`)
        await new Promise((resolve) => setTimeout(resolve, 1))
        events.push({ kind: 'release', client: client.id, tick: ++tick, time: performance.now() })
        await lock.release()
      }
    }),
  )
  const elapsedMs = performance.now() - started
  const requests = grants * 2
  const violations = checkMutualExclusion(events)
  const digests = new Set(cluster.hosts.map((h) => h.engine.stateDigest()))
  const positions = cluster.hosts.map((h) => h.engine.position)
  await cluster.stop()

  console.log(`
summary
  requests          ${requests} (${grants} acquire + ${grants} release)
  grants            ${grants}
  elapsed           ${elapsedMs.toFixed(0)} ms
  throughput        ${((requests / elapsedMs) * 1000).toFixed(0)} requests/s
  replicas agree    ${digests.size === 1 ? 'yes' : 'NO'} (positions ${positions.join(', ')}, state digest ${[...digests].join(' / ')})
  mutual exclusion: ${violations.length === 0 ? 'held' : `VIOLATED\n    ${violations.join('\n    ')}`}`)
  return violations.length === 0 && digests.size === 1 && grants === CLIENTS * ROUNDS ? 0 : 1
}

process.exitCode = await demo()
