/**
 * Deploy locks held by other operations. The deploy id `deploy/<cluster>/<namespace>/<app>` is the app's lock:
 * Temporal runs one workflow per id. A scale of a workload that a deploy owns (its `kube-workflows.dev/app` label)
 * takes that lock while it writes, by starting `holdDeployLock` as a child under the deploy id: while a deploy runs,
 * the child cannot start and the scale is refused; while the child runs, a deploy of the app cannot start and the
 * client names the scale holding it. The child ends when released, when its holder is cancelled, and — parent
 * close policy TERMINATE — whenever its holder ends, so a lock never outlives the run that took it.
 * @module
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  defineSignal,
  isCancellation,
  ParentClosePolicy,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { FailureType } from '../domain/failures.js';

/** Input of {@link holdDeployLock}. */
export interface HoldDeployLockInput {
  /** Workflow id of the run holding the lock (its parent). */
  holder: string;
  /** What the holder does, for people reading the lock (`scale Deployment/shop/web to 5`). */
  purpose: string;
}

/** Signal: release the lock (the workflow completes). */
export const releaseDeployLockSignal = defineSignal('release');

/**
 * Holds a deploy lock: runs under a deploy id until released (signal `release`) or cancelled. Started by
 * {@link takeDeployLock}; an operator may also start one from the Web UI to freeze an app's deploys, and cancel it
 * to lift the freeze.
 */
export async function holdDeployLock(input: HoldDeployLockInput): Promise<{ holder: string }> {
  let released = false;
  setHandler(releaseDeployLockSignal, () => {
    released = true;
  });
  setCurrentDetails(`**held** by ${input.holder}: ${input.purpose}`);
  try {
    await condition(() => released);
  } catch (err) {
    if (isCancellation(err)) return { holder: input.holder }; // released by cancelling: the lock is free
    throw err;
  }
  return { holder: input.holder };
}

/** A lock this run holds. */
export interface HeldDeployLock {
  /** The lock id (the deploy's workflow id). */
  lockId: string;
  /** Releases it and waits until the lock workflow has ended, so a deploy started next is not refused. */
  release(): Promise<void>;
}

/** Seconds between attempts to take a lock held by someone else (a short scale usually holds it). */
export const DEPLOY_LOCK_RETRY_DELAYS_SECONDS: readonly number[] = [1, 2, 4, 8, 15];

/**
 * Takes the deploy lock `lockId` for `purpose`, retrying with {@link DEPLOY_LOCK_RETRY_DELAYS_SECONDS} (about 30 s in
 * all) while another run holds it; then fails with a non-retryable `PolicyViolation` naming the lock and
 * `refusal` (what was not done). Call {@link HeldDeployLock.release} in a `finally`.
 */
export async function takeDeployLock(lockId: string, purpose: string, refusal: string): Promise<HeldDeployLock> {
  const holder = workflowInfo().workflowId;
  for (let attempt = 0; ; attempt++) {
    const held = await tryHoldLock(lockId, { holder, purpose }, `deploy lock held by ${holder}: ${purpose}`);
    if (held) return held;
    const delay = DEPLOY_LOCK_RETRY_DELAYS_SECONDS[attempt];
    if (delay === undefined) {
      throw ApplicationFailure.nonRetryable(
        `${refusal}: the deploy lock ${lockId} is held — by a running deploy of that app, or by a scale of ` +
          `another of its workloads (see: kube-workflows status ${lockId}). Nothing was written; try again when ` +
          `it has ended.`,
        FailureType.PolicyViolation,
        { lockId },
      );
    }
    setCurrentDetails(`**waiting** for the deploy lock ${lockId} (attempt ${attempt + 2})`);
    await sleep(`${delay}s`);
  }
}

/**
 * Starts `holdDeployLock` under `lockId` (the lock: at most one run per workflow id) and returns the held lock, or
 * undefined when another run holds it. Shared by the deploy lock and the node maintenance slots.
 */
export async function tryHoldLock(
  lockId: string,
  input: HoldDeployLockInput,
  summary: string,
): Promise<HeldDeployLock | undefined> {
  try {
    const child = await startChild(holdDeployLock, {
      workflowId: lockId,
      args: [input],
      parentClosePolicy: ParentClosePolicy.TERMINATE,
      staticSummary: summary,
    });
    return {
      lockId,
      async release() {
        await CancellationScope.nonCancellable(async () => {
          // Either may fail when the lock already ended (cancelled with this run): it is free then.
          await child.signal(releaseDeployLockSignal).catch(() => undefined);
          await child.result().catch(() => undefined);
        });
      },
    };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return undefined;
    throw err;
  }
}
