import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  EncryptionConfigError,
  loadEncryptionConfig,
  parseEncryptionConfig,
  resolveEncryptionConfig,
} from '../../src/codec/index.js';
import { ConfigError, loadWorkerConfig } from '../../src/worker/config.js';

const key1 = randomBytes(32).toString('base64');
const key2 = randomBytes(32).toString('base64');
const shortKey = randomBytes(16).toString('base64');

const dir = mkdtempSync(join(tmpdir(), 'kube-workflows-encryption-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, yaml: string): string {
  const path = join(dir, name);
  writeFileSync(path, yaml);
  return path;
}

/** What `fn` threw (its message), asserting it is an EncryptionConfigError or ConfigError. */
function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err instanceof EncryptionConfigError || err instanceof ConfigError).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

describe('EncryptionConfig validation names the problem and never the key', () => {
  it.each<{ case: string; config: unknown; says: string }>([
    { case: 'no keys', config: { keys: [], encryptWith: 'a' }, says: 'encryption.keys: list at least one key' },
    {
      case: 'a key that is 16 bytes, not 32',
      config: { keys: [{ id: 'a', key: shortKey }], encryptWith: 'a' },
      says: 'encryption.keys.0.key: must be standard base64 of exactly 32 bytes',
    },
    {
      case: 'a key that is not base64',
      config: { keys: [{ id: 'a', key: 'not base64!' }], encryptWith: 'a' },
      says: 'encryption.keys.0.key: must be standard base64',
    },
    {
      case: 'a key id listed twice',
      config: {
        keys: [
          { id: 'a', key: key1 },
          { id: 'a', key: key2 },
        ],
        encryptWith: 'a',
      },
      says: 'encryption.keys.1.id: key id "a" is listed twice',
    },
    {
      case: 'encryptWith naming no listed key',
      config: { keys: [{ id: 'a', key: key1 }], encryptWith: 'b' },
      says: 'encryption.encryptWith: "b" is not one of the listed key ids (a)',
    },
    {
      case: 'a key id with a colon',
      config: { keys: [{ id: 'a:b', key: key1 }], encryptWith: 'a:b' },
      says: 'encryption.keys.0.id: a key id: letters, digits',
    },
    {
      case: 'an unknown field',
      config: { keys: [{ id: 'a', key: key1 }], encryptWith: 'a', cipher: 'des' },
      says: 'encryption: Unrecognized key',
    },
  ])('$case', ({ config, says }) => {
    const message = messageOf(() => parseEncryptionConfig(config));
    expect(message).toContain(says);
    for (const key of [key1, key2, shortKey]) expect(message).not.toContain(key);
  });
});

