/**
 * An AES-256-GCM {@link PayloadCodec}: every payload leaving the process is encrypted, so the Temporal server
 * stores (and shows) only ciphertext — workflow inputs with manifests and Secrets, results, query answers,
 * heartbeat details, memos, and (with the encoding failure converter, see `createDataConverter`) failure messages
 * and stack traces.
 *
 * Format of an encoded payload: metadata `encoding: binary/encrypted` and `encryption-key-id: <id>`; data =
 * 12-byte random IV ‖ ciphertext ‖ 16-byte GCM tag, where the plaintext is the original payload serialized with
 * `temporal.api.common.v1.Payload.encode` (its metadata is encrypted too). This is the layout of Temporal's
 * encryption samples, so codecs in other SDKs can read it.
 *
 * Decoding picks the key the payload names, so old payloads stay readable after a rotation as long as their key
 * is still listed. Payloads that are not encrypted pass through unchanged: histories written before encryption was
 * turned on stay readable.
 *
 * Search attributes are never payload-encoded by Temporal: never put secrets in them.
 * @module
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';
import { parseEncryptionConfig, type EncryptionConfig } from './config.js';

const ProtoPayload = proto.temporal.api.common.v1.Payload;

/** Metadata key holding a payload's encoding. */
export const METADATA_ENCODING = 'encoding';
/** Encoding of an encrypted payload. */
export const ENCODING_ENCRYPTED = 'binary/encrypted';
/** Metadata key holding the id of the key that encrypted the payload. */
export const METADATA_ENCRYPTION_KEY_ID = 'encryption-key-id';
/** Bytes of the random IV at the start of the data. */
export const IV_BYTES = 12;
/** Bytes of the GCM authentication tag at the end of the data. */
export const TAG_BYTES = 16;

const CIPHER = 'aes-256-gcm';
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** A payload names a key id that is not configured. The message names the id, never key material. */
export class UnknownEncryptionKeyError extends Error {
  override readonly name = 'UnknownEncryptionKeyError';
  constructor(
    /** The key id the payload names. */
    readonly keyId: string,
    configured: readonly string[],
  ) {
    super(
      `payload was encrypted with key id "${keyId}", which is not configured (configured key ids: ${configured.join(', ')}); ` +
        'add that key to the encryption keys to read it',
    );
  }
}

/** An encrypted payload could not be decrypted: truncated, tampered with, or encrypted with another key. */
export class PayloadDecryptionError extends Error {
  override readonly name = 'PayloadDecryptionError';
}

/** True when `payload` carries `encoding: binary/encrypted`. */
export function isEncryptedPayload(payload: Payload): boolean {
  const encoding = payload.metadata?.[METADATA_ENCODING];
  return encoding !== undefined && encoding !== null && fromUtf8.decode(encoding) === ENCODING_ENCRYPTED;
}

/**
 * The AES-256-GCM payload codec. Build it with a validated {@link EncryptionConfig}; the constructor validates
 * again (it throws `EncryptionConfigError` for a bad configuration).
 * @example
 * const codec = new AesGcmPayloadCodec({ keys: [{ id: 'k1', key: process.env.KEY! }], encryptWith: 'k1' });
 * const client = new Client({ connection, dataConverter: { payloadCodecs: [codec] } });
 */
export class AesGcmPayloadCodec implements PayloadCodec {
  /** Id of the key that encrypts. */
  readonly encryptWith: string;
  readonly #keys: ReadonlyMap<string, Buffer>;

  constructor(config: EncryptionConfig) {
    const valid = parseEncryptionConfig(config);
    this.#keys = new Map(valid.keys.map((k) => [k.id, Buffer.from(k.key, 'base64')]));
    this.encryptWith = valid.encryptWith;
  }

  /** Ids of every configured key (each one decrypts). */
  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.#keys.get(this.encryptWith) as Buffer;
    const keyId = utf8.encode(this.encryptWith);
    return Promise.resolve(
      payloads.map((payload) => ({
        metadata: { [METADATA_ENCODING]: utf8.encode(ENCODING_ENCRYPTED), [METADATA_ENCRYPTION_KEY_ID]: keyId },
        data: encrypt(key, ProtoPayload.encode(payload).finish()),
      })),
    );
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    // Thrown errors (unknown key, tampering) reject the promise.
    return new Promise((resolve) => resolve(payloads.map((payload) => this.#decodeOne(payload))));
  }

  #decodeOne(payload: Payload): Payload {
    if (!isEncryptedPayload(payload)) return payload;
    const rawId = payload.metadata?.[METADATA_ENCRYPTION_KEY_ID];
    if (!rawId) {
      throw new PayloadDecryptionError(`encrypted payload has no "${METADATA_ENCRYPTION_KEY_ID}" metadata`);
    }
    const keyId = fromUtf8.decode(rawId);
    const key = this.#keys.get(keyId);
    if (!key) throw new UnknownEncryptionKeyError(keyId, this.keyIds);
    const plain = decrypt(key, keyId, payload.data ?? new Uint8Array());
    const decoded = ProtoPayload.decode(plain);
    return { metadata: decoded.metadata, data: decoded.data };
  }
}

function encrypt(key: Buffer, plain: Uint8Array): Uint8Array {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(CIPHER, key, iv);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return new Uint8Array(Buffer.concat([iv, body, cipher.getAuthTag()]));
}

function decrypt(key: Buffer, keyId: string, data: Uint8Array): Uint8Array {
  if (data.length < IV_BYTES + TAG_BYTES) {
    throw new PayloadDecryptionError(
      `encrypted payload (key id "${keyId}") is truncated: ${data.length} bytes, at least ${IV_BYTES + TAG_BYTES} expected`,
    );
  }
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const decipher = createDecipheriv(CIPHER, key, bytes.subarray(0, IV_BYTES));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new PayloadDecryptionError(
      `cannot decrypt a payload with key id "${keyId}": authentication failed (the payload was altered, or the key ` +
        'configured under that id is not the one that encrypted it)',
    );
  }
}
