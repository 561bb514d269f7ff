/**
 * One way for test helpers to run a server binary (Alertmanager, Prometheus): check it is installed and read its
 * version, spawn it on a free 127.0.0.1 port, keep the tail of its log, wait until its readiness path answers 200,
 * and stop it by its pid (SIGTERM, then SIGKILL after 5 s), removing its folder. Errors quote the log tail.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { forgetChild, killWithThisProcess } from './children.js';

/** A started server. */
export interface Daemon {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  pid: number;
  /** Stops the process and removes its folder. */
  stop(): Promise<void>;
}

/** Options of {@link startDaemon}. */
export interface DaemonOptions {
  /** Name used in errors. */
  name: string;
  bin: string;
  /** Arguments for the chosen port. */
  args(port: number): string[];
  /** The server's private folder, removed on stop. */
  dir: string;
  /** Answers 200 once the server is ready, e.g. `/-/ready`. */
  readyPath: string;
  readyTimeoutMs: number;
}

/** A server binary a helper needs, and what to say when it is missing. */
export interface RequiredBinary {
  /** Name used in errors (`Prometheus`). */
  name: string;
  bin: string;
  /** The variable that overrides `bin` (`PROMETHEUS_BIN`). */
  envVar: string;
  /** How to install it (`apt-get install -y prometheus`). */
  installHint: string;
  /** What `envVar` should point at (`a prometheus binary`). */
  binary: string;
}

/**
 * The version `bin --version` prints (`0.25.0`, or `unknown`). A missing binary is an error that says how to
 * install it: tests that need it never skip.
 */
export function installedVersion(b: RequiredBinary): string {
  if (!existsSync(b.bin)) {
    throw new Error(
      `${b.name} is not installed (${b.bin} is missing): install it with \`${b.installHint}\` ` +
        `or point ${b.envVar} at ${b.binary}`,
    );
  }
  const versionText = execFileSync(b.bin, ['--version'], { encoding: 'utf8' });
  return /version (\S+)/.exec(versionText)?.[1] ?? 'unknown';
}

/** A free TCP port on 127.0.0.1 (closed again before returning). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts the server and resolves once it is ready; tries again on a fresh port if the chosen one was taken. */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      lastError = err as Error;
      if (!/address already in use/.test(lastError.message)) break;
    }
  }
  rmSync(options.dir, { recursive: true, force: true });
  throw lastError ?? new Error(`${options.name} did not start`);
}

async function startOnce(options: DaemonOptions): Promise<Daemon> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(options.bin, options.args(port), { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (chunk: Buffer): void => {
    log = (log + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
  });
  const pid = child.pid;
  if (pid !== undefined) killWithThisProcess(pid); // also on Ctrl-C of the test run
  const kill = async (): Promise<void> => {
    if (pid !== undefined) forgetChild(pid);
    if (exited || pid === undefined) return;
    process.kill(pid, 'SIGTERM');
    const stopped = await Promise.race([exit.then(() => true), sleep(5_000).then(() => false)]);
    if (!stopped) {
      process.kill(pid, 'SIGKILL');
      await exit;
    }
  };

  const deadline = Date.now() + options.readyTimeoutMs;
  while (Date.now() < deadline) {
    if (exited || pid === undefined) {
      throw new Error(`${options.name} exited before becoming ready; its log ends with:\n${log}`);
    }
    try {
      const res = await fetch(`${url}${options.readyPath}`, { signal: AbortSignal.timeout(1_000) });
      if (res.status === 200) {
        return {
          url,
          pid,
          stop: async () => {
            await kill();
            rmSync(options.dir, { recursive: true, force: true });
          },
        };
      }
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  await kill();
  throw new Error(`${options.name} was not ready within ${options.readyTimeoutMs} ms; its log ends with:\n${log}`);
}
