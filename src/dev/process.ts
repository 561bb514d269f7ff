/**
 * Small process helpers for the dev stack manager: run a command and capture its output, check and signal
 * processes by pid, poll a condition until a deadline, pick free ports. Node builtins only.
 * @module
 */

import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';

/** The outcome of {@link runCommand}. */
export interface CommandResult {
  /** Exit code, or null when killed by a signal (including the timeout). */
  readonly code: number | null;
  /** Captured stdout (at most the last ~1 MB). */
  readonly stdout: string;
  /** Captured stderr (at most the last ~1 MB). */
  readonly stderr: string;
  /** True when the command was killed because it ran past its timeout. */
  readonly timedOut: boolean;
}

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  /** Environment of the child (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** Working directory. */
  readonly cwd?: string;
  /** Kill the command (SIGKILL) after this many milliseconds (default 60 s). */
  readonly timeoutMs?: number;
  /** Called with every line the command writes to stdout or stderr. */
  readonly onLine?: (line: string) => void;
  /** Aborting kills the command (SIGKILL) and rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
}

const MAX_CAPTURE = 1 << 20;

/** Runs `bin args...` to completion and captures its output. Never rejects for a non-zero exit. */
export function runCommand(
  bin: string,
  args: readonly string[],
  options: RunCommandOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.signal ? { signal: options.signal, killSignal: 'SIGKILL' as const } : {}),
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const partial = { out: '', err: '' };
    const feed = (which: 'out' | 'err', chunk: string): void => {
      if (!options.onLine) return;
      const lines = (partial[which] + chunk).split('\n');
      partial[which] = lines.pop() ?? '';
      for (const line of lines) options.onLine(line);
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout = (stdout + d).slice(-MAX_CAPTURE);
      feed('out', d);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-MAX_CAPTURE);
      feed('err', d);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(options.signal?.aborted ? abortError(options.signal) : err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (options.onLine) {
        if (partial.out) options.onLine(partial.out);
        if (partial.err) options.onLine(partial.err);
      }
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

/** The error to throw when `signal` was aborted: its reason when that is an Error, else a generic one. */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(typeof reason === 'string' ? reason : 'aborted');
}

/** True when a process with this pid exists (and is not a zombie, where /proc tells). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no /proc (macOS): trust kill(0)
  }
}

/** The command line of a process (arguments joined by spaces), or undefined when unknown (no /proc, gone). */
export function processCmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

/** The executable of a process (resolved symlink), or undefined when unknown. */
export function processExe(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/** Sends a signal to a pid (or, for a negative number, a process group); false when there was nothing to signal. */
export function sendSignal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Calls `check` every `intervalMs` until it returns a value other than `undefined`/`false`, and returns that value;
 * returns undefined when `timeoutMs` passes first. Errors thrown by `check` propagate; an aborted `signal` throws.
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  intervalMs = 250,
  signal?: AbortSignal,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (signal?.aborted) throw abortError(signal);
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) return undefined;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

/** Waits until every pid is gone; returns the pids still alive after `timeoutMs`. */
export async function waitForExit(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  await pollUntil(() => pids.every((p) => !isAlive(p)), timeoutMs, 100);
  return pids.filter((p) => isAlive(p));
}

/** Picks `count` distinct free TCP ports on `host` (listens on port 0 with all of them open at once, then closes). */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, () => resolve());
      });
      ports.push((server.address() as AddressInfo).port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/** The last `lines` lines of a text (for error messages). */
export function tailLines(text: string, lines = 20): string {
  return text
    .split('\n')
    .filter((l, i, all) => l !== '' || i < all.length - 1)
    .slice(-lines)
    .join('\n');
}
