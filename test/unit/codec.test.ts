import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure, defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  decodeOptionalFailureToOptionalError,
  encodeErrorToFailure,
  loadDataConverter,
} from '@temporalio/common/lib/internal-non-workflow/index.js';
import proto from '@temporalio/proto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AesGcmPayloadCodec,
  createDataConverter,
  ENCODING_ENCRYPTED,
  ENCODING_FAILURE_CONVERTER_MARKER,
  IV_BYTES,
  METADATA_ENCRYPTION_KEY_ID,
  PayloadDecryptionError,
  TAG_BYTES,
  UnknownEncryptionKeyError,
  workflowCodeWithFailureConverter,
  type EncryptionConfig,
} from '../../src/codec/index.js';

const k1 = { id: 'k1', key: randomBytes(32).toString('base64') };
const k2 = { id: 'k2', key: randomBytes(32).toString('base64') };
const text = new TextDecoder();

/** A JSON payload as the default payload converter makes it. */
function json(value: unknown): Payload {
  return defaultPayloadConverter.toPayload(value);
}

function codec(config: EncryptionConfig): AesGcmPayloadCodec {
  return new AesGcmPayloadCodec(config);
}

describe('AesGcmPayloadCodec', () => {
  it('round-trips payloads, metadata included', async () => {
    const c = codec({ keys: [k1], encryptWith: 'k1' });
    const original = [json({ password: 'hunter2' }), json('second'), json(undefined)];
    const decoded = await c.decode(await c.encode(original));
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([
      { password: 'hunter2' },
      'second',
      undefined,
    ]);
    expect(text.decode(decoded[0]?.metadata?.encoding)).toBe('json/plain');
  });

  it('writes binary/encrypted with the key id, and data = 12-byte IV + ciphertext + 16-byte tag of the Payload proto', async () => {
    const c = codec({ keys: [k1], encryptWith: 'k1' });
    const original = json({ password: 'hunter2' });
    const [encoded] = await c.encode([original]);
    expect(Object.keys(encoded?.metadata ?? {}).sort()).toEqual(['encoding', METADATA_ENCRYPTION_KEY_ID]);
    expect(text.decode(encoded?.metadata?.encoding)).toBe(ENCODING_ENCRYPTED);
    expect(text.decode(encoded?.metadata?.[METADATA_ENCRYPTION_KEY_ID])).toBe('k1');
    const plainLength = proto.temporal.api.common.v1.Payload.encode(original).finish().length;
    expect(encoded?.data?.length).toBe(IV_BYTES + plainLength + TAG_BYTES);
    expect(Buffer.from(encoded?.data ?? []).includes('hunter2')).toBe(false);
  });

  it('uses a fresh IV for every payload, so equal plaintexts give different ciphertexts', async () => {
    const c = codec({ keys: [k1], encryptWith: 'k1' });
    const [a, b] = await c.encode([json('same'), json('same')]);
    expect(Buffer.from(a?.data ?? []).equals(Buffer.from(b?.data ?? []))).toBe(false);
  });

  it('after a rotation decodes old payloads with the old key and encrypts new ones with the new key', async () => {
    const before = codec({ keys: [k1], encryptWith: 'k1' });
    const old = await before.encode([json('written before the rotation')]);
    const after = codec({ keys: [k1, k2], encryptWith: 'k2' });
    const fresh = await after.encode([json('written after')]);
    expect(text.decode(fresh[0]?.metadata?.[METADATA_ENCRYPTION_KEY_ID])).toBe('k2');
    const decoded = await after.decode([...old, ...fresh]);
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([
      'written before the rotation',
      'written after',
    ]);
  });

  it('refuses a payload whose ciphertext was altered', async () => {
    const c = codec({ keys: [k1], encryptWith: 'k1' });
    const [encoded] = await c.encode([json({ replicas: 3 })]);
    const data = Buffer.from(encoded?.data ?? []);
    data[IV_BYTES] = (data[IV_BYTES] ?? 0) ^ 0x01;
    const tampered = { ...encoded, data: new Uint8Array(data) };
    await expect(c.decode([tampered])).rejects.toThrow(PayloadDecryptionError);
    await expect(c.decode([tampered])).rejects.toThrow(/key id "k1": authentication failed/);
  });

  it('refuses a truncated payload', async () => {
    const c = codec({ keys: [k1], encryptWith: 'k1' });
    const [encoded] = await c.encode([json('x')]);
    await expect(c.decode([{ ...encoded, data: encoded?.data?.subarray(0, 20) ?? null }])).rejects.toThrow(/truncated/);
  });

  it('refuses a payload encrypted under the same id with another key', async () => {
    const [encoded] = await codec({ keys: [k1], encryptWith: 'k1' }).encode([json('x')]);
    const impostor = codec({ keys: [{ id: 'k1', key: k2.key }], encryptWith: 'k1' });
    await expect(impostor.decode(encoded ? [encoded] : [])).rejects.toThrow(PayloadDecryptionError);
  });

  it('names an unknown key id in its error, and never a key', async () => {
    const encoded = await codec({ keys: [k2], encryptWith: 'k2' }).encode([json('x')]);
    const reader = codec({ keys: [k1], encryptWith: 'k1' });
    const error = await reader.decode(encoded).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(UnknownEncryptionKeyError);
    const message = (error as Error).message;
    expect(message).toContain('"k2"');
    expect(message).toContain('configured key ids: k1');
    expect(message).not.toContain(k1.key);
    expect(message).not.toContain(k2.key);
  });

  it('passes payloads that are not encrypted through decode unchanged (histories from before encryption)', async () => {
    const plain = [
      json({ manifests: 'kind: ConfigMap' }),
      { metadata: { encoding: new TextEncoder().encode('binary/null') } },
    ];
    const decoded = await codec({ keys: [k1], encryptWith: 'k1' }).decode(plain);
    expect(decoded).toEqual(plain);
  });

  it('rejects an invalid configuration in its constructor', () => {
    expect(() => codec({ keys: [k1], encryptWith: 'k9' })).toThrow(
      /encryptWith: "k9" is not one of the listed key ids/,
    );
  });
});

