/**
 * Starting our workflows with the official `temporal` CLI, as an operator without our client would: the input is
 * the JSON that `kube-workflows schema <workflow> --example` shows. A deploy started with `temporal workflow start`
 * succeeds; a malformed input fails the run in its first workflow task with a non-retryable InvalidInput naming
 * the field (no workflow-task retry loop); a schedule made with `temporal schedule create` runs scaleWorkload
 * (through the `scheduledScale` wrapper, because a schedule appends a timestamp to the workflow id it starts and the
 * scale must run under its canonical lock id).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { resolveToolchain } from '../../src/dev/index.js';
import type { DeployReport } from '../../src/schemas/deploy.js';
import { useHarness } from './harness.js';

const run = promisify(execFile);
const h = useHarness('tcli');
const schedules: string[] = [];

/** `temporal <args>` against the local stack; resolves with stdout, rejects with stderr in the message. */
async function temporal(...args: string[]): Promise<string> {
  const stack = inject('stack');
  const { stdout } = await run(
    resolveToolchain().temporal,
    [...args, '--address', stack.temporalAddress, '--namespace', stack.temporalNamespace],
    { env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' }, timeout: 60_000 },
  );
  return stdout;
}

afterAll(async () => {
  for (const id of schedules) await temporal('schedule', 'delete', '--schedule-id', id).catch(() => undefined);
});

const configMap = (name: string): string =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${name} }\ndata: { started-by: temporal-cli }\n`;

describe('workflows started with the temporal CLI', () => {
  it('temporal workflow start runs a deploy to success', async () => {
    const id = `deploy/local/${h.namespace}/tcli`;
    const input = { manifests: configMap('from-cli'), namespace: h.namespace, app: 'tcli' };
    await temporal(
      'workflow',
      'start',
      '--type',
      'deployManifests',
      '--task-queue',
      h.taskQueue,
      '--workflow-id',
      id,
      '--input',
      JSON.stringify(input),
    );
    const report = (await h.client.temporal.workflow.getHandle(id).result()) as DeployReport;
    expect(report.outcome).toBe('succeeded');
    const live = await h.kubectl('get', 'configmap', 'from-cli', '-n', h.namespace, '-o', 'jsonpath={.data}');
    expect(JSON.parse(live)).toEqual({ 'started-by': 'temporal-cli' });
  });

  it('a malformed input fails the run at once, naming the field, without retrying the workflow task', async () => {
    const id = `deploy/local/${h.namespace}/tcli-bad`;
    await temporal(
      'workflow',
      'start',
      '--type',
      'deployManifests',
      '--task-queue',
      h.taskQueue,
      '--workflow-id',
      id,
      '--input',
      JSON.stringify({ manifests: 42, namespace: h.namespace }),
    );
    const handle = h.client.temporal.workflow.getHandle(id);
    const failure = await handle.result().then(
      () => undefined,
      (err: unknown) => err as { cause?: { type?: string; nonRetryable?: boolean; message?: string } },
    );
    expect(failure?.cause).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    expect(failure?.cause?.message).toMatch(/manifests/);
    const history = JSON.parse(await temporal('workflow', 'show', '--workflow-id', id, '-o', 'json')) as {
      events: { eventType: string }[];
    };
    const types = history.events.map((e) => e.eventType);
    expect(types.filter((t) => /WORKFLOW_TASK_FAILED|WorkflowTaskFailed/.test(t))).toEqual([]);
    expect(types.at(-1)).toMatch(/WORKFLOW_EXECUTION_FAILED|WorkflowExecutionFailed/);
  });

  it('temporal schedule create runs a scale on trigger', async () => {
    await h.kube.apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: h.namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'registry.example/web:1' }] },
        },
      },
    });
    const scheduleId = `tcli-scale-${h.namespace}`;
    schedules.push(scheduleId);
    const scale = { kind: 'Deployment', name: 'web', namespace: h.namespace, replicas: 3 };
    await temporal(
      'schedule',
      'create',
      '--schedule-id',
      scheduleId,
      '--workflow-id',
      `scheduled-scale-${h.namespace}`,
      '--type',
      'scheduledScale',
      '--task-queue',
      h.taskQueue,
      '--interval',
      '24h',
      '--input',
      JSON.stringify({ scaleWorkflowId: `scale/local/${h.namespace}/Deployment/web`, scale }),
    );
    await temporal('schedule', 'trigger', '--schedule-id', scheduleId);
    await expect
      .poll(
        async () =>
          Number(await h.kubectl('get', 'deployment', 'web', '-n', h.namespace, '-o', 'jsonpath={.spec.replicas}')),
        { timeout: 60_000, interval: 250 },
      )
      .toBe(3);
    const described = JSON.parse(await temporal('schedule', 'describe', '--schedule-id', scheduleId, '-o', 'json')) as {
      info?: { recentActions?: unknown[] };
    };
    expect(described.info?.recentActions?.length).toBeGreaterThanOrEqual(1);
  });
});
