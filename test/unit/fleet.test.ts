/**
 * The fleet's pure decisions (domain/fleet, domain/cron) and the fleet file schema, on fixtures: wave selection,
 * per-cluster overrides, cron and freeze windows, rollback targets of each halt policy, the markdown matrix, and
 * schema errors that name the field.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { fleetChanges, readFleetInput, renderFleet } from '../../src/cli/rollout.js';
import { z } from 'zod';
import { cronMatches, lastMatchBetween, parseCron, type CronExpression } from '../../src/domain/cron.js';
import {
  applyOverride,
  assignClusters,
  freezeState,
  matrixMarkdown,
  objectsRevision,
  overriddenImage,
  probeDelayMs,
  rollbackTargets,
  scopeOfPolicy,
  type ClusterInfo,
} from '../../src/domain/fleet.js';
import { parseManifests } from '../../src/domain/manifests.js';
import { FleetFile, RolloutFleetInput, type FleetStatus } from '../../src/schemas/fleet.js';
import type { KubeObject } from '../../src/schemas/kube-object.js';
import { captureCliOutput } from '../support/cli.js';

const clusters: ClusterInfo[] = [
  { name: 'local', labels: { env: 'staging', region: 'r1', stack: 'local' } },
  { name: 'local-2', labels: { env: 'prod', region: 'r2', stack: 'local' } },
  { name: 'local-3', labels: { env: 'prod', region: 'r3', stack: 'local' } },
  { name: 'lab', labels: { env: 'lab' } },
];

describe('assignClusters', () => {
  it('picks clusters by label selector (full syntax) in configuration order, and reports the unassigned', () => {
    const a = assignClusters(
      [
        { name: 'canary', clusters: 'env=staging' },
        { name: 'prod', clusters: 'env in (prod),region!=r9,stack' },
      ],
      clusters,
    );
    expect(a.waves).toEqual([
      { name: 'canary', clusters: ['local'] },
      { name: 'prod', clusters: ['local-2', 'local-3'] },
    ]);
    expect(a.unassigned).toEqual(['lab']);
    expect(a.problems).toEqual([]);
  });

  it('gives a cluster to the first wave that selects it and notes the later one', () => {
    const a = assignClusters(
      [
        { name: 'first', clusters: ['local-3', 'local'] },
        { name: 'rest', clusters: 'stack=local' },
      ],
      clusters,
    );
    expect(a.waves).toEqual([
      { name: 'first', clusters: ['local-3', 'local'] },
      { name: 'rest', clusters: ['local-2'] },
    ]);
    expect(a.notes).toEqual([
      'cluster local is in wave first; wave rest skips it',
      'cluster local-3 is in wave first; wave rest skips it',
    ]);
  });

  it('names a cluster that is not configured as a problem of its wave', () => {
    const a = assignClusters([{ name: 'one', clusters: ['local', 'mars'] }], clusters);
    expect(a.problems).toEqual([
      'waves.0.clusters: cluster "mars" is not configured on the worker (configured: local, local-2, local-3, lab)',
    ]);
  });

  it('a selector that matches nothing leaves the wave empty', () => {
    expect(assignClusters([{ name: 'x', clusters: 'env=nowhere' }], clusters).waves).toEqual([
      { name: 'x', clusters: [] },
    ]);
  });
});

const manifests = `apiVersion: v1
kind: Namespace
metadata: { name: shop }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      initContainers: [{ name: migrate, image: "registry.example:5000/web-migrate:1.0@sha256:abc" }]
      containers: [{ name: web, image: "registry.example:5000/web:1.0" }, { name: proxy, image: envoy }]
---
apiVersion: batch/v1
kind: CronJob
metadata: { name: report, namespace: shop }
spec:
  schedule: "0 * * * *"
  jobTemplate: { spec: { template: { spec: { restartPolicy: Never, containers: [{ name: web, image: "web:1.0" }] } } } }
`;

function objects(): KubeObject[] {
  const parsed = parseManifests(manifests);
  if (!parsed.ok) throw new Error('fixture does not parse');
  return parsed.objects;
}

const imagesOf = (objs: KubeObject[]) => JSON.stringify(objs).match(/"image":"[^"]+"/g);

describe('applyOverride', () => {
  it('replaces a tag keeping the registry port, drops a digest, or takes a whole image', () => {
    expect(overriddenImage('registry.example:5000/web:1.0', '2.0')).toBe('registry.example:5000/web:2.0');
    expect(overriddenImage('registry.example:5000/web', '2.0')).toBe('registry.example:5000/web:2.0');
    expect(overriddenImage('web@sha256:abc', '2.0')).toBe('web:2.0');
    expect(overriddenImage('web:1.0', 'other.example/web:9')).toBe('other.example/web:9');
  });

  it('sets images in every pod template (containers, init containers, CronJobs), replicas and the namespace', () => {
    const before = objects();
    const r = applyOverride(
      before,
      { namespace: 'shop-eu', images: { web: '2.0', migrate: '2.0' }, replicas: { web: 5 } },
      'local-2',
    );
    if (!r.ok) throw new Error(r.problems.join());
    expect(imagesOf(r.objects)).toEqual([
      '"image":"registry.example:5000/web-migrate:2.0"',
      '"image":"registry.example:5000/web:2.0"',
      '"image":"envoy"',
      '"image":"web:2.0"',
    ]);
    const web = r.objects[1] as KubeObject & { spec: { replicas: number } };
    expect(web.spec.replicas).toBe(5);
    expect(r.objects.map((o) => o.metadata.namespace)).toEqual([undefined, 'shop-eu', 'shop-eu']); // Namespace is cluster-scoped
    expect(imagesOf(before)).toContain('"image":"registry.example:5000/web:1.0"'); // the input is untouched
  });

  it('names an override of a container or workload the manifests do not have', () => {
    const r = applyOverride(objects(), { images: { api: '2' }, replicas: { worker: 1 } }, 'local-3');
    expect(r).toEqual({
      ok: false,
      problems: [
        'overrides.local-3.images.api: no container named "api" in the manifests',
        'overrides.local-3.replicas.worker: no Deployment or StatefulSet named "worker"',
      ],
    });
  });

  it('the revision hash differs exactly when the objects differ', () => {
    const same = applyOverride(objects(), undefined, 'a');
    const changed = applyOverride(objects(), { images: { web: '2' } }, 'b');
    if (!same.ok || !changed.ok) throw new Error('fixture');
    expect(objectsRevision(same.objects)).toBe(objectsRevision(objects()));
    expect(objectsRevision(changed.objects)).not.toBe(objectsRevision(objects()));
    expect(objectsRevision(objects())).toMatch(/^[0-9a-f]{8}$/);
  });
});

function cron(text: string): CronExpression {
  const parsed = parseCron(text);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.cron;
}
const at = (iso: string) => Date.parse(iso);

describe('cron', () => {
  it.each([
    ['0 22 * * FRI', '2026-11-27T22:00:00Z', true],
    ['0 22 * * FRI', '2026-11-28T22:00:00Z', false], // a Saturday
    ['*/15 9-17 * * 1-5', '2026-11-30T17:45:00Z', true],
    ['*/15 9-17 * * 1-5', '2026-11-30T17:50:00Z', false],
    ['0 0 1,15 * *', '2026-12-15T00:00:00Z', true],
    ['30 2 * DEC 7', '2026-12-06T02:30:00Z', true], // 7 is Sunday too
    ['5/20 * * * *', '2026-12-06T02:45:00Z', true], // 5, 25, 45
    ['0 12 1 * MON', '2026-12-07T12:00:00Z', true], // day-of-month OR day-of-week when both are restricted
    ['0 12 1 * MON', '2026-12-01T12:00:00Z', true],
    ['0 12 1 * MON', '2026-12-02T12:00:00Z', false],
    ['0 12 * * MON', '2026-12-01T12:00:00Z', false], // day-of-month is *: AND
  ])('%s matches %s: %s', (text, time, expected) => {
    expect(cronMatches(cron(text), at(time))).toBe(expected);
  });

  it('evaluates in a time zone: 09:00 in Berlin is 08:00 UTC in winter', () => {
    expect(cronMatches(cron('0 9 * * *'), at('2026-12-01T08:00:00Z'), 'Europe/Berlin')).toBe(true);
    expect(cronMatches(cron('0 9 * * *'), at('2026-12-01T09:00:00Z'), 'Europe/Berlin')).toBe(false);
  });

  it.each([
    ['0 22 * *', /has 4 fields; expected 5/],
    ['61 * * * *', /minute 61 is out of range 0-59/],
    ['* * * * FUNDAY', /day of week value "FUNDAY" is not a number or a name/],
    ['5-1 * * * *', /the range runs backwards/],
    ['*/0 * * * *', /the step must be at least 1/],
  ])('rejects %s', (text, message) => {
    const parsed = parseCron(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(message);
  });

  it('finds the latest match in a span', () => {
    expect(lastMatchBetween(cron('0 * * * *'), at('2026-12-01T08:10:00Z'), at('2026-12-01T10:30:00Z'))).toBe(
      at('2026-12-01T10:00:00Z'),
    );
    expect(lastMatchBetween(cron('0 0 * * *'), at('2026-12-01T08:00:00Z'), at('2026-12-01T10:30:00Z'))).toBeUndefined();
  });
});

