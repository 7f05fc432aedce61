/** What the check reads of a replica: its view, its status, and the configuration it reports with its view. */
export interface ReportingReplica {
  readonly self: string
  readonly status: string
  readonly view: { readonly id: number; readonly members: readonly string[] }
  /** The configuration the replica reports (`/status`, `lockstep status`), with the id of the view it is from. */
  readonly viewConfiguration: { readonly view: number; readonly replicas: readonly string[] }
}

/** The first replica seen with a configuration for a view, and when. */
interface Seen {
  readonly replica: string
  readonly configuration: string
  readonly atMs: number
  /** True when the replica served in that view as it reported it (its status normal, a member of it). */
  readonly serving: boolean
}

/**
 * What every replica reports as its view's configuration (what an operator reads with `lockstep status`), checked
 * against the configuration the view was installed with. A replica that serves in its view speaks for that view's
 * configuration; every serving member of one view must report the same one (configurations agree), and every
 * other report that names a view (a replica joining a newer view it learned of, or one told it was left out,
 * naming its older view) must match what that view's serving members report. Reports are read every millisecond of
 * virtual time (`sample`) and checked at the end (`violations`): a report that came before any serving member of
 * its view was seen is checked then. A view no serving member was ever seen in cannot be checked. Found by a chaos run (seed
 * 46003): a replica that learned of view 310, which left it out, reported view 310 with the configuration of view
 * 308 (which still had a removed replica).
 */
export class ConfigurationReports {
  /** Per view, what its serving members reported (the first one seen). */
  private readonly truth = new Map<number, Seen>()
  /** Per view, the reports of replicas not serving in it, one per distinct configuration (the first seen). */
  private readonly claims = new Map<number, Map<string, Seen>>()
  /** Per replica, the last report read: an unchanged one (same view, same array) is not read again. */
  private readonly last = new Map<string, { readonly view: number; readonly replicas: readonly string[]; readonly serving: boolean; readonly configuration: string }>()
  private readonly disagreements: string[] = []

  /** Reads a running replica's report (each replica, every millisecond of the run's virtual time). */
  sample(replica: ReportingReplica, atMs: number): void {
    const report = replica.viewConfiguration
    const serving = replica.status === 'normal' && replica.view.id === report.view && replica.view.members.includes(replica.self)
    const last = this.last.get(replica.self)
    if (last !== undefined && last.view === report.view && last.replicas === report.replicas && last.serving === serving) return
    const configuration = [...report.replicas].sort().join(', ')
    this.last.set(replica.self, { view: report.view, replicas: report.replicas, serving, configuration })
    if (last !== undefined && last.view === report.view && last.serving === serving && last.configuration === configuration) return
    const seen: Seen = { replica: replica.self, configuration, atMs, serving }
    if (serving) this.served(report.view, seen)
    else this.claimed(report.view, seen)
  }

  /**
   * How many views serving members reported, and how many reports of replicas not serving in the view they named
   * (distinct per view and configuration) could be checked against them: the check had something to check.
   */
  counts(): { readonly views: number; readonly reportsChecked: number } {
    let reportsChecked = 0
    for (const [view, claims] of this.claims) if (this.truth.has(view)) reportsChecked += claims.size
    return { views: this.truth.size, reportsChecked }
  }

  /** Every report that did not match its view's configuration, and every view whose serving members disagreed. */
  violations(): string[] {
    const wrong = [...this.disagreements]
    for (const [view, claims] of this.claims) {
      const truth = this.truth.get(view)
      if (truth === undefined) continue
      for (const claim of claims.values()) {
        if (claim.configuration !== truth.configuration) wrong.push(`status: '${claim.replica}' reported view ${view} with configuration (${claim.configuration}) at ${Math.round(claim.atMs)}ms, but view ${view}'s configuration is (${truth.configuration}) (as '${truth.replica}', serving in it, reported at ${Math.round(truth.atMs)}ms)`)
      }
    }
    return wrong
  }

  private served(view: number, seen: Seen): void {
    const truth = this.truth.get(view)
    if (truth === undefined) {
      this.truth.set(view, seen)
      return
    }
    if (truth.configuration !== seen.configuration) {
      this.disagreements.push(`configuration: view ${view} was served with configuration (${truth.configuration}) by '${truth.replica}' (at ${Math.round(truth.atMs)}ms) and with (${seen.configuration}) by '${seen.replica}' (at ${Math.round(seen.atMs)}ms)`)
    }
  }

  private claimed(view: number, seen: Seen): void {
    let claims = this.claims.get(view)
    if (claims === undefined) this.claims.set(view, (claims = new Map()))
    if (!claims.has(seen.configuration)) claims.set(seen.configuration, seen)
  }
}
