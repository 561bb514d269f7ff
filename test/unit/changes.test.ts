import { describe, it, expect } from 'vitest';
import { MAX_CHANGED_PATHS, changedPaths } from '../../src/domain/changes.js';

interface Container {
  name: string;
  image: string;
  ports?: { containerPort: number }[];
}

interface Deployment {
  apiVersion: string;
  kind: string;
  metadata: { [field: string]: unknown; labels: Record<string, string> };
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: { containers: Container[] } };
  };
  status?: Record<string, unknown>;
}

function container(d: Deployment, i: number): Container {
  const c = d.spec.template.spec.containers[i];
  if (!c) throw new Error(`no container ${i}`);
  return c;
}

/** A live Deployment as the API server returns it, server-managed fields included. */
function liveDeployment(): Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      namespace: 'shop',
      uid: '6f1c3b1e-2b7d-4c55-9a0e-0d6c1d9a1f00',
      resourceVersion: '1001',
      generation: 3,
      creationTimestamp: '2025-09-15T10:00:00Z',
      labels: { app: 'web' },
      managedFields: [
        { manager: 'kube-workflows', operation: 'Apply', apiVersion: 'apps/v1', time: '2025-09-15T10:00:00Z' },
      ],
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            { name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 80 }] },
            { name: 'sidecar', image: 'envoy:1.31' },
          ],
        },
      },
    },
    status: { replicas: 2, readyReplicas: 2, observedGeneration: 3 },
  };
}

/** The dry-run result of re-applying a manifest: `mutate` edits the copy before it is returned. */
function dryRun(mutate: (d: Deployment) => void = () => undefined): Deployment {
  const d = structuredClone(liveDeployment());
  d.metadata.resourceVersion = '1002';
  d.metadata.generation = 4;
  d.metadata.managedFields = [
    { manager: 'kube-workflows', operation: 'Apply', apiVersion: 'apps/v1', time: '2025-09-15T11:00:00Z' },
  ];
  d.status = { replicas: 2, readyReplicas: 1, observedGeneration: 3 };
  mutate(d);
  return d;
}

describe('changedPaths', () => {
  it('reports nothing for identical objects', () => {
    expect(changedPaths(liveDeployment(), liveDeployment())).toEqual([]);
  });

  it('reports nothing when only resourceVersion, generation, managedFields and status differ', () => {
    expect(changedPaths(liveDeployment(), dryRun())).toEqual([]);
  });

  it.each(['resourceVersion', 'managedFields', 'generation', 'creationTimestamp', 'uid', 'selfLink'])(
    'ignores metadata.%s',
    (field) => {
      expect(
        changedPaths(
          liveDeployment(),
          dryRun((d) => (d.metadata[field] = 'changed')),
        ),
      ).toEqual([]);
    },
  );

  it('ignores status even when the desired object has none', () => {
    expect(
      changedPaths(
        liveDeployment(),
        dryRun((d) => delete d.status),
      ),
    ).toEqual([]);
  });

  it('reports a changed scalar by its dotted path', () => {
    expect(
      changedPaths(
        liveDeployment(),
        dryRun((d) => (d.spec.replicas = 3)),
      ),
    ).toEqual(['spec.replicas']);
  });

  it('reports a changed field inside an array element with the element index', () => {
    expect(
      changedPaths(
        liveDeployment(),
        dryRun((d) => (container(d, 0).image = 'nginx:1.28')),
      ),
    ).toEqual(['spec.template.spec.containers[0].image']);
  });

  it('reports a change in a nested array with both indexes', () => {
    const paths = changedPaths(
      liveDeployment(),
      dryRun((d) => (container(d, 0).ports = [{ containerPort: 8080 }])),
    );
    expect(paths).toEqual(['spec.template.spec.containers[0].ports[0].containerPort']);
  });

  it('reports the array itself, not its elements, when its length changes', () => {
    const paths = changedPaths(
      liveDeployment(),
      dryRun((d) => d.spec.template.spec.containers.pop()),
    );
    expect(paths).toEqual(['spec.template.spec.containers']);
  });

  it('reports a field added by the desired object', () => {
    expect(
      changedPaths(
        liveDeployment(),
        dryRun((d) => (d.metadata.labels.tier = 'frontend')),
      ),
    ).toEqual(['metadata.labels.tier']);
  });

  it('reports a field the desired object no longer has', () => {
    expect(
      changedPaths(
        liveDeployment(),
        dryRun((d) => delete d.metadata.labels.app),
      ),
    ).toEqual(['metadata.labels.app']);
  });

  it('reports a label whose key contains dots and slashes under its literal key', () => {
    const paths = changedPaths(
      liveDeployment(),
      dryRun((d) => (d.metadata.labels['app.kubernetes.io/name'] = 'web')),
    );
    expect(paths).toEqual(['metadata.labels.app.kubernetes.io/name']);
  });

  it('reports every changed field, in document order', () => {
    const paths = changedPaths(
      liveDeployment(),
      dryRun((d) => {
        d.spec.replicas = 5;
        container(d, 1).image = 'envoy:1.32';
      }),
    );
    expect(paths).toEqual(['spec.replicas', 'spec.template.spec.containers[1].image']);
  });

  it('reports a value replaced by one of another type at its path', () => {
    expect(changedPaths({ spec: { a: { b: 1 } } }, { spec: { a: [1] } })).toEqual(['spec.a']);
  });

  it('reports "." when two top-level scalars differ', () => {
    expect(changedPaths(1, 2)).toEqual(['.']);
  });

  it('does not modify either object', () => {
    const live = liveDeployment();
    const desired = dryRun((d) => (d.spec.replicas = 3));
    const before = structuredClone([live, desired]);
    changedPaths(live, desired);
    expect([live, desired]).toEqual(before);
  });

  describe(`at most MAX_CHANGED_PATHS (${MAX_CHANGED_PATHS}) paths`, () => {
    function withKeys(n: number, value: number): Record<string, unknown> {
      return {
        data: Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${String(i).padStart(2, '0')}`, value])),
      };
    }

    it('lists exactly MAX_CHANGED_PATHS paths without a summary', () => {
      const paths = changedPaths(withKeys(MAX_CHANGED_PATHS, 1), withKeys(MAX_CHANGED_PATHS, 2));
      expect([paths.length, paths.at(-1)]).toEqual([MAX_CHANGED_PATHS, `data.k${MAX_CHANGED_PATHS - 1}`]);
    });

    it('lists the first MAX_CHANGED_PATHS paths and then "… N more"', () => {
      const total = MAX_CHANGED_PATHS + 5;
      const paths = changedPaths(withKeys(total, 1), withKeys(total, 2));
      expect([paths.length, paths[0], paths[MAX_CHANGED_PATHS - 1], paths.at(-1)]).toEqual([
        MAX_CHANGED_PATHS + 1,
        'data.k00',
        `data.k${MAX_CHANGED_PATHS - 1}`,
        '… 5 more',
      ]);
    });
  });
});
