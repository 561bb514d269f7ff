/**
 * The one place Temporal connection options are built, for the client's `Connection` and the worker's
 * `NativeConnection` alike: the address, an API key (which implies TLS), and TLS files for mTLS or a private CA.
 * Both read the same environment variables ({@link temporalSettingsFromEnv}); the worker also reads its
 * configuration file, and environment variables win there too.
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { ConnectionOptions } from '@temporalio/client';
import { ClientConfigError } from './errors.js';

/** Default Temporal address (the local dev server). */
export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';
/** Default Temporal namespace (DESIGN.md contract). */
export const DEFAULT_TEMPORAL_NAMESPACE = 'default';
/** Default task queue (DESIGN.md contract). */
export const DEFAULT_TASK_QUEUE = 'kube-workflows';

/** TLS files and names; any of them turns TLS on. */
export interface TemporalTlsSettings {
  /** Client certificate (PEM) for mTLS; needs {@link TemporalTlsSettings.keyFile}. */
  certFile?: string | undefined;
  /** Client private key (PEM) for mTLS; needs {@link TemporalTlsSettings.certFile}. */
  keyFile?: string | undefined;
  /** CA certificate (PEM) the server's certificate is checked against (default: the system's roots). */
  caFile?: string | undefined;
  /** Server name to verify instead of the address's host. */
  serverName?: string | undefined;
}

/** Where Temporal is and how to authenticate: what the client's options and the worker's configuration resolve to. */
export interface TemporalConnectionSettings {
  /** `host:port`. */
  address: string;
  /** API key (Temporal Cloud); implies TLS. */
  apiKey?: string | undefined;
  tls?: TemporalTlsSettings | undefined;
}

/** The options `Connection.connect` (client) and `NativeConnection.connect` (worker) both take. */
export interface TemporalConnectionOptions {
  address: string;
  apiKey?: string;
  tls?: Exclude<ConnectionOptions['tls'], null | undefined>;
}

/**
 * The `TEMPORAL_*` environment variables as settings (`TEMPORAL_ADDRESS`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS_CERT`,
 * `TEMPORAL_TLS_KEY`, `TEMPORAL_TLS_CA`, `TEMPORAL_TLS_SERVER_NAME`); fields that are not set are absent.
 */
export function temporalSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<TemporalConnectionSettings> {
  const tls: TemporalTlsSettings = {
    ...(env.TEMPORAL_TLS_CERT ? { certFile: env.TEMPORAL_TLS_CERT } : {}),
    ...(env.TEMPORAL_TLS_KEY ? { keyFile: env.TEMPORAL_TLS_KEY } : {}),
    ...(env.TEMPORAL_TLS_CA ? { caFile: env.TEMPORAL_TLS_CA } : {}),
    ...(env.TEMPORAL_TLS_SERVER_NAME ? { serverName: env.TEMPORAL_TLS_SERVER_NAME } : {}),
  };
  return {
    ...(env.TEMPORAL_ADDRESS ? { address: env.TEMPORAL_ADDRESS } : {}),
    ...(env.TEMPORAL_API_KEY ? { apiKey: env.TEMPORAL_API_KEY } : {}),
    ...(Object.keys(tls).length ? { tls } : {}),
  };
}

/**
 * Builds connection options from settings, reading the TLS files. TLS is on when any TLS setting is given (a
 * client certificate pair, a CA, a server name) or with an API key (then with the system's roots). Throws
 * {@link ClientConfigError} when only one of the certificate and its key is given.
 */
export async function temporalConnectionOptions(
  settings: TemporalConnectionSettings,
): Promise<TemporalConnectionOptions> {
  const options: TemporalConnectionOptions = { address: settings.address };
  if (settings.apiKey) options.apiKey = settings.apiKey;
  const tls = settings.tls ?? {};
  if (!!tls.certFile !== !!tls.keyFile) {
    throw new ClientConfigError(
      'Temporal TLS: the client certificate and its key must be set together (TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY)',
    );
  }
  if (tls.certFile || tls.keyFile || tls.caFile || tls.serverName) {
    options.tls = {
      ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
      ...(tls.caFile ? { serverRootCACertificate: await readTlsFile(tls.caFile, 'CA certificate') } : {}),
      ...(tls.certFile && tls.keyFile
        ? {
            clientCertPair: {
              crt: await readTlsFile(tls.certFile, 'client certificate'),
              key: await readTlsFile(tls.keyFile, 'client key'),
            },
          }
        : {}),
    };
  } else if (settings.apiKey) {
    options.tls = true;
  }
  return options;
}

async function readTlsFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new ClientConfigError(
      `Temporal TLS: cannot read the ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
}
