/**
 * Starts a real Alertmanager (Debian package `prometheus-alertmanager`) for integration tests: a private
 * storage folder, a minimal configuration (every alert routed to one receiver that notifies nobody), clustering
 * off, a free port on 127.0.0.1. Resolves once `GET /-/ready` answers 200; `stop()` ends that process by its pid
 * and removes the folder. A missing binary is an error that says how to install it: these tests never skip.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The binary to run: `ALERTMANAGER_BIN`, else the Debian package's. */
export const ALERTMANAGER_BIN = process.env.ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';

/** How to get the binary, quoted in the error when it is missing. */
export const ALERTMANAGER_INSTALL_HINT = 'apt-get update && apt-get install -y prometheus-alertmanager';

/** How long Alertmanager gets to become ready. */
export const DEFAULT_ALERTMANAGER_READY_TIMEOUT_MS = 30_000;

/** Every alert goes to a receiver without integrations: nothing is sent anywhere. */
const MINIMAL_CONFIG = `route:
  receiver: 'null'
receivers:
  - name: 'null'
`;

/** A running Alertmanager. */
export interface RunningAlertmanager {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** As `--version` prints it, for example `0.25.0`. */
  version: string;
  pid: number;
  /** Stops the process (SIGTERM, then SIGKILL after 5 s) and removes its folder. */
  stop(): Promise<void>;
}

/** Starts Alertmanager and waits until it is ready. Tries again on a fresh port if the chosen one was taken. */
export async function startAlertmanager(options: { readyTimeoutMs?: number } = {}): Promise<RunningAlertmanager> {
  if (!existsSync(ALERTMANAGER_BIN)) {
    throw new Error(
      `Alertmanager is not installed (${ALERTMANAGER_BIN} is missing): install it with \`${ALERTMANAGER_INSTALL_HINT}\` ` +
        'or point ALERTMANAGER_BIN at an alertmanager binary',
    );
  }
  const versionText = execFileSync(ALERTMANAGER_BIN, ['--version'], { encoding: 'utf8' });
  const version = /version (\S+)/.exec(versionText)?.[1] ?? 'unknown';
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(version, options.readyTimeoutMs ?? DEFAULT_ALERTMANAGER_READY_TIMEOUT_MS);
    } catch (err) {
      lastError = err as Error;
      if (!/address already in use/.test(lastError.message)) throw lastError;
    }
  }
  throw lastError ?? new Error('Alertmanager did not start');
}

async function startOnce(version: string, readyTimeoutMs: number): Promise<RunningAlertmanager> {
  const dir = mkdtempSync(join(tmpdir(), 'kwf-alertmanager-'));
  const configFile = join(dir, 'am.yml');
  writeFileSync(configFile, MINIMAL_CONFIG);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    ALERTMANAGER_BIN,
    [
      `--config.file=${configFile}`,
      `--storage.path=${dir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // empty: no gossip cluster, so nothing listens on 9094 and two runs cannot collide there
      '--cluster.listen-address=',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
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
  const stop = async (): Promise<void> => {
    if (!exited && pid !== undefined) {
      process.kill(pid, 'SIGTERM');
      const stopped = await Promise.race([exit.then(() => true), sleep(5_000).then(() => false)]);
      if (!stopped) {
        process.kill(pid, 'SIGKILL');
        await exit;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    if (exited || pid === undefined) {
      await stop();
      throw new Error(`Alertmanager exited before becoming ready; its log ends with:\n${log}`);
    }
    try {
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
      if (res.status === 200) return { url, version, pid, stop };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  await stop();
  throw new Error(`Alertmanager was not ready within ${readyTimeoutMs} ms; its log ends with:\n${log}`);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
