/** The `/metrics` text of the worker's counters and of the metrics read at scrape time (the Kubernetes clients'). */
import { describe, expect, it } from 'vitest';
import { createCounters } from '../../src/worker/ops.js';

describe('Counters', () => {
  it('renders counters, then observed counters and gauges with their labels, read at each render', () => {
    let open = 3;
    const c = createCounters()
      .observe('kube_workflows_kube_watches_open', 'gauge', 'Watch streams open now.', () => [
        { labels: { cluster: 'local' }, value: open },
        { labels: { cluster: 'eu "1"' }, value: 0 },
      ])
      .observe('kube_workflows_kube_requests_total', 'counter', 'Requests.', () => []);
    c.inc('kube_workflows_objects_applied_total', { cluster: 'local' }, 2);
    const first = c.render();
    expect(first).toContain('kube_workflows_objects_applied_total{cluster="local"} 2\n');
    expect(first).toContain('# TYPE kube_workflows_kube_watches_open gauge\n');
    expect(first).toContain('kube_workflows_kube_watches_open{cluster="local"} 3\n');
    expect(first).toContain('kube_workflows_kube_watches_open{cluster="eu \\"1\\""} 0\n');
    // an observed metric without samples has its HELP and TYPE only
    expect(first).toContain('# TYPE kube_workflows_kube_requests_total counter\n');
    expect(first).not.toMatch(/^kube_workflows_kube_requests_total /m);
    open = 1;
    expect(c.render()).toContain('kube_workflows_kube_watches_open{cluster="local"} 1\n');
  });
});
