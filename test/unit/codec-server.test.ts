/**
 * The codec server over real HTTP on 127.0.0.1 (a free port), with the AES-GCM codec.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AesGcmPayloadCodec, startCodecServer, type CodecServer } from '../../src/codec/index.js';

const UI = 'http://localhost:8233';
const TOKEN = 'test-token-123';
const codec = new AesGcmPayloadCodec({
  keys: [{ id: 'k1', key: randomBytes(32).toString('base64') }],
  encryptWith: 'k1',
});

const b64 = (text: string): string => Buffer.from(text).toString('base64');
const fromB64 = (text: string): string => Buffer.from(text, 'base64').toString('utf8');

interface JsonPayload {
  metadata: Record<string, string>;
  data: string;
}

let open: CodecServer;
let guarded: CodecServer;
beforeAll(async () => {
  open = await startCodecServer({ port: 0, codec, allowedOrigins: [UI] });
  guarded = await startCodecServer({ port: 0, codec, allowedOrigins: [UI], token: TOKEN });
});
afterAll(async () => {
  await open?.close();
  await guarded?.close();
});

async function post(
  server: CodecServer,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('codec server', () => {
  it('listens on 127.0.0.1 by default', () => {
    expect(open.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('encodes and decodes in the Temporal codec protocol', async () => {
    const plain = { payloads: [{ metadata: { encoding: b64('json/plain') }, data: b64('{"password":"hunter2"}') }] };
    const encodedRes = await post(open, '/encode', plain);
    expect(encodedRes.status).toBe(200);
    const encoded = (await encodedRes.json()) as { payloads: JsonPayload[] };
    expect(encoded.payloads).toHaveLength(1);
    expect(fromB64(encoded.payloads[0]?.metadata.encoding ?? '')).toBe('binary/encrypted');
    expect(fromB64(encoded.payloads[0]?.metadata['encryption-key-id'] ?? '')).toBe('k1');
    expect(fromB64(encoded.payloads[0]?.data ?? '')).not.toContain('hunter2');

    const decodedRes = await post(open, '/decode', encoded);
    expect(decodedRes.status).toBe(200);
    const decoded = (await decodedRes.json()) as { payloads: JsonPayload[] };
    expect(decoded.payloads.map((p) => [fromB64(p.metadata.encoding ?? ''), fromB64(p.data)])).toEqual([
      ['json/plain', '{"password":"hunter2"}'],
    ]);
  });

  it('answers a preflight from an allowed origin with the CORS headers', async () => {
    const res = await fetch(`${open.url}/decode`, {
      method: 'OPTIONS',
      headers: {
        origin: UI,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI);
    expect(res.headers.get('access-control-allow-methods')).toBe('POST');
    expect(res.headers.get('access-control-allow-headers')).toBe('content-type,x-namespace,authorization');
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
  });

  it('refuses a preflight and a POST from an origin that is not allowed, without CORS headers', async () => {
    const preflight = await fetch(`${open.url}/decode`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(403);
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const postRes = await post(open, '/decode', { payloads: [] }, { origin: 'https://evil.example' });
    expect(postRes.status).toBe(403);
    expect(postRes.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers an allowed origin with its CORS headers on the POST too', async () => {
    const res = await post(open, '/decode', { payloads: [] }, { origin: UI });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI);
    expect(await res.json()).toEqual({ payloads: [] });
  });

  it('with a token: 401 without it or with a wrong one, 200 with it', async () => {
    expect((await post(guarded, '/decode', { payloads: [] })).status).toBe(401);
    const wrong = await post(guarded, '/decode', { payloads: [] }, { authorization: 'Bearer test-token-124' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer');
    const right = await post(guarded, '/decode', { payloads: [] }, { authorization: `Bearer ${TOKEN}` });
    expect(right.status).toBe(200);
  });

  it('answers a preflight without a token (browsers never send one in a preflight)', async () => {
    const res = await fetch(`${guarded.url}/encode`, {
      method: 'OPTIONS',
      headers: { origin: UI, 'access-control-request-method': 'POST' },
    });
    expect(res.status).toBe(204);
  });

  it('answers 404 for other paths and 405 for other methods', async () => {
    expect((await post(open, '/', { payloads: [] })).status).toBe(404);
    expect((await post(open, '/decode/extra', { payloads: [] })).status).toBe(404);
    expect((await fetch(`${open.url}/metrics`)).status).toBe(404);
    const get = await fetch(`${open.url}/decode`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST, OPTIONS');
  });

  it('answers 413 for a body over 4 MB', async () => {
    const res = await post(open, '/encode', { payloads: [{ metadata: {}, data: 'A'.repeat(4 * 1024 * 1024) }] });
    expect(res.status).toBe(413);
  });

  it('answers 413 when a streamed body without Content-Length grows over 4 MB', async () => {
    const chunk = new Uint8Array(1024 * 1024).fill(0x41);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 6) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(`${open.url}/encode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    });
    expect(res.status).toBe(413);
  });

  it('answers 400 for a body that is not JSON or not in the protocol shape', async () => {
    expect((await post(open, '/decode', 'not json')).status).toBe(400);
    expect((await post(open, '/decode', { items: [] })).status).toBe(400);
  });

  it('answers 400 naming the key id when a payload was encrypted with an unknown key', async () => {
    const other = new AesGcmPayloadCodec({
      keys: [{ id: 'k9', key: randomBytes(32).toString('base64') }],
      encryptWith: 'k9',
    });
    const [payload] = await other.encode([{ metadata: {}, data: new TextEncoder().encode('x') }]);
    const body = {
      payloads: [
        {
          metadata: Object.fromEntries(
            Object.entries(payload?.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
          ),
          data: Buffer.from(payload?.data ?? []).toString('base64'),
        },
      ],
    };
    const res = await post(open, '/decode', body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain('"k9"');
  });
});
