// The IPC channel between a local cluster (`cluster up`, `upLocalCluster`) and
// the `lockstep replica` processes it starts. Secrets never travel here: they
// are in the files cluster.json names.

import type { FailureCause } from '@lockstep/core'

/** What a replica reports about itself when asked (`LocalCluster.status()`). */
export interface ReplicaStatus {
  readonly id: string
  /** Requests delivered so far. */
  readonly position: number
  /** Digest of the state machine's state: equal positions of a correct cluster have equal digests ('' when not asked for). */
  readonly digest: string
  /** Members of its current view. */
  readonly view: readonly string[]
  /** Its current view's number: it grows with every view the replica installs. */
  readonly viewId: number
  /**
   * The configured replicas as its view has them (operators' removals and admissions change it): the view
   * `configurationViewId`'s, which is `viewId` except while the replica joins a newer view whose configuration it has
   * not learned (it was told only that it is not a member).
   */
  readonly configuration: readonly string[]
  /** The view whose configuration `configuration` is (see there). */
  readonly configurationViewId: number
  /** Where it stands: 'normal', 'frozen', 'transferring', 'joining' or 'recovering' (see @lockstep/core's EngineStatus). */
  readonly state: string
  /** Client sessions in its replicated session table (bounded by the configuration's `sessions.capacity`). */
  readonly sessions: number
}

/** What a replica started by a local cluster reports over its IPC channel. */
export type ReplicaProcessEvent =
  | { readonly lockstep: 'replica'; readonly event: 'listening'; readonly id: string; readonly host: string; readonly port: number; readonly pid: number; readonly metricsPort?: number }
  | { readonly lockstep: 'replica'; readonly event: 'stopping'; readonly id: string; readonly reason: string }
  /**
   * It stopped by itself, and exits 1 next: its storage failed (`cause` 'storage': a full disk, an I/O error), or an
   * unexpected error escaped its engine (`cause` 'engine': a state machine's method that threw outside apply, a bug).
   * Restarting it before the cause is fixed would fail again.
   */
  | { readonly lockstep: 'replica'; readonly event: 'failed'; readonly id: string; readonly reason: string; readonly cause?: FailureCause }
  | ({ readonly lockstep: 'replica'; readonly event: 'status'; readonly requestId: number } & ReplicaStatus)
  | { readonly lockstep: 'replica'; readonly event: 'skewed'; readonly requestId: number; readonly id: string; readonly offsetMs: number; readonly applied: boolean }
  | { readonly lockstep: 'replica'; readonly event: 'member'; readonly requestId: number; readonly id: string; readonly ok: boolean; readonly error?: { readonly code: string; readonly message: string } }

/** What a local cluster asks a replica over its IPC channel; the answer is an event with the same requestId. */
export type ReplicaProcessRequest =
  | {
      readonly lockstep: 'status'
      readonly requestId: number
      /** Include the state digest (it reads the whole state: costly for a large one). Default true. */
      readonly digest?: boolean
    }
  | {
      /**
       * Chaos tests of clock skew only: set the replica's clock `offsetMs` off the machine's (0 sets it right; a
       * clock set back holds still until it catches up). Answered by a `skewed` event with the same requestId;
       * `applied` is false unless the replica was started with `LOCKSTEP_TEST_CLOCK=skewable`.
       */
      readonly lockstep: 'skew'
      readonly requestId: number
      readonly offsetMs: number
    }
  | {
      /**
       * An operator's membership change through this replica, from the process that started it (chaos tests of
       * membership changes; `lockstep member` uses the signed HTTP endpoint instead): `remove` or `add` `replica`, as
       * `host.removeReplica` / `host.admitReplica`. Answered by a `member` event with the same requestId: `ok`, or the
       * refusal's code and message.
       */
      readonly lockstep: 'member'
      readonly requestId: number
      readonly action: 'remove' | 'add'
      readonly replica: string
    }

/** True for a message a replica process sent as a {@link ReplicaProcessEvent}. */
export function isReplicaProcessEvent(message: unknown): message is ReplicaProcessEvent {
  return typeof message === 'object' && message !== null && (message as { lockstep?: unknown }).lockstep === 'replica'
}
