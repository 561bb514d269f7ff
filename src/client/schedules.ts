/**
 * Schedule helpers: scheduled scaling and periodic re-apply (drift correction) through Temporal Schedules, with
 * overlap policy, catch-up window and pause exposed. Inputs are validated with the workflows' own schemas before
 * the schedule is created, so a bad schedule never fires.
 *
 * Scheduled runs take the same locks as any other run. A schedule appends a timestamp to the workflow id of every
 * run it starts, so it starts a wrapper (`scheduledDeploy` / `scheduledScale`) that starts the real workflow as a
 * child under the canonical id (`deploy/<cluster>/<namespace>/<app>`, `scale/<cluster>/<namespace>/<Kind>/<name>`):
 * a run whose id is taken is skipped, named in its report. Schedules created before this started the workflows
 * directly, outside the locks: re-create them.
 * @module
 */
import type {
  Client,
  ScheduleDescription,
  ScheduleHandle,
  ScheduleOverlapPolicy,
  ScheduleSummary,
} from '@temporalio/client';
import { z } from 'zod';
import type { DeployManifestsInput } from '../schemas/deploy.js';
import { ScaleWorkloadInput } from '../schemas/scale.js';
import type { ScheduledDeployInput, ScheduledScaleInput } from '../schemas/scheduled.js';
import { scaleWorkflowId } from '../domain/workflow-ids.js';
import type { DetectDriftInput } from '../schemas/drift.js';
import { prepareDeployStart, type DeployStartContext } from './deploy-start.js';
import { prepareDriftStart } from './drift.js';
import { InvalidInputError } from './errors.js';
import type { KubeWorkflows } from './workflow-types.js';

/** What a schedule does when its previous run is still going. */
export type OverlapPolicy = 'skip' | 'bufferOne' | 'bufferAll' | 'cancelOther' | 'terminateOther' | 'allowAll';

const OVERLAP: Record<OverlapPolicy, ScheduleOverlapPolicy> = {
  skip: 'SKIP',
  bufferOne: 'BUFFER_ONE',
  bufferAll: 'BUFFER_ALL',
  cancelOther: 'CANCEL_OTHER',
  terminateOther: 'TERMINATE_OTHER',
  allowAll: 'ALLOW_ALL',
};

/** Default overlap policy: a run still going makes the next one skip. */
export const DEFAULT_OVERLAP: OverlapPolicy = 'skip';
/** Default catch-up window after an outage. */
export const DEFAULT_CATCHUP_WINDOW = '10m';

/** Common options of a schedule. */
export interface ScheduleCommonOptions {
  /** Schedule id (unique in the namespace). */
  scheduleId: string;
  /** Cron expressions, e.g. `0 8 * * 1-5` (several allowed). */
  cron: string | string[];
  /** IANA time zone of the cron expressions (default UTC). */
  timezone?: string;
  /** Default {@link DEFAULT_OVERLAP}. */
  overlap?: OverlapPolicy;
  /** How late a missed run may still start after an outage (default {@link DEFAULT_CATCHUP_WINDOW}). */
  catchupWindow?: string;
  /** Create the schedule paused. */
  paused?: boolean;
  /** Shown in the UI next to the schedule (why it exists, who owns it). */
  note?: string;
}

const CronSchema = z.union([z.string().min(9), z.array(z.string().min(9)).min(1)]);

function validate<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new InvalidInputError(`invalid ${what}:\n${z.prettifyError(r.error)}`);
  return r.data;
}

