/**
 * The `kube-workflows` binary (compiled) against the real local stack: exit codes 0/1/2/3, `--json` reports on
 * stdout with progress on stderr, `scale`, and a schedule created through the CLI that triggers a scale.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { runCli, type CliRun } from '../support/cli.js';
import { useHarness } from './harness.js';

const h = useHarness('cli');
const dir = mkdtempSync(join(tmpdir(), 'kwf-cli-'));

/** Runs the binary on the harness's task queue. */
const cli = (args: string[], env: Record<string, string> = {}): Promise<CliRun> => runCli(args, h.taskQueue, env);

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const app = (ns: string, extra = ''): string => `apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: ${ns} }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata:
      labels:
        app: web
${extra}    spec: { containers: [{ name: web, image: "registry.example/web:1" }] }
`;

describe('kube-workflows deploy', () => {
  it('exit 0 and one JSON report on stdout with --json; progress on stderr', async () => {
    const r = await cli(['deploy', '-f', file('ok.yaml', app(h.namespace)), '--app', 'web', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { outcome: string; objects: { subject: string; status: string }[] };
    expect(report.outcome).toBe('succeeded');
    expect(report.objects).toEqual([
      expect.objectContaining({ subject: `Deployment/${h.namespace}/web`, status: 'Current' }),
    ]);
    expect(r.stderr).toMatch(/started deploy\/default\//);
  });

  it('takes kubectl-style durations, globs and -o yaml', async () => {
    const sub = join(dir, 'glob');
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, 'web.yaml'), app(h.namespace));
    writeFileSync(join(sub, 'README.md'), 'not a manifest');
    const r = await cli(['deploy', '-f', join(sub, '*'), '--app', 'web', '--timeout', '2m', '-o', 'yaml']);
    expect(r.code).toBe(0);
    const report = parseYaml(r.stdout) as { outcome: string; objects: { subject: string }[] };
    expect(report.outcome).toBe('succeeded');
    expect(report.objects.map((o) => o.subject)).toEqual([`Deployment/${h.namespace}/web`]);
  });

  it('exit 2 for an invalid manifest, naming file and line, with nothing started', async () => {
    const r = await cli([
      'deploy',
      '-f',
      file('bad.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_Valid\n'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/rejected before anything ran/);
    expect(r.stderr).toMatch(/bad\.yaml, line 4/);
    expect(r.stdout).toBe('');
  });

  it('exit 1 and a rolledBack report when the release crash-loops', async () => {
    const broken = app(h.namespace, '        kube-workflows.dev/chaos: crash\n').replace('web:1', 'web:2');
    const r = await cli(['deploy', '-f', file('broken.yaml', broken), '--app', 'web']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/rolledBack: rollout failed: .*CrashLoopBackOff/);
  });

  it('exit 3 when Temporal cannot be reached', async () => {
    const r = await cli(['deploy', '-f', file('ok2.yaml', app(h.namespace))], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot reach Temporal at 127\.0\.0\.1:1/);
  });

  it('exit 2 for a usage error', async () => {
    const r = await cli(['deploy']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/required option '-f, --filename/);
  });
});

describe('kube-workflows status', () => {
  it("shows a finished deploy's status, phase and objects as one JSON document, exit 0", async () => {
    const deployed = await cli(['deploy', '-f', file('status.yaml', app(h.namespace)), '--app', 'web', '--json']);
    expect(deployed.code).toBe(0);
    const id = /started (deploy\/\S+)/.exec(deployed.stderr)?.[1] ?? '';
    const r = await cli(['status', id, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      status: 'COMPLETED',
      type: 'deployManifests',
      progress: { phase: 'done', objects: [expect.objectContaining({ subject: `Deployment/${h.namespace}/web` })] },
    });
  });

  it('exit 2 for a deploy id that does not exist', async () => {
    const r = await cli(['status', `deploy/default/${h.namespace}/no-such-app`]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
  });

  it('exit 3 when Temporal cannot be reached', async () => {
    const r = await cli(['status', `deploy/default/${h.namespace}/web`], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot reach Temporal at 127\.0\.0\.1:1/);
    expect(r.stdout).toBe('');
  });
});

describe('kube-workflows scale and schedule', () => {
  it('scale prints the report and exits 0', async () => {
    const r = await cli(['scale', 'deployment/web', '--replicas', '4', '-n', h.namespace, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ outcome: 'succeeded', from: 2, to: 4 });
  });

  it('a schedule created through the CLI triggers a scale workflow that completes', async () => {
    const id = `cli-scale-${h.namespace}`;
    const created = await cli([
      'schedule',
      'create',
      id,
      '--cron',
      '0 4 1 1 *',
      '--scale',
      'deployment/web',
      '--replicas',
      '3',
      '-n',
      h.namespace,
    ]);
    expect(created.code).toBe(0);
    expect((await cli(['schedule', 'trigger', id])).code).toBe(0);
    await expect
      .poll(
        async () =>
          (await h.kube.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: h.namespace, name: 'web' }))?.spec,
        {
          timeout: 60_000,
          interval: 250,
        },
      )
      .toMatchObject({ replicas: 3 });
    const described = JSON.parse((await cli(['schedule', 'describe', id])).stdout) as { recentActions: unknown[] };
    expect(described.recentActions.length).toBeGreaterThan(0);
    expect((await cli(['schedule', 'delete', id])).code).toBe(0);
  });
});
