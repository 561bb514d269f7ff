/**
 * Health that keeps time, on the real stack (Temporal dev server + kube-apiserver, scheduler and KWOK nodes): rules
 * with a duration are re-assessed on a timer, not only when a watch event arrives, and a deploy that times out
 * names every pending object down to its pods and why they are not ready.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_UNSCHEDULABLE_AFTER_SECONDS } from '../../src/domain/health.js';
import type { DeployReport } from '../../src/schemas/deploy.js';
import { useHarness } from './harness.js';

const h = useHarness('health-timers');

/** A Deployment whose pods can never be scheduled: no node carries the label its nodeSelector asks for. */
function unschedulable(ns: string): string {
  return `
apiVersion: apps/v1
kind: Deployment
metadata: { name: lost, namespace: ${ns}, labels: { app.kubernetes.io/name: lost } }
spec:
  replicas: 1
  selector: { matchLabels: { app.kubernetes.io/name: lost } }
  template:
    metadata: { labels: { app.kubernetes.io/name: lost } }
    spec:
      nodeSelector: { kube-workflows.dev/no-such-node: 'true' }
      containers: [{ name: app, image: registry.example/lost:1.0.0 }]
`;
}

/** A ConfigMap (Current at once), a Deployment and a StatefulSet whose pods run but never become Ready. */
function neverReady(ns: string): string {
  return `
apiVersion: v1
kind: ConfigMap
metadata: { name: stuck-config, namespace: ${ns} }
data: { MODE: stuck }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: stuck-web, namespace: ${ns} }
spec:
  replicas: 2
  selector: { matchLabels: { app.kubernetes.io/name: stuck-web } }
  template:
    metadata: { labels: { app.kubernetes.io/name: stuck-web, kube-workflows.dev/chaos: unready } }
    spec:
      containers: [{ name: web, image: registry.example/web:1.0.0 }]
---
apiVersion: v1
kind: Service
metadata: { name: stuck-db, namespace: ${ns} }
spec:
  clusterIP: None
  selector: { app.kubernetes.io/name: stuck-db }
  ports: [{ port: 5432 }]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: stuck-db, namespace: ${ns} }
spec:
  serviceName: stuck-db
  replicas: 1
  selector: { matchLabels: { app.kubernetes.io/name: stuck-db } }
  template:
    metadata: { labels: { app.kubernetes.io/name: stuck-db, kube-workflows.dev/chaos: unready } }
    spec:
      containers: [{ name: db, image: registry.example/db:1.0.0 }]
`;
}

async function podNames(prefix: string): Promise<string[]> {
  const out = JSON.parse(await h.kubectl('get', 'pods', '-n', h.namespace, '-o', 'json')) as {
    items: { metadata: { name: string } }[];
  };
  return out.items.map((p) => p.metadata.name).filter((n) => n.startsWith(prefix));
}

describe('health that keeps time', () => {
  it(
    'a release whose pods can never be scheduled fails at the unschedulable threshold, not at its timeout',
    { timeout: 240_000 },
    async () => {
      const started = Date.now();
      const handle = await h.client.deploy({ manifests: unschedulable(h.namespace), app: 'lost', timeoutSeconds: 600 });
      // Watch the pod's name while it exists: the rollback deletes it.
      let pods: string[] = [];
      const seen = setInterval(() => {
        void podNames('lost-')
          .then((names) => {
            if (names.length) pods = names;
          })
          .catch(() => undefined);
      }, 1_000);
      const report: DeployReport = await handle.result().finally(() => clearInterval(seen));
      const elapsedSeconds = (Date.now() - started) / 1000;
      console.log(
        `unschedulable release: Failed report after ${elapsedSeconds.toFixed(1)} s ` +
          `(threshold ${DEFAULT_UNSCHEDULABLE_AFTER_SECONDS} s, timeout 600 s): ${report.message}`,
      );

      expect(report.outcome).toBe('rolledBack');
      expect(report.message).toContain(`Deployment/${h.namespace}/lost`);
      expect(report.message).toMatch(/\[Unschedulable\].*node affinity\/selector/);
      expect(report.message).not.toMatch(/timeout after/);
      expect(pods).toHaveLength(1);
      expect(report.message).toContain(`pod ${h.namespace}/${pods[0]}`);
      // About the threshold: the scheduler's timestamp is in whole seconds (so up to 1 s early), then the rollback
      // and the report; nowhere near the 600 s timeout.
      expect(elapsedSeconds).toBeGreaterThan(DEFAULT_UNSCHEDULABLE_AFTER_SECONDS - 1);
      expect(elapsedSeconds).toBeLessThan(DEFAULT_UNSCHEDULABLE_AFTER_SECONDS + 20);
      // The rollback deleted the Deployment the release created.
      const dep = await h.kube.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: h.namespace, name: 'lost' });
      expect(dep).toBeUndefined();
    },
  );

  it('a deploy that times out names every pending object with its pods and why they are not ready', async () => {
    const report: DeployReport = await (
      await h.client.deploy({ manifests: neverReady(h.namespace), app: 'stuck', timeoutSeconds: 20 })
    ).result();
    console.log(`timeout report: ${report.message}`);

    expect(report.outcome).toBe('rolledBack');
    expect(report.message).toMatch(/^timeout after 20s waiting for: /);
    // Objects that are Current are not pending; both workloads are, each with its pods and their reason.
    expect(report.message).not.toContain('ConfigMap/');
    const why = 'Running: Ready=False ContainersNotReady: containers with unready status:';
    const web = new RegExp(
      `Deployment/${h.namespace}/stuck-web InProgress \\([^)]*\\): ` +
        `pod ${h.namespace}/stuck-web-[a-z0-9]+-[a-z0-9]+ ${why} \\[web\\]; ` +
        `pod ${h.namespace}/stuck-web-[a-z0-9]+-[a-z0-9]+ ${why} \\[web\\]`,
    );
    expect(report.message).toMatch(web);
    expect(report.message).toMatch(
      new RegExp(
        `StatefulSet/${h.namespace}/stuck-db InProgress \\([^)]*\\): pod ${h.namespace}/stuck-db-0 ${why} \\[db\\]`,
      ),
    );
  });
});
