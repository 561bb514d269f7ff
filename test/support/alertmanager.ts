/**
 * Starts a real Alertmanager (Debian package `prometheus-alertmanager`) for integration tests: a private
 * storage folder, a minimal configuration (every alert routed to one receiver that notifies nobody), clustering
 * off, a free port on 127.0.0.1. Resolves once `GET /-/ready` answers 200; `stop()` ends that process by its pid
 * and removes the folder. A missing binary is an error that says how to install it: these tests never skip.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installedVersion, startDaemon } from './daemon.js';

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
  const version = installedVersion({
    name: 'Alertmanager',
    bin: ALERTMANAGER_BIN,
    envVar: 'ALERTMANAGER_BIN',
    installHint: ALERTMANAGER_INSTALL_HINT,
    binary: 'an alertmanager binary',
  });
  const dir = mkdtempSync(join(tmpdir(), 'kwf-alertmanager-'));
  const configFile = join(dir, 'am.yml');
  writeFileSync(configFile, MINIMAL_CONFIG);
  const daemon = await startDaemon({
    name: 'Alertmanager',
    bin: ALERTMANAGER_BIN,
    dir,
    readyPath: '/-/ready',
    readyTimeoutMs: options.readyTimeoutMs ?? DEFAULT_ALERTMANAGER_READY_TIMEOUT_MS,
    args: (port) => [
      `--config.file=${configFile}`,
      `--storage.path=${dir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // empty: no gossip cluster, so nothing listens on 9094 and two runs cannot collide there
      '--cluster.listen-address=',
    ],
  });
  return { ...daemon, version };
}
