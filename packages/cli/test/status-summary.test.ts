import { describe, expect, it } from 'vitest'
import { useLocalCluster } from './local-cluster-fixture'
import { runCli, startCli, waitFor } from './processes'

// "statusSummary": false in cluster.json, with real replica processes: GET /status leaves out the machine's
// summary of its state, `lockstep status` prints no summary line, and the dashboard's lock view says why it
// cannot show the holder and queue. (With the default, operations.test.ts and dashboard.test.ts see it.)

const local = useLocalCluster('lockstep-status-summary-', { machine: 'mutex', replicas: 1, extra: { statusSummary: false } })

describe('"statusSummary": false', () => {
  it('keeps the state\'s contents off GET /status, lockstep status and the dashboard', async () => {
    const { cluster } = local
    const client = await cluster.client('alice')
    await client.submit({ name: 'acquire' }, { timeoutMs: 30_000 })
    const replica = cluster.replicas[0]!
    const status = (await (await fetch(`http://127.0.0.1:${replica.metricsPort!}/status?digest=false`)).json()) as Record<string, unknown>
    expect(status.position).toBeGreaterThanOrEqual(1)
    expect(status).not.toHaveProperty('summary')
    expect(status).not.toHaveProperty('summaryError')

    const text = await runCli(['status', '--cluster', cluster.configFile])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).not.toMatch(/^(r\d+ )?summary|alice/m)
    const json = await runCli(['status', '--cluster', cluster.configFile, '--json'])
    expect((JSON.parse(json.stdout) as { replicas: Record<string, unknown>[] }).replicas[0]).not.toHaveProperty('summary')

    const dashboard = startCli(['dashboard', '--cluster', cluster.configFile, '--port', '0'])
    try {
      await waitFor('the dashboard to print its address', () => dashboard.stdout().includes('\n') || dashboard.child.exitCode !== null, 30_000)
      const url = dashboard.stdout().split('\n')[0]!
      let lock: unknown
      for (let attempt = 0; attempt < 200 && lock === undefined; attempt++) {
        const state = (await (await fetch(`${url}state`)).json()) as { samples: { lock?: unknown }[] }
        lock = state.samples.at(-1)?.lock
        if (lock === undefined) await new Promise((resolve) => setTimeout(resolve, 50))
      }
      expect(lock).toEqual({ shown: false, reason: 'the replicas report no summary of the machine\'s state ("statusSummary": false in the configuration, or a machine without one)' })
    } finally {
      dashboard.child.kill('SIGTERM')
      await dashboard.exited
    }
  })
})
