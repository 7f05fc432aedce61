import { readFileSync } from 'node:fs'
import { Ajv } from 'ajv'
import { describe, expect, it } from 'vitest'
import { ajvOptions, generateConfigValidator, validatorFile } from '../scripts/generate-config-validator.mjs'
import type { ValidateFunction } from 'ajv'
import { validate } from '../src/cluster-config-validator.generated'
import { clusterConfigSchema, validateClusterConfig } from '../src/cluster-config'

// The schema's validator is compiled ahead of time and kept in the repository, so that no command compiles it
// when it starts. It must be exactly what the schema compiles to now.
describe('the cluster configuration validator compiled ahead of time', () => {
  it('is what scripts/generate-config-validator.mjs makes of the schema now (run it after changing the schema)', () => {
    expect(readFileSync(validatorFile, 'utf8') === generateConfigValidator(), 'src/cluster-config-validator.generated.ts is stale: run node packages/cli/scripts/generate-config-validator.mjs').toBe(true)
  })

  it('finds what the schema compiled at run time finds, error for error', () => {
    const atRunTime = new Ajv(ajvOptions).compile(clusterConfigSchema)
    const ahead = validate as unknown as ValidateFunction
    const secret = (fill: string) => ({ value: fill.repeat(32) })
    const replicas = [1, 2, 3].map((i) => ({ id: `r${i}`, host: '127.0.0.1', port: 7400 + i }))
    const valid = { clusterId: 'test', replicas, order: 'lamport', machine: 'kv', security: { replicaSecret: secret('a'), clientSecret: secret('b') } }
    const configs: unknown[] = [
      {},
      'cluster',
      { clusterId: 'a', replicas: [{ id: 'r1', host: '127.0.0.1', port: 70000 }], order: 'paxos', machine: 3 },
      { clusterId: '', replicas: 'r1', storage: { kind: 'disk' }, timeouts: { heartbeatMs: -1 }, extra: true },
      valid,
      { ...valid, clusterId: 'x'.repeat(200), security: { replicaSecret: { value: 'short' }, clientSecret: { file: '' } } },
    ]
    for (const config of configs) {
      expect(ahead(config)).toBe(atRunTime(config))
      expect(ahead.errors ?? null).toEqual(atRunTime.errors ?? null)
    }
    expect(validateClusterConfig(valid).ok).toBe(true)
  })
})
