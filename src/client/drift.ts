/**
 * Drift detection from the client: a typed starter for `detectDrift` that validates its input (and the manifests)
 * before anything starts, and a handle to follow a scan (`status`), approve or reject its correction
 * (`approveCorrection`) and wait for its report. The workflow id `drift/<cluster>/<namespace>/<app>` lets one scan
 * of an app run at a time.
 * @module
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { z } from 'zod';
import { packJson } from '../domain/compression.js';
import { driftWorkflowId, prepareDesired } from '../domain/drift.js';
import { formatProblems } from '../domain/manifests.js';
import { plaintextSecretsRefusal } from '../domain/secrets.js';
import { ApproveCorrectionInput, DetectDriftInput, type DriftReport } from '../schemas/drift.js';
import {
  approveCorrectionUpdate,
  driftStatusQuery,
  type ApproveCorrectionResult,
  type DriftStatus,
} from '../workflows/drift-definitions.js';
import type { DeployStartContext } from './deploy-start.js';
import { InvalidInputError, LockHeldError } from './errors.js';

/** Above this many bytes of manifest text the client sends it gzip-packed (`compressed`), as a deploy does. */
const COMPRESS_ABOVE_BYTES = 256 * 1024;

/** A started (or found) drift scan. */
export interface DriftHandle {
  workflowId: string;
  /** Waits for the report. */
  result(): Promise<DriftReport>;
  /** Phase, what the scan found, what it would correct. */
  status(): Promise<DriftStatus>;
  /**
   * Approves (or with `approve: false` rejects) the correction a scan waits for (`requireApproval`); rejects with
   * {@link InvalidInputError} when it is not waiting.
   */
  approveCorrection(approval: ApproveCorrectionInput): Promise<ApproveCorrectionResult>;
  raw: WorkflowHandle;
}

/** Where drift scans start: the Temporal client, the task queue, the default cluster, the Secrets rule. */
export interface DriftClientContext extends DeployStartContext {
  temporal: Client;
  taskQueue: string;
}

/** A validated drift scan, ready to start (also what a schedule stores). */
export interface PreparedDriftStart {
  input: DetectDriftInput;
  workflowId: string;
}

/**
 * Validates a drift input and its manifests and computes its start: the canonical id and the input to send (large
 * manifests packed). Throws {@link InvalidInputError} (nothing started) for a bad input, a bad manifest, or a Secret
 * without encryption (the manifests are stored in history, as a deploy's are).
 */
export function prepareDriftStart(raw: DetectDriftInput, context: DeployStartContext): PreparedDriftStart {
  const parsed = DetectDriftInput.safeParse(raw);
  if (!parsed.success) throw new InvalidInputError(`invalid drift input:\n${z.prettifyError(parsed.error)}`);
  const v = parsed.data;
  const objects = prepareDesired(v);
  if (!objects.ok) throw new InvalidInputError(formatProblems(objects.problems));
  if (!objects.objects.length) throw new InvalidInputError('the manifests contain no objects');
  const refusal = plaintextSecretsRefusal({ ...context, objects: objects.objects, side: 'client' });
  if (refusal) throw new InvalidInputError(refusal.replace('refusing to deploy', 'refusing to scan'));
  const workflowId = driftWorkflowId({
    cluster: v.cluster ?? context.defaultCluster,
    namespace: v.namespace,
    app: v.app,
  });
  return { input: packLarge(raw), workflowId };
}

function packLarge(input: DetectDriftInput): DetectDriftInput {
  const sources = input.sources ?? (input.manifests !== undefined ? [{ text: input.manifests }] : undefined);
  if (!sources || sources.reduce((n, s) => n + s.text.length, 0) <= COMPRESS_ABOVE_BYTES) return input;
  const { manifests: _m, sources: _s, ...rest } = input;
  return {
    ...rest,
    compressed: packJson(sources.map((s) => (s.name ? { name: s.name, text: s.text } : { text: s.text }))),
  };
}

/** `client.drift`: drift scan starters and handles. */
export class KubeDrift {
  constructor(private readonly ctx: DriftClientContext) {}

  /**
   * Validates and starts a drift scan of an app.
   * @example
   * const scan = await client.drift.detect({ app: 'cart', namespace: 'shop', manifests, policy: { human: 'correct' } });
   * const report = await scan.result(); // report.objects[0].fields: [{ path: 'spec.replicas', from: '3', to: '5', … }]
   */
  async detect(input: DetectDriftInput, options: { workflowId?: string } = {}): Promise<DriftHandle> {
    const prepared = prepareDriftStart(input, this.ctx);
    const workflowId = options.workflowId ?? prepared.workflowId;
    try {
      const handle = await this.ctx.temporal.workflow.start('detectDrift', {
        taskQueue: this.ctx.taskQueue,
        workflowId,
        args: [prepared.input],
        workflowIdConflictPolicy: 'FAIL',
        staticSummary: `drift scan of ${input.app} in ${input.namespace}`,
      });
      return wrap(handle);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      throw new LockHeldError(
        `a drift scan of ${input.app} is already running: ${workflowId}. Nothing was started; follow it ` +
          `(kube-workflows status ${workflowId})`,
        workflowId,
        workflowId,
        { cause: err },
      );
    }
  }

  /** A handle to the current (or last) drift scan of an app. */
  get(app: string, namespace: string, cluster?: string): DriftHandle {
    const workflowId = driftWorkflowId({ cluster: cluster ?? this.ctx.defaultCluster, namespace, app });
    return wrap(this.ctx.temporal.workflow.getHandle(workflowId));
  }
}

function wrap(handle: WorkflowHandle): DriftHandle {
  return {
    workflowId: handle.workflowId,
    result: () => handle.result() as Promise<DriftReport>,
    status: () => handle.query(driftStatusQuery),
    approveCorrection: async (approval) => {
      const parsed = ApproveCorrectionInput.safeParse(approval);
      if (!parsed.success) throw new InvalidInputError(`invalid approveCorrection:\n${z.prettifyError(parsed.error)}`);
      try {
        return await handle.executeUpdate(approveCorrectionUpdate, { args: [parsed.data] });
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError)
          throw new InvalidInputError(err.cause?.message ?? err.message, { cause: err });
        throw err;
      }
    },
    raw: handle,
  };
}
