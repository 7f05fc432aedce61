/**
 * How many microtask turns {@link runPromiseContinuations} gives. One event can set off chains of
 * continuations several turns long: a disk sync settles (one turn inside the storage), `sync()` returns to
 * the host, and the host releases the replies it held; a reply resolves `client.submit`, the workload's
 * `await` resumes inside a helper, the helper returns to the client loop, which submits again or sleeps.
 * Measured on the built-in workloads, with and without faults and disks: 3 turns or more give identical
 * runs, 2 give different ones (and with 1, some durable runs fail the order check). The fourth turn is
 * headroom. Changing the count changes what every seed does, so it stays fixed.
 */
export const PROMISE_TURNS_PER_EVENT = 4

/**
 * Lets the promise continuations that the last virtual-time event set off run before the next event.
 *
 * Virtual time only moves when the scheduler runs an event, and an event's handler is synchronous. The
 * code it wakes is not: a delivered reply resolves a client's promise, and the workload continues (and
 * schedules its next request or sleep) only in a later microtask. If the next event ran first, that work
 * would happen at a later virtual time than it belongs to, or after a crash that in the modelled world
 * came later, and the run would no longer be a faithful (nor, across code changes, a stable) function of
 * its seed. So every driver steps the scheduler and then awaits this, never the next event directly.
 */
export async function runPromiseContinuations(): Promise<void> {
  for (let turn = 0; turn < PROMISE_TURNS_PER_EVENT; turn++) await alreadyFulfilled
}

/**
 * A promise already fulfilled: awaiting it gives one microtask turn, as `await undefined` does, without making a
 * new promise each time (a simulation awaits several per event, and those promises were half of all it allocated).
 */
export const alreadyFulfilled: Promise<void> = Promise.resolve()

/**
 * The microtask turns after which `await runPromiseContinuations()` resumes its caller: the function's own turns,
 * then one for its promise. A driver loop that awaits {@link alreadyFulfilled} this many times, inline, waits exactly as
 * long, without an async call per event.
 */
export const AWAITED_TURNS_PER_EVENT = PROMISE_TURNS_PER_EVENT + 1
