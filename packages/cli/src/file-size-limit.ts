/**
 * `command` (a program and its arguments) run with no file of the process allowed to grow past `bytes`: the
 * POSIX shell sets RLIMIT_FSIZE (`ulimit -f`, in 512-byte blocks, at least one) and then becomes the command, so
 * the pid stays the same and the limit passes to its children. A write past the limit fails with EFBIG (Node
 * ignores SIGXFSZ), as one on a full disk fails with ENOSPC: how the chaos harness and the tests fill a
 * replica's disk, for any user, with no mount.
 */
export function withFileSizeLimit(command: readonly string[], bytes: number): string[] {
  return ['/bin/sh', '-c', `ulimit -f ${Math.max(1, Math.floor(bytes / 512))} && exec "$0" "$@"`, ...command]
}
