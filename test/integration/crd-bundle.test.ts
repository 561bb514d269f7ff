/**
 * A real CRD install above Temporal's 2 MB payload limit: the prometheus-operator bundle (10 CRDs, about 4.6 MB of
 * YAML) plus custom resources of those CRDs, in one deploy. The CRDs go first and are waited on (Established)
 * before the custom resources are applied; the history holds the manifests once, compressed; a second run
 * changes nothing.
 */
import { describe, expect, inject, it } from 'vitest';
import { auditMark, readAuditEvents } from '../support/audit.js';
import { prometheusOperatorCrds } from '../support/fixtures.js';
import { historyPayloads } from '../support/history.js';
import { useHarness } from './harness.js';

const h = useHarness('crds', {
  env: { KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED: 'true', KUBE_WORKFLOWS_NAMESPACES: 'crds-*' },
});

/** Temporal refuses a payload above this (the server's default blob size limit). */
const TEMPORAL_BLOB_LIMIT = 2 * 1024 * 1024;

function bundle(namespace: string): { manifests: string; crdNames: string[] } {
  const files = prometheusOperatorCrds();
  const crdNames = files.map((f) => /^ {2}name: (\S+)$/m.exec(f.text)?.[1] ?? f.name);
  // custom resources of the CRDs come FIRST in the text: the deploy must still order them after their CRDs
  const resources = `apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: { name: web, namespace: ${namespace} }
spec:
  selector: { matchLabels: { app: web } }
  endpoints: [{ port: http, interval: 30s }]
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: { name: web-rules, namespace: ${namespace} }
spec:
  groups:
    - name: web
      rules:
        - alert: WebDown
          expr: up{job="web"} == 0
          for: 5m
`;
  return { manifests: [resources, ...files.map((f) => f.text)].join('\n---\n'), crdNames };
}

describe('the prometheus-operator CRD bundle (4.6 MB of YAML)', () => {
  it('deploys CRDs and their custom resources in one run, holding the manifests in history once', async () => {
    const { manifests, crdNames } = bundle(h.namespace);
    expect(crdNames).toHaveLength(10);
    expect(Buffer.byteLength(manifests)).toBeGreaterThan(TEMPORAL_BLOB_LIMIT * 2);

    const mark = auditMark(inject('stack').auditLogPath);
    const handle = await h.client.deploy({ manifests, app: 'prom-crds', timeoutSeconds: 300 });
    const report = await handle.result();
    expect(report.outcome, report.message).toBe('succeeded');
    expect(report.objects).toHaveLength(12);
    // Plan and health wait read the ten CRDs by name: never a LIST or WATCH of every CRD in the cluster (hundreds
    // of kilobytes each; the other tests' CRDs are there too).
    const crdReads = readAuditEvents(inject('stack').auditLogPath, mark.offset).filter(
      (e) =>
        (e.verb === 'list' || e.verb === 'watch') &&
        e.objectRef?.resource === 'customresourcedefinitions' &&
        (e.userAgent ?? '').startsWith('kube-workflows'),
    );
    expect(crdReads.length).toBeGreaterThanOrEqual(10);
    expect(crdReads.filter((e) => !decodeURIComponent(e.requestURI).includes('fieldSelector=metadata.name='))).toEqual(
      [],
    );
    expect(report.objects.every((o) => o.action === 'created' && o.status === 'Current')).toBe(true);
    // staged: every CRD is reported (applied) before the custom resources
    const kinds = report.objects.map((o) => o.subject.split('/')[0]);
    expect(kinds.slice(0, 10)).toEqual(Array(10).fill('CustomResourceDefinition'));

    for (const name of crdNames) {
      const crd = await h.kube.get({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name });
      const conditions = (crd?.status as { conditions?: { type: string; status: string }[] }).conditions ?? [];
      expect(conditions.find((c) => c.type === 'Established')?.status, name).toBe('True');
    }
    const monitor = await h.kube.get({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      namespace: h.namespace,
      name: 'web',
    });
    expect((monitor?.spec as { endpoints: { port: string }[] }).endpoints[0]?.port).toBe('http');

    // The history holds the manifests once, compressed: every payload is far below Temporal's limit, all of
    // them together are a fraction of the YAML, and no activity input or result carries a CRD schema.
    const payloads = historyPayloads(await handle.raw.fetchHistory());
    const largest = Math.max(...payloads.map((p) => p.length));
    const total = payloads.reduce((n, p) => n + p.length, 0);
    expect(largest).toBeLessThan(TEMPORAL_BLOB_LIMIT / 2);
    expect(total).toBeLessThan(Buffer.byteLength(manifests) / 4);
    expect(payloads.filter((p) => Buffer.from(p).toString('utf8').includes('openAPIV3Schema'))).toHaveLength(0);
  });

  it('a second run of the same bundle reports every object unchanged and bumps no generation', async () => {
    const { manifests, crdNames } = bundle(h.namespace);
    const generation = async (name: string): Promise<number | undefined> =>
      (await h.kube.get({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name }))?.metadata
        .generation;
    const before = await Promise.all(crdNames.map(generation));
    const report = await (await h.client.deploy({ manifests, app: 'prom-crds' })).result();
    expect(report.outcome, report.message).toBe('succeeded');
    expect(new Set(report.objects.map((o) => o.action))).toEqual(new Set(['unchanged']));
    expect(await Promise.all(crdNames.map(generation))).toEqual(before);
  });
});
