/**
 * Drives closed-loop clients (one request in flight each: kv put/get alternating over 16 keys) for
 * `warmupMs`, then measures for `durationMs`. Returns committed commands/s and p50/p99 latency in ms.
 */
export async function measureClosedLoop(clients, { warmupMs, durationMs }) {
  let measuring = false
  let running = true
  let committed = 0
  const latencies = []
  const loops = clients.map(async (client, i) => {
    let n = 0
    while (running) {
      const key = `k${(i + n) % 16}`
      const command = n % 2 === 0 ? { name: 'put', args: { key, value: `v${n}` } } : { name: 'get', args: { key } }
      const t0 = performance.now()
      const reply = await client.submit(command)
      if (!reply.ok) throw new Error(reply.error.message)
      if (measuring) {
        committed++
        if (latencies.length < 200_000) latencies.push(performance.now() - t0)
      }
      n++
    }
  })
  await new Promise((r) => setTimeout(r, warmupMs))
  measuring = true
  const started = performance.now()
  await new Promise((r) => setTimeout(r, durationMs))
  measuring = false
  const elapsed = performance.now() - started
  running = false
  await Promise.all(loops)
  latencies.sort((a, b) => a - b)
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0
  return { 'commands/s': Math.round((committed / elapsed) * 1000), 'p50 ms': pct(50), 'p99 ms': pct(99), committed }
}
