import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClientConfigError } from '../../src/client/errors.js';
import {
  DEFAULT_TASK_QUEUE,
  DEFAULT_TEMPORAL_ADDRESS,
  temporalConnectionOptions,
  temporalSettingsFromEnv,
} from '../../src/client/connection.js';
import * as worker from '../../src/worker/index.js';

const dir = mkdtempSync(join(tmpdir(), 'kwf-tls-'));
const pem = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('temporalConnectionOptions', () => {
  it('is the address alone when nothing else is set (plain text, the dev server)', async () => {
    expect(await temporalConnectionOptions({ address: 'temporal:7233' })).toEqual({ address: 'temporal:7233' });
  });

  it('turns TLS on with the system roots when an API key is given', async () => {
    expect(await temporalConnectionOptions({ address: 'x.tmprl.cloud:7233', apiKey: 'k' })).toEqual({
      address: 'x.tmprl.cloud:7233',
      apiKey: 'k',
      tls: true,
    });
  });

  it('reads the CA, the client pair and the server name for mTLS', async () => {
    const options = await temporalConnectionOptions({
      address: 'temporal:7233',
      tls: {
        caFile: pem('ca.pem', 'CA'),
        certFile: pem('crt.pem', 'CRT'),
        keyFile: pem('key.pem', 'KEY'),
        serverName: 'temporal.internal',
      },
    });
    expect(options.tls).toEqual({
      serverNameOverride: 'temporal.internal',
      serverRootCACertificate: Buffer.from('CA'),
      clientCertPair: { crt: Buffer.from('CRT'), key: Buffer.from('KEY') },
    });
  });

  it('refuses a client certificate without its key', async () => {
    await expect(
      temporalConnectionOptions({ address: 'temporal:7233', tls: { certFile: pem('only.pem', 'CRT') } }),
    ).rejects.toThrow(ClientConfigError);
  });

  it('names a TLS file it cannot read, as a configuration error', async () => {
    const missing = join(dir, 'missing-ca.pem');
    const err = await temporalConnectionOptions({ address: 'temporal:7233', tls: { caFile: missing } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ClientConfigError);
    expect((err as Error).message).toBe(`Temporal TLS: cannot read the CA certificate ${missing} (ENOENT)`);
  });

  it('is the builder the worker uses and exports', () => {
    expect(worker.temporalConnectionOptions).toBe(temporalConnectionOptions);
  });

  it('shares its defaults with the worker configuration', () => {
    expect(worker.DEFAULT_TEMPORAL_ADDRESS).toBe(DEFAULT_TEMPORAL_ADDRESS);
    expect(worker.DEFAULT_TASK_QUEUE).toBe(DEFAULT_TASK_QUEUE);
  });
});

describe('temporalSettingsFromEnv', () => {
  it('reads the TEMPORAL_* variables the worker reads', () => {
    expect(
      temporalSettingsFromEnv({
        TEMPORAL_ADDRESS: 'temporal:7233',
        TEMPORAL_API_KEY: 'k',
        TEMPORAL_TLS_CA: '/ca.pem',
        TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
      }),
    ).toEqual({ address: 'temporal:7233', apiKey: 'k', tls: { caFile: '/ca.pem', serverName: 'temporal.internal' } });
  });

  it('leaves out what is not set', () => {
    expect(temporalSettingsFromEnv({})).toEqual({});
  });
});
