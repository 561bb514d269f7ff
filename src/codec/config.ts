/**
 * Encryption configuration: the keys of the AES-256-GCM payload codec, from the `encryption` key of the
 * configuration file (`KUBE_WORKFLOWS_CONFIG`) and/or the environment:
 *
 * - `KUBE_WORKFLOWS_ENCRYPTION_KEYS` = `id1:base64,id2:base64` (replaces the file's `keys`);
 * - `KUBE_WORKFLOWS_ENCRYPTION_KEY_ID` = the id of the key that encrypts (default: the file's `encryptWith` when
 *   that key is listed, else the first key listed).
 *
 * Every key decrypts; only `encryptWith` encrypts. Rotation: add the new key, switch `encryptWith` to it, and keep
 * the old key listed for as long as histories encrypted with it are retained.
 *
 * Error messages name the variable, key or key id at fault and never contain key material.
 * @module
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** Bytes of an AES-256 key. */
export const ENCRYPTION_KEY_BYTES = 32;

/** Environment variable listing the keys as `id:base64` pairs separated by commas. */
export const ENCRYPTION_KEYS_ENV = 'KUBE_WORKFLOWS_ENCRYPTION_KEYS';
/** Environment variable naming the key that encrypts. */
export const ENCRYPTION_KEY_ID_ENV = 'KUBE_WORKFLOWS_ENCRYPTION_KEY_ID';

/** A key id: letters, digits, `.`, `_`, `-`; at most 64 characters (it is stored in every payload's metadata). */
const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** True when `text` is standard base64 of exactly {@link ENCRYPTION_KEY_BYTES} bytes. */
function isAes256KeyBase64(text: string): boolean {
  return BASE64_PATTERN.test(text) && Buffer.from(text, 'base64').length === ENCRYPTION_KEY_BYTES;
}

/** One key: an id stored in the payloads it encrypts, and the key itself (base64 of 32 random bytes). */
export const EncryptionKeyConfig = z.strictObject({
  id: z
    .string({ error: 'a key id (string)' })
    .regex(KEY_ID_PATTERN, 'a key id: letters, digits, ".", "_" or "-", at most 64 characters'),
  key: z
    .string({ error: 'base64 of 32 random bytes (openssl rand -base64 32)' })
    .refine(
      isAes256KeyBase64,
      `must be standard base64 of exactly ${ENCRYPTION_KEY_BYTES} bytes (make one with: openssl rand -base64 32)`,
    ),
});
/** One key as configured. */
export type EncryptionKeyConfig = z.infer<typeof EncryptionKeyConfig>;

/**
 * The encryption settings: every listed key decrypts, `encryptWith` names the one that encrypts. Ids are unique.
 * @example
 * { keys: [{ id: '2026-01', key: 'base64 of 32 bytes' }], encryptWith: '2026-01' }
 */
export const EncryptionConfig = z
  .strictObject({
    keys: z.array(EncryptionKeyConfig, { error: 'a list of { id, key }' }).min(1, 'list at least one key { id, key }'),
    encryptWith: z.string({ error: 'the id of the key that encrypts' }).min(1, 'the id of the key that encrypts'),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.keys.forEach((k, i) => {
      if (seen.has(k.id)) {
        ctx.addIssue({ code: 'custom', path: ['keys', i, 'id'], message: `key id "${k.id}" is listed twice` });
      }
      seen.add(k.id);
    });
    if (!seen.has(config.encryptWith)) {
      ctx.addIssue({
        code: 'custom',
        path: ['encryptWith'],
        message: `"${config.encryptWith}" is not one of the listed key ids (${[...seen].join(', ')})`,
      });
    }
  });
/** The encryption settings. */
export type EncryptionConfig = z.infer<typeof EncryptionConfig>;

/** An invalid encryption configuration; the message names the variable / key at fault, never key material. */
export class EncryptionConfigError extends Error {
  override readonly name = 'EncryptionConfigError';
}

