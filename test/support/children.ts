/**
 * Servers a test file starts itself (Alertmanager, Prometheus, the browser tests' Temporal dev server) must not
 * outlive its test process. A file's afterAll stops them on a normal end; this registry also kills them, by pid and
 * synchronously, when the process ends another way: vitest stops its forks with a signal when the run is
 * interrupted (Ctrl-C), and the fork loses its IPC channel when the main process dies.
 * @module
 */

/** pid → send the signal to its process group (a detached child) rather than the process alone. */
const children = new Map<number, boolean>();
let installed = false;

function killAll(): void {
  for (const [pid, group] of children) {
    try {
      process.kill(group ? -pid : pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  children.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
  // the main vitest process is gone (killed, or exited without stopping its forks)
  process.once('disconnect', () => {
    killAll();
    process.exit(1);
  });
}

/**
 * Kills `pid` (with `group`, its whole process group: a `detached` child) when this process ends before
 * {@link forgetChild} is called. Returns `forget` for convenience.
 */
export function killWithThisProcess(pid: number, group = false): () => void {
  install();
  children.set(pid, group);
  return () => forgetChild(pid);
}

/** The child was stopped the normal way: nothing to kill any more. */
export function forgetChild(pid: number): void {
  children.delete(pid);
}
