import { describe, expect, it } from 'vitest'
import { ConfigurationReports, type ReportingReplica } from '../../src/sim/checkers/configuration-reports'

/** A replica in view `view` (members `members`) with status `status`, reporting configuration `replicas` of view `reported`. */
function replica(self: string, status: string, view: number, members: string[], reported: number, replicas: string[]): ReportingReplica {
  return { self, status, view: { id: view, members }, viewConfiguration: { view: reported, replicas } }
}

describe('the configurations replicas report (ConfigurationReports)', () => {
  it("a replica joining a newer view that reports its older configuration with that view's id is a violation, whenever the view's serving members are seen", () => {
    const reports = new ConfigurationReports()
    // r3 learned of view 7, which left it out, before any member of view 7 was read: checked once one is.
    reports.sample(replica('r3', 'joining', 7, ['r1', 'r2', 'r4'], 7, ['r1', 'r2', 'r3', 'r4']), 10)
    reports.sample(replica('r1', 'normal', 7, ['r1', 'r2', 'r4'], 7, ['r4', 'r2', 'r1']), 12)
    expect(reports.violations()).toEqual([
      "status: 'r3' reported view 7 with configuration (r1, r2, r3, r4) at 10ms, but view 7's configuration is (r1, r2, r4) (as 'r1', serving in it, reported at 12ms)",
    ])
    expect(reports.counts()).toEqual({ views: 1, reportsChecked: 1 })
  })

  it("reports that match their views pass: a joiner naming the new view with its configuration, one left out naming its older view, members listing the configuration in any order", () => {
    const reports = new ConfigurationReports()
    reports.sample(replica('r1', 'normal', 6, ['r1', 'r2', 'r3'], 6, ['r1', 'r2', 'r3']), 1)
    reports.sample(replica('r2', 'normal', 7, ['r1', 'r2'], 7, ['r2', 'r1']), 2)
    reports.sample(replica('r3', 'joining', 7, ['r1', 'r2'], 7, ['r1', 'r2']), 3)
    reports.sample(replica('r3', 'joining', 7, ['r1', 'r2'], 6, ['r3', 'r2', 'r1']), 4)
    reports.sample(replica('r1', 'normal', 7, ['r1', 'r2'], 7, ['r1', 'r2']), 5)
    expect(reports.violations()).toEqual([])
    expect(reports.counts()).toEqual({ views: 2, reportsChecked: 2 })
  })

  it('two serving members of one view with different configurations is a violation; a view no serving member was seen in is not checked', () => {
    const reports = new ConfigurationReports()
    reports.sample(replica('r1', 'normal', 3, ['r1', 'r2', 'r3'], 3, ['r1', 'r2', 'r3']), 1)
    reports.sample(replica('r2', 'normal', 3, ['r1', 'r2', 'r3'], 3, ['r1', 'r2', 'r3', 'r4']), 2)
    // A replica that is not a member of the view it is in does not serve in it: its report is a claim.
    reports.sample(replica('r4', 'normal', 9, ['r1', 'r2'], 9, ['r1', 'r2', 'r4']), 3)
    expect(reports.violations()).toEqual(['configuration: view 3 was served with configuration (r1, r2, r3) by \'r1\' (at 1ms) and with (r1, r2, r3, r4) by \'r2\' (at 2ms)'])
    expect(reports.counts()).toEqual({ views: 1, reportsChecked: 0 })
  })

  it('a report read again unchanged is not taken twice, and one that changes back and forth is checked each way', () => {
    const reports = new ConfigurationReports()
    const configuration = ['r1', 'r2', 'r3']
    const serving = replica('r1', 'normal', 2, configuration, 2, configuration)
    for (let at = 0; at < 5; at++) reports.sample(serving, at)
    reports.sample(replica('r2', 'transferring', 2, configuration, 2, ['r1', 'r2']), 6)
    reports.sample(replica('r2', 'normal', 2, configuration, 2, configuration), 7)
    reports.sample(replica('r2', 'transferring', 2, configuration, 2, ['r1', 'r2']), 8)
    expect(reports.violations()).toHaveLength(1)
    expect(reports.counts()).toEqual({ views: 1, reportsChecked: 1 })
  })
})
