/** The size of a majority of `n` replicas: any two majorities intersect, so two of them can never decide differently. */
export function majorityOf(n: number): number {
  return Math.floor(n / 2) + 1
}
