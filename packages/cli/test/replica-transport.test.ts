import { describe, expect, it } from 'vitest'
import { realScheduler, silentLogger } from '@lockstep/interface'
import { tcp } from '@lockstep/transport-tcp'
import { parseClusterConfig } from '../src/cluster-config'
import { peerAckDelayMs, replicaTransportOptions } from '../src/replica-runner'

function configWith(timeouts: Record<string, number>) {
  const replicas = ['r1', 'r2', 'r3'].map((id, i) => ({ id, host: '127.0.0.1', port: 7101 + i }))
  return parseClusterConfig(JSON.stringify({ replicas, machine: 'specs/lock.sm', timeouts }), '/etc/lockstep/cluster.json')
}

describe("a replica's TCP endpoint: acknowledgements to other replicas ride on heartbeats", () => {
  it('waits a little longer than an idle replica goes between heartbeats (heartbeatMs, checked on ticks of tickMs)', () => {
    expect(peerAckDelayMs(configWith({}).timeouts)).toBe(75)
    expect(peerAckDelayMs(configWith({ heartbeatMs: 200, tickMs: 20 }).timeouts)).toBe(235)
    expect(peerAckDelayMs(configWith({ heartbeatMs: 20, tickMs: 5 }).timeouts)).toBe(40)
  })

  it('waits at most 1 s, whatever the heartbeat (what the peer has not acknowledged is sent again after a reconnect)', () => {
    expect(peerAckDelayMs(configWith({ heartbeatMs: 5000 }).timeouts)).toBe(1000)
  })

  it('is what the replica hands its transport, which accepts it', () => {
    const config = configWith({ heartbeatMs: 120, tickMs: 10 })
    const options = replicaTransportOptions(config, config.replicas[1]!, { secret: 'replica-secret-0123456789abcdef' }, 'client-secret-0123456789abcdef!')
    expect(options.peerAckDelayMs).toBe(145)
    expect(options.listen).toEqual({ host: '127.0.0.1', port: 7102 })
    const transport = tcp(options)({ self: 'r2', scheduler: realScheduler(), log: silentLogger })
    expect(transport.self).toBe('r2')
  })
})
