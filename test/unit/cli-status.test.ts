/**
 * `kube-workflows status` goes through withClient like every command: exit 3 when Temporal cannot be reached,
 * exit 2 when the client's configuration is unusable, nothing on stdout in either case.
 */
import { Connection } from '@temporalio/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { CONNECT_TIMEOUT } from '../../src/client/client.js';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { captureCliOutput } from '../support/cli.js';

const ENV_NAMES = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS_CERT',
  'TEMPORAL_TLS_KEY',
  'TEMPORAL_TLS_CA',
  'TEMPORAL_TLS_SERVER_NAME',
  'KUBE_WORKFLOWS_ENCRYPTION_KEYS',
  'KUBE_WORKFLOWS_ENCRYPTION_KEY_ID',
  'KUBE_WORKFLOWS_CONFIG',
] as const;
const out = captureCliOutput(ENV_NAMES);
afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * A refused port is not an error at once for gRPC (the channel retries until the connect deadline), so the real
 * `Connection.connect` is given a short deadline instead of the client's {@link CONNECT_TIMEOUT}; everything else
 * (the connection attempt, its failure, the exit code) is real.
 */
function connectWithShortDeadline(): { timeouts: unknown[] } {
  const realConnect = Connection.connect.bind(Connection);
  const seen = { timeouts: [] as unknown[] };
  vi.spyOn(Connection, 'connect').mockImplementationOnce((options) => {
    seen.timeouts.push(options?.connectTimeout);
    return realConnect({ ...options, connectTimeout: 200 });
  });
  return seen;
}

describe('kube-workflows status', () => {
  it('exits 3 and names the address when Temporal cannot be reached', async () => {
    process.env.TEMPORAL_ADDRESS = '127.0.0.1:1';
    const connect = connectWithShortDeadline();
    await main(['node', 'kube-workflows', 'status', 'deploy/default/shop/cart']);
    expect(connect.timeouts).toEqual([CONNECT_TIMEOUT]);
    expect(process.exitCode).toBe(ExitCode.Unreachable);
    expect(out.stderr).toMatch(/cannot reach Temporal at 127\.0\.0\.1:1/);
    expect(out.stdout).toBe('');
  });

  it('exits 2 when the Temporal TLS settings are unusable (a certificate without its key)', async () => {
    process.env.TEMPORAL_ADDRESS = '127.0.0.1:1';
    process.env.TEMPORAL_TLS_CERT = '/nonexistent/client.pem';
    await main(['node', 'kube-workflows', 'status', 'deploy/default/shop/cart', '--json']);
    expect(process.exitCode).toBe(ExitCode.BadInput);
    expect(out.stderr).toMatch(/configuration: Temporal TLS: the client certificate and its key must be set together/);
    expect(out.stdout).toBe('');
  });
});
