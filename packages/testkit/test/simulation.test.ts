import { describe, expect, it } from 'vitest'
import { ordererCompliance } from '../src/compliance/index'
import { genericWorkload, simulate, workloads } from '../src/index'
import { register } from '@lockstep/machines'
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

  it('names a custom machine in the rerun command by its module (machineArg), never by a name the CLI cannot load', async () => {
    const custom = { ...register, name: 'my-register' }
    const randomCommand = () => ({ name: 'read' })
    const named = await simulate({ seed: 5, workload: genericWorkload(custom, randomCommand), machineArg: './my-register.mjs', orderer: sequencerSpec, replicas: 3, clients: 1, ops: 3 })
    expect(named.rerun).toBe('npx lockstep sim --machine ./my-register.mjs --replicas 3 --order sequencer --clients 1 --ops 3 --seed 5')
    const unnamed = await simulate({ seed: 5, workload: genericWorkload(custom, randomCommand), orderer: sequencerSpec, replicas: 3, clients: 1, ops: 3 })
    expect(unnamed.rerun).toContain("--machine '<a module exporting machine and randomCommand: give simulate() its path as machineArg>' ")
  })
})

