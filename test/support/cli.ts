/**
 * Running the `kube-workflows` CLI in tests: the compiled binary as a child process against the local stack
 * ({@link runCli}, integration tests), or `main` in-process with its output captured ({@link captureCliOutput}, unit
 * tests).
 * @module
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, inject, vi } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/kube-workflows.js', import.meta.url));

/** How one run of the binary ended. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `kube-workflows <args>` (the compiled binary) with a clean environment: PATH, HOME, the local stack's
 * Temporal address and namespace, task queue `taskQueue`, no colours, plus `env`. Resolves with its exit code and
 * output (it never rejects on a non-zero exit); two minutes at the most.
 */
export function runCli(args: string[], taskQueue: string, env: Record<string, string> = {}): Promise<CliRun> {
  const stack = inject('stack');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          TEMPORAL_ADDRESS: stack.temporalAddress,
          TEMPORAL_NAMESPACE: stack.temporalNamespace,
          TEMPORAL_TASK_QUEUE: taskQueue,
          NO_COLOR: '1',
          ...env,
        },
        timeout: 120_000,
      },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** What {@link captureCliOutput} captured in the current test. */
export interface CapturedOutput {
  stdout: string;
  stderr: string;
}

/**
 * Registers hooks around every test of the file: the variables `envNames` are unset before it and restored after,
 * what is written to process.stdout and process.stderr is captured instead of printed, and `process.exitCode` is
 * reset after it. Returns the captured output of the current test.
 */
export function captureCliOutput(envNames: readonly string[]): CapturedOutput {
  const saved = Object.fromEntries(envNames.map((n) => [n, process.env[n]]));
  const out: CapturedOutput = { stdout: '', stderr: '' };
  beforeEach(() => {
    for (const n of envNames) delete process.env[n];
    out.stdout = '';
    out.stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.stdout += String(chunk);
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.stderr += String(chunk);
      return true;
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
    for (const n of envNames) {
      if (saved[n] === undefined) delete process.env[n];
      else process.env[n] = saved[n];
    }
    process.exitCode = undefined;
  });
  return out;
}