describe('createDataConverter', () => {
  it('is undefined without encryption', () => {
    expect(createDataConverter(undefined)).toBeUndefined();
  });

  it('encrypts failure messages and stack traces: the stored failure says only "Encoded failure"', async () => {
    const converter = loadDataConverter(createDataConverter({ keys: [k1], encryptWith: 'k1' }));
    const error = ApplicationFailure.nonRetryable('policy forbids Secret/shop/db-password-canary', 'PolicyViolation');
    const failure = await encodeErrorToFailure(converter, error);
    const stored = Buffer.from(proto.temporal.api.failure.v1.Failure.encode(failure).finish());
    expect(failure.message).toBe('Encoded failure');
    expect(failure.stackTrace).toBe('');
    expect(text.decode(failure.encodedAttributes?.metadata?.encoding)).toBe(ENCODING_ENCRYPTED);
    expect(stored.includes('db-password-canary')).toBe(false);
    expect(failure.applicationFailureInfo?.type).toBe('PolicyViolation');

    const back = await decodeOptionalFailureToOptionalError(converter, failure);
    expect(back).toBeInstanceOf(ApplicationFailure);
    expect(back?.message).toBe('policy forbids Secret/shop/db-password-canary');
  });
});

describe('workflowCodeWithFailureConverter', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-workflows-bundle-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const plainBundle = join(dir, 'plain.js');
  const encodingBundle = join(dir, 'encoding.js');
  writeFileSync(plainBundle, 'var workflows = {};\n');
  writeFileSync(encodingBundle, `var marker = ${JSON.stringify(ENCODING_FAILURE_CONVERTER_MARKER)};\n`);

  it('keeps workflow sources (the worker bundles the failure converter into them)', async () => {
    expect(await workflowCodeWithFailureConverter({ workflowsPath: '/src/workflows/index.ts' })).toEqual({
      workflowsPath: '/src/workflows/index.ts',
    });
  });

  it('keeps a prebuilt bundle that contains the encoding failure converter', async () => {
    const code = { workflowBundle: { codePath: encodingBundle } };
    expect(await workflowCodeWithFailureConverter(code, '/src/workflows/index.ts')).toEqual(code);
  });

  it('replaces a prebuilt bundle without it by the sources when they are available', async () => {
    expect(
      await workflowCodeWithFailureConverter({ workflowBundle: { codePath: plainBundle } }, '/src/workflows/index.ts'),
    ).toEqual({ workflowsPath: '/src/workflows/index.ts' });
  });

  it('refuses an explicitly chosen bundle without it, saying how to build one', async () => {
    await expect(workflowCodeWithFailureConverter({ workflowBundle: { codePath: plainBundle } })).rejects.toThrow(
      /plain\.js was built without the encoding failure converter.*failureConverterPath: FAILURE_CONVERTER_PATH/,
    );
  });
});
