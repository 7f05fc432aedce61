import type { ViolationDelivery } from '@lockstep/trace'

/**
 * Where the checks that know them put the deliveries each violation message is about (a trace highlights them):
 * by message, the replicas' deliveries that disagree.
 */
export type ViolationLocations = Map<string, readonly ViolationDelivery[]>

/** Records `message` with its deliveries in `locations` (when given), and returns it. */
export function located(locations: ViolationLocations | undefined, message: string, deliveries: readonly ViolationDelivery[]): string {
  locations?.set(message, deliveries)
  return message
}