/** Validates an encryption configuration; throws {@link EncryptionConfigError} naming the first problem. */
export function parseEncryptionConfig(value: unknown, where = 'encryption'): EncryptionConfig {
  const parsed = EncryptionConfig.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.length ? `${where}.${issue.path.join('.')}` : where;
    throw new EncryptionConfigError(`${path}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** Parses `id1:base64,id2:base64` (whitespace around entries ignored). */
function parseKeyList(text: string): EncryptionKeyConfig[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry, i) => {
      const colon = entry.indexOf(':');
      if (colon <= 0) {
        throw new EncryptionConfigError(
          `${ENCRYPTION_KEYS_ENV}: entry ${i + 1} is not "id:base64" (expected id1:base64,id2:base64)`,
        );
      }
      return { id: entry.slice(0, colon).trim(), key: entry.slice(colon + 1).trim() };
    });
}

/**
 * Resolves the encryption configuration from the file's `encryption` section (already read, not yet validated)
 * and the environment, which wins: {@link ENCRYPTION_KEYS_ENV} replaces the file's keys, {@link ENCRYPTION_KEY_ID_ENV}
 * its `encryptWith`. Returns `undefined` when neither configures any key (encryption off).
 * Throws {@link EncryptionConfigError}.
 */
export function resolveEncryptionConfig(
  fileSection: unknown,
  env: NodeJS.ProcessEnv = process.env,
  where = 'encryption',
): EncryptionConfig | undefined {
  const keysVar = env[ENCRYPTION_KEYS_ENV]?.trim() || undefined;
  const keyIdVar = env[ENCRYPTION_KEY_ID_ENV]?.trim() || undefined;
  const file = fileSection === undefined || fileSection === null ? undefined : fileSection;
  if (keysVar === undefined) {
    if (file === undefined) {
      if (keyIdVar !== undefined) {
        throw new EncryptionConfigError(
          `${ENCRYPTION_KEY_ID_ENV} is set but no keys are configured: set ${ENCRYPTION_KEYS_ENV} (id:base64,…) ` +
            `or the configuration file's encryption.keys`,
        );
      }
      return undefined;
    }
    return parseEncryptionConfig(
      keyIdVar !== undefined && typeof file === 'object' ? { ...file, encryptWith: keyIdVar } : file,
      where,
    );
  }
  const keys = parseKeyList(keysVar);
  if (!keys.length) throw new EncryptionConfigError(`${ENCRYPTION_KEYS_ENV}: list at least one id:base64 key`);
  const fileEncryptWith =
    typeof file === 'object' && typeof (file as { encryptWith?: unknown }).encryptWith === 'string'
      ? (file as { encryptWith: string }).encryptWith
      : undefined;
  const encryptWith =
    keyIdVar ??
    (fileEncryptWith && keys.some((k) => k.id === fileEncryptWith) ? fileEncryptWith : undefined) ??
    keys[0]?.id;
  const parsed = EncryptionConfig.safeParse({ keys, encryptWith });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const [first, index, field] = issue?.path ?? [];
    const variable = first === 'encryptWith' ? ENCRYPTION_KEY_ID_ENV : ENCRYPTION_KEYS_ENV;
    const entry =
      first === 'keys' && typeof index === 'number'
        ? ` entry ${index + 1}${keys[index]?.id && field === 'key' ? ` (key id "${keys[index].id}")` : ''}`
        : '';
    throw new EncryptionConfigError(`${variable}${entry}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/**
 * The encryption configuration a process uses: the `encryption` section of the `KUBE_WORKFLOWS_CONFIG` file (when
 * set) overridden by the environment. Only that section of the file is read and validated here, so clients and
 * the codec server share the worker's keys without needing its cluster settings.
 * Throws {@link EncryptionConfigError}.
 */
export function loadEncryptionConfig(env: NodeJS.ProcessEnv = process.env): EncryptionConfig | undefined {
  const path = env.KUBE_WORKFLOWS_CONFIG?.trim() || undefined;
  let section: unknown;
  if (path) {
    let data: unknown;
    try {
      data = parseYaml(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new EncryptionConfigError(
        `KUBE_WORKFLOWS_CONFIG=${path}: cannot read the file (${(err as Error).message.split('\n')[0]})`,
      );
    }
    if (data && typeof data === 'object') section = (data as { encryption?: unknown }).encryption;
  }
  return resolveEncryptionConfig(section, env, path ? `${path}: encryption` : 'encryption');
}
