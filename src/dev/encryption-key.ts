/**
 * The local stack's payload encryption key, so that `kube-workflows dev up` and the demo encrypt by default: one
 * AES-256 key per stack folder, made on first use and kept in `<dir>/encryption-key.json` (mode 0600) for as long
 * as the folder — and the Temporal database in it — lives, so every history the stack keeps stays readable.
 * `dev up` and `dev status` print it as `KUBE_WORKFLOWS_ENCRYPTION_KEYS` / `KUBE_WORKFLOWS_ENCRYPTION_KEY_ID`
 * lines, which the worker, the CLI and the codec server read. A development key only: anyone who can read the
 * folder can read the stack's histories. Node builtins only.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** File name of the key in the stack folder. */
export const DEV_ENCRYPTION_KEY_FILE = 'encryption-key.json';

/** A stack's key: the id stored in every payload it encrypts, and the key as base64 of 32 bytes. */
export interface DevEncryptionKey {
  id: string;
  key: string;
  /** Where it is kept. */
  file: string;
}

const KEY_ID_PATTERN = /^dev-[0-9a-f]{8}$/;

/**
 * The key of the stack in `dir`, made (32 random bytes, a random `dev-…` id, file mode 0600) when there is none.
 * Throws naming the file when it exists but does not hold a valid key (delete it to get a new one; histories it
 * encrypted then become unreadable).
 */
export function ensureDevEncryptionKey(dir: string): DevEncryptionKey {
  const folder = resolve(dir);
  const file = join(folder, DEV_ENCRYPTION_KEY_FILE);
  mkdirSync(folder, { recursive: true });
  const made = { id: `dev-${randomBytes(4).toString('hex')}`, key: randomBytes(32).toString('base64') };
  try {
    // `wx`: never overwrite a key another process made meanwhile; mode applies at creation.
    writeFileSync(file, `${JSON.stringify(made)}\n`, { flag: 'wx', mode: 0o600 });
    return { ...made, file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  let stored: unknown;
  try {
    stored = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not a key file (${(err as Error).message})`);
  }
  const { id, key } = (stored ?? {}) as { id?: unknown; key?: unknown };
  if (typeof id !== 'string' || !KEY_ID_PATTERN.test(id) || typeof key !== 'string' || !isKey(key)) {
    throw new Error(`${file}: expected {"id":"dev-<8 hex>","key":"<base64 of 32 bytes>"}`);
  }
  return { id, key, file };
}

function isKey(text: string): boolean {
  return /^[A-Za-z0-9+/]+={0,2}$/.test(text) && Buffer.from(text, 'base64').length === 32;
}

/**
 * The lines `dev up` / `dev status` print after the stack's own: `KUBE_WORKFLOWS_ENCRYPTION_KEYS=<id>:<base64>`
 * and `KUBE_WORKFLOWS_ENCRYPTION_KEY_ID=<id>` (base64 needs no quoting in a shell `eval`).
 */
export function devEncryptionEnvLines(key: Pick<DevEncryptionKey, 'id' | 'key'>): string[] {
  return [`KUBE_WORKFLOWS_ENCRYPTION_KEYS=${key.id}:${key.key}`, `KUBE_WORKFLOWS_ENCRYPTION_KEY_ID=${key.id}`];
}
