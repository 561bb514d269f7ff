/**
 * The list+watch loops of some collections of one namespace as the fault proxy (test/support/fault-proxy.ts) sees
 * them, and the faults a test gives every one of them at once: a 410 Expired until each has listed anew, a dropped
 * connection that each must resume without a list.
 * @module
 */
import { expect } from 'vitest';
import type { FaultProxy, ProxiedRequest } from './fault-proxy.js';
import { waitFor } from './poll.js';

export class ProxiedWatches {
  /**
   * @param collections the collection path suffixes (`/deployments`, `/pods`, …), each expected to have one
   * list+watch loop
   */
  constructor(
    private readonly proxy: FaultProxy,
    readonly namespace: string,
    readonly collections: readonly string[],
  ) {}

  /** A path prefix in the namespace. */
  inNamespace(suffix: string): string {
    return `/namespaces/${this.namespace}${suffix}`;
  }

  /** The proxy's GET requests for one collection of the namespace: its watches, or its lists. */
  requestsFor(collection: string, watch: boolean): ProxiedRequest[] {
    return this.proxy.matching({ method: 'GET', path: this.inNamespace(collection), watch });
  }

  /** How many lists each collection has made so far. */
  listCounts(): number[] {
    return this.collections.map((c) => this.requestsFor(c, false).length);
  }

  /** True when every collection has exactly one open, unstalled watch (bound: pass it to `waitFor` as it is). */
  readonly watchingAll = (): boolean =>
    this.collections.every(
      (c) => this.proxy.openWatches({ path: this.inNamespace(c) }).filter((w) => !w.stalled).length === 1,
    );

  /**
   * 410 Expired on every open watch, again on each collection until it has listed anew; returns when every
   * collection is watching again after its relist.
   */
  async expireEvery(): Promise<void> {
    await waitFor(this.watchingAll, 'the watches');
    const before = this.listCounts();
    await waitFor(() => {
      const lists = this.listCounts();
      this.collections.forEach((c, i) => {
        if (lists[i] === before[i]) this.proxy.injectWatchError({ code: 410, match: { path: this.inNamespace(c) } });
      });
      return lists.every((n, i) => n > (before[i] ?? 0)) && this.watchingAll();
    }, 'a relist of every collection after its 410');
  }

  /** Drops every watch's connection; each must resume from the resourceVersion it had, without a list. */
  async dropEvery(): Promise<void> {
    await waitFor(this.watchingAll, 'the watches');
    const before = this.listCounts();
    const dropped = this.collections.map((c) => this.proxy.openWatches({ path: this.inNamespace(c) })[0]);
    expect(this.proxy.dropConnections({ watch: true, path: this.inNamespace('/') })).toBe(this.collections.length);
    await waitFor(
      () => this.watchingAll() && this.collections.every((c, i) => this.requestsFor(c, true).at(-1) !== dropped[i]),
      'resumed watches',
    );
    this.collections.forEach((c, i) => {
      const resumed = Number(this.requestsFor(c, true).at(-1)?.query.get('resourceVersion'));
      expect(resumed).toBeGreaterThanOrEqual(Number(dropped[i]?.query.get('resourceVersion')));
    });
    expect(this.listCounts()).toEqual(before);
  }
}
