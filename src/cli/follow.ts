/**
 * Follows a running deploy: polls its `progress` query and prints each new phase and each object whose status
 * changed to stderr, until the result is in. On a terminal a spinner line under them says what the deploy waits
 * on and how many objects are Current; without one (CI logs, pipes) only the plain lines are written.
 * @module
 */
import pc from 'picocolors';
import type { DeployHandle } from '../client/index.js';
import type { DeployReport } from '../schemas/deploy.js';
import { StatusLine, type StatusStream } from './status-line.js';

/** Waits for the report while printing progress (unless `quiet`). */
export async function followDeploy(
  handle: DeployHandle,
  options: { quiet?: boolean; intervalMs?: number; stream?: StatusStream } = {},
): Promise<DeployReport> {
  const status = options.quiet ? undefined : new StatusLine(options.stream ?? process.stderr);
  const log = (s: string): void => status?.log(s);
  const result = handle.result();
  let finished = false;
  void result.finally(() => (finished = true)).catch(() => undefined);
  let lastPhase = '';
  const seen = new Map<string, string>();
  const started = Date.now();
  while (!finished) {
    try {
      const p = await handle.progress();
      const t = `${((Date.now() - started) / 1000).toFixed(1)}s`.padStart(6);
      if (p.phase !== lastPhase || p.message !== lastPhase) {
        const key = `${p.phase}:${p.message}`;
        if (key !== lastPhase) log(`${pc.dim(t)} ${pc.cyan(p.phase)} ${p.message}`);
        lastPhase = key;
      }
      const current = p.objects.filter((o) => o.status === 'Current').length;
      status?.set(`${p.phase} — ${p.message}${p.objects.length ? ` (${current}/${p.objects.length} Current)` : ''}`);
      for (const o of p.objects) {
        const state = `${o.action} ${o.status ?? ''} ${o.reason ?? ''}`;
        if (o.status && seen.get(o.subject) !== state) {
          seen.set(o.subject, state);
          const colour = o.status === 'Current' ? pc.green : o.status === 'Failed' ? pc.red : pc.yellow;
          log(
            `${pc.dim(t)}   ${o.subject} ${colour(o.status)}${o.status !== 'Current' && o.message ? ` ${o.message}` : ''}`,
          );
        }
      }
    } catch {
      // the query may fail before the first workflow task ran or after completion; the result decides
    }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, options.intervalMs ?? 1000))]);
  }
  status?.stop();
  return result;
}
