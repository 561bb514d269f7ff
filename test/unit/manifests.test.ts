import { describe, it, expect } from 'vitest';
import {
  CLUSTER_SCOPED_KINDS,
  formatProblems,
  parseManifests,
  stripServerFields,
  validateObjects,
} from '../../src/domain/manifests.js';
import type { ManifestProblem, ParseResult } from '../../src/domain/manifests.js';

const deployment = (name: string, namespace = 'shop'): string => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  replicas: 2
`;

function problemsOf(result: ParseResult): ManifestProblem[] {
  if (result.ok) throw new Error(`expected problems, got ${result.objects.length} objects`);
  return result.problems;
}

function objectsOf(result: ParseResult) {
  if (!result.ok) throw new Error(formatProblems(result.problems));
  return result.objects;
}

describe('parseManifests', () => {
  it('returns every object of a multi-document YAML stream in order, unknown fields kept', () => {
    const text = `${deployment('cart')}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: cart\n  namespace: shop\nspec:\n  ports: [{ port: 80 }]\n`;
    const objects = objectsOf(parseManifests(text));
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Deployment/cart', 'Service/cart']);
    expect(objects[0]?.['spec']).toEqual({ replicas: 2 });
    expect(objects[1]?.['spec']).toEqual({ ports: [{ port: 80 }] });
  });

  it('reads JSON documents, including tab-indented ones', () => {
    const json =
      '{\n\t"apiVersion": "v1",\n\t"kind": "ConfigMap",\n\t"metadata": {"name": "settings", "namespace": "shop"},\n\t"data": {"a": "1"}\n}\n';
    const objects = objectsOf(parseManifests([{ name: 'settings.json', text: json }]));
    expect(objects).toEqual([
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'shop' }, data: { a: '1' } },
    ]);
  });

  it('skips empty, comment-only and null documents without giving them a document number', () => {
    const text = `# header comment\n---\n---\n# only a comment\n---\n~\n---\n${deployment('cart')}---\n\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: Cart\n  namespace: shop\n`;
    const problems = problemsOf(parseManifests(text));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ document: 2, path: 'metadata.name' });
  });

  it('returns no objects and no problems for an empty input', () => {
    expect(parseManifests('')).toEqual({ ok: true, objects: [] });
    expect(parseManifests([])).toEqual({ ok: true, objects: [] });
  });

  it('flattens a List, numbering each item as its own document with an items[i] path', () => {
    const text = `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: { name: one, namespace: shop }
  - apiVersion: v1
    kind: ConfigMap
    metadata: { name: two, namespace: shop }
  - apiVersion: v1
    kind: ConfigMap
    metadata: { name: Three, namespace: shop }
`;
    const problems = problemsOf(parseManifests([{ name: 'list.yaml', text }]));
    expect(problems).toEqual([
      expect.objectContaining({
        document: 3,
        source: 'list.yaml',
        path: 'items[2].metadata.name',
        line: 12,
        column: 23,
      }),
    ]);
  });

  it('takes apiVersion and kind of typed-list items from the list, as the API returns them', () => {
    const text = `apiVersion: apps/v1
kind: DeploymentList
metadata: { resourceVersion: "42" }
items:
  - metadata: { name: cart, namespace: shop }
  - metadata: { name: web, namespace: shop }
`;
    const objects = objectsOf(parseManifests(text));
    expect(objects.map((o) => `${o.apiVersion} ${o.kind}/${o.metadata.name}`)).toEqual([
      'apps/v1 Deployment/cart',
      'apps/v1 Deployment/web',
    ]);
  });

  it('reports a YAML syntax error with its document, source, line and column, and still checks the other documents', () => {
    const text = `${deployment('cart')}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [broken\n  namespace: shop\n---\n${deployment('Web')}`;
    const problems = problemsOf(parseManifests([{ name: 'app.yaml', text }]));
    const syntax = problems.filter((p) => p.message.startsWith('YAML syntax error'));
    expect(syntax.length).toBeGreaterThan(0);
    expect(syntax[0]).toMatchObject({ document: 2, source: 'app.yaml', path: '', line: expect.any(Number) as number });
    expect(syntax[0]?.line).toBeGreaterThanOrEqual(9);
    expect(syntax[0]?.message).not.toMatch(/at line \d+/);
    expect(problems.at(-1)).toMatchObject({ document: 3, path: 'metadata.name' });
  });

  it('reports a document that is not a mapping', () => {
    const problems = problemsOf(parseManifests('- a\n- b\n---\njust a string\n'));
    expect(problems).toEqual([
      expect.objectContaining({ document: 1, path: '', message: expect.stringContaining('not a list') as string }),
      expect.objectContaining({ document: 2, path: '', message: expect.stringContaining('not a string') as string }),
    ]);
  });

  it('reports missing kind, apiVersion and metadata.name, each at its path', () => {
    const problems = problemsOf(parseManifests('metadata:\n  namespace: shop\n'));
    expect(problems.map((p) => [p.path, p.message])).toEqual([
      ['apiVersion', 'apiVersion is required'],
      ['kind', 'kind is required'],
      ['metadata.name', 'metadata.name is required'],
    ]);
  });

  it('reports a missing metadata mapping', () => {
    const problems = problemsOf(parseManifests('apiVersion: v1\nkind: ConfigMap\n'));
    expect(problems).toEqual([expect.objectContaining({ path: 'metadata', message: 'metadata is required' })]);
  });

  it('reports an invalid name with the line and column of the value', () => {
    const problems = problemsOf(parseManifests([{ name: 'app.yaml', text: deployment('Cart_Service') }]));
    expect(problems).toEqual([
      {
        document: 1,
        source: 'app.yaml',
        path: 'metadata.name',
        line: 4,
        column: 9,
        message: 'metadata.name must be lowercase letters, digits, "-" and "."',
      },
    ]);
  });

  it('reports a label value that YAML read as a number, quoting the label key in the path', () => {
    const text =
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: shop\n  labels:\n    app.kubernetes.io/version: 1.10\n';
    const problems = problemsOf(parseManifests(text));
    expect(problems).toEqual([
      expect.objectContaining({
        path: 'metadata.labels["app.kubernetes.io/version"]',
        line: 7,
        column: 32,
        message: 'metadata.labels["app.kubernetes.io/version"] must be a string, not a number',
      }),
    ]);
  });

  it('gives namespaced objects without a namespace the target namespace, and leaves explicit ones alone', () => {
    const text = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n${deployment('cart', 'other')}`;
    const objects = objectsOf(parseManifests(text, { defaultNamespace: 'shop' }));
    expect(objects.map((o) => o.metadata.namespace)).toEqual(['shop', 'other']);
  });

  it('does not give cluster-scoped objects a namespace', () => {
    const text = 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: reader\n';
    const objects = objectsOf(parseManifests(text, { defaultNamespace: 'shop' }));
    expect(objects[0]?.metadata).not.toHaveProperty('namespace');
  });

  it('reports a cluster-scoped object that sets metadata.namespace', () => {
    const text = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  namespace: default\n';
    const problems = problemsOf(parseManifests(text, { defaultNamespace: 'shop' }));
    expect(problems).toEqual([
      expect.objectContaining({
        path: 'metadata.namespace',
        line: 5,
        message: 'Namespace is cluster-scoped: remove metadata.namespace',
      }),
    ]);
  });

  it('treats kinds passed in clusterScopedKinds as cluster-scoped and every other kind as namespaced', () => {
    const text =
      'apiVersion: example.com/v1\nkind: Tenant\nmetadata:\n  name: acme\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n';
    const problems = problemsOf(
      parseManifests(text, { clusterScopedKinds: new Set([...CLUSTER_SCOPED_KINDS, 'Tenant']) }),
    );
    expect(problems).toEqual([expect.objectContaining({ document: 2, path: 'metadata.namespace' })]);
  });

  it('reports a namespaced object without a namespace when no target namespace is given', () => {
    const problems = problemsOf(parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n'));
    expect(problems).toEqual([
      expect.objectContaining({
        document: 1,
        path: 'metadata.namespace',
        line: 4,
        column: 3,
        message: 'metadata.namespace is required (or pass a target namespace)',
      }),
    ]);
  });

  it('reports an invalid target namespace on the objects that would receive it', () => {
    const problems = problemsOf(
      parseManifests('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n', { defaultNamespace: 'Shop' }),
    );
    expect(problems).toEqual([
      expect.objectContaining({ path: 'metadata.namespace', message: expect.stringContaining('"Shop"') as string }),
    ]);
  });

  it('reports a duplicate across sources at the second occurrence, naming the first', () => {
    const problems = problemsOf(
      parseManifests([
        { name: 'base.yaml', text: `${deployment('web')}---\n${deployment('cart')}` },
        { name: 'overlay.yaml', text: deployment('cart').replace('apps/v1', 'apps/v1beta1') },
      ]),
    );
    expect(problems).toEqual([
      {
        document: 3,
        source: 'overlay.yaml',
        path: 'metadata.name',
        line: 4,
        column: 9,
        message: 'duplicate of document 2 (base.yaml): Deployment/shop/cart',
      },
    ]);
  });

  it('counts objects that differ in namespace, kind or API group as distinct, and defaulted namespaces as given', () => {
    const text = [
      deployment('cart', 'shop'),
      deployment('cart', 'other'),
      'apiVersion: v1\nkind: Service\nmetadata: { name: cart, namespace: shop }\n',
      'apiVersion: example.com/v1\nkind: Deployment\nmetadata: { name: cart, namespace: shop }\n',
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: cart }\n',
    ].join('---\n');
    const problems = problemsOf(parseManifests(text, { defaultNamespace: 'shop' }));
    expect(problems).toEqual([
      expect.objectContaining({ document: 5, message: 'duplicate of document 1: Deployment/shop/cart' }),
    ]);
  });

  it('reports every problem of every document together and returns no objects', () => {
    const result = parseManifests([
      { name: 'a.yaml', text: `${deployment('ok')}---\nkind: ConfigMap\nmetadata:\n  name: Bad\n` },
      {
        name: 'b.yaml',
        text: 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n---\napiVersion: v1\nkind: Node\nmetadata: { name: n1, namespace: x }\n',
      },
    ]);
    expect(result.ok).toBe(false);
    expect(result).not.toHaveProperty('objects');
    expect(problemsOf(result).map((p) => `${p.document} ${p.source ?? ''} ${p.path}`)).toEqual([
      '2 a.yaml apiVersion',
      '2 a.yaml metadata.name',
      '2 a.yaml metadata.namespace',
      '3 b.yaml metadata.namespace',
      '4 b.yaml metadata.namespace',
    ]);
  });
});

describe('validateObjects', () => {
  it('applies the same rules to objects given as a list, without line numbers', () => {
    const problems = problemsOf(
      validateObjects(
        [
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } },
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'shop' } },
          'not an object',
        ],
        { defaultNamespace: 'shop' },
      ),
    );
    expect(problems).toEqual([
      { document: 2, path: 'metadata.name', message: 'duplicate of document 1: ConfigMap/shop/a' },
      {
        document: 3,
        path: '',
        message: 'a manifest must be a mapping with apiVersion, kind and metadata, not a string',
      },
    ]);
  });

  it('returns defaulted copies without changing the input objects', () => {
    const input = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } };
    const objects = objectsOf(validateObjects([input], { defaultNamespace: 'shop' }));
    expect(objects[0]?.metadata.namespace).toBe('shop');
    expect(input.metadata).toEqual({ name: 'a' });
  });
});

describe('formatProblems', () => {
  it('writes a count and one line per problem with document, source, line, column and path', () => {
    const text = formatProblems([
      {
        document: 2,
        source: 'app.yaml',
        path: 'metadata.name',
        line: 7,
        column: 3,
        message: 'metadata.name must be lowercase',
      },
      { document: 4, path: '', message: 'YAML syntax error: unexpected token' },
    ]);
    expect(text).toBe(
      '2 problems in the manifests:\n' +
        '  document 2 (app.yaml, line 7, column 3) metadata.name: metadata.name must be lowercase\n' +
        '  document 4: YAML syntax error: unexpected token',
    );
  });

  it('lists at most 50 problems and counts the rest', () => {
    const problems = Array.from({ length: 53 }, (_, i) => ({
      document: i + 1,
      path: 'kind',
      message: 'kind is required',
    }));
    const lines = formatProblems(problems).split('\n');
    expect(lines[0]).toBe('53 problems in the manifests:');
    expect(lines).toHaveLength(52);
    expect(lines.at(-2)).toBe('  document 50 kind: kind is required');
    expect(lines.at(-1)).toBe('  … and 3 more');
  });

  it('uses the singular for one problem', () => {
    expect(formatProblems([{ document: 1, path: '', message: 'x' }])).toBe(
      '1 problem in the manifests:\n  document 1: x',
    );
  });
});

describe('stripServerFields', () => {
  it('removes server-owned metadata and status, keeps everything else, and leaves the input untouched', () => {
    const live = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'cart',
        namespace: 'shop',
        labels: { app: 'cart' },
        annotations: { note: 'kept' },
        uid: '7f1c',
        resourceVersion: '123',
        generation: 4,
        creationTimestamp: '2025-01-01T00:00:00Z',
        managedFields: [{ manager: 'kubectl' }],
        selfLink: '/apis/apps/v1/namespaces/shop/deployments/cart',
        deletionTimestamp: '2025-01-02T00:00:00Z',
        deletionGracePeriodSeconds: 30,
      },
      spec: { replicas: 3, template: { spec: { containers: [{ name: 'c', image: 'cart:1' }] } } },
      status: { readyReplicas: 3 },
    };
    const before = JSON.parse(JSON.stringify(live)) as unknown;
    const stripped = stripServerFields(live);
    expect(stripped).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'cart', namespace: 'shop', labels: { app: 'cart' }, annotations: { note: 'kept' } },
      spec: { replicas: 3, template: { spec: { containers: [{ name: 'c', image: 'cart:1' }] } } },
    });
    expect(live).toEqual(before);
    expect(stripped.spec).not.toBe(live.spec);
  });
});
