/**
 * Activity inputs (deploy, compensation, scale) are parsed at the boundary with their schemas (`schemas/activities`):
 * a malformed argument fails at once as a non-retryable InvalidInput naming the activity and the field, before any
 * call to the cluster.
 */
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { createCompensationActivities } from '../../src/activities/compensate.js';
import { createDeployActivities, type DeployActivityDeps } from '../../src/activities/deploy.js';
import { parseInput } from '../../src/activities/failures.js';
import { createScaleActivities } from '../../src/activities/scale.js';
import { FailureType } from '../../src/domain/failures.js';
import { DEFAULT_POLICY } from '../../src/domain/policy.js';
import type { KubeGateway } from '../../src/kube/index.js';
import { SetScaleInput, type PlanDeployInput } from '../../src/schemas/activities.js';

/** Thrown by the gateway: proof that the activity got past its input check. */
class ReachedCluster extends Error {}

/** Deps whose gateway records that it was asked for, then stops the activity. */
function deps(): DeployActivityDeps & { gatewayCalls: string[] } {
  const gatewayCalls: string[] = [];
  return {
    gatewayCalls,
    gateway(cluster: string): KubeGateway {
      gatewayCalls.push(cluster);
      throw new ReachedCluster(`gateway(${cluster})`);
    },
    policy: DEFAULT_POLICY,
  };
}

/** The SDK logs every failed activity at WARN: these failures are the point of the tests. */
const quiet = new DefaultLogger('ERROR');

/** Runs `fn` as the activity `activityType` and returns what it threw. */
async function failureOf(activityType: string, fn: () => Promise<unknown>): Promise<unknown> {
  return new MockActivityEnvironment({ activityType }, { logger: quiet }).run(fn).then(
    () => undefined,
    (err: unknown) => err,
  );
}

function expectInvalidInput(err: unknown, message: RegExp): void {
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err).toMatchObject({ type: FailureType.InvalidInput, nonRetryable: true });
  expect((err as Error).message).toMatch(message);
}

describe('deploy activities', () => {
  it('planDeploy refuses a source that is neither objects nor a workflow input, naming both options', async () => {
    const d = deps();
    const activities = createDeployActivities(d);
    const err = await failureOf('planDeploy', () =>
      activities.planDeploy({ cluster: '', force: false, source: {} as PlanDeployInput['source'] }),
    );
    expectInvalidInput(
      err,
      /^planDeploy: invalid input: source: expected one of: objects: .*expected array.*; or workflowInput: .*expected object/,
    );
    expect(d.gatewayCalls).toEqual([]);
  });

  it('applyObjects names the position of an object that is not an object', async () => {
    const d = deps();
    const activities = createDeployActivities(d);
    const err = await failureOf('applyObjects', () =>
      activities.applyObjects({ cluster: 'a', force: false, source: { objects: [{}, 'oops'] as never } }),
    );
    expectInvalidInput(err, /^applyObjects: invalid input: source\.objects\[1\]: expected a Kubernetes object$/);
    expect(d.gatewayCalls).toEqual([]);
  });

  it('applyObjects does not deep-validate the objects it passes through', async () => {
    const d = deps();
    const activities = createDeployActivities(d);
    const err = await failureOf('applyObjects', () =>
      activities.applyObjects({ cluster: 'a', force: false, source: { objects: [{ whatever: true }] as never } }),
    );
    expect(err).not.toMatchObject({ type: FailureType.InvalidInput });
    expect(d.gatewayCalls).toEqual(['a']);
  });

  it('waitForHealth names a deadline that is not a number', async () => {
    const d = deps();
    const activities = createDeployActivities(d);
    const err = await failureOf('waitForHealth', () =>
      activities.waitForHealth({ cluster: '', objects: [], deadlineMs: 'soon' as never, timeoutSeconds: 60 }),
    );
    expectInvalidInput(err, /^waitForHealth: invalid input: deadlineMs: .*expected number/);
    expect(d.gatewayCalls).toEqual([]);
  });

  it('recordInventory names each missing field of an object reference', async () => {
    const d = deps();
    const activities = createDeployActivities(d);
    const err = await failureOf('recordInventory', () =>
      activities.recordInventory({
        cluster: '',
        app: 'web',
        namespace: 'shop',
        prune: false,
        objects: [{ kind: 'X' } as never],
      }),
    );
    expectInvalidInput(err, /objects\[0\]\.apiVersion: .*; objects\[0\]\.name: .*; objects\[0\]\.subject: /);
    expect(d.gatewayCalls).toEqual([]);
  });

  it.each([
    ['restoreObjects', { cluster: '', rollbackState: '', subjects: [] }, /rollbackState: /],
    ['deleteObjects', { cluster: '', objects: {} }, /objects: .*expected array/],
  ] as const)('%s refuses a malformed input', async (name, input, message) => {
    const d = deps();
    const activities = createDeployActivities(d) as unknown as Record<string, (i: unknown) => Promise<unknown>>;
    const err = await failureOf(name, () => activities[name]!(input));
    expectInvalidInput(err, message);
    expect(d.gatewayCalls).toEqual([]);
  });
});

describe('compensateObjects', () => {
  it('names the entry of remove that is not an object reference', async () => {
    const d = deps();
    const activities = createCompensationActivities(d);
    const err = await failureOf('compensateObjects', () =>
      activities.compensateObjects({
        cluster: '',
        restore: [],
        remove: [{ apiVersion: 'v1', kind: 'ConfigMap' } as never],
      }),
    );
    expectInvalidInput(err, /^compensateObjects: invalid input: remove\[0\]\.name: .*; remove\[0\]\.subject: /);
    expect(d.gatewayCalls).toEqual([]);
  });
});

describe('scale activities', () => {
  it('readScale refuses a kind that has no scale it manages', async () => {
    const d = deps();
    const activities = createScaleActivities(d);
    const err = await failureOf('readScale', () =>
      activities.readScale({ cluster: '', kind: 'DaemonSet' as never, namespace: 'shop', name: 'web' }),
    );
    expectInvalidInput(err, /^readScale: invalid input: kind: /);
    expect(d.gatewayCalls).toEqual([]);
  });

  it('setScale refuses a negative or fractional replica count before any policy check or write', async () => {
    const d = deps();
    const activities = createScaleActivities(d);
    for (const replicas of [-1, 1.5]) {
      const err = await failureOf('setScale', () =>
        activities.setScale({ cluster: '', kind: 'Deployment', namespace: 'shop', name: 'web', replicas }),
      );
      expectInvalidInput(err, /^setScale: invalid input: replicas: /);
    }
    expect(d.gatewayCalls).toEqual([]);
  });
});

describe('parseInput', () => {
  it('returns the parsed input when it is valid', () => {
    const input = { cluster: 'a', kind: 'StatefulSet', namespace: 'db', name: 'pg', replicas: 3 };
    expect(parseInput(SetScaleInput, input)).toEqual(input);
  });

  it('names the whole argument as "input" and says "activity" outside an activity', () => {
    expect(() => parseInput(SetScaleInput, null)).toThrow(/^activity: invalid input: input: .*expected object/);
  });
});