describe('freezeState', () => {
  const fridayNight = { cron: '0 22 * * FRI', duration: 60 * 3_600_000 }; // Friday 22:00 to Monday 10:00

  it('is frozen inside a window and says when it ends', () => {
    expect(freezeState([fridayNight], at('2026-11-29T12:00:00Z'))).toEqual({
      frozen: true,
      untilMs: at('2026-11-30T10:00:00Z'),
      cron: '0 22 * * FRI',
    });
    expect(freezeState([fridayNight], at('2026-11-30T10:00:00Z'))).toEqual({ frozen: false });
    expect(freezeState([fridayNight], at('2026-11-27T21:59:00Z'))).toEqual({ frozen: false });
  });

  it('chains a window that opens before the open one ends', () => {
    const monday = { cron: '0 9 * * MON', duration: 4 * 3_600_000 }; // Monday 09:00-13:00
    expect(freezeState([fridayNight, monday], at('2026-11-29T12:00:00Z'))).toMatchObject({
      untilMs: at('2026-11-30T13:00:00Z'),
    });
  });
});

describe('rollbackTargets (halt policies)', () => {
  const waves = [
    { name: 'canary', cells: [{ cluster: 'local', phase: 'succeeded' as const }] },
    {
      name: 'prod',
      cells: [
        { cluster: 'local-2', phase: 'failed' as const, deployOutcome: 'succeeded' }, // analysis failed
        { cluster: 'local-3', phase: 'failed' as const, deployOutcome: 'rolledBack' }, // undid itself
        { cluster: 'local-4', phase: 'deployed' as const },
        { cluster: 'local-5', phase: 'notStarted' as const },
        { cluster: 'local-6', phase: 'skipped' as const },
      ],
    },
    { name: 'later', cells: [{ cluster: 'local-7', phase: 'notStarted' as const }] },
  ];

  it.each([
    ['stop', []],
    ['rollbackWave', ['local-2', 'local-4']],
    ['rollbackAll', ['local-2', 'local-4', 'local']],
  ] as const)('%s rolls back %j, latest wave first', (policy, expected) => {
    expect(rollbackTargets(waves, 1, scopeOfPolicy(policy)).map((t) => t.cluster)).toEqual(expected);
  });
});

