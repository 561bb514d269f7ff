/**
 * A codec server: the Temporal Web UI and CLI send it encrypted payloads and get plaintext back (and the other
 * way round), so people can read encrypted histories while the Temporal server never sees a key.
 *
 * Protocol (Temporal's remote codec): `POST /encode` and `POST /decode`, JSON body
 * `{ "payloads": [{ "metadata": { "<key>": "<base64>" }, "data": "<base64>" }] }`, answered in the same shape.
 * The UI sends `X-Namespace`, `Content-Type` and (when configured) `Authorization`.
 *
 * Whoever can call `/decode` can read every history the keys protect, so:
 * - it listens on 127.0.0.1 unless told otherwise;
 * - browsers may call it only from the configured origins (CORS); a request from any other origin is refused;
 * - with a `token`, every request needs `Authorization: Bearer <token>` (compared in constant time).
 *
 * Answers: 404 for other paths, 405 for other methods, 413 for bodies over {@link CODEC_SERVER_MAX_BODY_BYTES},
 * 400 for a malformed body or a payload the codec cannot decode.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';

/** Largest request body accepted (Temporal's gRPC message limit). */
export const CODEC_SERVER_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Request headers browsers may send (answered in `Access-Control-Allow-Headers`). */
export const CODEC_SERVER_ALLOWED_HEADERS = 'content-type,x-namespace,authorization';
/** Default listen address: loopback only. */
export const DEFAULT_CODEC_SERVER_HOST = '127.0.0.1';

/** Options of {@link startCodecServer}. */
export interface CodecServerOptions {
  /** TCP port; 0 picks a free one (see {@link CodecServer.url}). */
  port: number;
  /** Listen address (default {@link DEFAULT_CODEC_SERVER_HOST}). */
  host?: string;
  /** The codec that encodes and decodes. */
  codec: PayloadCodec;
  /** Browser origins allowed to call the server, e.g. the Temporal UI `http://localhost:8233`. Exact match. */
  allowedOrigins: readonly string[];
  /** When set, every request needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Called after each request (for logs): never receives payload contents. */
  onRequest?: (entry: { method: string; path: string; status: number; namespace?: string; payloads?: number }) => void;
}

/** A running codec server. */
export interface CodecServer {
  /** `http://host:port` (the codec endpoint to configure in the UI). */
  url: string;
  /** The port it listens on. */
  port: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

const Base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'base64');
const CodecRequest = z.object({
  payloads: z.array(
    z.object({
      metadata: z.record(z.string(), Base64).nullish(),
      data: Base64.nullish(),
    }),
  ),
});

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Starts a codec server; resolves once it listens. */
export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const host = options.host ?? DEFAULT_CODEC_SERVER_HOST;
  const origins = new Set(options.allowedOrigins);
  const tokenDigest = options.token === undefined ? undefined : sha256(options.token);

  const server = createServer((req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  server.requestTimeout = 30_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://codec.invalid').pathname;
    const namespace = headerValue(req.headers['x-namespace']);
    let payloadCount: number | undefined;
    try {
      const origin = headerValue(req.headers.origin);
      res.setHeader('Vary', 'Origin');
      const originAllowed = origin !== undefined && origins.has(origin);
      if (originAllowed) {
        res.setHeader('Access-Control-Allow-Origin', origin);
        res.setHeader('Access-Control-Allow-Credentials', 'true');
      }
      if (path !== '/encode' && path !== '/decode') throw new HttpError(404, `not found: ${path}`);
      if (method === 'OPTIONS') {
        if (!originAllowed) throw new HttpError(403, 'origin not allowed');
        res.writeHead(204, {
          'Access-Control-Allow-Methods': 'POST',
          'Access-Control-Allow-Headers': CODEC_SERVER_ALLOWED_HEADERS,
          'Access-Control-Max-Age': '600',
        });
        res.end();
        return;
      }
      if (method !== 'POST') throw new HttpError(405, 'use POST', { Allow: 'POST, OPTIONS' });
      if (origin !== undefined && !originAllowed) throw new HttpError(403, 'origin not allowed');
      if (tokenDigest && !bearerMatches(headerValue(req.headers.authorization), tokenDigest)) {
        throw new HttpError(401, 'missing or wrong bearer token', { 'WWW-Authenticate': 'Bearer' });
      }
      const body = await readBody(req);
      let json: unknown;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        throw new HttpError(400, 'the body is not JSON');
      }
      const parsed = CodecRequest.safeParse(json);
      if (!parsed.success) {
        throw new HttpError(400, `expected { payloads: [{ metadata, data }] }: ${z.prettifyError(parsed.error)}`);
      }
      const payloads = parsed.data.payloads.map(fromJson);
      payloadCount = payloads.length;
      let result: Payload[];
      try {
        result = path === '/encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
      } catch (err) {
        throw new HttpError(400, (err as Error).message);
      }
      send(res, 200, { payloads: result.map(toJson) });
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      if (err.status === 413) res.setHeader('Connection', 'close');
      send(res, err.status, { error: err.message }, err.headers);
      if (err.status === 413) req.resume();
    } finally {
      options.onRequest?.({
        method,
        path,
        status: res.statusCode,
        ...(namespace !== undefined ? { namespace } : {}),
        ...(payloadCount !== undefined ? { payloads: payloadCount } : {}),
      });
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Compares digests, so the comparison takes the same time whatever the token's length or content. */
function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  const given = sha256(match?.[1] ?? '');
  return timingSafeEqual(given, expected) && match !== null;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > CODEC_SERVER_MAX_BODY_BYTES) throw tooLarge();
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > CODEC_SERVER_MAX_BODY_BYTES) {
        req.off('data', onData);
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

function tooLarge(): HttpError {
  return new HttpError(413, `the body is larger than ${CODEC_SERVER_MAX_BODY_BYTES} bytes`);
}

function fromJson(p: {
  metadata?: Record<string, string> | null | undefined;
  data?: string | null | undefined;
}): Payload {
  const metadata: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) metadata[k] = new Uint8Array(Buffer.from(v, 'base64'));
  return { metadata, data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')) };
}

function toJson(p: Payload): { metadata: Record<string, string>; data: string } {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) metadata[k] = base64(v);
  return { metadata, data: base64(p.data ?? new Uint8Array()) };
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}
