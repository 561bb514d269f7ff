/**
 * Worker Versioning on the real stack: two worker builds of one Worker Deployment on one task queue, the upgrade
 * done as the README's "Upgrading workers" says (start build B beside A, `versions set-current`, watch A drain with
 * `versions`, stop A). A deploy that waits for approval across the switch stays pinned to build A and finishes
 * there; a deploy started after the switch runs on B; a monitor (auto-upgrade) moves to B at its next workflow task.
 * Both builds run the same workflow bundle: what is under test is the server's routing, read back from history
 * (each WorkflowTaskCompleted event names the deployment version that completed it).
 */
import { randomBytes } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKubeWorkflowsClient, type KubeWorkflowsClient } from '../../src/client/index.js';
import { describeWorkerDeployment, type WorkerDeploymentStatus } from '../../src/client/versions.js';
import { createKubeGateway, type KubeGateway } from '../../src/kube/index.js';
import { createKubeWorker, loadWorkerConfig, type KubeWorker } from '../../src/worker/index.js';
import { runCli } from '../support/cli.js';
import { pollUntil } from '../support/poll.js';

const suffix = randomBytes(3).toString('hex');
const namespace = `versioning-${suffix}`;
const taskQueue = `test-versioning-${suffix}`;
/** One deployment per test file run: builds and routing of earlier runs never interfere. */
const deploymentName = `kwf-versioning-${suffix}`;

let kube: KubeGateway;
let connection: NativeConnection;
let client: KubeWorkflowsClient;
const builds = new Map<string, { kw: KubeWorker; running: Promise<void> }>();

/** Starts an in-process worker of build `buildId` (same bundle, same task queue) and waits until the server knows it. */
async function startBuild(buildId: string): Promise<KubeWorker> {
  const stack = inject('stack');
  const config = loadWorkerConfig({
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_NAMESPACE: stack.temporalNamespace,
    TEMPORAL_TASK_QUEUE: taskQueue,
    KUBECONFIG: stack.kubeconfig,
    KUBE_WORKFLOWS_CLUSTER: 'local',
    KUBE_WORKFLOWS_DEPLOYMENT_NAME: deploymentName,
    KUBE_WORKFLOWS_BUILD_ID: buildId,
  });
  // a monitor's observation still running on a stopped build is retried on the other one: no need to wait for it
  config.worker.shutdownGraceTime = '2s';
  const kw = await createKubeWorker({ config, connection, bundlePath: inject('workflowBundlePath') });
  builds.set(buildId, { kw, running: kw.worker.run() });
  // a version exists once its first poller reached the server; only then can it be made current
  await pollUntil(
    () => describeWorkerDeployment(client.temporal, deploymentName),
    (d) => d.versions.some((v) => v.buildId === buildId),
    20_000,
  );
  return kw;
}

/** Stops build `buildId`'s worker (graceful: in-flight activities get the grace time) and closes it. */
async function stopBuild(buildId: string): Promise<void> {
  const b = builds.get(buildId);
  if (!b) return;
  builds.delete(buildId);
  if (b.kw.worker.getState() === 'RUNNING') b.kw.worker.shutdown();
  await b.running;
  await b.kw.close();
}

/** `kube-workflows versions …` (the compiled CLI) for this file's deployment; fails the test on a non-zero exit. */
async function versionsCli(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const run = await runCli(['versions', ...args, '--deployment', deploymentName], taskQueue);
  expect(run.code, run.stderr).toBe(0);
  return run;
}

/** The deployment as `kube-workflows versions -o json` prints it (read in-process: polled, no process per read). */
function versionsNow(): Promise<WorkerDeploymentStatus> {
  return describeWorkerDeployment(client.temporal, deploymentName);
}

/** The build id that completed each workflow task of a run, in order. */
async function workflowTasks(handle: WorkflowHandle): Promise<string[]> {
  const { events } = await handle.fetchHistory();
  return (events ?? []).flatMap((e) => {
    const a = e.workflowTaskCompletedEventAttributes;
    return a ? [a.deploymentVersion?.buildId ?? '(unversioned)'] : [];
  });
}

/** The build ids that completed a run's workflow tasks. */
async function taskBuilds(handle: WorkflowHandle): Promise<Set<string>> {
  return new Set(await workflowTasks(handle));
}

/** One ConfigMap as app `app`: deploys in a second, no pods to wait for. */
function configMap(app: string, value: string): string {
  return `apiVersion: v1
kind: ConfigMap
metadata: { name: ${app}, namespace: ${namespace}, labels: { app: ${app} } }
data: { value: "${value}" }
`;
}

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // installed by an earlier file in this process
  }
  const stack = inject('stack');
  kube = await createKubeGateway('local', { kubeconfig: stack.kubeconfig });
  await kube.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  connection = await NativeConnection.connect({ address: stack.temporalAddress });
  client = await createKubeWorkflowsClient({
    address: stack.temporalAddress,
    namespace: stack.temporalNamespace,
    taskQueue,
    encryption: false,
    defaultCluster: 'local',
  });
});