/** Schedules of one Temporal namespace, starting workflows on `taskQueue`. */
export class KubeSchedules {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    /** Default cluster name, encryption and opt-out, as the `KubeWorkflowsClient` resolved them. */
    private readonly context: DeployStartContext = {
      defaultCluster: 'default',
      payloadsEncrypted: client.options.loadedDataConverter.payloadCodecs.length > 0,
      allowPlaintextSecrets: false,
    },
  ) {}

  /**
   * Scales a workload on a cron (e.g. up at 08:00, down at 20:00: two schedules).
   * @example
   * await client.schedules.createScale({ scheduleId: 'shop-cart-morning', cron: '0 8 * * 1-5',
   *   input: { kind: 'Deployment', name: 'cart', namespace: 'shop', replicas: 6 } });
   */
  async createScale(options: ScheduleCommonOptions & { input: ScaleWorkloadInput }): Promise<ScheduleHandle> {
    const v = validate(ScaleWorkloadInput, options.input, 'scale input');
    const id = scaleWorkflowId({ ...v, cluster: v.cluster ?? this.context.defaultCluster });
    const input: ScheduledScaleInput = { scaleWorkflowId: id, scale: options.input };
    return this.create(options, 'scheduledScale', input, `scale ${v.kind}/${v.namespace}/${v.name} as ${id}`);
  }

  /**
   * Re-applies manifests on a cron: drift correction (a run reports `configured` objects that had drifted). Each
   * run deploys under the app's deploy id, so it is skipped while another deploy of the app runs. Refused, like a
   * deploy, when the manifests hold a Secret and payloads are not encrypted (the schedule stores its input).
   * @example
   * await client.schedules.createReapply({ scheduleId: 'shop-drift', cron: '*\/30 * * * *', input: { manifests, app: 'shop' } });
   */
  async createReapply(options: ScheduleCommonOptions & { input: DeployManifestsInput }): Promise<ScheduleHandle> {
    const prepared = prepareDeployStart(options.input, this.context);
    const input: ScheduledDeployInput = { deployWorkflowId: prepared.workflowId, deploy: prepared.input };
    return this.create(options, 'scheduledDeploy', input, `re-apply ${prepared.app} as ${prepared.workflowId}`);
  }

  /**
   * Scans an app for drift on a cron (`detectDrift`). Each run gets the previous run's report as Temporal's last
   * completion result, so objects nobody touched since are not dry-run again; overlap `skip` (the default) keeps
   * one scan at a time. Temporal hands that result only to runs under the schedule's overlap policy, which
   * {@link trigger} (and `kube-workflows schedule trigger`) uses by default, so a run triggered by hand keeps the chain. Refused, like a deploy, when the manifests hold a Secret and payloads are
   * not encrypted.
   * @example
   * await client.schedules.createDriftScan({ scheduleId: 'shop-drift', cron: '*\/15 * * * *',
   *   input: { app: 'shop', namespace: 'shop', manifests, policy: { human: 'correct' }, channels: ['oncall'] } });
   */
  async createDriftScan(options: ScheduleCommonOptions & { input: DetectDriftInput }): Promise<ScheduleHandle> {
    const prepared = prepareDriftStart(options.input, this.context);
    return this.create(
      options,
      'detectDrift',
      prepared.input,
      `drift scan of ${options.input.app} (${prepared.workflowId})`,
    );
  }

  /** Pauses a schedule (runs stop until unpaused). */
  async pause(scheduleId: string, note = 'paused by kube-workflows'): Promise<void> {
    await this.client.schedule.getHandle(scheduleId).pause(note);
  }

  /** Unpauses a schedule. */
  async unpause(scheduleId: string, note = 'unpaused by kube-workflows'): Promise<void> {
    await this.client.schedule.getHandle(scheduleId).unpause(note);
  }

  /**
   * Runs the schedule's action now under `overlap`, by default the schedule's own policy (the SDK's bare trigger
   * uses ALLOW_ALL, which also starts the run without the previous run's result: a drift scan would dry-run all).
   */
  async trigger(scheduleId: string, overlap?: OverlapPolicy): Promise<void> {
    const handle = this.client.schedule.getHandle(scheduleId);
    await handle.trigger(overlap ? OVERLAP[overlap] : (await handle.describe()).policies.overlap);
  }

  /** Deletes a schedule (running workflows it started go on). */
  async delete(scheduleId: string): Promise<void> {
    await this.client.schedule.getHandle(scheduleId).delete();
  }

  /** The schedule's spec, state and recent runs. */
  async describe(scheduleId: string): Promise<ScheduleDescription> {
    return this.client.schedule.getHandle(scheduleId).describe();
  }

  /** Changes the cron, overlap or catch-up window of a schedule. */
  async update(
    scheduleId: string,
    changes: Partial<Pick<ScheduleCommonOptions, 'cron' | 'timezone' | 'overlap' | 'catchupWindow'>>,
  ): Promise<void> {
    if (changes.cron !== undefined) validate(CronSchema, changes.cron, 'cron');
    await this.client.schedule.getHandle(scheduleId).update((prev) => ({
      ...prev,
      spec: changes.cron
        ? { cronExpressions: [changes.cron].flat(), ...(changes.timezone ? { timezone: changes.timezone } : {}) }
        : prev.spec,
      policies: {
        ...prev.policies,
        ...(changes.overlap ? { overlap: OVERLAP[changes.overlap] } : {}),
        ...(changes.catchupWindow ? { catchupWindow: changes.catchupWindow } : {}),
      },
    }));
  }

  /** Every schedule of the namespace. */
  async list(): Promise<ScheduleSummary[]> {
    const out: ScheduleSummary[] = [];
    for await (const s of this.client.schedule.list()) out.push(s);
    return out;
  }

  /** Creates a schedule starting `workflowType` (checked against the worker's workflows, its input typed). */
  private async create<K extends 'scheduledDeploy' | 'scheduledScale' | 'detectDrift'>(
    options: ScheduleCommonOptions,
    workflowType: K,
    input: Parameters<KubeWorkflows[K]>[0],
    summary: string,
  ): Promise<ScheduleHandle> {
    validate(CronSchema, options.cron, 'cron');
    validate(
      z.string().regex(/^[A-Za-z0-9][-A-Za-z0-9_.]*$/, 'letters, digits, "-", "_" and "."'),
      options.scheduleId,
      'scheduleId',
    );
    return this.client.schedule.create({
      scheduleId: options.scheduleId,
      spec: { cronExpressions: [options.cron].flat(), ...(options.timezone ? { timezone: options.timezone } : {}) },
      action: {
        type: 'startWorkflow',
        workflowType,
        args: [input],
        taskQueue: this.taskQueue,
        workflowId: `${options.scheduleId}`,
        staticSummary: `${summary} (schedule ${options.scheduleId})`,
      },
      policies: {
        overlap: OVERLAP[options.overlap ?? DEFAULT_OVERLAP],
        catchupWindow: options.catchupWindow ?? DEFAULT_CATCHUP_WINDOW,
      },
      state: { paused: options.paused ?? false, ...(options.note ? { note: options.note } : {}) },
    });
  }
}
