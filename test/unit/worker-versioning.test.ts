/**
 * Worker Versioning settings: the worker's deployment version from the environment and the configuration file
 * (both or neither; errors name the variable or key), the Worker options they become, and the `versions` table.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderVersions } from '../../src/cli/versions.js';
import { ConfigError, loadWorkerConfig } from '../../src/worker/config.js';
import { workerDeploymentOptions } from '../../src/worker/worker.js';

const dir = mkdtempSync(join(tmpdir(), 'kube-workflows-versioning-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KUBECONFIG = '/home/ops/.kube/config';

function configFile(yaml: string): string {
  const path = join(dir, `worker-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, yaml);
  return path;
}

function errorOf(env: NodeJS.ProcessEnv): Error | undefined {
  try {
    loadWorkerConfig(env);
  } catch (err) {
    return err as Error;
  }
  return undefined;
}

describe("the worker's deployment version", () => {
  it('is absent by default: versioning stays off and the Worker gets no deployment options', () => {
    const config = loadWorkerConfig({ KUBECONFIG });
    expect(config.worker.deployment).toBeUndefined();
    expect(workerDeploymentOptions(config.worker.deployment)).toEqual({});
  });

  it('comes from KUBE_WORKFLOWS_DEPLOYMENT_NAME and KUBE_WORKFLOWS_BUILD_ID, and pins by default', () => {
    const config = loadWorkerConfig({
      KUBECONFIG,
      KUBE_WORKFLOWS_DEPLOYMENT_NAME: 'kube-workflows',
      KUBE_WORKFLOWS_BUILD_ID: '1.5.0',
    });
    expect(config.worker.deployment).toEqual({ name: 'kube-workflows', buildId: '1.5.0' });
    expect(workerDeploymentOptions(config.worker.deployment)).toEqual({
      workerDeploymentOptions: {
        useWorkerVersioning: true,
        version: { deploymentName: 'kube-workflows', buildId: '1.5.0' },
        defaultVersioningBehavior: 'PINNED',
      },
    });
  });

  it('comes from worker.deployment in the file, each field overridden by its variable', () => {
    const file = configFile('worker:\n  deployment: { name: platform, buildId: 1.4.0 }\n');
    expect(loadWorkerConfig({ KUBECONFIG, KUBE_WORKFLOWS_CONFIG: file }).worker.deployment).toEqual({
      name: 'platform',
      buildId: '1.4.0',
    });
    expect(
      loadWorkerConfig({ KUBECONFIG, KUBE_WORKFLOWS_CONFIG: file, KUBE_WORKFLOWS_BUILD_ID: 'git-3f2a9c1' }).worker
        .deployment,
    ).toEqual({ name: 'platform', buildId: 'git-3f2a9c1' });
  });

  it.each([
    {
      case: 'a build id without a name',
      env: { KUBE_WORKFLOWS_BUILD_ID: '1.5.0' },
      names: 'KUBE_WORKFLOWS_DEPLOYMENT_NAME',
    },
    {
      case: 'a name without a build id',
      env: { KUBE_WORKFLOWS_DEPLOYMENT_NAME: 'kw' },
      names: 'KUBE_WORKFLOWS_BUILD_ID',
    },
    {
      case: 'a name with a dot',
      env: { KUBE_WORKFLOWS_DEPLOYMENT_NAME: 'kube.workflows', KUBE_WORKFLOWS_BUILD_ID: '1' },
      names: 'KUBE_WORKFLOWS_DEPLOYMENT_NAME',
    },
    {
      case: 'a build id with a blank',
      env: { KUBE_WORKFLOWS_DEPLOYMENT_NAME: 'kw', KUBE_WORKFLOWS_BUILD_ID: '1.5 rc' },
      names: 'KUBE_WORKFLOWS_BUILD_ID',
    },
  ])('is refused for $case, naming $names', ({ env, names }) => {
    const err = errorOf({ KUBECONFIG, ...env });
    expect(err).toBeInstanceOf(ConfigError);
    expect(err?.message).toContain(names);
  });

  it('names the missing key of a half-written file', () => {
    const file = configFile('worker:\n  deployment: { name: platform }\n');
    const err = errorOf({ KUBECONFIG, KUBE_WORKFLOWS_CONFIG: file });
    expect(err?.message).toContain('worker.deployment.buildId');
    expect(err?.message).toContain(file);
  });
});

describe('the versions table', () => {
  it('shows routing, open runs and which build can be stopped, newest first', () => {
    const text = renderVersions({
      deploymentName: 'kube-workflows',
      currentBuildId: '1.5.0',
      ramping: { buildId: '1.6.0', percentage: 10 },
      versions: [
        {
          buildId: '1.6.0',
          status: 'ramping',
          rampPercentage: 10,
          openRuns: { pinned: 2, autoUpgrade: 0 },
          safeToStop: false,
          createdAt: new Date('2026-11-28T10:00:00Z'),
        },
        {
          buildId: '1.5.0',
          status: 'current',
          openRuns: { pinned: 7, autoUpgrade: 3 },
          safeToStop: false,
          createdAt: new Date('2026-11-20T10:00:00Z'),
        },
        {
          buildId: '1.4.0',
          status: 'drained',
          openRuns: { pinned: 0, autoUpgrade: 0 },
          safeToStop: true,
          createdAt: new Date('2026-11-01T10:00:00Z'),
        },
      ],
    });
    expect(text.split('\n')).toEqual([
      'worker deployment kube-workflows: current 1.5.0, ramping 1.6.0 at 10%',
      'BUILD  STATUS   RAMP  OPEN PINNED  OPEN AUTO-UPGRADE  SAFE TO STOP  CREATED',
      '1.6.0  ramping  10%   2            0                  no            2026-11-28T10:00:00.000Z',
      '1.5.0  current  -     7            3                  no            2026-11-20T10:00:00.000Z',
      '1.4.0  drained  -     0            0                  yes           2026-11-01T10:00:00.000Z',
      '',
    ]);
  });
});