afterAll(async () => {
  for (const buildId of [...builds.keys()]) await stopBuild(buildId);
  await client?.close();
  await connection?.close();
  await kube?.delete({ apiVersion: 'v1', kind: 'Namespace', name: namespace }).catch(() => undefined);
  kube?.close();
});

describe('upgrading workers with Worker Versioning', () => {
  it('a pinned deploy finishes on build A; new deploys and the monitor move to build B; A drains and stops', async () => {
    // Build A is the only build; make it current (the first step of turning versioning on).
    await startBuild('v1');
    await versionsCli('set-current', 'v1');

    // Runs started on A: a deploy that waits for approval (pinned) and a monitor (auto-upgrade).
    const pinned = await client.deploy({ manifests: configMap('before', 'a'), app: 'before', requireApproval: true });
    const awaiting = await pollUntil(
      () => pinned.progress(),
      (p) => p.phase === 'awaitingApproval',
    );
    const monitor = await client.monitor({
      name: `versioning-${suffix}`,
      targets: [{ type: 'kube', namespace, selector: 'tier=web', kinds: ['Deployment'] }],
    });
    await pollUntil(
      () => monitor.status(),
      (s) => s.name === `versioning-${suffix}`,
    );

    // Build B beside A; a ramp first (no run starts meanwhile), then the switch, which ends the ramp.
    await startBuild('v2');
    await versionsCli('set-current', 'v2', '--ramp', '25');
    expect(await versionsNow()).toMatchObject({ currentBuildId: 'v1', ramping: { buildId: 'v2', percentage: 25 } });
    const switched = await versionsCli('set-current', 'v2');
    expect(switched.stderr).toContain('current build v2 (was v1); 1 monitor run(s) follow it');

    // A is draining: its pinned deploy is still open there, so A must keep running.
    const draining = await pollUntil(versionsNow, (d) =>
      d.versions.some((v) => v.buildId === 'v1' && v.openRuns.pinned === 1),
    );
    expect(draining.currentBuildId).toBe('v2');
    expect(draining.ramping).toBeUndefined();
    expect(draining.versions.find((v) => v.buildId === 'v1')).toMatchObject({ status: 'draining', safeToStop: false });
    expect(draining.versions.find((v) => v.buildId === 'v2')).toMatchObject({ status: 'current', safeToStop: false });

    // The pinned deploy, approved after the switch, finishes on A: every one of its workflow tasks ran on v1.
    await pinned.approve({ planId: awaiting.planId ?? '', by: 'test' });
    expect((await pinned.result()).outcome).toBe('succeeded');
    expect(await taskBuilds(pinned.raw)).toEqual(new Set(['v1']));

    // A deploy started after the switch runs on B only.
    const fresh = await client.deploy({ manifests: configMap('after', 'b'), app: 'after' });
    expect((await fresh.result()).outcome).toBe('succeeded');
    expect(await taskBuilds(fresh.raw)).toEqual(new Set(['v2']));

    // The monitor moves to B at its next workflow task (here: an operator adds a target).
    expect(await monitor.addTargets([{ type: 'kube', namespace, selector: 'tier=api', kinds: ['Deployment'] }])).toBe(
      2,
    );
    const monitorTasks = await workflowTasks(monitor.raw);
    const firstOnB = monitorTasks.indexOf('v2');
    expect(firstOnB).toBeGreaterThan(0);
    expect(monitorTasks.slice(0, firstOnB).every((b) => b === 'v1')).toBe(true);
    expect(monitorTasks.slice(firstOnB).every((b) => b === 'v2')).toBe(true);
    const info = (await monitor.raw.describe()).raw.workflowExecutionInfo?.versioningInfo;
    expect(info?.deploymentVersion?.buildId).toBe('v2');
    // set by set-current: whatever a task declares (SDK 1.24 declares PINNED for tasks that run no workflow code),
    // the monitor keeps following the current build
    expect(info?.versioningOverride?.autoUpgrade).toBe(true);

    // The operator's view: no run is left on A, so it may be stopped (the monitor counts on B: pinned or auto-upgrade,
    // see describeWorkerDeployment's safeToStop); stopping A leaves the monitor running on B.
    const drained = await pollUntil(versionsNow, (d) => d.versions.some((v) => v.buildId === 'v1' && v.safeToStop));
    expect(drained.versions.find((v) => v.buildId === 'v1')?.openRuns).toEqual({ pinned: 0, autoUpgrade: 0 });
    const onB = drained.versions.find((v) => v.buildId === 'v2')?.openRuns;
    expect((onB?.pinned ?? 0) + (onB?.autoUpgrade ?? 0)).toBe(1);
    const table = (await versionsCli()).stdout;
    expect(table).toMatch(/^v1\s+(draining|drained)\s+-\s+0\s+0\s+yes\s/m);
    expect(table).toMatch(/^v2\s+current\s+-\s+\d\s+\d\s+no\s/m);
    await stopBuild('v1');
    expect((await monitor.status()).targets).toHaveLength(0); // no workload matches either selector; it answers on B
    await monitor.stop();
  });
});
