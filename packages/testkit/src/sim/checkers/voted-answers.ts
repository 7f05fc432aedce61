import type { OutputNotice, Reply } from '@lockstep/interface'

/** What the clients took: each reply by request key (`c1#4`), each output addressed to them by output key (`c1 o3`). */
export interface AcceptedAnswers {
  readonly replies: ReadonlyMap<string, Reply>
  readonly outputs: ReadonlyMap<string, OutputNotice>
}

/** How many wrong answers a check names before it only counts the rest. */
const NAMED = 5

/**
 * Voting: every reply and every output a client took is one that a correct replica sent (`correct`: the digests of
 * the correct replicas' answers, by the same keys). A liar's answer that reached a client's caller is a violation,
 * whatever the workload's own checks say.
 */
export function checkVotedAnswers(accepted: AcceptedAnswers, correct: ReadonlyMap<string, ReadonlySet<string>>, digest: (value: unknown) => string): string[] {
  const wrong: string[] = []
  const check = (what: string, key: string, value: unknown) => {
    const digests = correct.get(key)
    if (digests?.has(digest(value))) return
    wrong.push(`voting: a client took ${what} ${key} that no correct replica sent: ${JSON.stringify(value).slice(0, 200)}${digests ? '' : ' (no correct replica sent any)'}`)
  }
  for (const [key, reply] of accepted.replies) check('the reply to', key, reply)
  for (const [key, output] of accepted.outputs) check('the output', key, output)
  if (wrong.length <= NAMED) return wrong
  return [...wrong.slice(0, NAMED), `voting: and ${wrong.length - NAMED} more answers no correct replica sent`]
}
