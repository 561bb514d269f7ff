/**
 * A local HTTP receiver for tests that play a third-party service (Slack, PagerDuty, a webhook consumer): it
 * listens on 127.0.0.1 with a free port, records every request (method, path, headers, raw body) and answers
 * with whatever the test's handler returns. A handler that throws answers 500 with the error's message, so a
 * broken expectation shows up in the sender's error.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { closeNow, listenLocal } from './local-http.js';

/** One request as the receiver saw it. */
export interface ReceivedRequest {
  method: string;
  /** Path and query. */
  path: string;
  /** Lowercased header names, as node:http gives them. */
  headers: IncomingHttpHeaders;
  /** The raw body, exactly as sent (signatures are computed over it). */
  body: string;
}

/** The answer to one request. */
export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** A running receiver. */
export interface TestReceiver {
  /** `http://127.0.0.1:<port>`, without a trailing slash. */
  url: string;
  /** Every request received so far, in order. */
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

/**
 * Starts a receiver; `handle` gets each request and its 0-based position. It may answer later (a promise), which
 * lets a test hold a request open, e.g. to kill the sender mid-request.
 */
export async function startReceiver(
  handle: (req: ReceivedRequest, index: number) => Reply | Promise<Reply>,
): Promise<TestReceiver> {
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const received: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(received);
      void (async () => {
        let reply: Reply;
        try {
          reply = await handle(received, requests.length - 1);
        } catch (err) {
          reply = { status: 500, body: `test receiver: ${(err as Error).message}` };
        }
        if (res.destroyed) return;
        res.writeHead(reply.status, { 'content-type': 'text/plain; charset=utf-8', ...reply.headers });
        res.end(reply.body ?? '');
      })();
    });
  });
  return { url: await listenLocal(server), requests, close: () => closeNow(server) };
}

/** A JSON reply. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}