describe('probeDelayMs', () => {
  it('backs off 5 s, 10 s, 20 s, then every 30 s', () => {
    expect([1, 2, 3, 4, 9].map(probeDelayMs)).toEqual([5_000, 10_000, 20_000, 30_000, 30_000]);
  });
});

describe('matrixMarkdown', () => {
  it('renders the wave × cluster matrix with phase, revision, health and analysis progress', () => {
    const status: FleetStatus = {
      fleet: 'shop',
      app: 'shop',
      workflowId: 'fleet/shop',
      phase: 'running',
      currentWave: 'canary',
      nextTimer: { purpose: 'bake of wave canary may end', at: '2026-12-01T10:00:00.000Z' },
      haltPolicy: 'rollbackWave',
      unassigned: ['lab'],
      message: 'wave canary bakes',
      waves: [
        {
          name: 'canary',
          phase: 'baking',
          maxParallel: 1,
          heldMs: 0,
          bake: { minTimeMs: 600_000, passesRequired: 2, passes: 1 },
          cells: [
            {
              cluster: 'local',
              phase: 'baking',
              revision: '1a2b3c4d',
              deployWorkflowId: 'deploy/local/shop/shop',
              health: '2/2 Current',
              analysis: [{ run: 1, workflowId: 'a', outcome: 'successful' }],
            },
          ],
        },
      ],
    };
    expect(matrixMarkdown(status)).toBe(
      [
        '**running** fleet shop (app shop) — wave **canary** — next: bake of wave canary may end at 2026-12-01T10:00:00.000Z',
        '',
        'wave canary bakes',
        '',
        '| wave | cluster | revision | state |',
        '|---|---|---|---|',
        '| canary (baking) | local | 1a2b3c4d | ⏳ baking · 2/2 Current · analysis 1/2 |',
        'not in any wave: lab',
      ].join('\n'),
    );
  });
});