describe('resolveEncryptionConfig (environment over file)', () => {
  it('is undefined when nothing configures a key (encryption off)', () => {
    expect(resolveEncryptionConfig(undefined, {})).toBeUndefined();
  });

  it('reads KUBE_WORKFLOWS_ENCRYPTION_KEYS as id:base64 pairs and encrypts with the first by default', () => {
    expect(resolveEncryptionConfig(undefined, { KUBE_WORKFLOWS_ENCRYPTION_KEYS: `new:${key2}, old:${key1}` })).toEqual({
      keys: [
        { id: 'new', key: key2 },
        { id: 'old', key: key1 },
      ],
      encryptWith: 'new',
    });
  });

  it('encrypts with KUBE_WORKFLOWS_ENCRYPTION_KEY_ID when set', () => {
    const config = resolveEncryptionConfig(undefined, {
      KUBE_WORKFLOWS_ENCRYPTION_KEYS: `a:${key1},b:${key2}`,
      KUBE_WORKFLOWS_ENCRYPTION_KEY_ID: 'b',
    });
    expect(config?.encryptWith).toBe('b');
  });

  it.each<{ case: string; env: NodeJS.ProcessEnv; says: string; notSays?: string }>([
    {
      case: 'an entry without an id',
      env: { KUBE_WORKFLOWS_ENCRYPTION_KEYS: key1 },
      says: 'KUBE_WORKFLOWS_ENCRYPTION_KEYS: entry 1 is not "id:base64"',
    },
    {
      case: 'a short key',
      env: { KUBE_WORKFLOWS_ENCRYPTION_KEYS: `a:${key1},b:${shortKey}` },
      says: 'KUBE_WORKFLOWS_ENCRYPTION_KEYS entry 2 (key id "b"): must be standard base64 of exactly 32 bytes',
    },
    {
      case: 'a key id that is not listed',
      env: { KUBE_WORKFLOWS_ENCRYPTION_KEYS: `a:${key1}`, KUBE_WORKFLOWS_ENCRYPTION_KEY_ID: 'z' },
      says: 'KUBE_WORKFLOWS_ENCRYPTION_KEY_ID: "z" is not one of the listed key ids (a)',
    },
    {
      case: 'a key id without keys',
      env: { KUBE_WORKFLOWS_ENCRYPTION_KEY_ID: 'a' },
      says: 'KUBE_WORKFLOWS_ENCRYPTION_KEY_ID is set but no keys are configured',
    },
  ])('rejects $case', ({ env, says }) => {
    const message = messageOf(() => resolveEncryptionConfig(undefined, env));
    expect(message).toContain(says);
    for (const key of [key1, key2, shortKey]) expect(message).not.toContain(key);
  });

  it('lets KUBE_WORKFLOWS_ENCRYPTION_KEY_ID switch the key of the file', () => {
    const section = {
      keys: [
        { id: 'a', key: key1 },
        { id: 'b', key: key2 },
      ],
      encryptWith: 'a',
    };
    expect(resolveEncryptionConfig(section, { KUBE_WORKFLOWS_ENCRYPTION_KEY_ID: 'b' })?.encryptWith).toBe('b');
  });
});

describe('the encryption section of the configuration file', () => {
  const yaml = [
    'encryption:',
    '  encryptWith: b',
    '  keys:',
    `    - { id: a, key: "${key1}" }`,
    `    - { id: b, key: "${key2}" }`,
    '',
  ].join('\n');

  it('reaches the worker configuration', () => {
    const config = loadWorkerConfig({ KUBECONFIG: '/k/config', KUBE_WORKFLOWS_CONFIG: file('enc.yaml', yaml) });
    expect(config.encryption).toEqual({
      keys: [
        { id: 'a', key: key1 },
        { id: 'b', key: key2 },
      ],
      encryptWith: 'b',
    });
  });

  it('is read without the rest of the worker configuration by clients and the codec server', () => {
    expect(loadEncryptionConfig({ KUBE_WORKFLOWS_CONFIG: file('enc-only.yaml', yaml) })?.encryptWith).toBe('b');
  });

  it('leaves encryption off when neither file nor environment configures it', () => {
    expect(loadWorkerConfig({ KUBECONFIG: '/k/config' }).encryption).toBeUndefined();
  });

  it('makes the worker refuse a bad key with a ConfigError naming the file and key', () => {
    const path = file('bad.yaml', `encryption: { encryptWith: a, keys: [{ id: a, key: "${shortKey}" }] }\n`);
    const message = messageOf(() => loadWorkerConfig({ KUBECONFIG: '/k/config', KUBE_WORKFLOWS_CONFIG: path }));
    expect(message).toContain('bad.yaml: encryption.keys.0.key: must be standard base64 of exactly 32 bytes');
    expect(message).not.toContain(shortKey);
  });

  it('makes the worker refuse a bad environment key with a ConfigError naming the variable', () => {
    const message = messageOf(() =>
      loadWorkerConfig({ KUBECONFIG: '/k/config', KUBE_WORKFLOWS_ENCRYPTION_KEYS: `a:${shortKey}` }),
    );
    expect(message).toContain('KUBE_WORKFLOWS_ENCRYPTION_KEYS entry 1 (key id "a")');
    expect(message).not.toContain(shortKey);
  });
});
