/**
 * The local control plane survives a kube-apiserver crash like a real cluster: kube-apiserver is SIGKILLed, stays
 * down 12 s and is started again with the same command line (restartApiServer). kube-controller-manager and
 * kube-scheduler run without leader election, so they do not exit on "leaderelection lost" while it is down, and a
 * Deployment created or updated afterwards becomes Available.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { resolveToolchain } from '../../src/dev/index.js';
import { controlPlanePids, restartApiServer } from '../../src/dev/stack.js';
import { auditMark, readAuditWrites } from '../support/audit.js';
import { pollUntil } from '../support/poll.js';
import { useHarness } from './harness.js';

const run = promisify(execFile);
const h = useHarness('apirestart');
// Longer than the 10 s lease renew deadline of leader election (the default of both components): with leader election
// on, kube-controller-manager and kube-scheduler would exit ("leaderelection lost") while the API server is down.
const DOWN_MS = 12_000;
const tmp = mkdtempSync(join(tmpdir(), 'kwf-restart-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Deployment {
  metadata: { generation?: number };
  status?: {
    observedGeneration?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    conditions?: { type: string; status: string }[];
  };
}

async function kubectl(...args: string[]): Promise<string> {
  const stack = inject('stack');
  const { stdout } = await run(resolveToolchain().kubectl, ['--kubeconfig', stack.kubeconfig, ...args]);
  return stdout;
}

function deployment(name: string, image: string, replicas = 2): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: h.namespace },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name: 'app', image, resources: { requests: { cpu: '100m', memory: '64Mi' } } }],
        },
      },
    },
  });
}

async function apply(manifest: string): Promise<void> {
  const file = join(tmp, `manifest-${Date.now()}.json`);
  writeFileSync(file, manifest);
  await kubectl('apply', '--server-side', '--field-manager', 'restart-test', '-f', file);
}

/** Waits until the Deployment's current generation is rolled out: all replicas updated and Available. */
async function waitAvailable(name: string, replicas: number, timeoutMs = 90_000): Promise<number> {
  const t0 = Date.now();
  await pollUntil(
    async () => {
      const d = JSON.parse(await kubectl('get', 'deployment', name, '-n', h.namespace, '-o', 'json')) as Deployment;
      return { generation: d.metadata.generation, status: d.status ?? {} };
    },
    ({ generation, status: s }) =>
      s.conditions?.some((c) => c.type === 'Available' && c.status === 'True') === true &&
      s.observedGeneration === generation &&
      s.updatedReplicas === replicas &&
      s.availableReplicas === replicas,
    timeoutMs,
  );
  return Date.now() - t0;
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('kube-apiserver restart', () => {
  it(`the control plane carries on after kube-apiserver is down ${DOWN_MS / 1000} s`, async () => {
    const stack = inject('stack');
    await apply(deployment('before', 'registry.example/app:1'));
    await waitAvailable('before', 2);
    const before = controlPlanePids(stack);
    expect(Object.keys(before).sort()).toEqual([
      'etcd',
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
      'kwok-controller',
    ]);

    const restart = await restartApiServer(stack, { downMs: DOWN_MS, onProgress: (l) => console.error(l) });
    console.error(
      `[timing] kube-apiserver outage ${(restart.outageMs / 1000).toFixed(1)}s (down ${DOWN_MS / 1000}s, ` +
        `ready ${(restart.startMs / 1000).toFixed(1)}s after the restart)`,
    );
    expect(restart.oldPid).toBe(before['kube-apiserver']);
    expect(restart.newPid).not.toBe(restart.oldPid);
    expect(alive(restart.newPid)).toBe(true);
    expect(restart.outageMs).toBeGreaterThanOrEqual(DOWN_MS);

    // An update of a Deployment that existed before, and a Deployment created afterwards, both roll out.
    const t0 = Date.now();
    const mark = auditMark(stack.auditLogPath);
    await apply(deployment('before', 'registry.example/app:2'));
    await apply(deployment('after', 'registry.example/app:1', 3));
    // Controllers resume with client-go's back-off: 20-32 s on an idle machine, more on a loaded one (a run beside a
    // CPU-heavy load once took over 90 s), so allow three minutes.
    const [updatedMs, createdMs] = await Promise.all([
      waitAvailable('before', 2, 180_000),
      waitAvailable('after', 3, 180_000),
    ]);
    console.error(
      `[timing] after the restart: updated Deployment available in ${(updatedMs / 1000).toFixed(1)}s, ` +
        `new one in ${(createdMs / 1000).toFixed(1)}s (${((Date.now() - t0) / 1000).toFixed(1)}s in all)`,
    );

    // When each component first acted again, from the API server's audit log: controllers that survived an outage
    // resume their watches with client-go's back-off, so this takes seconds, as on a real cluster.
    const firstWrite = (agent: string): string => {
      const w = readAuditWrites(stack.auditLogPath, { ...mark, namespace: h.namespace, userAgent: agent })[0];
      return w ? `${((w.receivedAt.getTime() - t0) / 1000).toFixed(1)}s` : 'never';
    };
    console.error(
      `[timing] first write after the restart: kube-controller-manager ${firstWrite('kube-controller-manager/')}, ` +
        `kube-scheduler ${firstWrite('kube-scheduler/')}, kwok-controller ${firstWrite('kwok-controller/')}`,
    );

    // Nothing else had to be restarted: controller-manager and scheduler kept running (no leader election to lose).
    const after = controlPlanePids(stack);
    for (const c of ['etcd', 'kube-controller-manager', 'kube-scheduler', 'kwok-controller']) {
      expect({ component: c, pid: after[c] }).toEqual({ component: c, pid: before[c] });
      expect(alive(after[c])).toBe(true);
    }
    expect(after['kube-apiserver']).toBe(restart.newPid);
    // The harness's own client (opened before the restart) reconnects too.
    const ns = await h.kube.get({ apiVersion: 'v1', kind: 'Namespace', name: h.namespace });
    expect(ns?.metadata?.name).toBe(h.namespace);
  }, 360_000);
});
