/** The CLI's deploy table: what the plan decided about ownership (notes) is printed next to the change. */
import { describe, expect, it } from 'vitest';
import { renderReport } from '../../src/cli/render.js';
import type { DeployReport } from '../../src/schemas/deploy.js';

describe('renderReport', () => {
  it('prints an object notes (e.g. replicas left to an autoscaler) after its change, or alone', () => {
    const report: DeployReport = {
      outcome: 'succeeded',
      cluster: 'local',
      objects: [
        {
          subject: 'Deployment/shop/web',
          action: 'configured',
          changes: ['spec.template.spec.containers[0].image'],
          changedFields: [{ path: 'spec.template.spec.containers[0].image', from: 'web:1', to: 'web:2' }],
          notes: ['spec.replicas left to HorizontalPodAutoscaler/shop/web'],
          status: 'Current',
        },
        {
          subject: 'Deployment/shop/api',
          action: 'unchanged',
          notes: ['spec.replicas left to HorizontalPodAutoscaler/shop/api'],
          status: 'Current',
        },
      ],
      durationsMs: {},
      message: '2 objects',
    };
    const lines = renderReport(report).split('\n');
    expect(lines.find((l) => l.includes('Deployment/shop/web'))).toContain(
      'changed spec.template.spec.containers[0].image: web:1 → web:2; spec.replicas left to HorizontalPodAutoscaler/shop/web',
    );
    expect(lines.find((l) => l.includes('Deployment/shop/api'))).toContain(
      'spec.replicas left to HorizontalPodAutoscaler/shop/api',
    );
  });
});
