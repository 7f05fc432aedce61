/** A line diff in unified format (`--- expected`, `+++ actual`, `@@` hunks with context), for test failures. */
export function unifiedDiff(expected: string, actual: string, context = 3): string {
  const a = expected.split('\n')
  const b = actual.split('\n')
  const ops = diffLines(a, b)
  const hunks: string[] = ['--- expected', '+++ actual']
  let i = 0
  while (i < ops.length) {
    if (ops[i]!.op === ' ') {
      i++
      continue
    }
    // A hunk: from `context` lines before this change to `context` lines after the last change close to it.
    let start = i
    while (start > 0 && i - start < context && ops[start - 1]!.op === ' ') start--
    let end = i
    let quiet = 0
    while (end < ops.length && quiet <= context * 2) {
      quiet = ops[end]!.op === ' ' ? quiet + 1 : 0
      end++
    }
    end -= Math.max(0, quiet - context)
    const slice = ops.slice(start, end)
    const aStart = slice[0]!.aLine
    const bStart = slice[0]!.bLine
    const aCount = slice.filter((o) => o.op !== '+').length
    const bCount = slice.filter((o) => o.op !== '-').length
    hunks.push(`@@ -${aStart + 1},${aCount} +${bStart + 1},${bCount} @@`)
    for (const o of slice) hunks.push(`${o.op}${o.text}`)
    i = end
  }
  return hunks.join('\n')
}

interface DiffOp {
  readonly op: ' ' | '-' | '+'
  readonly text: string
  /** Line index in the expected text at this point, and in the actual one. */
  readonly aLine: number
  readonly bLine: number
}

/** Longest-common-subsequence diff: fine for scenario outputs of a few hundred lines. */
function diffLines(a: readonly string[], b: readonly string[]): DiffOp[] {
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0))
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!)
    }
  }
  const ops: DiffOp[] = []
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push({ op: ' ', text: a[i]!, aLine: i, bLine: j })
      i++
      j++
    } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      // Deletions before insertions, as diff(1) prints them.
      ops.push({ op: '-', text: a[i]!, aLine: i, bLine: j })
      i++
    } else {
      ops.push({ op: '+', text: b[j]!, aLine: i, bLine: j })
      j++
    }
  }
  return ops
}
