/**
 * One maintenance per cluster at a time — or `maxUnavailable` at once: the cluster has that many lock slots, each
 * a workflow id (`node-maintenance/<cluster>/<slot>`). A run holds a slot by starting `holdDeployLock` (the
 * generic lock holder of ./locks.ts) as its child under the slot's id; Temporal runs one workflow per id, so a
 * slot has one holder. Parent close policy TERMINATE: a slot never outlives the run that took it.
 * @module
 */
import { ApplicationFailure, setCurrentDetails, sleep, workflowInfo } from '@temporalio/workflow';
import { FailureType } from '../domain/failures.js';
import { tryHoldLock, type HeldDeployLock } from './locks.js';

/** Seconds between attempts while every slot is held (about a minute in all, then the run is refused). */
export const MAINTENANCE_SLOT_RETRY_DELAYS_SECONDS: readonly number[] = [2, 4, 8, 15, 30];

/** Workflow id of one maintenance slot of a cluster. */
export function maintenanceSlotId(cluster: string, slot: number): string {
  return `node-maintenance/${cluster}/${slot}`;
}

/** A slot this run holds. */
export type HeldSlot = HeldDeployLock;

/**
 * Takes a free slot among the cluster's first `slots`, retrying while all are held; then fails with a
 * non-retryable `PolicyViolation` naming them (nothing was written).
 */
export async function takeMaintenanceSlot(cluster: string, slots: number, purpose: string): Promise<HeldSlot> {
  const holder = workflowInfo().workflowId;
  for (let attempt = 0; ; attempt++) {
    for (let slot = 0; slot < slots; slot++) {
      const lockId = maintenanceSlotId(cluster, slot);
      const held = await tryHoldLock(
        lockId,
        { holder, purpose },
        `node maintenance slot held by ${holder}: ${purpose}`,
      );
      if (held) return held;
    }
    const delay = MAINTENANCE_SLOT_RETRY_DELAYS_SECONDS[attempt];
    if (delay === undefined) {
      const ids = Array.from({ length: slots }, (_, i) => maintenanceSlotId(cluster, i)).join(', ');
      throw ApplicationFailure.nonRetryable(
        `${purpose} refused: every node maintenance slot of cluster ${cluster} is held (${ids}; maxUnavailable ` +
          `${slots}). Nothing was written; see kube-workflows status <slot id> for the run holding it.`,
        FailureType.PolicyViolation,
        { slots: ids },
      );
    }
    setCurrentDetails(`**locking** — waiting for a maintenance slot of ${cluster} (attempt ${attempt + 2})`);
    await sleep(`${delay}s`);
  }
}
