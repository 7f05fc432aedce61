import { ErrorCodes, LockstepError, type LogRecord, type Recovered, type Snapshot, type Storage, type StorageFactory } from '@lockstep/interface'

/**
 * Storage in memory: the log and snapshots live as long as this object. Every
 * `sync` is immediate. For tests, demos and replicas that rely on state
 * transfer instead of disks.
 */
class MemoryStorage implements Storage {
  private records: LogRecord[] = []
  private snapshot: Snapshot | undefined
  private opened = false

  async open(): Promise<Recovered> {
    this.opened = true
    return { snapshot: this.snapshot, records: [...this.records] }
  }

  append(records: readonly LogRecord[]): void {
    if (!this.opened) throw new LockstepError(ErrorCodes.INVALID_CONFIG, 'memory storage: open() must be called before append()')
    for (const record of records) {
      const last = this.records.at(-1)?.position ?? this.snapshot?.position ?? 0
      if (record.position <= last) {
        throw new LockstepError(ErrorCodes.INTERNAL, `memory storage: record position ${record.position} does not follow ${last}`)
      }
      this.records.push(record)
    }
  }

  async sync(): Promise<void> {}

  async writeSnapshot(snapshot: Snapshot): Promise<void> {
    this.snapshot = snapshot
    this.records = this.records.filter((r) => r.position > snapshot.position)
  }

  async close(): Promise<void> {
    this.opened = false
  }
}

/**
 * In-memory {@link Storage}: `new ReplicaHost({ storage: memoryStorage(), … })`. It needs none of the
 * host's components (no timers, no I/O, nothing to log).
 */
export function memoryStorage(): StorageFactory {
  return () => new MemoryStorage()
}
