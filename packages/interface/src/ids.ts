/** A replica's name, unique within a cluster (for example `r1`). */
export type ReplicaId = string

/** A client's name, unique within a cluster; sessions and outputs are keyed by it. */
export type ClientId = string

/** Either end of a link: a replica or a client. */
export type NodeId = ReplicaId | ClientId
