/**
 * `kube-workflows codec-server`: keys from the environment, a free port, stops on SIGINT; bad usage exits 2.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { captureCliOutput } from '../support/cli.js';

const KEY = randomBytes(32).toString('base64');
const ENV_NAMES = [
  'KUBE_WORKFLOWS_ENCRYPTION_KEYS',
  'KUBE_WORKFLOWS_ENCRYPTION_KEY_ID',
  'KUBE_WORKFLOWS_CONFIG',
  'CODEC_TEST_TOKEN',
] as const;
const out = captureCliOutput(ENV_NAMES);

async function run(...args: string[]): Promise<void> {
  await main(['node', 'kube-workflows', 'codec-server', ...args]);
}

describe('kube-workflows codec-server', () => {
  it('serves the configured keys on the given port until SIGINT, then exits 0', async () => {
    process.env.KUBE_WORKFLOWS_ENCRYPTION_KEYS = `cli-key:${KEY}`;
    process.env.CODEC_TEST_TOKEN = 'secret-token';
    const running = run('--port', '0', '--origin', 'http://localhost:8233', '--token-env', 'CODEC_TEST_TOKEN');
    await vi.waitFor(() => expect(out.stdout).toMatch(/^http:\/\/127\.0\.0\.1:\d+\n$/), { timeout: 5000 });
    const url = out.stdout.trim();
    expect(out.stderr).toContain('key ids cli-key (encrypts with cli-key)');
    expect(out.stderr).toContain('browser origins: http://localhost:8233');
    expect(out.stderr).toContain('bearer token required');
    expect(out.stderr).not.toContain(KEY);

    const payloads = { payloads: [{ metadata: { encoding: 'anNvbi9wbGFpbg==' }, data: 'InNlY3JldCI=' }] };
    const headers = { 'content-type': 'application/json', authorization: 'Bearer secret-token' };
    const encoded = await fetch(`${url}/encode`, { method: 'POST', headers, body: JSON.stringify(payloads) });
    expect(encoded.status).toBe(200);
    const decoded = await fetch(`${url}/decode`, { method: 'POST', headers, body: await encoded.text() });
    expect(await decoded.json()).toEqual(payloads);

    process.emit('SIGINT');
    await running;
    expect(process.exitCode).toBe(0);
  });

  it('exits 2 naming the variable when no keys are configured', async () => {
    await run('--port', '0');
    expect(process.exitCode).toBe(2);
    expect(out.stderr).toContain('no encryption keys configured: set KUBE_WORKFLOWS_ENCRYPTION_KEYS');
  });

  it('exits 2 naming the variable when a key is invalid, without printing it', async () => {
    const short = randomBytes(8).toString('base64');
    process.env.KUBE_WORKFLOWS_ENCRYPTION_KEYS = `k:${short}`;
    await run('--port', '0');
    expect(process.exitCode).toBe(2);
    expect(out.stderr).toContain('KUBE_WORKFLOWS_ENCRYPTION_KEYS entry 1 (key id "k")');
    expect(out.stderr).not.toContain(short);
  });

  it('exits 2 when --token-env names an unset variable', async () => {
    process.env.KUBE_WORKFLOWS_ENCRYPTION_KEYS = `k:${KEY}`;
    await run('--port', '0', '--token-env', 'CODEC_TEST_TOKEN');
    expect(process.exitCode).toBe(2);
    expect(out.stderr).toContain('--token-env CODEC_TEST_TOKEN: that environment variable is not set');
  });

  it('exits 2 for an origin with a path', async () => {
    process.env.KUBE_WORKFLOWS_ENCRYPTION_KEYS = `k:${KEY}`;
    await run('--port', '0', '--origin', 'http://localhost:8233/');
    expect(process.exitCode).toBe(2);
    expect(out.stderr).toContain('--origin http://localhost:8233/: expected scheme://host[:port]');
  });
});
