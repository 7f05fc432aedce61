/**
 * Seeds of the world compliance runs (compliance-world*.test.ts) that fail because of engine bugs the
 * overlapping-fault simulator found, reported to the engine's owner with their traces. They are skipped, never
 * passed: each test's name counts them. Any change to the engine or to the simulator changes what every seed
 * does, so this list is only valid for the engine it was made with: when the engine changes, rerun the suites
 * without it (a failure prints every failing seed) and remove the seeds that pass. Rerun one seed with the
 * command a failure prints, for instance (bug A)
 *
 *     npx lockstep sim --machine kv --replicas 3 --order lamport --clients 1 --ops 200 \
 *       --faults crash,restart,amnesia,partition,slow,delay,blackout,client-restart --overlap --durable --seed 3008
 *
 * A. A replica restarted from its disk coordinates the view change after a view it learned was chosen but
 *    could not install, and proposes the next view numbered after its disk's view (`proposeNextView` takes
 *    `host.view()` as the current view): Paxos instance N+1 decides a value for view N. The live replicas
 *    ignore it (they hold view N), the restarted one installs it, and a view change to N+1 then restarts on
 *    every tick re-proposing that value: the cluster stalls with at most F faulty.
 * C. An amnesiac replica restarted while the new cluster had delivered nothing yet is told by a peer that it
 *    is a member of view 1 already (`startedAnswers`) and serves in it with an empty orderer, though its
 *    previous incarnation had acknowledged requests: two replicas deliver different requests at the same
 *    position (order, linearizability and mutual exclusion violations), or the cluster stalls.
 * D. The coordinator of view N crashes right after it chose the view (before the commit reached anyone) and
 *    restarts from its disk, which holds view N: it answers prepares for view N with a refusal naming view N
 *    but, recovering, has no commit to send; the frozen members give up on view N without learning it and
 *    cannot coordinate N+1, and the restarted one cannot propose N+1 without a majority of disks: the cluster
 *    stalls with at most F faulty.
 */
/** Marks which bug (see above) each group of seeds is about. */
const bugA = (seeds: number[]) => seeds
const bugC = (seeds: number[]) => seeds
const bugD = (seeds: number[]) => seeds

export const knownEngineBugs: { readonly durable: Readonly<Record<string, readonly number[]>>; readonly memory: Readonly<Record<string, readonly number[]>> } = {
  durable: {
    mutex: [
      ...bugA([3008, 3012, 3015, 3017, 3042, 3088, 3107, 3155, 3157, 3162, 3190, 3240, 3245, 5008, 5018, 5022, 5051, 5095, 5104, 5112, 5118, 5135, 5150, 5154, 5158, 5161, 5176, 5192, 5238]),
      ...bugC([3011]),
      ...bugD([3114]),
    ],
    register: [
      ...bugA([3008, 3042, 3088, 3122, 3137, 3155, 3161, 3162, 3190, 3213, 3240, 5008, 5104, 5112, 5125, 5150, 5154, 5168, 5176, 5192, 5216, 5238]),
      ...bugC([3011]),
      ...bugD([3114, 5165]),
    ],
    kv: [
      ...bugA([3008, 3017, 3042, 3122, 3141, 3162, 3190, 3229, 3240, 5008, 5104, 5112, 5152, 5154, 5168, 5176, 5185, 5192, 5216, 5238]),
      ...bugC([3011]),
      ...bugD([5165]),
    ],
  },
  memory: {
    mutex: [
      ...bugC([3011, 3061, 3078, 3094, 3097, 5018]),
    ],
    register: [
      ...bugC([3011, 3061, 3078, 3094, 3097, 5018]),
    ],
    kv: [
      ...bugC([3011, 3061, 3078, 3094, 3097, 5018]),
    ],
  },
}
