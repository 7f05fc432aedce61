/** A settled cluster may still finish what was under way (a view change a full link or a late join asked for) within this… */
export const SETTLE_GRACE_MS = 1_000
/** …and must then install no view for this long (5 view-change timeouts of the simulated replicas). A late view change that waited for its coordinator turn (at most 4 view-change timeouts among five candidates) falls within the grace. */
export const STAYS_SETTLED_MS = 1_000

/** What the check needs of a cluster: to run it on, and to say what its replicas do. */
export interface SettledCluster {
  runFor(ms: number): Promise<void>
  readonly scheduler: { now(): number }
  describe(): string
  /** How long until every replica's clock runs again (one set back holds still until it catches up), in ms. */
  clocksHeldMs?(): number
}

/**
 * Once every fault ended and every replica serves at one position, nothing is left for a view change to do: a
 * cluster that goes on installing views (a membership request that never clears, a suspicion that never ends)
 * stops serving for every one of them, for ever, and no client request would show it (the clients finished).
 * Once every replica's clock runs again and after a grace period for what was under way (`SETTLE_GRACE_MS`), no view may be installed for
 * `STAYS_SETTLED_MS`. `installations` counts the views installed so far, by any replica. Found: a join that a
 * view had answered another way (its replica came back as the source of the state, or as a plain member) stayed
 * pending at a replica that had been outside, which then started a view change on every tick.
 */
export async function checkStaysSettled(cluster: SettledCluster, installations: () => number): Promise<string[]> {
  // A replica whose clock was set back (a skew that ended) lives in no time until its clock catches up: it sends no
  // heartbeat, and the others remove it, maybe again and again. Its fault lasts until then.
  const held = cluster.clocksHeldMs?.() ?? 0
  if (held > 0) await cluster.runFor(Math.ceil(held))
  await cluster.runFor(SETTLE_GRACE_MS)
  const before = installations()
  const from = cluster.scheduler.now()
  await cluster.runFor(STAYS_SETTLED_MS)
  const more = installations() - before
  if (more === 0) return []
  return [
    `liveness: with every fault over and every replica serving at one position, the cluster went on changing views: ${more} view installations between ${Math.round(from)}ms and ${Math.round(from + STAYS_SETTLED_MS)}ms (views change with nothing to change); ${cluster.describe()}`,
  ]
}
