import { describe, expect, it } from 'vitest'
import { ordererCompliance } from '../src/compliance/index'
import { simulate, workloads } from '../src/index'
import { sequencerSpec } from './sequencer'

// The suite itself, run against a second, simple orderer (Lamport runs it in its own package).
ordererCompliance(sequencerSpec, { seedsPerConfig: 25 })

describe('the simulator', () => {
  it('gives different runs for different seeds', async () => {
    const a = await simulate({ seed: 77, workload: workloads.kv!, orderer: sequencerSpec, replicas: 3, clients: 5, ops: 60 })
    const c = await simulate({ seed: 78, workload: workloads.kv!, orderer: sequencerSpec, replicas: 3, clients: 5, ops: 60 })
    expect(c.history).not.toEqual(a.history)
    expect(a.ok && c.ok).toBe(true)
  })

  it('prints the exact command that reruns a seed', async () => {
    const result = await simulate({ seed: 5, workload: workloads.register!, orderer: sequencerSpec, replicas: 5, clients: 2, ops: 10 })
    expect(result.rerun).toBe('npx lockstep sim --machine register --replicas 5 --order sequencer --clients 2 --ops 10 --seed 5')
  })
})
