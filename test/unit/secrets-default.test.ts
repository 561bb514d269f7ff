/**
 * Secrets safe by default: without payload encryption a deploy holding a Secret is refused — by the client before
 * anything starts, and by the worker's plan — with a message that names the Secrets (never their values), says how
 * to enable encryption and how to opt out; and the local stack makes its own key (mode 0600) that the codec reads.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareDeployStart } from '../../src/client/deploy-start.js';
import { InvalidInputError } from '../../src/client/errors.js';
import { resolveEncryptionConfig } from '../../src/codec/config.js';
import { devEncryptionEnvLines, ensureDevEncryptionKey } from '../../src/dev/encryption-key.js';
import { plaintextSecretsRefusal } from '../../src/domain/secrets.js';

const secret = (name: string, namespace = 'shop') => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace },
});
const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'shop' } };

describe('plaintextSecretsRefusal', () => {
  it('refuses a Secret without encryption, naming it and saying how to enable encryption and how to opt out', () => {
    const message = plaintextSecretsRefusal({ objects: [configMap, secret('db')], side: 'worker' });
    expect(message).toContain('refusing to deploy Secret/shop/db without encryption');
    expect(message).toContain('this worker has no payload encryption configured');
    expect(message).toContain('KUBE_WORKFLOWS_ENCRYPTION_KEYS=<id>:<base64 of 32 bytes>');
    expect(message).toContain('encryption.keys of the KUBE_WORKFLOWS_CONFIG file');
    expect(message).toContain('KUBE_WORKFLOWS_ALLOW_PLAINTEXT_SECRETS=true on the worker');
    expect(message).toContain('policy.allowPlaintextSecrets: true');
  });

  it('tells a client about its own option and CLI flag', () => {
    const message = plaintextSecretsRefusal({ objects: [secret('db')], side: 'client' });
    expect(message).toContain('this client has no payload encryption configured');
    expect(message).toContain('client option allowPlaintextSecrets, CLI flag --allow-plaintext-secrets');
  });

  it('lets the deploy go on with encryption, with the opt-out, or without any Secret', () => {
    expect(plaintextSecretsRefusal({ objects: [secret('db')], side: 'worker', payloadsEncrypted: true })).toBe(
      undefined,
    );
    expect(plaintextSecretsRefusal({ objects: [secret('db')], side: 'worker', allowPlaintextSecrets: true })).toBe(
      undefined,
    );
    expect(plaintextSecretsRefusal({ objects: [configMap], side: 'worker' })).toBe(undefined);
  });

  it('counts only core v1 Secrets, and names at most five', () => {
    const lookalike = { apiVersion: 'external-secrets.io/v1', kind: 'Secret', metadata: { name: 'x' } };
    expect(plaintextSecretsRefusal({ objects: [lookalike], side: 'worker' })).toBe(undefined);
    const many = Array.from({ length: 7 }, (_, i) => secret(`s${i}`));
    expect(plaintextSecretsRefusal({ objects: many, side: 'worker' })).toContain('Secret/shop/s4 and 2 more');
  });
});

describe('the client refuses a deploy holding a Secret without encryption before anything starts', () => {
  const manifests = `apiVersion: v1
kind: Secret
metadata: { name: db, namespace: shop }
stringData: { password: hunter2 }
`;
  const context = { defaultCluster: 'local', payloadsEncrypted: false, allowPlaintextSecrets: false };

  it('throws InvalidInputError (CLI exit 2) whose message names the Secret and never its value', () => {
    let error: unknown;
    try {
      prepareDeployStart({ manifests, app: 'shop' }, context);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as Error).message).toMatch(/^refusing to deploy Secret\/shop\/db without encryption/);
    expect((error as Error).message).not.toContain('hunter2');
  });

  it('starts it with encryption on, or with allowPlaintextSecrets', () => {
    expect(prepareDeployStart({ manifests, app: 'shop' }, { ...context, payloadsEncrypted: true }).workflowId).toBe(
      'deploy/local/shop/shop',
    );
    expect(prepareDeployStart({ manifests, app: 'shop' }, { ...context, allowPlaintextSecrets: true }).app).toBe(
      'shop',
    );
  });
});

describe('the local stack key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kwf-devkey-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is made once per stack folder with mode 0600, and the same key is returned afterwards', () => {
    const first = ensureDevEncryptionKey(dir);
    expect(statSync(first.file).mode & 0o777).toBe(0o600);
    expect(first.id).toMatch(/^dev-[0-9a-f]{8}$/);
    expect(Buffer.from(first.key, 'base64')).toHaveLength(32);
    expect(ensureDevEncryptionKey(dir)).toEqual(first);
    expect(JSON.parse(readFileSync(first.file, 'utf8'))).toEqual({ id: first.id, key: first.key });
  });

  it('prints env lines the worker, client and codec server read as their encryption configuration', () => {
    const key = ensureDevEncryptionKey(dir);
    const env = Object.fromEntries(
      devEncryptionEnvLines(key).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(Object.keys(env)).toEqual(['KUBE_WORKFLOWS_ENCRYPTION_KEYS', 'KUBE_WORKFLOWS_ENCRYPTION_KEY_ID']);
    expect(resolveEncryptionConfig(undefined, env)).toEqual({
      keys: [{ id: key.id, key: key.key }],
      encryptWith: key.id,
    });
  });

  it('refuses a damaged key file, naming it, instead of replacing a key histories may need', () => {
    const other = mkdtempSync(join(dir, 'damaged-'));
    writeFileSync(join(other, 'encryption-key.json'), '{"id":"dev-00000000","key":"short"}');
    expect(() => ensureDevEncryptionKey(other)).toThrow(/encryption-key\.json: expected/);
  });
});
