/**
 * Runs `count` closed-loop workers (one operation in flight each: worker i's nth call is `operation(i, n)`,
 * the next starts when it ends) for `warmupMs`, then measures for `durationMs`. Returns completed operations/s
 * and p50/p99 latency in ms. A failed operation fails the run.
 */
export async function measureOperations(count, operation, { warmupMs, durationMs }) {
  let measuring = false
  let running = true
  let completed = 0
  const latencies = []
  const loops = Array.from({ length: count }, async (_, i) => {
    for (let n = 0; running; n++) {
      const t0 = performance.now()
      try {
        await operation(i, n)
      } catch (error) {
        running = false // the other workers stop after their operation in flight
        throw error
      }
      if (measuring) {
        completed++
        if (latencies.length < 200_000) latencies.push(performance.now() - t0)
      }
    }
  })
  // A failure stops the wait at once (and the run with it), instead of after the duration; the run then
  // rejects with the first failure once every worker has stopped.
  const failed = Promise.all(loops).then(() => {})
  failed.catch(() => {})
  const sleep = (ms) => Promise.race([new Promise((r) => setTimeout(r, ms)), failed.catch(() => {})])
  await sleep(warmupMs)
  measuring = true
  const started = performance.now()
  await sleep(durationMs)
  measuring = false
  const elapsed = performance.now() - started
  running = false
  const outcomes = await Promise.allSettled(loops)
  const failure = outcomes.find((o) => o.status === 'rejected')
  if (failure) throw failure.reason
  latencies.sort((a, b) => a - b)
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0
  return { 'ops/s': Math.round((completed / elapsed) * 1000), 'p50 ms': pct(50), 'p99 ms': pct(99), completed }
}

/**
 * Drives closed-loop clients (one request in flight each: kv put/get alternating over 16 keys) for
 * `warmupMs`, then measures for `durationMs`. Returns committed commands/s and p50/p99 latency in ms.
 */
export async function measureClosedLoop(clients, { warmupMs, durationMs }) {
  const measured = await measureOperations(clients.length, async (i, n) => {
    const key = `k${(i + n) % 16}`
    const command = n % 2 === 0 ? { name: 'put', args: { key, value: `v${n}` } } : { name: 'get', args: { key } }
    const reply = await clients[i].submit(command)
    if (!reply.ok) throw new Error(reply.error.message)
  }, { warmupMs, durationMs })
  return { 'commands/s': measured['ops/s'], 'p50 ms': measured['p50 ms'], 'p99 ms': measured['p99 ms'], committed: measured.completed }
}
