/** Prints rows (objects with the same keys) as an aligned text table. */
export function formatTable(rows) {
  if (rows.length === 0) return '(no rows)'
  const keys = Object.keys(rows[0])
  const cells = [keys, ...rows.map((r) => keys.map((k) => formatCell(r[k])))]
  const widths = keys.map((_, i) => Math.max(...cells.map((row) => String(row[i]).length)))
  const line = (row) => row.map((c, i) => (typeof c === 'number' || /^[\d.,]+$/.test(String(c)) ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i]))).join('  ')
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n')
}

function formatCell(value) {
  if (typeof value === 'number') return Number.isInteger(value) ? value.toLocaleString('en-US') : value.toFixed(2)
  return String(value)
}

/** Prints a benchmark's table, then its results as one JSON line. */
export function report(name, rows, extra = {}) {
  console.log(`\n${name}\n${formatTable(rows)}`)
  console.log(JSON.stringify({ benchmark: name, ...extra, results: rows }))
}

/** Facts about the machine, recorded with every result. */
export async function machineInfo() {
  const os = await import('node:os')
  return { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30) }
}
