/**
 * A relay for integration tests that lets the API server do the work and keeps the client from hearing about it:
 * it forwards every request at once and, for requests a rule matches, holds the ANSWER (status and body, in full)
 * until the test releases it, or forever. A client killed meanwhile has written without knowing it: the window
 * between "the server applied my write" and "I recorded that it did", which the fault proxy
 * (test/support/fault-proxy.ts, whose delays hold requests BEFORE they reach the server) cannot open.
 *
 * It speaks plain http to an upstream that needs no credentials: put it in front of a {@link FaultProxy} (its `url`)
 * and give clients {@link AnswerHold.kubeconfig}. Streaming answers (watches) that no rule matches are piped through.
 * @module
 */
import { rmSync } from 'node:fs';
import http from 'node:http';
import { matches, type RequestMatch } from './fault-proxy.js';
import { closeNow, listenLocal, plainHttpKubeconfig } from './local-http.js';

/** An answer the upstream gave and the relay holds back. */
export interface HeldAnswer {
  method: string;
  path: string;
  /** The upstream's status. */
  status: number;
  /** `performance.now()` when the upstream answered. */
  answeredAt: number;
  /** True once the client's connection is gone: the answer can never be delivered. */
  abandoned: boolean;
  /** Sends the answer to the client (a no-op once abandoned). */
  release(): void;
}

/** A running relay. Build with {@link AnswerHold.start}; always {@link AnswerHold.close} it. */
export class AnswerHold {
  /** Every answer held so far, in the order the upstream gave them. */
  readonly held: HeldAnswer[] = [];
  private rules: { match: RequestMatch; left: number }[] = [];

  private constructor(
    private readonly server: http.Server,
    private readonly agent: http.Agent,
    /** `http://127.0.0.1:<port>`. */
    readonly url: string,
    /** A kubeconfig for clients of the relay (plain http, no credentials). */
    readonly kubeconfig: string,
    private readonly dir: string,
  ) {}

  /** Starts a relay in front of `upstreamUrl` (plain http, e.g. a FaultProxy's `url`). */
  static async start(upstreamUrl: string): Promise<AnswerHold> {
    const upstream = new URL(upstreamUrl);
    const agent = new http.Agent({ keepAlive: true });
    const server = http.createServer();
    const url = await listenLocal(server);
    const { dir, kubeconfig } = plainHttpKubeconfig('answer-hold', url);
    const relay = new AnswerHold(server, agent, url, kubeconfig, dir);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => relay.relay(req, res, upstream));
    return relay;
  }

  /** Holds the answers of the next `times` (default 1) requests that match. */
  holdAnswers(match: RequestMatch, times = 1): void {
    this.rules.push({ match, left: times });
  }

  /** Closes every connection and the server, and deletes the kubeconfig. */
  async close(): Promise<void> {
    await closeNow(this.server);
    this.agent.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private takeRule(method: string, path: string, watch: boolean): boolean {
    const rule = this.rules.find((r) => r.left > 0 && matches(r.match, { method, path, watch }));
    if (!rule) return false;
    rule.left -= 1;
    return true;
  }

  private relay(clientReq: http.IncomingMessage, clientRes: http.ServerResponse, upstream: URL): void {
    const target = new URL(clientReq.url ?? '/', upstream);
    const watchParam = target.searchParams.get('watch');
    const method = clientReq.method ?? 'GET';
    const hold = this.takeRule(method, target.pathname, watchParam === 'true' || watchParam === '1');
    const headers = { ...clientReq.headers, host: target.host };
    const up = http.request(target, { method, headers, agent: this.agent });
    clientRes.on('close', () => up.destroy());
    up.on('error', () => clientReq.socket.destroy());
    up.on('response', (res) => {
      if (!hold) {
        clientRes.writeHead(res.statusCode ?? 502, res.headers);
        clientRes.flushHeaders();
        res.pipe(clientRes);
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const answer: HeldAnswer = {
          method,
          path: target.pathname,
          status: res.statusCode ?? 502,
          answeredAt: performance.now(),
          abandoned: clientRes.destroyed || clientReq.socket.destroyed,
          release: () => {
            if (answer.abandoned || clientRes.writableEnded) return;
            clientRes.writeHead(answer.status, res.headers);
            clientRes.end(Buffer.concat(chunks));
          },
        };
        clientRes.on('close', () => {
          answer.abandoned = true;
        });
        this.held.push(answer);
      });
    });
    clientReq.pipe(up);
  }
}
