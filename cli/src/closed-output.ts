/**
 * A reader that goes away (`iscsiadm … | head`, a pager quit early) closes our stdout: writes then fail with EPIPE.
 * Like git or ls, the command then ends quietly: nothing more is written, no warning or stack trace is printed, and the
 * exit code is the command's own. Without this, oclif's final flush waits for a 'drain' that never comes, and Node
 * exits 13 with "Detected unsettled top-level await".
 */
type Listener = () => void;

let closed = false;
const listeners = new Set<Listener>();

function discardFrom(stream: NodeJS.WriteStream): void {
  // Later writes succeed at once and go nowhere; a caller waiting for their callback or for 'drain' goes on.
  stream.write = ((_chunk: unknown, encoding?: unknown, callback?: unknown) => {
    const cb = typeof encoding === 'function' ? encoding : callback;
    if (typeof cb === 'function') queueMicrotask(() => (cb as (error?: Error | null) => void)());
    return true;
  }) as typeof stream.write;
  stream.emit('drain');
}

function install(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    discardFrom(process.stdout);
    if (closed) return;
    closed = true;
    for (const listener of listeners) listener();
  });
  process.stderr.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    discardFrom(process.stderr);
  });
}

export const closedOutput = {
  install,
  /** True once stdout's reader has gone. */
  get closed(): boolean {
    return closed;
  },
  /** Calls `listener` once stdout's reader goes (at once if it has): a command that runs until stopped ends then. */
  onClose(listener: Listener): () => void {
    if (closed) {
      listener();
      return () => {};
    }
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};