describe('fleet file schema', () => {
  const valid = { name: 'shop', app: 'shop', waves: [{ name: 'canary', clusters: 'env=staging' }] };
  const errorOf = (input: unknown) => {
    const parsed = FleetFile.safeParse(input);
    return parsed.success ? 'valid' : z.prettifyError(parsed.error);
  };

  it('fills the defaults', () => {
    const parsed = FleetFile.parse({
      ...valid,
      waves: [
        {
          name: 'w',
          clusters: ['local'],
          bake: {
            minTime: '10m',
            analysis: { name: 'a', provider: { http: { url: 'http://x' } }, successCondition: 'result == 1' },
          },
        },
      ],
    });
    expect(parsed).toMatchObject({
      haltPolicy: 'rollbackWave',
      unreachable: { retryFor: 300_000, then: 'halt' },
      freezeWindows: [],
      overrides: {},
      waves: [{ maxParallel: 1, bake: { minTime: 600_000, passes: 1 } }],
    });
  });

  it.each([
    [{ ...valid, wave: [] }, /Unrecognized key: "wave"/],
    [
      { ...valid, waves: [{ name: 'w', clusters: 'env in (prod' }] },
      /invalid label selector[\s\S]*at waves\[0\]\.clusters/,
    ],
    [
      { ...valid, waves: [{ name: 'w', clusters: 'a=b', bake: { minTime: '10 minutes' } }] },
      /waves\[0\]\.bake\.minTime/,
    ],
    [{ ...valid, waves: [{ name: 'w', clusters: 'a=b', bake: { passes: 2 } }] }, /passes needs an analysis/],
    [{ ...valid, waves: [valid.waves[0], valid.waves[0]] }, /named twice[\s\S]*at waves\[1\]\.name/],
    [{ ...valid, haltPolicy: 'panic' }, /haltPolicy/],
    [
      { ...valid, freezeWindows: [{ cron: '0 22 * *', duration: '2h' }] },
      /has 4 fields[\s\S]*at freezeWindows\[0\]\.cron/,
    ],
    [
      { ...valid, freezeWindows: [{ cron: '0 22 * * *', duration: '2h', timezone: 'Mars/Base' }] },
      /unknown time zone "Mars\/Base"/,
    ],
    [{ ...valid, overrides: { local: { images: { web: '' } } } }, /overrides\.local\.images\.web/],
    [{ ...valid, overrides: { local: { replica: { web: 2 } } } }, /Unrecognized key: "replica"/],
    [{ ...valid, deploy: { wait: false } }, /Unrecognized key: "wait"/],
  ])('rejects %j naming the field', (input, message) => {
    expect(errorOf(input)).toMatch(message);
  });

  it('the workflow input needs manifests; the fleet file does not', () => {
    expect(errorOf(valid)).toBe('valid');
    const parsed = RolloutFleetInput.safeParse(valid);
    expect(parsed.success ? 'valid' : z.prettifyError(parsed.error)).toMatch(/manifests are required/);
  });
});

