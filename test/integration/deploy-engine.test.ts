/**
 * The deploy engine end to end on the real local stack: a realistic multi-service app with its own namespace,
 * API validation errors, duplicates, dry-run, prune, approval, cancellation, latest-wins and a 300+ object deploy
 * whose manifests are above the inline limit (read by reference from the start event).
 */
import { WorkflowFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { InvalidInputError, type DeployHandle } from '../../src/client/index.js';
import { failureTypeOf, messageOf } from '../../src/cli/exit-codes.js';
import { INLINE_OBJECTS_LIMIT, type DeployProgress } from '../../src/workflows/deploy.js';
import { historyPayloads } from '../support/history.js';
import { pollUntil } from '../support/poll.js';
import { appManifests } from '../support/workloads.js';
import { recordHistory, useHarness } from './harness.js';

const h = useHarness('engine', {
  createNamespace: false,
  env: { KUBE_WORKFLOWS_ALLOW_CLUSTER_SCOPED: 'true', KUBE_WORKFLOWS_NAMESPACES: 'engine-*' },
});

function service(
  ns: string,
  name: string,
  opts: { image?: string; replicas?: number; chaos?: string; delay?: string } = {},
): string {
  return appManifests(ns, name, {
    config: `{ LOG_LEVEL: info, SERVICE: ${name} }`,
    container: 'app',
    image: opts.image ?? `registry.example/shop/${name}:1.0.0`,
    replicas: opts.replicas,
    chaos: opts.chaos,
    chaosDelay: opts.delay,
    serviceAccount: 'shop',
  });
}

const SERVICES = [
  'cart',
  'catalog',
  'checkout',
  'payments',
  'shipping',
  'users',
  'search',
  'reviews',
  'email',
  'gateway',
  'recommendations',
];

function shop(ns: string, only: readonly string[] = SERVICES): string {
  return [
    `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${ns} }\n`,
    `---\napiVersion: v1\nkind: ServiceAccount\nmetadata: { name: shop, namespace: ${ns} }\n`,
    ...only.map((s) => service(ns, s)),
  ].join('');
}

async function generations(ns: string): Promise<Record<string, number>> {
  const list = await h.kube.list('apps/v1', 'Deployment', { namespace: ns });
  return Object.fromEntries(list.items.map((d) => [d.metadata.name, d.metadata.generation ?? 0]));
}

describe('deployManifests on a realistic app', () => {
  it('deploys a namespace, a ServiceAccount and 11 services (Deployment + Service + ConfigMap) to Current', async () => {
    const report = await (
      await h.client.deploy({ manifests: shop(h.namespace), app: 'shop', timeoutSeconds: 120 })
    ).result();
    expect(report.outcome).toBe('succeeded');
    expect(report.objects).toHaveLength(2 + SERVICES.length * 3);
    expect(report.objects.every((o) => o.action === 'created' && o.status === 'Current')).toBe(true);
    // definitions first: the Namespace is the first object applied and reported
    expect(report.objects[0]?.subject).toBe(`Namespace/${h.namespace}`);
    const deployments = await h.kube.list('apps/v1', 'Deployment', { namespace: h.namespace });
    expect(deployments.items).toHaveLength(SERVICES.length);
    for (const d of deployments.items) expect((d.status as { readyReplicas?: number }).readyReplicas).toBe(2);
  });

  it('a second run reports everything unchanged and changes no generation', async () => {
    const before = await generations(h.namespace);
    const report = await (await h.client.deploy({ manifests: shop(h.namespace), app: 'shop' })).result();
    expect(report.outcome).toBe('succeeded');
    expect(new Set(report.objects.map((o) => o.action))).toEqual(new Set(['unchanged']));
    expect(await generations(h.namespace)).toEqual(before);
  });

  it('a dry run returns the plan and writes nothing', async () => {
    const changed = shop(h.namespace).replace('registry.example/shop/cart:1.0.0', 'registry.example/shop/cart:9.9.9');
    const before = await generations(h.namespace);
    const report = await (await h.client.deploy({ manifests: changed, app: 'shop', dryRun: true })).result();
    expect(report.outcome).toBe('planned');
    const cart = report.objects.find((o) => o.subject === `Deployment/${h.namespace}/cart`);
    expect(cart).toMatchObject({ action: 'configured', changes: ['spec.template.spec.containers[0].image'] });
    // the report (and the CLI table, --json) says old → new, not only the path
    expect(cart?.changedFields).toEqual([
      {
        path: 'spec.template.spec.containers[0].image',
        from: 'registry.example/shop/cart:1.0.0',
        to: 'registry.example/shop/cart:9.9.9',
      },
    ]);
    expect(await generations(h.namespace)).toEqual(before);
  });

  it('a 422 from the API server fails the plan, names the object and applies nothing', async () => {
    const bad = `${shop(h.namespace)}---
apiVersion: v1
kind: ConfigMap
metadata: { name: brand-new, namespace: ${h.namespace} }
data: { a: b }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: invalid, namespace: ${h.namespace} }
spec:
  replicas: -1
  selector: { matchLabels: { app: invalid } }
  template:
    metadata: { labels: { app: invalid } }
    spec: { containers: [{ name: app, image: x }] }
`;
    const err = await (await h.client.deploy({ manifests: bad, app: 'shop' })).result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(failureTypeOf(err)).toBe('KubeInvalid');
    expect(messageOf(err)).toMatch(new RegExp(`Deployment/${h.namespace}/invalid: .*spec.replicas`));
    expect(messageOf(err)).toMatch(/nothing was written/);
    expect(
      await h.kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: h.namespace, name: 'brand-new' }),
    ).toBeUndefined();
  });

  it('duplicate objects are rejected before anything starts, naming both documents', async () => {
    const dup = `${shop(h.namespace, ['cart'])}${service(h.namespace, 'cart')}`;
    const err = await h.client.deploy({ manifests: dup, app: 'shop' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(/duplicate of document 3: ConfigMap\/engine-[a-f0-9]+\/cart-config/);
  });

  it('prune deletes exactly the objects dropped from the set', async () => {
    const kept = SERVICES.filter((s) => s !== 'reviews' && s !== 'email');
    const report = await (
      await h.client.deploy({ manifests: shop(h.namespace, kept), app: 'shop', prune: true })
    ).result();
    expect(report.outcome).toBe('succeeded');
    const expected = ['reviews', 'email'].flatMap((s) => [
      `Deployment/${h.namespace}/${s}`,
      `Service/${h.namespace}/${s}`,
      `ConfigMap/${h.namespace}/${s}-config`,
    ]);
    expect([...(report.pruned ?? [])].sort()).toEqual(expected.sort());
    const names = (await h.kube.list('apps/v1', 'Deployment', { namespace: h.namespace })).items.map(
      (d) => d.metadata.name,
    );
    expect(names.sort()).toEqual([...kept].sort());
    expect(
      await h.kube.get({ apiVersion: 'v1', kind: 'ConfigMap', namespace: h.namespace, name: 'email-config' }),
    ).toBeUndefined();
    expect(
      await h.kube.get({ apiVersion: 'v1', kind: 'ServiceAccount', namespace: h.namespace, name: 'shop' }),
    ).toBeDefined();
  });
});

describe('approval gate', () => {
  it('blocks until approved, refuses a stale approval, then applies', async () => {
    const manifests = `${shop(h.namespace)}`.replace(
      'registry.example/shop/users:1.0.0',
      'registry.example/shop/users:1.1.0',
    );
    const handle = await h.client.deploy({ manifests, app: 'shop', requireApproval: true });
    const waiting = await awaitingApproval(handle);
    expect(waiting.objects.find((o) => o.subject === `Deployment/${h.namespace}/users`)?.action).toBe('configured');
    // nothing written while waiting
    expect(JSON.stringify(await deploymentNamed('users'))).toContain('users:1.0.0');
    await expect(handle.approve({ planId: 'plan-00000000-1', by: 'mallory' })).rejects.toThrow(/stale approval/);
    await handle.approve({ planId: waiting.planId ?? '', by: 'alice', comment: 'looks good' });
    const report = await handle.result();
    await recordHistory('deploy-approved', handle.raw);
    expect(report.outcome).toBe('succeeded');
    expect(report.approval).toEqual({ decision: 'approved', by: 'alice', comment: 'looks good' });
    expect(JSON.stringify(await deploymentNamed('users'))).toContain('users:1.1.0');
  });

  it('a rejected plan ends with outcome rejected and writes nothing', async () => {
    const manifests = shop(h.namespace).replace(
      'registry.example/shop/search:1.0.0',
      'registry.example/shop/search:6.6.6',
    );
    const handle = await h.client.deploy({ manifests, app: 'shop', requireApproval: true });
    const waiting = await awaitingApproval(handle);
    await handle.reject({ planId: waiting.planId ?? '', by: 'bob', comment: 'not today' });
    const report = await handle.result();
    expect(report.outcome).toBe('rejected');
    expect(await imageOf('search')).toBe('registry.example/shop/search:1.0.0');
  });
});

describe('approval timeout', () => {
  it('a plan nobody approves in time ends rejected (timedOut), writes nothing and refuses a late approval', async () => {
    const manifests = shop(h.namespace).replace(
      'registry.example/shop/search:1.0.0',
      'registry.example/shop/search:7.7.7',
    );
    const handle = await h.client.deploy({ manifests, app: 'shop', requireApproval: true, approvalTimeoutSeconds: 2 });
    const waiting = await awaitingApproval(handle);
    const report = await handle.result();
    expect(report.outcome).toBe('rejected');
    expect(report.approval).toEqual({ decision: 'timedOut', comment: 'no approval within 2s' });
    expect(report.message).toBe('not approved within 2s; nothing was written');
    await expect(handle.approve({ planId: waiting.planId ?? '', by: 'late' })).rejects.toThrow();
    expect(await imageOf('search')).toBe('registry.example/shop/search:1.0.0');
  });
});

describe('one deploy per app', () => {
  it('latest wins: the running deploy is cancelled and rolled back before the new one starts', async () => {
    const slow = `${shop(h.namespace, [])}${service(h.namespace, 'slowpoke', { chaos: 'slow', delay: '10m' })}`;
    const first = await h.client.deploy({ manifests: slow, app: 'contest', timeoutSeconds: 600 });
    await pollUntil(
      () => first.progress(),
      (p) => p.phase === 'waiting' && p.message.startsWith('resources'),
    );
    // a plain second start is rejected while the first runs
    await expect(h.client.deploy({ manifests: slow, app: 'contest' })).rejects.toThrow(/already started|running/i);
    const fixed = `${shop(h.namespace, [])}${service(h.namespace, 'slowpoke')}`;
    const second = await h.client.deploy({ manifests: fixed, app: 'contest' }, { onConflict: 'latestWins' });
    const firstErr = await first.result().catch((e: unknown) => e);
    expect(firstErr).toBeInstanceOf(WorkflowFailedError);
    const report = await second.result();
    expect(report.outcome).toBe('succeeded');
    // the first deploy created slowpoke and rolled it back (deleted); the second created it again, healthy
    expect(report.objects.find((o) => o.subject === `Deployment/${h.namespace}/slowpoke`)).toMatchObject({
      action: 'created',
      status: 'Current',
    });
  });
});

describe('large deploys', () => {
  it('deploys 320 objects whose manifests exceed the inline limit, holding them in history once', async () => {
    const filler = 'x'.repeat(2_000);
    const docs = Array.from(
      { length: 320 },
      (_, i) =>
        `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: bulk-${i}, namespace: ${h.namespace} }\ndata: { blob: "${filler}${i}" }\n`,
    );
    const manifests = docs.join('---\n');
    expect(manifests.length).toBeGreaterThan(INLINE_OBJECTS_LIMIT * 4);
    const handle = await h.client.deploy({ manifests, app: 'bulk' });
    const report = await handle.result();
    await recordHistory('deploy-by-reference', handle.raw);
    expect(report.outcome).toBe('succeeded');
    expect(report.objects.filter((o) => o.action === 'created')).toHaveLength(320);
    const list = await h.kube.list('v1', 'ConfigMap', {
      namespace: h.namespace,
      labelSelector: 'kube-workflows.dev/app=bulk',
    });
    expect(list.items.filter((c) => c.metadata.name.startsWith('bulk-'))).toHaveLength(320);
    // The history holds the manifests once, compressed in the start event: no activity input or result carries
    // them, and all payloads together are far smaller than the YAML.
    const history = await handle.raw.fetchHistory();
    const payloads = historyPayloads(history).map((p) => Buffer.from(p).toString('utf8'));
    const total = payloads.reduce((n, p) => n + p.length, 0);
    expect(total).toBeLessThan(manifests.length / 2);
    expect(payloads.filter((p) => p.includes(filler))).toHaveLength(0);
  });
});

/** Waits until the deploy shows its plan and waits for a decision; returns that progress (with the plan id). */
function awaitingApproval(handle: DeployHandle): Promise<DeployProgress> {
  return pollUntil(
    () => handle.progress(),
    (p) => p.phase === 'awaitingApproval',
  );
}

/** Deployment `name` of the test namespace, as the cluster has it. */
const deploymentNamed = (name: string) =>
  h.kube.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: h.namespace, name });

/** The image of a Deployment's first container, as the cluster has it. */
async function imageOf(name: string): Promise<string | undefined> {
  const d = await deploymentNamed(name);
  return (d?.spec as { template: { spec: { containers: { image: string }[] } } } | undefined)?.template.spec
    .containers[0]?.image;
}
