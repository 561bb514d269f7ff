/**
 * Resource thresholds (src/domain/resource-usage.ts) over real Pods and PodMetrics read from the local stack with
 * metrics-server (test/fixtures/health/resource-usage-web.yaml: two pods requesting 100m CPU / 100Mi memory, limited
 * to 500m / 200Mi, using 300m / 50Mi each).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  assessResourceUsage,
  parseThreshold,
  type PodMetricsSample,
  type PodResources,
} from '../../src/domain/resource-usage.js';

const docs = parseAllDocuments(
  readFileSync(fileURLToPath(new URL('../fixtures/health/resource-usage-web.yaml', import.meta.url)), 'utf8'),
).map((d) => d.toJS() as { kind: string });
const pods = docs.filter((d) => d.kind === 'Pod') as unknown as PodResources[];
const samples = docs.filter((d) => d.kind === 'PodMetrics') as unknown as PodMetricsSample[];

describe('assessResourceUsage', () => {
  it('CPU above the threshold of requests is unhealthy, averaged over the pods, naming the hottest', () => {
    const v = assessResourceUsage({ resource: 'cpu', above: 0.8, of: 'requests' }, pods, samples);
    expect(v.healthy).toBe(false);
    expect(v.utilization).toBeCloseTo(3, 2);
    expect(v.message).toMatch(
      /^cpu at 300% of requests \(600m of 200m, 2 pods; hottest shop\/web-[a-z0-9]+-[a-z0-9]+ 300m\), above 80%$/,
    );
  });

  it('the same use against limits is within a threshold above it', () => {
    const v = assessResourceUsage({ resource: 'cpu', above: 0.8, of: 'limits' }, pods, samples);
    expect(v).toMatchObject({ healthy: true, utilization: expect.closeTo(0.6, 2) });
    expect(v.message).toMatch(/^cpu at 60% of limits \(600m of 1000m, 2 pods; .*\), threshold 80%$/);
  });

  it('memory is measured in bytes and formatted in binary units', () => {
    const v = assessResourceUsage({ resource: 'memory', above: 0.4, of: 'requests' }, pods, samples);
    expect(v.healthy).toBe(false);
    expect(v.message).toMatch(/^memory at 50% of requests \(100Mi of 200Mi, 2 pods; .*\), above 40%$/);
  });

  it('pods without a sample yet are healthy, saying there are no metrics', () => {
    expect(assessResourceUsage({ resource: 'cpu', above: 0.8, of: 'requests' }, pods, [])).toEqual({
      healthy: true,
      message: 'cpu: no metrics yet for its pods',
    });
  });

  it('a container without a request is not measured against it, and the message names it', () => {
    const bare = pods.map((p) => ({
      ...p,
      spec: { containers: (p.spec?.containers ?? []).map((c) => ({ name: c.name })) },
    }));
    const v = assessResourceUsage({ resource: 'cpu', above: 0.8, of: 'requests' }, bare, samples);
    expect(v.healthy).toBe(true);
    expect(v.message).toMatch(/^cpu threshold not evaluated: container web of pod shop\/web-\S+ has no cpu requests$/);
  });

  it('samples of other pods are ignored', () => {
    const v = assessResourceUsage({ resource: 'cpu', above: 0.8, of: 'requests' }, pods.slice(0, 1), samples);
    expect(v.message).toMatch(/^cpu at 300% of requests \(300m of 100m, 1 pod\), above 80%$/);
  });
});

describe('parseThreshold', () => {
  it('reads percentages and fractions, and refuses the rest', () => {
    expect(parseThreshold('80%')).toBe(0.8);
    expect(parseThreshold('150%')).toBe(1.5);
    expect(parseThreshold(0.5)).toBe(0.5);
    expect(parseThreshold('80')).toBeUndefined();
    expect(parseThreshold('0%')).toBeUndefined();
    expect(parseThreshold(-1)).toBeUndefined();
  });
});