describe('kube-workflows rollout (CLI, before anything starts)', () => {
  const out = captureCliOutput(['TEMPORAL_ADDRESS', 'KUBE_WORKFLOWS_CONFIG']);
  const dir = mkdtempSync(join(tmpdir(), 'kwf-fleet-cli-'));
  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const app = write('app.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: cfg, namespace: shop }\n');

  it('reads the fleet file (YAML) and the -f manifests into one validated input', async () => {
    const file = write('fleet.yaml', 'name: shop\napp: shop\nwaves:\n  - name: staging\n    clusters: env=staging\n');
    const input = await readFleetInput({ fleet: file, filename: [app], namespace: 'shop' });
    expect(input).toMatchObject({ name: 'shop', namespace: 'shop', manifests: [{ name: app }] });
  });

  it('a bad fleet file exits 2 naming the file and the field, before connecting', async () => {
    const file = write(
      'bad.yaml',
      'name: shop\napp: shop\nwaves:\n  - name: staging\n    clusters: env=staging\n    maxParalel: 2\n',
    );
    await main(['node', 'kube-workflows', 'rollout', '-f', app, '--fleet', file]);
    expect(process.exitCode).toBe(2);
    expect(out.stderr).toContain(`--fleet ${file}: invalid fleet file`);
    expect(out.stderr).toMatch(/Unrecognized key: "maxParalel"[\s\S]*waves\[0\]/);
  });

  it('abort without a reason is a usage error (exit 2)', async () => {
    await main(['node', 'kube-workflows', 'rollout', 'abort', 'shop']);
    expect(process.exitCode).toBe(2);
    expect(out.stderr).toMatch(/required option '--reason <text>'/);
  });

  it('renders the matrix as a table and follows changes as plain lines', () => {
    const status = (phase: 'deploying' | 'succeeded'): FleetStatus => ({
      fleet: 'shop',
      app: 'shop',
      workflowId: 'fleet/shop',
      phase: 'running',
      haltPolicy: 'rollbackWave',
      unassigned: [],
      message: 'wave prod: deploying',
      waves: [
        {
          name: 'prod',
          phase: 'deploying',
          maxParallel: 2,
          heldMs: 0,
          bake: { minTimeMs: 0, passesRequired: 0, passes: 0 },
          cells: [{ cluster: 'local-2', phase, revision: '1a2b3c4d', deployWorkflowId: 'd', analysis: [] }],
        },
      ],
    });
    expect(renderFleet(status('deploying'))).toMatch(
      /WAVE\s+CLUSTER\s+PHASE[\s\S]*prod\s+local-2\s+deploying\s+1a2b3c4d/,
    );
    expect(fleetChanges(undefined, status('deploying'))).toEqual([
      'running: wave prod: deploying',
      'wave prod: deploying',
      '  prod/local-2: 🚀 deploying',
    ]);
    expect(fleetChanges(status('deploying'), status('succeeded'))).toEqual(['  prod/local-2: ✅ succeeded']);
  });
});
