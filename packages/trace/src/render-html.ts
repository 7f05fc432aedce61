import { explainDelivery } from './explain-delivery'
import { tracePage } from './page-script'
import type { Trace } from './trace-format'

const style = `
body { font: 13px/1.4 system-ui, sans-serif; margin: 0; color: #222; }
header, #violations, #details, .toolbar { padding: 4px 16px; }
h1 { font-size: 18px; margin: 8px 0 4px; } h2 { font-size: 15px; margin: 8px 0 4px; }
.ok { color: #1a7f37; } .failed { color: #c62828; }
code { background: #f3f3f3; padding: 1px 4px; }
.truncated, .violation-text, #violations li { color: #c62828; }
#violations li { cursor: pointer; }
#diagram-host { overflow: auto; border-top: 1px solid #ddd; border-bottom: 1px solid #ddd; max-height: 70vh; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
.axis .tick { stroke: #eee; } .axis text { fill: #888; }
.lane line { stroke: #999; stroke-width: 1; } .lane-client line { stroke-dasharray: 4 3; }
.lane-label { font-weight: bold; font-size: 13px; }
.msg { stroke-width: 1; opacity: .55; cursor: pointer; }
.msg.in-flight { stroke-dasharray: 3 3; } .msg.dropped { stroke-dasharray: 1 2; }
.kind-orderer { stroke: #1f5fbf; } .kind-heartbeat { stroke: #bbb; } .kind-view { stroke: #e08a00; }
.kind-transfer { stroke: #8a3ab9; } .kind-request { stroke: #2e9d4a; } .kind-reply, .kind-output { stroke: #11838b; }
.msg.waited { stroke: #d81b60; stroke-width: 2.5; opacity: 1; }
.drop-mark { fill: #c62828; font-weight: bold; }
.delivery { cursor: pointer; } .delivery circle { fill: #1f5fbf; stroke: #fff; }
.delivery .position { text-anchor: middle; font-size: 10px; fill: #1f5fbf; }
.delivery.duplicate circle { fill: #9bb4dd; }
.delivery.named circle { fill: #f4a3a3; } .delivery.violating circle { fill: #c62828; stroke: #000; stroke-width: 1.5; }
.delivery.violating .position { fill: #c62828; font-weight: bold; font-size: 12px; }
.delivery.selected circle { stroke: #d81b60; stroke-width: 3; }
.view-change line { stroke: #e08a00; stroke-width: 2; } .view-change text { fill: #e08a00; font-weight: bold; }
.fault rect { fill: #c62828; opacity: .08; } .fault text { fill: #c62828; }
.status { fill: #888; opacity: .15; } .status-down { fill: #000; opacity: .25; }
.client-request { fill: #2e9d4a; } .client-reply { fill: #11838b; }
#waits { border-collapse: collapse; } #waits td, #waits th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
#waits .last-arrived { background: #fde7ef; }
.honest { color: #555; font-style: italic; max-width: 60em; }
.legend span { margin-right: 12px; }
`

const legend = '<span style="color:#1f5fbf">● delivery (number: position)</span><span style="color:#c62828">● violating delivery</span><span style="color:#1f5fbf">→ orderer</span><span style="color:#e08a00">→ view change</span><span style="color:#8a3ab9">→ state transfer</span><span style="color:#2e9d4a">→ request</span><span style="color:#11838b">→ reply</span><span style="color:#c62828">✕ dropped</span><span style="color:#e08a00">| v: view installed</span><span style="color:#c62828">▭ fault</span><span style="color:#888">▭ not serving</span>'

/**
 * One self-contained HTML page (no network access needed) with the space-time diagram of a traced run: lanes,
 * message arrows, numbered deliveries, view changes, faults, the violations, and for a selected delivery the
 * messages it waited for (see `explainDelivery`). The trace is embedded as JSON.
 */
export function renderTraceHtml(trace: Trace): string {
  // `<` escaped: the JSON cannot close its script element, whatever the messages hold.
  const data = JSON.stringify(trace).replace(/</g, '\\u003c')
  const title = `Lockstep trace: seed ${trace.seed}${trace.ok ? '' : ' (FAILED)'}`
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title><style>${style}</style></head>
<body>
<header id="run"></header>
<section id="violations"></section>
<div class="toolbar"><button id="zoom-out" type="button">− zoom out</button> <button id="zoom-in" type="button">+ zoom in</button>
<label><input id="heartbeats" type="checkbox"> heartbeats</label> <span id="arrow-note"></span><div class="legend">${legend}</div>
<div>Click a delivery to see what it waited for, or a message for its contents.</div></div>
<div id="diagram-host"></div>
<section id="details"></section>
<script type="application/json" id="trace-data">${data}</script>
<script>
"use strict";
const explainDelivery = (${explainDelivery.toString()});
(${tracePage.toString()})(JSON.parse(document.getElementById('trace-data').textContent), explainDelivery);
</script>
</body></html>
`
}
